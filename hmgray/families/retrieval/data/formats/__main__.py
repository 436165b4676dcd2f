"""Command line of the retrieval converters (reached through ``python -m
hmgray.data.formats cuhk-pedes|icfg-pedes|rstpreid|cub ...``). Exit status: 0 on success,
1 on a conversion error (a missing or unreadable file, nothing usable: the message names
the file, nothing is written), 2 on a usage error."""

from __future__ import annotations

import argparse
import sys

from hmgray.data.formats.base import image_size_arg, run_conversion


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmgray.data.formats")
    sub = p.add_subparsers(dest="format", required=True)
    files = {"cuhk-pedes": "reid_raw.json", "icfg-pedes": "ICFG-PEDES.json",
             "rstpreid": "data_captions.json"}  # fmt: skip
    for fmt, name in files.items():
        s = sub.add_parser(fmt, help=f"{fmt}: {name} and its images folder")
        s.add_argument("--json", required=True, help=name)
        s.add_argument("--images", required=True, help="the images folder (imgs/)")
        s.add_argument("--image-size", type=image_size_arg(8), default=(96, 32),
                       help="HxW the images are resized to (default 96x32)")  # fmt: skip
        s.add_argument("--seed", type=int, default=0, help="seed of a drawn validation split")
        s.add_argument("--out", required=True, help="output dataset folder (path or URI)")
        s.add_argument("--dataset", default=None, help="dataset name in the manifest")
    c = sub.add_parser("cub", help="CUB-200-2011 with text_c10 captions")
    c.add_argument("--root", required=True, help="the CUB_200_2011 folder")
    c.add_argument("--text", required=True, help="the text_c10 folder")
    c.add_argument("--image-size", type=image_size_arg(8), default=(64, 64),
                   help="HxW the images are resized to (default 64x64)")  # fmt: skip
    c.add_argument("--seed", type=int, default=0, help="seed of the drawn validation split")
    c.add_argument("--out", required=True, help="output dataset folder (path or URI)")
    c.add_argument("--dataset", default="cub-200-2011", help="dataset name in the manifest")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.format == "cub":
        from hmgray.families.retrieval.data.formats.cub import convert_cub

        return run_conversion(lambda: convert_cub(
            args.root, args.text, args.out, image_size=args.image_size,
            dataset=args.dataset, seed=args.seed,
        ))  # fmt: skip
    from hmgray.families.retrieval.data.formats.pedes import convert_pedes

    return run_conversion(lambda: convert_pedes(
        args.format, args.json, args.images, args.out, image_size=args.image_size,
        dataset=args.dataset, seed=args.seed,
    ))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
