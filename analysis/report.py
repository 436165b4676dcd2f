"""Every table and plot of an experiment, from its stored results, in one call.

``build_report(results_uri)`` writes under ``<folder of results>/report/``:

* ``ladder.{tex,md,csv,json}`` and ``arms.{png,pdf}`` (one ``ladder-<dataset>`` /
  ``arms-<dataset>`` pair per dataset when the confirm rows cover several),
* ``datasets.{tex,md,csv,json}`` when there are several datasets,
* ``sweep-<param>.{tex,md,csv,json,png,pdf}`` when the results have a sweep (metadata
  ``sweep: {"param": ..., "stage": ...}``, or ``sweep`` rows varying one config key),
* ``search-history.{png,pdf}`` and ``importance.{png,pdf}`` when there are search rows,
* ``<name>.{tex,md,csv,json,png,pdf}`` per entry of metadata ``comparisons`` (arms side by
  side per value of a condition, ``analysis.compare``),
* ``curves.{png,pdf,csv}`` when the metadata declares ``curves`` (validation curves,
  mean and band over seeds, ``analysis.curves``).

All outputs are computed in memory first and written only when everything succeeded,
each file atomically, so a failure leaves the previous report intact. Outputs hold no
timestamps or temporary paths: the printed command regenerates them byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from analysis import compare, csv_table, curves, latex, markdown, plots, provenance, store
from analysis import format as fmt
from analysis.cells import Table, datasets_of
from analysis.errors import AnalysisError
from analysis.load import Results, load_results
from analysis.stats import CI_METHODS, TEST_METHODS
from analysis.sweep import sweep_table
from analysis.tables import confirm_rows, datasets_table, ladder_table


@dataclass(frozen=True)
class Report:
    """What ``build_report`` wrote: the folder, the files, and the ladder as Markdown.

    ``markdown`` holds every table's Markdown by table name (ladder, comparisons, ...).
    """

    out_dir: str
    files: tuple[str, ...]
    ladder_markdown: str
    command: str
    notes: tuple[str, ...]
    markdown: dict[str, str] = field(default_factory=dict)


def _sweep_params(results: Results) -> list[tuple[str, str]]:
    """(param, stage) of each of the experiment's sweeps, from metadata or the ``sweep``
    rows."""
    if results.sweeps:
        return [(w["param"], w.get("stage", "sweep")) for w in results.sweeps]
    rows = results.stage("sweep")
    if len(rows) == 0:
        return []
    configs = [json.loads(c) for c in rows["config_json"]]
    keys = sorted({k for c in configs for k in c if "seed" not in k})
    varying = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    if len(varying) != 1:
        raise AnalysisError(
            f"{results.uri}: the sweep rows vary {len(varying)} config keys "
            f"({', '.join(varying) or 'none'}); declare metadata 'sweep': {{'param': ...}}"
        )
    return [(varying[0], "sweep")]


def _log_scale(results: Results, param: str, values: list) -> bool:
    declared = any(space.get(param, {}).get("log") for space in results.search_space.values())
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    spans = bool(nums) and min(nums) > 0 and max(nums) / min(nums) >= 100
    return bool(declared or spans)


def render_table(
    table: Table,
    results: Results,
    command: str,
    siunitx: bool = False,
    extra: list[str] | None = None,
) -> dict[str, bytes]:
    """``<name>.tex``, ``.md``, ``.csv`` and the sidecar ``.json`` of ``table``, as bytes.

    ``extra`` names further files of the table (its figures) for the sidecar's file list.
    """
    files = [f"{table.name}.tex", f"{table.name}.md", f"{table.name}.csv"] + list(extra or [])
    doc = provenance.sidecar(table, results, command, files)
    return {
        f"{table.name}.tex": latex.render(
            table, provenance.latex_comments(doc, table), siunitx
        ).encode(),
        f"{table.name}.md": markdown.render(table).encode(),
        f"{table.name}.csv": csv_table.render(table).encode(),
        f"{table.name}.json": provenance.sidecar_bytes(doc),
    }


def build_report(
    results_uri: str,
    out_dir: str | None = None,
    *,
    ci: str = "t",
    test: str = "t",
    alpha: float = 0.05,
    siunitx: bool = False,
) -> Report:
    """Regenerate every table and plot of the experiment whose results are at ``results_uri``.

    Args:
        results_uri: the results table (contracts §5), a local path or a storage URI.
        out_dir: where to write; default ``<folder of results_uri>/report``.
        ci: 95% confidence intervals by ``"t"`` (Student-t) or ``"bootstrap"``.
        test: the deciding paired test, ``"t"`` (default, see ``analysis.stats``) or ``"wilcoxon"``.
        alpha: family-wise significance level (Holm) of each table.
        siunitx: align numbers with siunitx ``S`` columns in the LaTeX tables.
    Raises:
        AnalysisError: unreadable or unusable results (the message names file and field).
    """
    if ci not in CI_METHODS or test not in TEST_METHODS or not 0 < alpha < 1:
        raise AnalysisError(f"bad options: ci={ci!r} test={test!r} alpha={alpha!r}")
    results = load_results(results_uri)
    default_out = store.join(store.parent(results.uri), "report")
    out = store.normalize(out_dir) if out_dir is not None else default_out
    command = provenance.regenerate_command(
        results.uri,
        None if out == default_out else out,
        ci=ci,
        test=test,
        alpha=alpha,
        siunitx=siunitx,
    )
    outputs: dict[str, bytes] = {}
    notes: list[str] = []
    tables_md: dict[str, str] = {}
    datasets = datasets_of(confirm_rows(results))
    ladder_md = ""
    for dataset in datasets:
        suffix = "" if len(datasets) == 1 else f"-{fmt.slug(dataset)}"
        table = ladder_table(
            results, dataset, ci=ci, test=test, alpha=alpha, name=f"ladder{suffix}"
        )
        figure = f"arms{suffix}"
        outputs.update(
            render_table(table, results, command, siunitx, [f"{figure}.png", f"{figure}.pdf"])
        )
        for ext, data in plots.save(plots.arms_figure, table).items():
            outputs[f"{figure}.{ext}"] = data
        tables_md[table.name] = markdown.render(table)
        ladder_md += ("\n" if ladder_md else "") + tables_md[table.name]
        notes += [f"{table.name}: {n}" for n in table.notes]
    if len(datasets) > 1:
        table = datasets_table(results, ci=ci, test=test, alpha=alpha)
        outputs.update(render_table(table, results, command, siunitx, []))
    for param, stage in _sweep_params(results):
        rows = results.stage(stage)
        arms = results.arms(rows) if len(rows) else []
        for arm in arms:
            table = sweep_table(results, param, stage, arm if len(arms) > 1 else None, ci=ci)
            values = [json.loads(r.key) for r in table.rows]
            log_x = _log_scale(results, param, values)
            outputs.update(
                render_table(
                    table, results, command, siunitx, [f"{table.name}.png", f"{table.name}.pdf"]
                )
            )
            for ext, data in plots.save(plots.sweep_figure, table, log_x).items():
                outputs[f"{table.name}.{ext}"] = data
            notes += [f"{table.name}: {n}" for n in table.notes]
    for spec in compare.comparisons(results):
        table = compare.compare_table(
            results,
            spec["param"],
            name=spec["name"],
            stages=spec.get("stages"),
            values=spec.get("values"),
            labels=spec.get("labels"),
            metrics=spec.get("metrics"),
            row_header=spec.get("row_header"),
            title=spec.get("title"),
            variants=spec.get("variants"),
            arms=spec.get("arms"),
            ci=ci,
            test=test,
            alpha=alpha,
        )
        figure = [f"{table.name}.png", f"{table.name}.pdf"]
        outputs.update(render_table(table, results, command, siunitx, figure))
        for ext, data in plots.save(compare.compare_figure, table).items():
            outputs[f"{table.name}.{ext}"] = data
        tables_md[table.name] = markdown.render(table)
        notes += [f"{table.name}: {n}" for n in table.notes]
    curve_spec = curves.spec_from_meta(results)
    if curve_spec is not None:
        bands = curves.curve_bands(curves.curve_points(results, curve_spec), curve_spec["band"])
        name = curve_spec["name"]
        for ext, data in plots.save(curves.curves_figure, results, curve_spec, bands).items():
            outputs[f"{name}.{ext}"] = data
        outputs[f"{name}.csv"] = curves.curves_csv(bands)
    search = results.stage("search")
    if len(search) == 0:
        notes.append("no search rows: search history and importance plots skipped")
    elif results.search_metric not in search.columns:
        notes.append(
            f"metadata 'search_metric' ({results.search_metric!r}) is not a column: "
            "search history and importance plots skipped"
        )
    elif not pd.api.types.is_numeric_dtype(search[results.search_metric]):
        notes.append(
            f"search metric {results.search_metric!r} is not numeric: search plots skipped"
        )
    else:
        for name, draw in (
            ("search-history", plots.search_history_figure),
            ("importance", plots.importance_figure),
        ):
            for ext, data in plots.save(draw, results).items():
                outputs[f"{name}.{ext}"] = data
    files = []
    for name, data in outputs.items():  # only now that everything is computed
        uri = store.join(out, name)
        store.write_bytes(uri, data)
        files.append(uri)
    return Report(out, tuple(files), ladder_md, command, tuple(notes), tables_md)
