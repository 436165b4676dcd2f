"""Results table -> statistics -> publication tables (LaTeX, Markdown, CSV) and plots.

Public API::

    from analysis import build_report
    report = build_report("s3://bucket/exp/results.parquet")   # writes <exp>/report/...
    print(report.ladder_markdown)

or ``python -m analysis <results-uri> [--out DIR]``. The pieces (``load_results``,
``ladder_table``, ``sweep_table``, ``datasets_table``, the renderers in ``analysis.latex`` /
``analysis.markdown`` / ``analysis.csv_table``, statistics in ``analysis.stats``) are
importable on their own. Importing the package has no side effects.
"""

from analysis.errors import AnalysisError
from analysis.load import Metric, Results, load_results
from analysis.report import Report, build_report
from analysis.sweep import sweep_table
from analysis.tables import datasets_table, ladder_table

__all__ = [
    "AnalysisError",
    "Metric",
    "Report",
    "Results",
    "build_report",
    "datasets_table",
    "ladder_table",
    "load_results",
    "sweep_table",
]
