r"""A :class:`~analysis.cells.Table` as a LaTeX ``table`` that compiles as is.

Needs only ``booktabs`` and ``graphicx`` (plus ``siunitx`` with ``siunitx=True``); a table
wider than the column is scaled down to fit. The needed packages are
listed in a comment at the top, followed by the provenance comments. Every name is
escaped (``no_text`` -> ``no\_text``) and the unicode symbols of the table model map to
LaTeX: ``±`` -> ``$\pm$``, ``∗`` -> ``$^{*}$``, ``†`` -> ``$^{\dagger}$``, ``–`` -> ``--``.

Plain layout, per metric: ``r@{}l`` (``mean $\pm$ std`` right-aligned, then the markers)
and ``r`` for Δ. Every cell of a column has the same decimals, so right alignment is
decimal alignment. With ``siunitx=True`` mean and std get their own ``S`` columns.
"""

from __future__ import annotations

from analysis.cells import MISSING, Cell, Column, Table

_SYMBOLS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
    "∗": r"$^{*}$",
    "†": r"$^{\dagger}$",
    "–": "--",
    "—": "---",
    "Δ": r"$\Delta$",
    "α": r"$\alpha$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "×": r"$\times$",
}
_MARKS = {"∗": "*", "†": r"\dagger"}


def escape(text: str) -> str:
    """``text`` safe in LaTeX text mode (special characters and our unicode symbols)."""
    return "".join(_SYMBOLS.get(ch, ch) for ch in text)


def _number(text: str) -> str:
    """A formatted number in text mode: a real minus sign instead of a hyphen."""
    return "$-$" + text[1:] if text.startswith("-") else text


def _marks(cell: Cell) -> str:
    return "$^{" + "".join(_MARKS[m] for m in cell.markers) + "}$" if cell.markers else ""


def _emphasis(text: str, rank: str | None) -> str:
    if rank == "best":
        return r"{\bfseries\boldmath " + text + "}"
    if rank == "second":
        return r"\underline{" + text + "}"
    return text


def _width(column: Column, siunitx: bool) -> int:
    """Number of tabular columns one metric column takes."""
    return (3 if siunitx else 2) + (1 if column.show_delta else 0)


def _format(texts: list[str], decimals: int, sign: str = "") -> str:
    """siunitx ``table-format`` wide enough for ``texts`` (e.g. ``1.4``, ``+2.1``)."""
    digits = max((len(t.lstrip("+-").split(".")[0]) for t in texts), default=1)
    neg = "-" if any(t.startswith("-") for t in texts) else ""
    return f"{sign or neg}{digits}.{decimals}"


def _spec(table: Table, siunitx: bool) -> str:
    parts = ["l"]
    for j, col in enumerate(table.columns):
        cells = [r.cells[j] for r in table.rows if not r.cells[j].missing]
        if siunitx:
            mean_fmt = _format([c.mean_text for c in cells], col.decimals)
            std_fmt = _format([c.std_text for c in cells if c.std_text], col.decimals)
            parts.append(
                f"S[table-format={mean_fmt}]@{{\\,\\(\\pm\\)\\,}}S[table-format={std_fmt}]@{{}}l"
            )
            if col.show_delta:
                deltas = [c.delta_text for c in cells if c.delta_text not in ("ref.", MISSING)]
                parts.append(f"S[table-format={_format(deltas, 1, '+')}, retain-explicit-plus]")
        else:
            parts.append("r@{}l" + ("r" if col.show_delta else ""))
    return "".join(parts)


