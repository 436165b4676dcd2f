"""Command line: convert a real listing export into hmgray shards.

    python -m hmgray.data.formats craigslist --csv vehicles.csv --msrp msrp.csv \\
        --images images/ --out data/craigslist [--missing-images drop|keep]
    python -m hmgray.data.formats mercari --tsv train.tsv --msrp msrp.csv \\
        --images images/ --out data/mercari [--location shipping|single]

Prints the conversion report summary (also saved as ``conversion_report.json`` beside the
manifest). Exit status: 0 on success, 1 on a fatal conversion error (missing input file,
bad header or MSRP table, no usable row: the message names the file, nothing is written),
2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys

from hmgray.data.formats.base import image_size_arg, run_conversion
from hmgray.families.valuation.data.formats.common import MISSING_IMAGE_POLICIES
from hmgray.families.valuation.data.formats.craigslist import convert_craigslist
from hmgray.families.valuation.data.formats.mercari import LOCATION_MODES, convert_mercari


def _columns(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hmgray.data.formats",
        description="Convert a real second-hand listing export into hmgray shards.",
    )
    sub = parser.add_subparsers(dest="format", required=True)

    def common(p: argparse.ArgumentParser, min_price: float, max_price: float, key: str) -> None:
        p.add_argument("--msrp", required=True, help="MSRP table, CSV with header key,msrp")
        p.add_argument("--images", default=None, help="local folder of listing images")
        p.add_argument("--out", required=True, help="output dataset folder (path or URI)")
        p.add_argument("--missing-images", choices=MISSING_IMAGE_POLICIES, default="keep")
        p.add_argument("--period-days", type=int, default=30, help="time bucket length, days")
        p.add_argument("--min-price", type=float, default=min_price)
        p.add_argument("--max-price", type=float, default=max_price)
        p.add_argument(
            "--msrp-key", type=_columns, default=None, help=f"comma list (default {key})"
        )
        p.add_argument(
            "--image-size", type=image_size_arg(1), default=(48, 48), help="N or HxW pixels"
        )
        p.add_argument("--max-rows", type=int, default=None, help="convert only the first rows")
        p.add_argument("--no-structured-text", action="store_true")
        p.add_argument("--dataset", default=None, help="dataset name in the manifest")

    c = sub.add_parser("craigslist", help="Kaggle 'Used Cars Dataset' vehicles.csv")
    c.add_argument("--csv", required=True, help="the vehicles.csv export")
    common(c, 100.0, 500_000.0, "manufacturer,model")
    m = sub.add_parser("mercari", help="Mercari Price Suggestion train.tsv")
    m.add_argument("--tsv", required=True, help="the train.tsv export")
    common(m, 1.0, 10_000.0, "brand_name,category_leaf")
    m.add_argument("--location", choices=LOCATION_MODES, default="shipping")
    m.add_argument("--listed-at", default="2017-11-01T00:00:00+00:00")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kwargs = {
        "msrp_uri": args.msrp,
        "images_dir": args.images,
        "missing_images": args.missing_images,
        "period_days": args.period_days,
        "min_price": args.min_price,
        "max_price": args.max_price,
        "image_size": args.image_size,
        "max_rows": args.max_rows,
        "structured_text": not args.no_structured_text,
    }
    if args.msrp_key is not None:
        kwargs["msrp_key"] = args.msrp_key
    if args.dataset is not None:
        kwargs["dataset"] = args.dataset
    if args.format == "craigslist":
        return run_conversion(lambda: convert_craigslist(args.csv, args.out, **kwargs))
    kwargs.update(location=args.location, listed_at=args.listed_at)
    return run_conversion(lambda: convert_mercari(args.tsv, args.out, **kwargs))


if __name__ == "__main__":
    sys.exit(main())
