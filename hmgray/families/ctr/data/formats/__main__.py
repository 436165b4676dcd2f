"""Command line of the click-through converters (reached through ``python -m
hmgray.data.formats taobao|userbehavior|ijcai15 ...``). Exit status: 0 on success, 1 on
a conversion error (a missing file or column, nothing left: the message names the file,
nothing is written), 2 on a usage error."""

from __future__ import annotations

import argparse
import sys

from hmgray.cli import positive_int
from hmgray.data.formats.base import run_conversion


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output dataset folder (path or URI)")
    p.add_argument("--dataset", default=None, help="dataset name in the manifest")
    p.add_argument("--max-history", type=positive_int("--max-history"), default=50,
                   help="behaviours kept per sample, the latest (default 50)")  # fmt: skip
    p.add_argument("--bucket-mb", type=positive_int("--bucket-mb"), default=256,
                   help="MiB of input per on-disk bucket: bounds peak memory (default 256)")  # fmt: skip
    p.add_argument("--block-mb", type=positive_int("--block-mb"), default=16,
                   help="MiB of CSV parsed at a time (default 16)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmgray.data.formats")
    sub = p.add_subparsers(dest="format", required=True)
    t = sub.add_parser("taobao", help="Taobao display ads (Tianchi 56), four CSV files")
    t.add_argument("--raw-sample", required=True, help="raw_sample.csv")
    t.add_argument("--ad-feature", required=True, help="ad_feature.csv")
    t.add_argument("--user-profile", required=True, help="user_profile.csv")
    t.add_argument("--behavior-log", required=True, help="behavior_log.csv")
    _common(t)
    u = sub.add_parser("userbehavior", help="UserBehavior.csv (Tianchi 649)")
    u.add_argument("--csv", required=True, help="UserBehavior.csv")
    u.add_argument("--seed", type=int, default=0, help="seed of the random split")
    _common(u)
    j = sub.add_parser("ijcai15", help="IJCAI-15 data_format1 (Tianchi 42)")
    j.add_argument("--user-log", required=True, help="user_log_format1.csv")
    j.add_argument("--user-info", required=True, help="user_info_format1.csv")
    j.add_argument("--seed", type=int, default=0, help="seed of the random split")
    _common(j)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    common = dict(max_history=args.max_history, bucket_mb=args.bucket_mb, block_mb=args.block_mb)
    if args.dataset:
        common["dataset"] = args.dataset
    if args.format == "taobao":
        from hmgray.families.ctr.data.formats.taobao import convert_taobao

        return run_conversion(lambda: convert_taobao(
            args.raw_sample, args.ad_feature, args.user_profile, args.behavior_log, args.out,
            **common,
        ))  # fmt: skip
    if args.format == "userbehavior":
        from hmgray.families.ctr.data.formats.userbehavior import convert_userbehavior

        return run_conversion(
            lambda: convert_userbehavior(args.csv, args.out, seed=args.seed, **common)
        )
    from hmgray.families.ctr.data.formats.ijcai15 import convert_ijcai15

    return run_conversion(lambda: convert_ijcai15(
        args.user_log, args.user_info, args.out, seed=args.seed, **common
    ))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
