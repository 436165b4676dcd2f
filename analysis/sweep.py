"""The sweep table: one searched quantity's values as rows.

Rows are the distinct values of ``config_json[param]`` among the rows of one stage (a
``sweep`` stage, or the ``search`` rows), sorted numerically (then other values by their
JSON text); each cell summarises the runs (seeds) of a value, with 95% CIs in the CSV,
sidecar and plot. Best and second are highlighted per column; a value with fewer runs
than the others is flagged (†) and said.
"""

from __future__ import annotations

import json
from dataclasses import replace

from analysis import format as fmt
from analysis.cells import (
    CI_NAMES,
    MARK_FEWER,
    Column,
    Row,
    Table,
    collect,
    datasets_of,
    display,
    is_finite,
    legend,
)
from analysis.errors import AnalysisError
from analysis.load import Results, config_value


def sweep_table(
    results: Results,
    param: str,
    stage: str = "sweep",
    arm: str | None = None,
    *,
    ci: str = "t",
    name: str | None = None,
) -> Table:
    """Rows = distinct values of ``param`` (from ``config_json``) among ``stage`` rows."""
    rows = results.stage(stage)
    if arm is not None:
        rows = rows[rows["arm"] == arm]
    rows = rows.sort_values(["seed", "trial_id"], kind="stable")  # cells list runs in seed order
    where = f"stage {stage!r}" + (f", arm {arm!r}" if arm else "")
    if len(rows) == 0:
        raise AnalysisError(f"{results.uri}: no rows with {where} for the {param} sweep")
    values = rows["config_json"].map(lambda j: config_value(j, param))
    has = values.map(lambda v: v is not None)
    if not has.any():
        raise AnalysisError(f"{results.uri}: no row with {where} has {param!r} in config_json")
    notes = []
    if not has.all():
        notes.append(f"{fmt.plural(int((~has).sum()), 'run')} without {param} left out.")
    rows, values = rows[has], values[has]
    keys = values.map(lambda v: json.dumps(v, sort_keys=True))
    distinct = sorted(
        {k: v for k, v in zip(keys, values, strict=True)}.items(), key=lambda kv: _sort_key(kv[1])
    )
    metrics = [m for m in results.metrics if rows[m.name].map(is_finite).any()]
    if not metrics and results.search_metric in rows.columns:
        metrics = [results.metric(results.search_metric)]
    if not metrics:
        raise AnalysisError(f"{results.uri}: no finite metric values in rows with {where}")
    datasets = datasets_of(rows)
    grouped = len(datasets) > 1
    final_columns, matrix = [], []
    for dataset in datasets:
        for metric in metrics:
            cells = []
            for key, _ in distinct:
                runs = rows[(keys == key) & (rows["dataset"] == dataset)]
                cells.append(collect(runs, metric, ci, None))
            most = max(c.stats.n for c in cells)
            cells = [replace(c, fewer=0 < c.stats.n < most) for c in cells]
            decimals, cells = display(cells, metric)
            key = f"{dataset}/{metric.name}" if grouped else metric.name
            final_columns.append(Column(key, metric, dataset if grouped else None, decimals, False))
            matrix.append(cells)
            for (_, value), cell in zip(distinct, cells, strict=True):
                if cell.fewer:
                    on = f" on {dataset}" if grouped else ""
                    notes.append(
                        f"{param} = {fmt.sweep_label(value)}{on}, {metric.label}: "
                        f"{cell.stats.n} of {most} runs ({MARK_FEWER})."
                    )
    table_rows = tuple(
        Row(key, fmt.sweep_label(value), False, tuple(col[i] for col in matrix))
        for i, (key, value) in enumerate(distinct)
    )
    name = name or f"sweep-{fmt.slug(param)}" + (f"-{fmt.slug(arm)}" if arm else "")
    kinds = (
        "Test"
        if all(m.name.startswith("test_") for m in metrics)
        else "Validation"
        if all(m.name.startswith("val_") for m in metrics)
        else "Metrics"
    )
    on = f" on {datasets[0]}" if not grouped else ""
    caption = " ".join(
        [
            f"{results.experiment}: sweep of {param} ({stage} runs{', arm ' + arm if arm else ''}{on}).",
            f"{kinds} metrics, mean ± std over the runs (seeds) of each value;"
            " ↓ lower is better, ↑ higher is better; best in bold, second underlined"
            " (equal at the displayed precision counts as a tie).",
            f"95% confidence intervals ({CI_NAMES[ci]}) are in the CSV, the sidecar and the plots.",
        ]
        + legend(table_rows, "fewer runs than the other values")
    )
    return Table(
        name=name,
        kind="sweep",
        experiment=results.experiment,
        row_header=param,
        columns=tuple(final_columns),
        rows=table_rows,
        caption=caption,
        notes=tuple(notes),
        label=f"tab:{fmt.slug(results.experiment)}-{fmt.slug(name)}",
        options={"ci": ci, "confidence": 0.95, "param": param, "stage": stage, "arm": arm},
        source_rows=rows,
    )


def _sort_key(value: object) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, json.dumps(value, sort_keys=True))
