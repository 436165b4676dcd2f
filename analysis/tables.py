"""Tables with arms as rows: the ablation ladder and datasets as column groups.

* ladder: arms as rows, metrics as columns, each with its change relative to the
  reference arm (Δ %) and a marker (∗) where the paired test over shared seeds, Holm-
  corrected across the table, rejects "no difference" at ``alpha``.
* datasets: the same arms as rows, one column group per dataset (the ``dataset`` column).

(The third layout, the sweep table, is ``analysis.sweep``.)

Everything a reader needs to trust a cell goes into the caption: the seeds, the tests,
and every cell averaged over fewer seeds (†) or missing (–).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

import pandas as pd

from analysis import format as fmt
from analysis.cells import (
    CI_NAMES,
    MARK_FEWER,
    MARK_SIG,
    MISSING,
    Cell,
    Column,
    Row,
    Table,
    collect,
    datasets_of,
    display,
    is_finite,
    legend,
    with_delta,
)
from analysis.errors import AnalysisError
from analysis.load import Metric, Results
from analysis.stats import holm, min_pairs, paired_test

TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}


def confirm_rows(results: Results) -> pd.DataFrame:
    rows = results.stage("confirm")
    if len(rows) == 0:
        raise AnalysisError(
            f"{results.uri}: no rows with stage 'confirm'; the ablation tables need confirmation runs"
        )
    return rows


def ladder_table(
    results: Results,
    dataset: str | None = None,
    *,
    ci: str = "t",
    test: str = "t",
    alpha: float = 0.05,
    name: str = "ladder",
) -> Table:
    """Arms x metrics of the ``confirm`` rows of one dataset, with Δ and paired tests."""
    datasets = datasets_of(confirm_rows(results))
    if dataset is None:
        if len(datasets) > 1:
            raise AnalysisError(
                f"{results.uri}: confirm rows cover datasets {', '.join(datasets)}; "
                "name one, or use the datasets layout"
            )
        dataset = datasets[0]
    if dataset not in datasets:
        raise AnalysisError(f"{results.uri}: no confirm rows for dataset {dataset!r}")
    return _arm_table(results, [dataset], True, "ladder", name, ci, test, alpha)


def datasets_table(
    results: Results, *, ci: str = "t", test: str = "t", alpha: float = 0.05, name: str = "datasets"
) -> Table:
    """Arms as rows, one column group per dataset, metrics within each group."""
    datasets = datasets_of(confirm_rows(results))
    return _arm_table(results, datasets, False, "datasets", name, ci, test, alpha)


def _arm_table(
    results: Results,
    datasets: list[str],
    show_delta: bool,
    kind: str,
    name: str,
    ci: str,
    test: str,
    alpha: float,
) -> Table:
    rows = confirm_rows(results)
    rows = rows[rows["dataset"].isin(datasets)]
    refs = results.references
    present = set(rows["arm"])
    # Declared arms stay in the table even without results (shown as missing, and said so).
    arms = list(results.arm_order)
    arms += sorted(present - set(arms))
    notes: list[str] = []
    for r in refs:
        if r not in present:
            notes.append(f"The reference arm {r} has no results: no Δ and no tests.")
    grouped = len(datasets) > 1
    columns: list[tuple[str, Metric, list[Cell]]] = []
    tests_notes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for dataset in datasets:
        drows = rows[rows["dataset"] == dataset]
        expected = list(results.seeds) if results.seeds is not None else sorted(set(drows["seed"]))
        where = f" on {dataset}" if grouped else ""
        notes += _seed_notes(drows, arms, results.metrics, expected, where)
        by_arm = _split(drows, "arm", [m.name for m in results.metrics])
        empty = drows.iloc[0:0]
        for metric in results.metrics:
            cells = [collect(by_arm.get(arm, empty), metric, ci, len(expected)) for arm in arms]
            cells = _tests(cells, arms, results, test, alpha, metric, where, tests_notes)
            columns.append((dataset, metric, cells))
    p = [
        c.test.p if c.test is not None and c.test.testable else math.nan
        for _, _, cs in columns
        for c in cs
    ]
    adjusted = iter(holm(p))
    m = sum(1 for x in p if not math.isnan(x))
    final_columns: list[Column] = []
    matrix: list[list[Cell]] = []
    for dataset, metric, cells in columns:
        cells = [_significance(c, next(adjusted), alpha) for c in cells]
        decimals, cells = display(cells, metric)
        if show_delta:
            by_arm = dict(zip(arms, cells, strict=True))
            cells = [
                replace(c, delta_text="ref.")
                if arm in refs and not c.missing
                else with_delta(c, by_arm.get(results.reference_of(arm)))
                for arm, c in zip(arms, cells, strict=True)
            ]
        key = f"{dataset}/{metric.name}" if grouped else metric.name
        final_columns.append(
            Column(key, metric, dataset if grouped else None, decimals, show_delta)
        )
        matrix.append(cells)
    table_rows = tuple(
        Row(
            arm,
            arm if show_delta or arm not in refs else f"{arm} (ref.)",
            arm in refs,
            tuple(col[i] for col in matrix),
        )
        for i, arm in enumerate(arms)
    )
    for arm, by_note in tests_notes.items():
        said = [f"{', '.join(labels)}: {note}" for note, labels in by_note.items()]
        notes.append(f"{arm} vs {results.reference_of(arm)}: " + "; ".join(said) + ".")
    expected_all = list(results.seeds) if results.seeds is not None else sorted(set(rows["seed"]))
    caption = _arm_caption(results, datasets, kind, expected_all, ci, test, alpha, m, table_rows)
    return Table(
        name=name,
        kind=kind,
        experiment=results.experiment,
        row_header="Arm",
        columns=tuple(final_columns),
        rows=table_rows,
        caption=caption,
        notes=tuple(notes),
        label=f"tab:{fmt.slug(results.experiment)}-{fmt.slug(name)}",
        options={
            "ci": ci,
            "test": test,
            "alpha": alpha,
            "confidence": 0.95,
            **(
                {"references": {a: results.reference_of(a) for a in arms}}
                if results.arm_references
                else {}
            ),
        },  # fmt: skip
        source_rows=rows,
    )


def _split(rows: pd.DataFrame, key: str, metrics: list[str]) -> dict[object, pd.DataFrame]:
    """``rows`` grouped by ``key``, each group in seed order with only the columns cells use."""
    cols = ["seed", "trial_id", "config_hash", *metrics]
    ordered = rows.sort_values(["seed", "trial_id"], kind="stable")
    return {k: g[cols] for k, g in ordered.groupby(key, sort=False)}


def _tests(cells, arms, results, test, alpha, metric, where, notes) -> list[Cell]:
    """Attach the paired test of every arm's cell against its reference arm's cell."""
    by_arm = dict(zip(arms, cells, strict=True))
    out = []
    for arm, cell in zip(arms, cells, strict=True):
        ref = results.reference_of(arm)
        ref_cell = by_arm.get(ref)
        if arm == ref or ref_cell is None or cell.missing or ref_cell.missing:
            out.append(cell)
            continue
        ref_by_seed = dict(zip(ref_cell.seeds, ref_cell.values, strict=True))
        shared = sorted(set(cell.seeds) & set(ref_by_seed))
        mine = dict(zip(cell.seeds, cell.values, strict=True))
        result = paired_test(
            [ref_by_seed[s] for s in shared], [mine[s] for s in shared], test, alpha
        )
        if result.note:
            note = ("not tested, " if not result.testable else "") + result.note
            notes[arm][note].append(metric.label + where)
        out.append(replace(cell, test=result))
    return out


def _significance(cell: Cell, p_holm: float, alpha: float) -> Cell:
    if cell.test is None or not cell.test.testable:
        return cell
    return replace(cell, p_holm=p_holm, significant=p_holm <= alpha)


def _seed_notes(rows, arms, metrics, expected, where) -> list[str]:
    """Say which arm lacks which seeds, ran undeclared seeds, or has NaN metrics."""
    notes = []
    for arm in arms:
        arm_rows = rows[rows["arm"] == arm]
        seeds = set(int(s) for s in arm_rows["seed"])
        if not seeds:
            notes.append(f"{arm}{where}: no results ({MISSING}).")
            continue
        absent = sorted(set(expected) - seeds)
        if absent:
            n_have = len(seeds & set(expected))
            notes.append(
                f"{arm}{where}: no run for seed {fmt.seed_list(absent)} "
                f"({n_have} of {len(expected)} seeds, {MARK_FEWER})."
            )
        extra = sorted(seeds - set(expected))
        if extra:
            notes.append(
                f"{arm}{where}: ran seed {fmt.seed_list(extra)}, not among the declared seeds "
                f"{fmt.seed_list(expected)}."
            )
        by_seeds: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for metric in metrics:
            nan = arm_rows.loc[~arm_rows[metric.name].map(is_finite), "seed"]
            if len(nan):
                by_seeds[tuple(sorted(int(s) for s in nan))].append(metric.label)
        for nan_seeds, labels in by_seeds.items():
            notes.append(
                f"{arm}{where}: {', '.join(labels)} not finite (NaN) for seed "
                f"{fmt.seed_list(nan_seeds)}, left out of the mean."
            )
    return notes


def _reference_groups(results: Results, arms: list[str]) -> str:
    """ "a, b -> c; d, e -> f" when arms have their own references; "" otherwise."""
    if not results.arm_references:
        return ""
    groups: dict[str, list[str]] = defaultdict(list)
    for arm in arms:
        if arm not in results.references:
            groups[results.reference_of(arm)].append(arm)
    return "; ".join(f"{', '.join(a)} vs {r}" for r, a in groups.items())


def _arm_caption(results, datasets, kind, seeds, ci, test, alpha, m, table_rows) -> str:
    ref = results.reference_arm
    where = (
        datasets[0] if len(datasets) == 1 else f"{len(datasets)} datasets ({', '.join(datasets)})"
    )
    parts = [
        f"{results.experiment}: ablation on {where}.",
        f"Test metrics, mean ± std over {fmt.plural(len(seeds), 'seed')} ({fmt.seed_list(seeds)});"
        " ↓ lower is better, ↑ higher is better; best in bold, second underlined"
        " (equal at the displayed precision counts as a tie).",
    ]
    groups = _reference_groups(results, [r.key for r in table_rows])
    if kind == "ladder" and groups:
        parts.append(f"Δ: change of the mean relative to the arm's reference ({groups}), in %.")
    elif kind == "ladder":
        parts.append(f"Δ: change of the mean relative to the reference arm {ref}, in %.")
    if m:
        other = "wilcoxon" if test == "t" else "t"
        parts.append(
            f"{MARK_SIG} different from {'its reference' if groups else ref} at α = {alpha:g}: {TEST_NAMES[test]} over the shared"
            f" seeds, Holm-corrected across the {fmt.plural(m, 'comparison')} of this table"
            f" ({TEST_NAMES[other]} p-values in the sidecar"
            + (
                f"; it needs ≥ {min_pairs('wilcoxon', alpha)} seeds to reach α"
                if test == "t"
                else ""
            )
            + ")."
        )
    elif ref in results.arms(results.stage("confirm")):
        parts.append(f"No arm could be tested against {ref} (too few shared seeds).")
    parts.append(
        f"95% confidence intervals ({CI_NAMES[ci]}) are in the CSV, the sidecar and the plots."
    )
    return " ".join(parts + legend(table_rows))
