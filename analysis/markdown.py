"""A :class:`~analysis.cells.Table` as a GitHub-flavoured Markdown table.

Bold ``**…**`` for the best value, ``<u>…</u>`` for the second; markers ``\\*`` (significant)
and ``†`` (fewer seeds); column groups (datasets) are folded into the header as
``dataset: metric``. The caption and notes follow the table, so the text an experiment
script prints is self-explanatory.
"""

from __future__ import annotations

from analysis.cells import MARK_SIG, Cell, Table

_ESCAPE = {"\\": "\\\\", "|": "\\|", "*": "\\*", "`": "\\`", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """Characters that would end a cell or start emphasis; ``_`` inside words is safe in GFM."""
    return "".join(_ESCAPE.get(ch, ch) for ch in text).replace(MARK_SIG, "\\*")


def _value(cell: Cell) -> str:
    if cell.missing:
        return cell.mean_text
    text = cell.mean_text + (f" ± {cell.std_text}" if cell.std_text else "")
    if cell.rank == "best":
        text = f"**{text}**"
    elif cell.rank == "second":
        text = f"<u>{text}</u>"
    return text + escape(cell.markers)


def _delta(cell: Cell) -> str:
    return cell.delta_text + ("%" if cell.delta_text[-1:].isdigit() else "")


def render(table: Table) -> str:
    """Title line, the table, then the caption and the notes as a list."""
    header = [escape(table.row_header)]
    align = [":--"]
    for col in table.columns:
        name = f"{col.metric.label} {col.metric.arrow}"
        header.append(escape(f"{col.group}: {name}" if col.group is not None else name))
        align.append("--:")
        if col.show_delta:
            header.append(escape(f"Δ {col.metric.label}"))
            align.append("--:")
    lines = [
        f"**{escape(table.experiment)}: {escape(table.name)}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
    ]
    for row in table.rows:
        cells = [escape(row.label)]
        for col, cell in zip(table.columns, row.cells, strict=True):
            cells.append(_value(cell))
            if col.show_delta:
                cells.append(_delta(cell))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", escape(table.caption)]
    if table.notes:
        lines += ["", "Notes:", ""] + [f"- {escape(n)}" for n in table.notes]
    return "\n".join(lines) + "\n"
