"""The compare table: arms side by side for every value of a condition (e.g. few-shot k).

Rows are the distinct values of one config key (``param``, read from ``config_json``)
among the rows of some stages (e.g. ``fewshot_k`` over the ``fewshot`` runs); columns are
one group per arm, the declared metrics within each. A cell summarises the runs (seeds) of
one arm at one value: mean ± std, 95% CI in the CSV, sidecar and plot. Within each row,
every arm is compared with its baseline arm (``analysis.baselines``: the arm before it in
a cumulative ladder, the reference in a star) by the paired test over their shared seeds
(the same statistics as the ladder, ``analysis.stats``), Holm-corrected across all
comparisons of the table; its columns carry Δ, the change of its mean relative to the
baseline arm's in the same row, in %. The best arm of each row is bold (with more than
two arms, the second is underlined), per metric.

The figure: one panel per metric, the metric against the condition (log x for a
positive numeric condition spanning >= 10x), one line per arm with its 95% CI band, the
seeds as dots.

Declared in the results metadata (``comparisons``, contracts §5) so that
``python -m analysis`` regenerates it; see :func:`spec_from_meta`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from matplotlib.figure import Figure

from analysis import format as fmt
from analysis.baselines import baselines, ladder_kind, pair_label, steps_text
from analysis.cells import (
    CI_NAMES,
    MARK_FEWER,
    MARK_SIG,
    Cell,
    Column,
    Row,
    Table,
    collect,
    is_finite,
    legend,
    with_delta,
)
from analysis.errors import AnalysisError
from analysis.load import Metric, Results, config_value
from analysis.plots import COLORS, _grid
from analysis.stats import POWER, detectable_difference, holm, paired_test
from analysis.tables import TEST_NAMES

SPEC_KEYS = (
    "name",
    "param",
    "stages",
    "values",
    "labels",
    "metrics",
    "row_header",
    "title",
    "variants",
    "arms",
)


def spec_from_meta(spec: Any, where: str) -> dict[str, Any]:
    """Check one entry of metadata ``comparisons``; ``where`` names it in messages."""
    if not isinstance(spec, dict):
        raise AnalysisError(f"{where} must be an object")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise AnalysisError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for key in ("name", "param"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise AnalysisError(f"{where}.{key} must be a non-empty string")
    for key in ("stages", "metrics"):
        value = spec.get(key)
        if value is not None and not (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        ):
            raise AnalysisError(f"{where}.{key} must be a non-empty list of strings")
    if spec.get("values") is not None and not isinstance(spec["values"], list):
        raise AnalysisError(f"{where}.values must be a list")
    if spec.get("labels") is not None and not isinstance(spec["labels"], dict):
        raise AnalysisError(f"{where}.labels must be an object")
    variants = spec.get("variants")
    if variants is not None and not (
        isinstance(variants, dict)
        and variants
        and all(isinstance(v, str) for v in variants.values())
    ):
        raise AnalysisError(f"{where}.variants must be an object of row label -> column prefix")
    if variants is not None and spec.get("metrics") is None:
        raise AnalysisError(f"{where}: variants need the metrics they apply to")
    arms = spec.get("arms")
    if arms is not None and not (isinstance(arms, list) and all(isinstance(a, str) for a in arms)):
        raise AnalysisError(f"{where}.arms must be a list of arm names")
    return dict(spec)


def variant_rows(rows, variants: dict[str, str], metrics: Sequence[str], uri: str):
    """One copy of ``rows`` per variant (row label -> column prefix): in the copy, each
    metric column ``test_<m>`` holds the column ``test_<prefix><m>`` (e.g. the same runs'
    test metrics with images removed), and ``_value`` is the label."""
    import pandas as pd

    parts = []
    for label, prefix in variants.items():
        part = rows.copy()
        for metric in metrics:
            stage, _, base = metric.partition("_")
            column = f"{stage}_{prefix}{base}"
            if column not in rows.columns:
                raise AnalysisError(f"{uri}: variant {label!r} needs column {column!r}")
            part[metric] = rows[column]
        part["_value"] = label
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, _key(value))


def compare_table(
    results: Results,
    param: str,
    *,
    name: str,
    stages: Sequence[str] | None = None,
    values: Sequence[Any] | None = None,
    labels: dict[str, str] | None = None,
    metrics: Sequence[str] | None = None,
    row_header: str | None = None,
    title: str | None = None,
    variants: dict[str, str] | None = None,
    arms: Sequence[str] | None = None,
    ci: str = "t",
    test: str = "t",
    alpha: float = 0.05,
) -> Table:
    """Rows = values of ``param`` among rows of ``stages`` (default: every stage but
    ``search``), in the order of ``values`` (default: sorted, numbers first); columns =
    arms x ``metrics`` (default: declared metrics with a finite value). ``labels`` maps a
    value (as JSON text, e.g. ``"5"`` or ``"\\"long-tail\\""``) to its row label.
    ``variants`` (row label -> column prefix, see :func:`variant_rows`) makes the rows
    column variants of the same runs instead of values of ``param`` (then only a name);
    ``arms`` keeps only those arms.
    """
    frame = results.frame
    rows = frame[frame["stage"].isin(stages)] if stages else frame[frame["stage"] != "search"]
    where = f"stage(s) {', '.join(stages)}" if stages else "every non-search stage"
    if arms is not None:
        rows = rows[rows["arm"].isin(arms)]
    if variants is not None:
        rows = variant_rows(rows, variants, metrics or (), results.uri)
        values = list(variants)
    else:
        rows = rows.assign(_value=rows["config_json"].map(lambda j: config_value(j, param)))
    rows = rows[rows["_value"].map(lambda v: v is not None)]
    if len(rows) == 0:
        raise AnalysisError(f"{results.uri}: no rows of {where} have {param!r} in config_json")
    rows = rows.assign(_key=rows["_value"].map(_key))
    if values is not None:
        wanted = [_key(v) for v in values]
        rows = rows[rows["_key"].isin(wanted)]
        distinct = [(k, json.loads(k)) for k in wanted]
    else:
        # values from their JSON text: plain Python types (pandas may hold numpy scalars)
        distinct = sorted(
            ((k, json.loads(k)) for k in dict.fromkeys(rows["_key"])),
            key=lambda kv: _sort_key(kv[1]),
        )
    dup = rows[rows.duplicated(["_key", "arm", "seed"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        same = dup[
            (dup["_key"] == first["_key"])
            & (dup["arm"] == first["arm"])
            & (dup["seed"] == first["seed"])
        ]
        raise AnalysisError(
            f"{results.uri}: {len(same)} runs of {param} = {first['_key']}, arm "
            f"{first['arm']!r}, seed {int(first['seed'])} (trial_id "
            f"{', '.join(map(str, same['trial_id']))}); keep one run per value, arm and seed"
        )
    if metrics is None:
        chosen = [m for m in results.metrics if rows[m.name].map(is_finite).any()]
    else:
        chosen = [results.metric(m) for m in metrics]
        missing = [m.name for m in chosen if m.name not in rows.columns]
        if missing:
            raise AnalysisError(f"{results.uri}: metric column(s) {', '.join(missing)} missing")
    if not chosen:
        raise AnalysisError(f"{results.uri}: no finite metric values in rows of {where}")
    arms = results.arms(rows)
    ref = results.reference_arm
    expected = list(results.seeds) if results.seeds is not None else sorted(set(rows["seed"]))
    labels = labels or {}
    notes: list[str] = []
    if ref not in arms and ladder_kind(results) == "star":
        notes.append(f"The reference arm {ref} has no runs here: no Δ and no tests.")

    table_labels = [labels.get(key, fmt.sweep_label(value)) for key, value in distinct]
    # cells[arm][metric][row index]
    cells: dict[str, dict[str, list[Cell]]] = {a: {m.name: [] for m in chosen} for a in arms}
    for key, value in distinct:
        at = rows[rows["_key"] == key].sort_values(["seed", "trial_id"], kind="stable")
        label = labels.get(key, fmt.sweep_label(value))
        for arm in arms:
            runs = at[at["arm"] == arm]
            seeds = set(int(s) for s in runs["seed"])
            absent = sorted(set(expected) - seeds)
            if not seeds:
                notes.append(f"{row_header or param} = {label}, {arm}: no runs (–).")
            elif absent:
                notes.append(
                    f"{row_header or param} = {label}, {arm}: no run for seed "
                    f"{fmt.seed_list(absent)} ({MARK_FEWER})."
                )
            for metric in chosen:
                cells[arm][metric.name].append(collect(runs, metric, ci, len(expected)))

    # paired tests against each arm's baseline in the same row (analysis.baselines: the
    # step before it, or the reference), Holm across the table
    against = {a: b for a, b in baselines(results, arms).items() if b in arms}
    cumulative = ladder_kind(results) == "cumulative"
    tested: list[tuple[str, str, int]] = []
    # (arm, why) -> (metric labels, row labels), ordered sets
    untested: dict[tuple[str, str], tuple[dict, dict]] = {}
    for arm, base in against.items():
        for metric in chosen:
            column = cells[arm][metric.name]
            for i, (cell, base_cell) in enumerate(
                zip(column, cells[base][metric.name], strict=True)
            ):
                if cell.missing or base_cell.missing:
                    continue
                mine = dict(zip(cell.seeds, cell.values, strict=True))
                theirs = dict(zip(base_cell.seeds, base_cell.values, strict=True))
                shared = sorted(set(mine) & set(theirs))
                result = paired_test(
                    [theirs[s] for s in shared], [mine[s] for s in shared], test, alpha
                )
                column[i] = replace(cell, test=result, against=base)
                if result.testable:
                    tested.append((arm, metric.name, i))
                elif result.note:
                    said = untested.setdefault((arm, result.note), ({}, {}))
                    said[0][metric.label] = said[1][table_labels[i]] = None
    for (arm, why), (metric_labels, row_labels) in untested.items():
        notes.append(
            f"{pair_label(arm, against[arm], cumulative)} not tested ({why}): "
            f"{', '.join(metric_labels)} at {row_header or param} = {', '.join(row_labels)}."
        )
    adjusted = holm([cells[a][m][i].test.p for a, m, i in tested])
    for (arm, metric_name, i), p in zip(tested, adjusted, strict=True):
        cell = cells[arm][metric_name][i]
        detect = detectable_difference(cell.test.sd_diff, cell.test.n_pairs, alpha / len(tested))
        cells[arm][metric_name][i] = replace(
            cell,
            p_holm=p,
            significant=p <= alpha,
            detectable=detect,
            detectable_alpha=alpha / len(tested),
        )

    # display: one precision per metric over the whole table; ranks within each row
    decimals = {}
    for metric in chosen:
        every = [c for a in arms for c in cells[a][metric.name]]
        decimals[metric.name] = fmt.column_decimals(
            [c.stats.mean for c in every], [c.stats.std for c in every]
        )
        for i in range(len(distinct)):
            row_cells = [cells[a][metric.name][i] for a in arms]
            shown = [
                None if c.missing else float(fmt.fixed(c.stats.mean, decimals[metric.name]))
                for c in row_cells
            ]
            marks = fmt.rank_marks(shown, metric.direction)
            if len(arms) <= 2:  # with two arms "second" is just the other one
                marks = [m if m == "best" else None for m in marks]
            for arm, cell, mark in zip(arms, row_cells, marks, strict=True):
                d = decimals[metric.name]
                shown_cell = replace(
                    cell,
                    mean_text="–" if cell.missing else fmt.fixed(cell.stats.mean, d),
                    std_text=fmt.fixed(cell.stats.std, d)
                    if not cell.missing and math.isfinite(cell.stats.std)
                    else "",
                    rank=None if cell.missing else mark,
                )
                if arm in against:
                    shown_cell = with_delta(shown_cell, cells[against[arm]][metric.name][i])
                cells[arm][metric.name][i] = shown_cell

    columns = tuple(
        Column(f"{arm}/{m.name}", m, arm, decimals[m.name], arm in against)
        for arm in arms
        for m in chosen
    )
    table_rows = tuple(
        Row(
            key,
            labels.get(key, fmt.sweep_label(value)),
            False,
            tuple(cells[arm][m.name][i] for arm in arms for m in chosen),
        )
        for i, (key, value) in enumerate(distinct)
    )
    caption = _caption(
        results,
        title or name,
        row_header or param,
        arms,
        against,
        expected,
        ci,
        test,
        alpha,
        len(tested),
        table_rows,
    )
    return Table(
        name=name,
        kind="compare",
        experiment=results.experiment,
        row_header=row_header or param,
        columns=columns,
        rows=table_rows,
        caption=caption,
        notes=tuple(notes),
        label=f"tab:{fmt.slug(results.experiment)}-{fmt.slug(name)}",
        options={
            "ci": ci,
            "test": test,
            "alpha": alpha,
            "confidence": 0.95,
            "param": param,
            "stages": list(stages) if stages else None,
            "values": [v for _, v in distinct],
            "ladder": ladder_kind(results),
            "against": against,
            "power": POWER,
        },
        source_rows=rows.drop(columns=["_value", "_key"]),
    )


def _caption(results, title, row_header, arms, against, seeds, ci, test, alpha, m, rows) -> str:
    ref = results.reference_arm
    cumulative = ladder_kind(results) == "cumulative"
    parts = [
        f"{results.experiment}: {title}.",
        f"Rows: {row_header}. Test metrics per arm, mean ± std over "
        f"{fmt.plural(len(seeds), 'seed')} ({fmt.seed_list(seeds)});"
        " ↓ lower is better, ↑ higher is better; the best arm of each row in bold"
        + (", the second underlined" if len(arms) > 2 else "")
        + " (equal at the displayed precision counts as a tie).",
    ]
    steps = steps_text(results, arms)
    if against and cumulative:
        parts.append(
            f"Δ: change of the mean relative to the arm before it ({steps}) in the same row, in %."
        )
    elif against:
        parts.append(f"Δ: change of the mean relative to {ref} in the same row, in %.")
    claim = (
        f"{MARK_SIG} the step from the arm before it is significant"
        if cumulative
        else f"{MARK_SIG} different from {ref}"
    )
    if m:
        level = alpha / m
        parts.append(
            f"{claim} at α = {alpha:g}: {TEST_NAMES[test]} over the"
            f" shared seeds, Holm-corrected across the {fmt.plural(m, 'comparison')} of this"
            f" table; each test's detectable difference ({POWER:.0%} power at α/m ="
            f" {level:.2g}) is in the sidecar."
        )
    elif against:
        parts.append("No arm could be tested (too few shared seeds).")
    parts.append(
        f"95% confidence intervals ({CI_NAMES[ci]}) are in the CSV, the sidecar and the plots."
    )
    return " ".join(parts + legend(rows))


def compare_figure(table: Table) -> Figure:
    """One panel per metric: the metric against the rows' condition, one line per arm."""
    values = list(table.options.get("values") or [])
    numeric = bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )
    x = [float(v) for v in values] if numeric else [float(i) for i in range(len(table.rows))]
    log_x = numeric and min(x) > 0 and max(x) / min(x) >= 10
    metrics: list[Metric] = []
    for col in table.columns:
        if col.metric not in metrics:
            metrics.append(col.metric)
    arms = list(dict.fromkeys(str(c.group) for c in table.columns))
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        for a, arm in enumerate(arms):
            j = next(
                i
                for i, c in enumerate(table.columns)
                if c.group == arm and c.metric.name == metric.name
            )
            color = COLORS[a % len(COLORS)]
            # categorical rows: arms side by side around each position
            shift = 0.0 if numeric else (a - (len(arms) - 1) / 2) * 0.12
            pts = [
                (xi + shift, r.cells[j])
                for xi, r in zip(x, table.rows, strict=True)
                if not r.cells[j].missing
            ]
            if not pts:
                continue
            ax.plot(
                [p[0] for p in pts],
                [p[1].stats.mean for p in pts],
                "o-" if numeric else "o",
                color=color,
                markersize=3,
                label=arm,
            )
            band = [p for p in pts if math.isfinite(p[1].stats.ci_low)]
            if band and numeric:
                ax.fill_between(
                    [p[0] for p in band],
                    [p[1].stats.ci_low for p in band],
                    [p[1].stats.ci_high for p in band],
                    color=color,
                    alpha=0.2,
                    linewidth=0,
                )
            elif band:
                ax.errorbar(
                    [p[0] for p in band],
                    [p[1].stats.mean for p in band],
                    yerr=[
                        [p[1].stats.mean - p[1].stats.ci_low for p in band],
                        [p[1].stats.ci_high - p[1].stats.mean for p in band],
                    ],
                    fmt="none",
                    ecolor=color,
                    capsize=3,
                )
            for px, cell in pts:
                # seeds beside the mean (not hidden behind its error bar)
                dx = 0.0 if numeric else 0.04
                ax.plot(
                    [px + dx] * len(cell.values), cell.values, ".", color=color, alpha=0.5, ms=2
                )
                if cell.significant:
                    top = cell.stats.ci_high if math.isfinite(cell.stats.ci_high) else None
                    ax.annotate(
                        "*",
                        (px, top if top is not None else cell.stats.mean),
                        textcoords="offset points",
                        xytext=(0, 2),
                        ha="center",
                        fontsize=9,
                        color=color,
                    )
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(x, [r.label for r in table.rows])
            ax.minorticks_off()
        elif not numeric:
            ax.set_xticks(x, [r.label for r in table.rows], rotation=20, ha="right")
            ax.set_xlim(-0.5, len(x) - 0.5)
        better = "lower" if metric.direction == "min" else "higher"
        ax.set_title(f"{metric.label} ({better} is better)")
        ax.set_xlabel(table.row_header)
        ax.margins(y=0.12)
        ax.legend(frameon=False)
    ci = "Student-t" if table.options.get("ci") == "t" else "bootstrap"
    fig.suptitle(
        f"{table.name}: mean and 95% CI ({ci}) over seeds\n"
        "dots: seeds; * "
        + (
            "step from the arm before it significant"
            if table.options.get("ladder") == "cumulative"
            else "differs from the reference arm"
        )
        + " (Holm)",
        fontsize=8,
    )
    return fig


def comparisons(results: Results) -> list[dict[str, Any]]:
    """The checked ``comparisons`` entries of the metadata (empty when absent)."""
    raw = results.meta.get("comparisons")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AnalysisError(f"{results.uri}: metadata 'comparisons' must be a list")
    specs = [
        spec_from_meta(s, f"{results.uri}: metadata comparisons[{i}]") for i, s in enumerate(raw)
    ]
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise AnalysisError(f"{results.uri}: metadata comparisons: duplicate names {names}")
    return specs
