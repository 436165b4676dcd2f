"""Figures (PNG and PDF) drawn from the same tables and rows as the LaTeX output.

* arms: per metric, each arm's mean with its 95% CI and the per-seed values (dots);
  the dashed line is the reference arm's mean.
* sweep: metric against the swept quantity, mean line with a 95% CI band.
* search history: each arm's search metric in trial order, with the best so far.
* importances: Optuna parameter importances of each arm's search (``analysis.importance``).

Reproducible bytes: no pyplot (no global state, no GUI backend), the default style plus
fixed fonts and sizes inside ``rc_context``, and no timestamps or software strings in
the files' metadata.
"""

from __future__ import annotations

import io
import json
import math

import matplotlib.style
from matplotlib import rc_context
from matplotlib.figure import Figure

from analysis.cells import Table
from analysis.importance import param_importances
from analysis.load import Results

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "pdf.fonttype": 42,  # TrueType: some venues reject Type 3 fonts
    "svg.hashsalt": "hmgray",
    "axes.grid": True,
    "grid.alpha": 0.3,
}
DPI = 150
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (2.6, 2.2)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def save(draw, *args) -> dict[str, bytes]:
    """Run ``draw(*args) -> Figure`` under the fixed style; PNG and PDF bytes."""
    with matplotlib.style.context("default"), rc_context(RC):
        fig = draw(*args)
        png, pdf = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(
            pdf, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None}
        )
    return {"png": png.getvalue(), "pdf": pdf.getvalue()}


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def arms_figure(table: Table) -> Figure:
    """One panel per metric column of a ladder table: mean, 95% CI, seeds."""
    fig, axes = _grid(len(table.columns))
    x = list(range(len(table.rows)))
    for j, (ax, col) in enumerate(zip(axes, table.columns, strict=True)):
        for i, row in enumerate(table.rows):
            cell = row.cells[j]
            color = COLORS[0] if row.is_reference else "#444444"
            if cell.missing:
                ax.text(
                    i,
                    0.5,
                    "no result",
                    rotation=90,
                    ha="center",
                    va="center",
                    transform=ax.get_xaxis_transform(),
                    fontsize=6,
                )
                continue
            s = cell.stats
            if math.isfinite(s.ci_low):
                ax.errorbar(
                    [i],
                    [s.mean],
                    yerr=[[s.mean - s.ci_low], [s.ci_high - s.mean]],
                    fmt="o",
                    color=color,
                    capsize=3,
                    markersize=4,
                )
            else:
                ax.plot([i], [s.mean], "o", color=color, markersize=4)
            ax.plot([i + 0.18] * len(cell.values), cell.values, ".", color="#999999", markersize=3)
            if cell.significant:
                ax.annotate(
                    "*",
                    (i, s.ci_high if math.isfinite(s.ci_high) else s.mean),
                    textcoords="offset points",
                    xytext=(0, 2),
                    ha="center",
                    fontsize=9,
                )
        refs = table.options.get("references")
        if refs:  # one line per group of arms, across that group only
            keys = [r.key for r in table.rows]
            for i, row in enumerate(table.rows):
                if not row.is_reference or row.cells[j].missing:
                    continue
                span = [k for k, key in enumerate(keys) if refs.get(key) == row.key] or [i]
                ax.hlines(row.cells[j].stats.mean, min(span) - 0.4, max(span) + 0.4,
                          color=COLORS[0], linestyle="--", linewidth=0.8)  # fmt: skip
        else:
            ref = next(
                (r.cells[j] for r in table.rows if r.is_reference and not r.cells[j].missing),
                None,
            )
            if ref is not None:
                ax.axhline(ref.stats.mean, color=COLORS[0], linestyle="--", linewidth=0.8)
        better = "lower" if col.metric.direction == "min" else "higher"
        group = f"{col.group}: " if col.group else ""
        ax.set_title(f"{group}{col.metric.label} ({better} is better)")
        ax.set_xticks(x, [r.label for r in table.rows], rotation=30, ha="right")
        ax.set_xlim(-0.6, len(x) - 0.4)
        ax.margins(y=0.12)  # room for the significance marker above the top CI
    ci = "Student-t" if table.options.get("ci") == "t" else "bootstrap"
    claim = (
        "* step from the arm before it significant"
        if table.options.get("ladder") == "cumulative"
        else "* significant vs reference"
    )
    how = "group-sequential" if "sequential" in table.options else "Holm"
    fig.suptitle(
        f"{table.experiment}: mean and 95% CI ({ci}) over seeds; grey dots: seeds; {claim} ({how})",
        fontsize=8,
    )
    return fig


