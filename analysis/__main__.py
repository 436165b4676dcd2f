"""``python -m analysis <results-uri> [--out DIR]``: regenerate an experiment's tables and plots.

Prints the files written, then every note (missing seeds, untested comparisons) on
stderr. Exits 2 with a message naming the file and the field when the results are
unusable; nothing is written in that case.
"""

from __future__ import annotations

import argparse
import sys

from analysis.errors import AnalysisError
from analysis.report import build_report
from analysis.stats import CI_METHODS, TEST_METHODS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Regenerate every table (LaTeX, Markdown, CSV, provenance JSON) and plot "
        "of an experiment from its stored results table.",
    )
    parser.add_argument("results_uri", help="results.parquet: local path, file:// or s3:// URI")
    parser.add_argument(
        "--out", default=None, help="output folder (default: <results folder>/report)"
    )
    parser.add_argument("--ci", choices=CI_METHODS, default="t", help="95%% CI method (default t)")
    parser.add_argument(
        "--test", choices=TEST_METHODS, default="t", help="deciding paired test (default t)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="family-wise level per table (Holm)"
    )
    parser.add_argument(
        "--siunitx", action="store_true", help="align numbers with siunitx S columns"
    )
    args = parser.parse_args(argv)
    try:
        report = build_report(
            args.results_uri,
            args.out,
            ci=args.ci,
            test=args.test,
            alpha=args.alpha,
            siunitx=args.siunitx,
        )
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in report.files:
        print(path)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
