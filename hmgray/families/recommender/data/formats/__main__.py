"""Command line of the recommender's converters (reached through
``python -m hmgray.data.formats amazon2023 ...``). Exit status: 0 on success, 1 on a
conversion error (missing input, nothing left: the message names the file, nothing is
written), 2 on a usage error."""

from __future__ import annotations

import argparse
import sys

from hmgray.cli import positive_int
from hmgray.data.formats.base import image_size_arg, run_conversion


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmgray.data.formats")
    sub = p.add_subparsers(dest="format", required=True)
    a = sub.add_parser("amazon2023", help="Amazon Reviews 2023 review + metadata JSON Lines")
    a.add_argument("--reviews", nargs="+", required=True, help="<Category>.jsonl[.gz] files")
    a.add_argument("--meta", nargs="+", required=True, help="meta_<Category>.jsonl[.gz] files")
    a.add_argument("--images", default=None, help="local folder of item images (optional)")
    a.add_argument("--out", required=True, help="output dataset folder (path or URI)")
    a.add_argument(
        "--k-core", type=int, default=0, help="keep the K-core of users and items (0: off)"
    )
    a.add_argument("--min-interactions", type=positive_int("--min-interactions"), default=3,
                   help="users with fewer are trained on but not evaluated (default 3)")  # fmt: skip
    a.add_argument("--image-size", type=image_size_arg(8), default=(64, 64), help="N or HxW pixels")
    a.add_argument("--chunk-rows", type=positive_int("--chunk-rows"), default=100_000,
                   help="reviews parsed per chunk: bounds the parse buffers")  # fmt: skip
    a.add_argument("--max-rows", type=positive_int("--max-rows"), default=None,
                   help="read only the first reviews")  # fmt: skip
    a.add_argument("--dataset", default=None, help="dataset name in the manifest")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.k_core < 0:
        print("error: --k-core must be >= 0", file=sys.stderr)
        return 2
    from hmgray.families.recommender.data.formats.amazon2023 import convert_amazon2023

    return run_conversion(
        lambda: convert_amazon2023(
            args.reviews,
            args.meta,
            args.out,
            images_dir=args.images,
            image_size=args.image_size,
            k_core=args.k_core,
            min_interactions=args.min_interactions,
            chunk_rows=args.chunk_rows,
            max_rows=args.max_rows,
            dataset=args.dataset,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