def _numeric(values: list) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def sweep_figure(table: Table, log_x: bool = False) -> Figure:
    """Metric against the swept quantity: one panel per metric, one line per column group."""
    values = [json.loads(r.key) for r in table.rows]
    numeric = _numeric(values)
    x = [float(v) for v in values] if numeric else list(range(len(values)))
    labels: list[str] = []
    for col in table.columns:
        if col.metric.label not in labels:
            labels.append(col.metric.label)
    fig, axes = _grid(len(labels))
    groups = sorted({str(c.group) for c in table.columns})
    for ax, label in zip(axes, labels, strict=True):
        for j, col in enumerate(table.columns):
            if col.metric.label != label:
                continue
            color = COLORS[groups.index(str(col.group)) % len(COLORS)]
            pts = [
                (xi, r.cells[j].stats)
                for xi, r in zip(x, table.rows, strict=True)
                if not r.cells[j].missing
            ]
            xs = [p[0] for p in pts]
            ax.plot(
                xs,
                [p[1].mean for p in pts],
                "o-",
                color=color,
                markersize=3,
                label=col.group if col.group else None,
            )
            band = [p for p in pts if math.isfinite(p[1].ci_low)]
            if band:
                ax.fill_between(
                    [p[0] for p in band],
                    [p[1].ci_low for p in band],
                    [p[1].ci_high for p in band],
                    color=color,
                    alpha=0.2,
                    linewidth=0,
                )
            better = "lower" if col.metric.direction == "min" else "higher"
            ax.set_title(f"{label} ({better} is better)")
        if log_x and numeric and min(x) > 0:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(x, [r.label for r in table.rows], rotation=30, ha="right")
        ax.set_xlabel(table.row_header)
        if any(c.group for c in table.columns):
            ax.legend(frameon=False)
    fig.suptitle(
        f"{table.experiment}: {table.row_header} sweep, mean and 95% CI band over seeds", fontsize=8
    )
    return fig


def _search_panels(results: Results) -> list[tuple[str, str, object]]:
    """(dataset, arm, rows in trial order) for every arm with search rows."""
    rows = results.stage("search")
    order = [c for c in ("created_at", "trial_id") if c in rows.columns]
    rows = rows.sort_values(order, kind="stable")
    datasets = sorted({str(d) for d in rows["dataset"]})
    return [
        (d, arm, rows[(rows["dataset"] == d) & (rows["arm"] == arm)])
        for d in datasets
        for arm in results.arms(rows[rows["dataset"] == d])
    ]


def _title(results: Results, dataset: str, arm: str) -> str:
    several = len({str(d) for d in results.stage("search")["dataset"]}) > 1
    return f"{arm} [{dataset}]" if several else arm


def search_history_figure(results: Results) -> Figure:
    """Each arm's search metric per trial (in created_at order) and the best so far."""
    metric = results.metric(results.search_metric)
    panels = _search_panels(results)
    fig, axes = _grid(len(panels))
    for ax, (dataset, arm, rows) in zip(axes, panels, strict=True):
        y = rows[metric.name].to_numpy(dtype="float64")
        stopped = (
            rows["stopped_early"].to_numpy(dtype=bool)
            if "stopped_early" in rows
            else [False] * len(y)
        )
        n = list(range(1, len(y) + 1))
        full = [(i, v) for i, v, s in zip(n, y, stopped, strict=True) if math.isfinite(v) and not s]
        early = [(i, v) for i, v, s in zip(n, y, stopped, strict=True) if math.isfinite(v) and s]
        if full:
            ax.plot(*zip(*full, strict=True), "o", color=COLORS[0], markersize=3, label="completed")
        if early:
            ax.plot(
                *zip(*early, strict=True), "x", color=COLORS[1], markersize=3, label="stopped early"
            )
        best, line = math.nan, []
        for v in y:
            if math.isfinite(v) and (math.isnan(best) or metric.better(v, best)):
                best = v
            line.append(best)
        ax.step(n, line, where="post", color="black", linewidth=0.9, label="best so far")
        if not (full or early):
            _message(ax, "no finite values")
        ax.set_title(_title(results, dataset, arm))
        ax.set_xlabel("trial")
        ax.set_ylabel(
            f"{metric.label} ({'lower' if metric.direction == 'min' else 'higher'} is better)"
        )
        if ax is axes[0]:
            ax.legend(frameon=False, loc="best")
    fig.suptitle(f"{results.experiment}: search history ({metric.name})", fontsize=8)
    return fig


def importance_figure(results: Results) -> Figure:
    """Optuna parameter importances of each arm's search, or why there are none."""
    metric = results.metric(results.search_metric)
    panels = _search_panels(results)
    fig, axes = _grid(len(panels))
    evaluator = ""
    for ax, (dataset, arm, rows) in zip(axes, panels, strict=True):
        imp = param_importances(
            rows, results.search_space.get(arm), metric.name, results.search_mode
        )
        evaluator = imp.evaluator
        trials = f"{imp.n_trials} trial{'' if imp.n_trials == 1 else 's'}"
        ax.set_title(f"{_title(results, dataset, arm)} ({trials})")
        if imp.values is None:
            _message(ax, imp.message)
            continue
        items = sorted(imp.values.items(), key=lambda kv: (-kv[1], kv[0]))
        names = [k for k, _ in items][::-1]
        ax.barh(names, [v for _, v in items][::-1], color=COLORS[0])
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance")
    fig.suptitle(
        f"{results.experiment}: parameter importances for {metric.name} ({evaluator})", fontsize=8
    )
    return fig