def _value(cell: Cell, siunitx: bool) -> list[str]:
    """The tabular cells of one table cell (without Δ)."""
    if cell.missing:
        return [rf"\multicolumn{{{3 if siunitx else 2}}}{{c}}{{--}}"]
    if not siunitx:
        text = _number(cell.mean_text)
        if cell.std_text:
            text += r" $\pm$ " + cell.std_text
        return [_emphasis(text, cell.rank), _marks(cell)]
    if not cell.std_text:
        return [
            r"\multicolumn{2}{c}{" + _emphasis(_number(cell.mean_text), cell.rank) + "}",
            _marks(cell),
        ]
    if cell.rank == "best":
        return [r"\bfseries " + cell.mean_text, r"\bfseries " + cell.std_text, _marks(cell)]
    if cell.rank == "second":  # underline is not a font switch: typeset as right-aligned text
        return [
            r"{\underline{\num{" + cell.mean_text + "}}}",
            r"{\underline{\num{" + cell.std_text + "}}}",
            _marks(cell),
        ]
    return [cell.mean_text, cell.std_text, _marks(cell)]


def _delta(cell: Cell, siunitx: bool) -> str:
    if cell.delta_text in ("ref.", MISSING):
        text = "ref." if cell.delta_text == "ref." else "--"
        return "{" + text + "}" if siunitx else text
    return cell.delta_text if siunitx else _number(cell.delta_text)


def _header(table: Table, siunitx: bool) -> list[str]:
    lines = []
    first_col = 2
    if table.has_groups:
        groups: list[tuple[str, int]] = []
        for col in table.columns:
            w = _width(col, siunitx)
            if groups and groups[-1][0] == col.group:
                groups[-1] = (col.group, groups[-1][1] + w)
            else:
                groups.append((str(col.group), w))
        cells, rules, start = [""], [], first_col
        for name, w in groups:
            cells.append(rf"\multicolumn{{{w}}}{{c}}{{{escape(name)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + w - 1}}}")
            start += w
        lines += [" & ".join(cells) + r" \\", "".join(rules)]
    has_delta = any(c.show_delta for c in table.columns)
    metric_cells = [escape(table.row_header) if not has_delta else ""]
    for col in table.columns:
        label = escape(f"{col.metric.label} {col.metric.arrow}")
        metric_cells.append(rf"\multicolumn{{{_width(col, siunitx)}}}{{c}}{{{label}}}")
    lines.append(" & ".join(metric_cells) + r" \\")
    if has_delta:
        rules, start, sub = [], first_col, [escape(table.row_header)]
        for col in table.columns:
            w = _width(col, siunitx)
            rules.append(rf"\cmidrule(lr){{{start}-{start + w - 1}}}")
            start += w
            sub.append(rf"\multicolumn{{{w - 1}}}{{c}}{{mean $\pm$ std}}")
            sub.append(r"{$\Delta$ (\%)}" if siunitx else r"$\Delta$ (\%)")
        lines += ["".join(rules), " & ".join(sub) + r" \\"]
    return lines


def render(table: Table, comments: list[str], siunitx: bool = False) -> str:
    """The complete LaTeX source of ``table``; ``comments`` go on top (provenance)."""
    packages = r"\usepackage{booktabs} \usepackage{graphicx}" + (
        r" \usepackage{siunitx}" if siunitx else ""
    )
    lines = [f"% Requires in the preamble: {packages}"]
    lines += ["% " + c.replace("\n", " ") for c in comments]
    caption = escape(table.caption)
    if table.notes:
        caption += " " + escape("Notes: " + " ".join(table.notes))
    lines += [
        r"\begin{table}[tbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{table.label}}}",
    ]
    if siunitx:
        lines.append(r"\sisetup{detect-weight=true, table-text-alignment=right}")
    lines.append(r"\setlength{\tabcolsep}{4pt}")
    # typeset into scratch box 0 first: a table wider than the column is scaled to fit
    lines.append(r"\sbox0{%")
    lines.append(rf"\begin{{tabular}}{{{_spec(table, siunitx)}}}")
    lines.append(r"\toprule")
    lines += _header(table, siunitx)
    lines.append(r"\midrule")
    for row in table.rows:
        cells = [escape(row.label)]
        for col, cell in zip(table.columns, row.cells, strict=True):
            cells += _value(cell, siunitx)
            if col.show_delta:
                cells.append(_delta(cell, siunitx))
        lines.append(" & ".join(cells) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}}%",
        r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
