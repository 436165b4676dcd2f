"""Command line of the category discovery converter (reached through ``python -m
hmgray.data.formats cub-gcd ...``). Exit status: 0 on success, 1 on a conversion error
(a missing or unreadable file, nothing usable: the message names the file, nothing is
written), 2 on a usage error."""

from __future__ import annotations

import argparse
import sys

from hmgray.data.formats.base import image_size_arg, run_conversion


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmgray.data.formats")
    sub = p.add_subparsers(dest="format", required=True)
    c = sub.add_parser("cub-gcd", help="CUB-200-2011, the GCD class split")
    c.add_argument("--root", required=True, help="the CUB_200_2011 folder")
    c.add_argument("--old-classes", type=int, default=100,
                   help="classes 1..N are old (known), the rest new (default 100)")  # fmt: skip
    c.add_argument("--labelled", type=_share, default=0.5,
                   help="share of the old classes' training images labelled (default 0.5)")  # fmt: skip
    c.add_argument("--val-share", type=_share, default=0.1,
                   help="share of the labelled images held out for validation (default 0.1)")  # fmt: skip
    c.add_argument("--image-size", type=image_size_arg(8), default=(64, 64),
                   help="HxW the images are resized to (default 64x64)")  # fmt: skip
    c.add_argument("--seed", type=int, default=0, help="seed of the labelled and held-out draws")
    c.add_argument("--out", required=True, help="output dataset folder (path or URI)")
    c.add_argument("--dataset", default="cub-200-2011-gcd", help="dataset name in the manifest")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hmgray.families.gcd.data.formats.cub import convert_cub_gcd

    return run_conversion(lambda: convert_cub_gcd(
        args.root, args.out, image_size=args.image_size, old_classes=args.old_classes,
        labelled_share=args.labelled, val_share=args.val_share, seed=args.seed,
        dataset=args.dataset,
    ))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
