"""A :class:`~analysis.cells.Table` as CSV: the same rows and columns, at full precision.

One line per table row; per metric column ``<key>:mean``, ``:std``, ``:n``, ``:ci_low``,
``:ci_high`` (95% CI), ``:delta_pct`` (ladder only), ``:p`` (the deciding test), ``:p_holm``,
``:p_t``, ``:p_wilcoxon``, ``:significant``, ``:against`` (the arm it is tested against),
``:detectable`` (the difference its test could detect with 80% power), ``:rank`` (best /
second) and ``:seeds``.
Floats are written with ``repr`` (round-trip exact); empty means not available.
"""

from __future__ import annotations

import csv
import io
import math

from analysis.cells import Cell, Table

FIELDS = (
    "mean",
    "std",
    "n",
    "ci_low",
    "ci_high",
    "delta_pct",
    "p",
    "p_holm",
    "p_t",
    "p_wilcoxon",
    "significant",
    "against",
    "detectable",
    "rank",
    "seeds",
)


def _num(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else repr(float(x))


def _fields(cell: Cell, show_delta: bool) -> list[str]:
    s, t = cell.stats, cell.test
    out = [_num(s.mean), _num(s.std), str(s.n), _num(s.ci_low), _num(s.ci_high)]
    if show_delta:
        out.append(_num(cell.delta_pct))
    out += [
        _num(t.p) if t else "",
        _num(cell.p_holm),
        _num(t.p_t) if t else "",
        _num(t.p_wilcoxon) if t else "",
        ("true" if cell.significant else "false") if t and t.testable else "",
        cell.against or "",
        _num(cell.detectable),
        cell.rank or "",
        ";".join(str(x) for x in cell.seeds),
    ]
    return out


def render(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [table.row_header, "reference"]
    for col in table.columns:
        header += [f"{col.key}:{f}" for f in FIELDS if f != "delta_pct" or col.show_delta]
    writer.writerow(header)
    for row in table.rows:
        line = [
            row.label if table.kind == "sweep" else row.key,
            "true" if row.is_reference else "false",
        ]
        for col, cell in zip(table.columns, row.cells, strict=True):
            line += _fields(cell, col.show_delta)
        writer.writerow(line)
    return buf.getvalue()
