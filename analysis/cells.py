"""The table model shared by every layout and every output format.

A :class:`Table` is rows x columns of :class:`Cell`; a cell holds its statistics, what
went into them (seeds, trial ids, config hashes, values) and how it is displayed (text,
bold/underline rank, markers). Layouts (``analysis.tables``) build tables; renderers
(``analysis.latex``, ``analysis.markdown``, ``analysis.csv_table``) only print them.

Markers in cell and caption text: ``∗`` (U+2217) significant difference from the arm
the cell is tested against (``analysis.baselines``), ``†`` fewer seeds than declared,
``–`` no result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis import format as fmt
from analysis.load import Metric
from analysis.stats import CellStats, PairedTest, summarize

MARK_SIG = "∗"
MARK_FEWER = "†"
MISSING = "–"
CI_NAMES = {"t": "Student-t", "bootstrap": "percentile bootstrap, 9999 seeded resamples"}


@dataclass(frozen=True)
class Column:
    """One metric column; ``group`` is the column group (a dataset) or None."""

    key: str
    metric: Metric
    group: str | None
    decimals: int
    show_delta: bool


@dataclass(frozen=True)
class Cell:
    """Statistics and display of one metric for one row (an arm, or a swept value)."""

    stats: CellStats
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    trial_ids: tuple[str, ...]
    config_hashes: tuple[str, ...]
    nan_seeds: tuple[int, ...] = ()
    fewer: bool = False
    mean_text: str = ""
    std_text: str = ""
    rank: str | None = None
    delta_pct: float | None = None
    delta_text: str = ""
    test: PairedTest | None = None
    against: str | None = None  # the row (arm) this cell is tested against
    p_holm: float = math.nan
    significant: bool = False
    # the smallest difference the test could detect with 80% power (absolute; NaN: none)
    detectable: float = math.nan
    detectable_alpha: float = math.nan  # the level that detectable difference is stated at
    decision: Any = None  # analysis.sequential.Decision in a sequential design

    @property
    def missing(self) -> bool:
        return self.stats.n == 0

    @property
    def markers(self) -> str:
        return (MARK_SIG if self.significant else "") + (MARK_FEWER if self.fewer else "")


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    is_reference: bool
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    """A finished table: what every renderer prints and the sidecar describes."""

    name: str
    kind: str  # "ladder" | "datasets" | "sweep"
    experiment: str
    row_header: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    caption: str
    notes: tuple[str, ...]
    label: str
    options: dict[str, Any]
    source_rows: pd.DataFrame = field(repr=False, compare=False)

    @property
    def has_groups(self) -> bool:
        return any(c.group is not None for c in self.columns)


def collect(
    runs: pd.DataFrame,
    metric: Metric,
    ci: str,
    expected: int | None,
    confidence: float = 0.95,
) -> Cell:
    """The raw cell of ``metric`` over ``runs`` (one row per seed, in seed order).

    Non-finite values are left out; ``expected`` is the number of seeds the cell should
    have, and fewer is flagged (†).
    """
    values = runs[metric.name].to_numpy(dtype="float64")
    finite = np.isfinite(values)
    used = runs[finite]
    stats = summarize(values[finite].tolist(), ci=ci, confidence=confidence)
    return Cell(
        stats=stats,
        seeds=tuple(int(s) for s in used["seed"]),
        values=tuple(float(v) for v in values[finite]),
        trial_ids=tuple(str(t) for t in used["trial_id"]),
        config_hashes=tuple(str(h) for h in used["config_hash"]),
        nan_seeds=tuple(int(s) for s in runs.loc[~finite, "seed"]),
        fewer=expected is not None and 0 < stats.n < expected,
    )


def display(column_cells: list[Cell], metric: Metric) -> tuple[int, list[Cell]]:
    """Choose the column's decimals, format means and stds, and rank the cells."""
    decimals = fmt.column_decimals(
        [c.stats.mean for c in column_cells], [c.stats.std for c in column_cells]
    )
    shown = [None if c.missing else float(fmt.fixed(c.stats.mean, decimals)) for c in column_cells]
    marks = fmt.rank_marks(shown, metric.direction)
    out = []
    for cell, mark in zip(column_cells, marks, strict=True):
        if cell.missing:
            out.append(replace(cell, mean_text=MISSING))
            continue
        std = cell.stats.std
        out.append(
            replace(
                cell,
                mean_text=fmt.fixed(cell.stats.mean, decimals),
                std_text=fmt.fixed(std, decimals) if math.isfinite(std) else "",
                rank=mark,
            )
        )
    return decimals, out


def with_delta(cell: Cell, reference: Cell | None) -> Cell:
    """Add the change of the mean relative to the reference cell, in percent."""
    if reference is None or cell.missing or reference.missing:
        return replace(cell, delta_text=MISSING)
    pct = fmt.delta_percent(cell.stats.mean, reference.stats.mean)
    return replace(
        cell, delta_pct=pct, delta_text=MISSING if pct is None else fmt.signed_percent(pct)
    )


def datasets_of(rows: pd.DataFrame) -> list[str]:
    return sorted(str(d) for d in rows["dataset"].unique())


def is_finite(x: object) -> bool:
    try:
        return math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def legend(table_rows: tuple[Row, ...], fewer: str = "fewer seeds than declared") -> list[str]:
    cells = [c for r in table_rows for c in r.cells]
    out = []
    if any(c.fewer for c in cells):
        out.append(f"{MARK_FEWER} averaged over {fewer} (see the notes).")
    if any(c.missing for c in cells):
        out.append(f"{MISSING} no result.")
    return out
