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
from analysis.baselines import baselines, ladder_kind, pair_label, steps_text
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
from analysis.load import Metric, Results, finished
from analysis.sequential import SPENDING_NAMES, Comparison, Design, all_decided, design_of, replay
from analysis.stats import (
    MAX_SEEDS_NEEDED,
    POWER,
    detectable_difference,
    holm,
    min_pairs,
    paired_test,
    seeds_needed,
)

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
    against = baselines(results, arms)
    cumulative = ladder_kind(results) == "cumulative"
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
        drows = drows[finished(drows)]  # a failed run's last metrics are not a result
        by_arm = _split(drows, "arm", [m.name for m in results.metrics])
        empty = drows.iloc[0:0]
        for metric in results.metrics:
            cells = [collect(by_arm.get(arm, empty), metric, ci, len(expected)) for arm in arms]
            cells = _tests(cells, arms, against, test, alpha, metric, where, tests_notes)
            columns.append((dataset, metric, cells))
    design = design_of(results.meta, results.uri)
    if design is None:
        columns, m, decided = _fixed_design(columns, arms, against, alpha)
    else:
        columns, m, decided = _sequential_design(columns, arms, design, results, alpha)
    final_columns: list[Column] = []
    matrix: list[list[Cell]] = []
    for dataset, metric, cells in columns:
        decimals, cells = display(cells, metric)
        if show_delta:
            by_arm = dict(zip(arms, cells, strict=True))
            cells = [_delta(c, arm, against[arm], by_arm, refs, cumulative)
                     for arm, c in zip(arms, cells, strict=True)]  # fmt: skip
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
        notes.append(f"{pair_label(arm, against[arm], cumulative)}: " + "; ".join(said) + ".")
    notes += _decision_notes(columns, arms, against, results, design, alpha, m, cumulative)
    expected_all = list(results.seeds) if results.seeds is not None else sorted(set(rows["seed"]))
    caption = _arm_caption(
        results, datasets, kind, expected_all, ci, test, alpha, m, table_rows, design, decided
    )
    options = {
        "ci": ci,
        "test": test,
        "alpha": alpha,
        "confidence": 0.95,
        "ladder": ladder_kind(results),
        "against": {a: b for a, b in against.items() if b is not None},
        "power": POWER,
    }
    if results.arm_references:
        options["references"] = {a: results.reference_of(a) for a in arms}
    if design is not None:
        options["sequential"] = {**design.as_meta(), **decided}
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
        options=options,
        source_rows=rows,
    )


def _delta(cell, arm, baseline, by_arm, refs, cumulative) -> Cell:
    """Δ of ``cell`` against the arm it is tested against; the star's reference says
    ``ref.``, the first step of a cumulative ladder ``base``."""
    if baseline is not None:
        return with_delta(cell, by_arm.get(baseline))
    if cell.missing:
        return replace(cell, delta_text=MISSING)
    if cumulative:
        return replace(cell, delta_text="base")
    return replace(cell, delta_text="ref." if arm in refs else MISSING)


def _fixed_design(columns, arms, against, alpha):
    """Holm across the testable comparisons of the table, and what each test could detect
    (80% power at alpha / m, Holm's strictest threshold: a difference that large is found
    by Holm at least as often). Returns the columns, m and an empty decision summary."""
    p = [
        c.test.p if c.test is not None and c.test.testable else math.nan
        for _, _, cs in columns
        for c in cs
    ]
    adjusted = iter(holm(p))
    m = sum(1 for x in p if not math.isnan(x))
    out = []
    for dataset, metric, cells in columns:
        cells = [_significance(c, next(adjusted), alpha) for c in cells]
        cells = [_detectable(c, alpha / m) if m else c for c in cells]
        out.append((dataset, metric, cells))
    return out, m, {}


def _detectable(cell: Cell, level: float) -> Cell:
    if cell.test is None or not cell.test.testable:
        return cell
    detect = detectable_difference(cell.test.sd_diff, cell.test.n_pairs, level)
    return replace(cell, detectable=detect, detectable_alpha=level)


def _sequential_design(columns, arms, design: Design, results: Results, alpha: float):
    """Markers from the group-sequential replay (``analysis.sequential``) over every
    comparison of the table; detectable differences at the last look's level."""
    comparisons = []
    for j, (_, metric, cells) in enumerate(columns):
        by_arm = dict(zip(arms, cells, strict=True))
        for i, cell in enumerate(cells):
            if cell.test is None:
                continue
            base = by_arm[cell.against]
            comparisons.append(
                Comparison(
                    (j, i),
                    metric.name,
                    dict(zip(base.seeds, base.values, strict=True)),
                    dict(zip(cell.seeds, cell.values, strict=True)),
                )
            )
    seed_order = list(results.meta.get("seeds") or sorted(set(results.stage("confirm")["seed"])))
    decisions, done = replay(design, comparisons, seed_order, alpha)
    out = []
    for j, (dataset, metric, cells) in enumerate(columns):
        new = []
        for i, cell in enumerate(cells):
            d = decisions.get((j, i))
            if d is not None:
                cell = replace(
                    cell,
                    decision=d,
                    significant=d.outcome == "significant",
                    p_holm=d.threshold if d.outcome == "significant" else math.nan,
                    detectable=d.detectable,
                    detectable_alpha=math.nan if d.outcome == "significant" else d.threshold,
                )
            new.append(cell)
        out.append((dataset, metric, new))
    on_metric = [c for c in comparisons if c.metric == design.metric]
    summary = {
        "looks_done": done,
        "seeds_run": len(seed_order),
        "decided": done > 0 and all_decided(decisions, on_metric, design.metric),
        "undecided": sum(1 for c in on_metric if not decisions[c.key].decided),
    }
    return out, len(comparisons), summary


def primary_metric(results: Results) -> Metric:
    """The test metric of the selection metric (``val_mse`` -> ``test_mse``) when the table
    has it, else its first metric: the one whose steps the notes discuss."""
    design = design_of(results.meta, results.uri)
    wanted = design.metric if design else "test_" + (results.search_metric or "")[4:]
    return next((m for m in results.metrics if m.name == wanted), results.metrics[0])


def _decision_notes(columns, arms, against, results, design, alpha, m, cumulative) -> list[str]:
    """Per comparison of the primary metric that is not significant: what it would take
    (fixed seeds: the seeds needed for the observed difference; sequential: its decision)."""
    primary = primary_metric(results)
    notes = []
    for dataset, metric, cells in columns:
        if metric.name != primary.name:
            continue
        on = f" on {dataset}" if len(columns) > len(results.metrics) else ""
        by_arm = dict(zip(arms, cells, strict=True))
        for arm, cell in zip(arms, cells, strict=True):
            if cell.test is None or not cell.test.testable:
                continue
            label = f"{pair_label(arm, against[arm], cumulative)}, {metric.label}{on}"
            base = by_arm[against[arm]].stats.mean
            if design is not None:
                notes.append(f"{label}: {_decision_text(cell.decision, design, base)}")
            elif not cell.significant:
                notes.append(f"{label}: {_seeds_text(cell, base, alpha / m)}")
    return notes


def _pct(x: float, base: float, signed: bool = True) -> str:
    pct = fmt.delta_percent(base + x, base)
    if pct is None:
        return "n/a"
    return f"{fmt.signed_percent(pct)}%" if signed else f"{fmt.fixed(abs(pct), 1)}%"


def _seeds_text(cell: Cell, base: float, level: float) -> str:
    t = cell.test
    n = seeds_needed(t.mean_diff, t.sd_diff, level)
    have = f"not significant with {fmt.plural(t.n_pairs, 'seed')}"
    if n is None and t.mean_diff == 0:
        return f"{have}; the observed difference is 0."
    need = f"about {n} seeds" if n is not None else f"more than {MAX_SEEDS_NEEDED} seeds"
    return (
        f"{have}; the observed difference ({_pct(t.mean_diff, base)}) would need {need} for"
        f" {POWER:.0%} power at α/m = {level:.2g} (planning figure from the observed spread)."
    )


def _decision_text(d, design: Design, base: float) -> str:
    if d.outcome == "significant":
        return (
            f"significant at look {d.look} ({d.n_seeds} seeds; p = {d.p:.2g} ≤ {d.threshold:.2g})."
        )
    if d.outcome == "negligible":
        return (
            f"negligible at look {d.look} ({d.n_seeds} seeds): not significant, and a difference"
            f" of {_pct(d.detectable, base, False)} or more would have been found with"
            f" {design.power:.0%} power (practical threshold {design.practical:.1%})."
        )
    if d.outcome == "untested":
        return "not tested at any look (too few shared seeds)."
    return (
        f"undecided after look {d.look} ({d.n_seeds} seeds; p = {d.p:.2g}, detectable difference"
        f" {_pct(d.detectable, base, False)} against the practical threshold {design.practical:.1%})."
    )


def _split(rows: pd.DataFrame, key: str, metrics: list[str]) -> dict[object, pd.DataFrame]:
    """``rows`` grouped by ``key``, each group in seed order with only the columns cells use."""
    cols = ["seed", "trial_id", "config_hash", *metrics]
    ordered = rows.sort_values(["seed", "trial_id"], kind="stable")
    return {k: g[cols] for k, g in ordered.groupby(key, sort=False)}


def _tests(cells, arms, against, test, alpha, metric, where, notes) -> list[Cell]:
    """Attach the paired test of every arm's cell against its baseline arm's cell
    (``analysis.baselines``: the step before it, or its reference)."""
    by_arm = dict(zip(arms, cells, strict=True))
    out = []
    for arm, cell in zip(arms, cells, strict=True):
        base = against[arm]
        base_cell = by_arm.get(base) if base is not None else None
        if base_cell is None or cell.missing or base_cell.missing:
            out.append(cell)
            continue
        base_by_seed = dict(zip(base_cell.seeds, base_cell.values, strict=True))
        shared = sorted(set(cell.seeds) & set(base_by_seed))
        mine = dict(zip(cell.seeds, cell.values, strict=True))
        result = paired_test(
            [base_by_seed[s] for s in shared], [mine[s] for s in shared], test, alpha
        )
        if result.note:
            note = ("not tested, " if not result.testable else "") + result.note
            notes[arm][note].append(metric.label + where)
        out.append(replace(cell, test=result, against=base))
    return out


def _significance(cell: Cell, p_holm: float, alpha: float) -> Cell:
    if cell.test is None or not cell.test.testable:
        return cell
    return replace(cell, p_holm=p_holm, significant=p_holm <= alpha)


def _seed_notes(rows, arms, metrics, expected, where) -> list[str]:
    """Say which arm lacks which seeds, whose runs failed, ran undeclared seeds, or has
    NaN metrics."""
    notes = []
    for arm in arms:
        all_rows = rows[rows["arm"] == arm]
        ok = finished(all_rows)
        arm_rows = all_rows[ok]
        failed = sorted(set(int(s) for s in all_rows.loc[~ok, "seed"]))
        seeds = set(int(s) for s in arm_rows["seed"])
        if failed:
            notes.append(
                f"{arm}{where}: the run of seed {fmt.seed_list(failed)} failed (its message is "
                f"in the results' error column), left out ({len(seeds & set(expected))} of "
                f"{len(expected)} seeds, {MARK_FEWER if seeds else MISSING})."
            )
        if not seeds:
            if not failed:
                notes.append(f"{arm}{where}: no results ({MISSING}).")
            continue
        absent = sorted(set(expected) - seeds - set(failed))
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
    """ "a, b vs c; d, e vs f" when arms have their own references; "" otherwise."""
    if not results.arm_references:
        return ""
    groups: dict[str, list[str]] = defaultdict(list)
    for arm in arms:
        if arm not in results.references:
            groups[results.reference_of(arm)].append(arm)
    return "; ".join(f"{', '.join(a)} vs {r}" for r, a in groups.items())


def _arm_caption(
    results, datasets, kind, seeds, ci, test, alpha, m, table_rows, design, decided
) -> str:
    ref = results.reference_arm
    arms = [r.key for r in table_rows]
    cumulative = ladder_kind(results) == "cumulative"
    where = (
        datasets[0] if len(datasets) == 1 else f"{len(datasets)} datasets ({', '.join(datasets)})"
    )
    parts = [
        f"{results.experiment}: ablation on {where}.",
        f"Test metrics, mean ± std over {fmt.plural(len(seeds), 'seed')} ({fmt.seed_list(seeds)});"
        " ↓ lower is better, ↑ higher is better; best in bold, second underlined"
        " (equal at the displayed precision counts as a tie).",
    ]
    groups = _reference_groups(results, arms)
    steps = steps_text(results, arms)
    if kind == "ladder" and cumulative:
        parts.append(
            f"Δ: change of the mean relative to the arm before it in the ladder ({steps}), in %;"
            " base: the ladder's first arm."
        )
    elif kind == "ladder" and groups:
        parts.append(f"Δ: change of the mean relative to the arm's reference ({groups}), in %.")
    elif kind == "ladder":
        parts.append(f"Δ: change of the mean relative to the reference arm {ref}, in %.")
    if cumulative:
        claim = f"{MARK_SIG} the step from the arm before it is significant"
    else:
        claim = f"{MARK_SIG} different from {'its reference' if groups else ref}"
    if m and design is not None:
        label = results.metric(design.metric).label
        parts.append(_sequential_sentence(claim, design, label, alpha, m, decided))
    elif m:
        other = "wilcoxon" if test == "t" else "t"
        parts.append(
            f"{claim} at α = {alpha:g}: {TEST_NAMES[test]} over the shared"
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
        what = "No step" if cumulative else f"No arm could be tested against {ref}"
        parts.append(f"{what}{' could be tested' if cumulative else ''} (too few shared seeds).")
    power = _power_sentence(table_rows, design is not None)
    if power:
        parts.append(power)
    parts.append(
        f"95% confidence intervals ({CI_NAMES[ci]}) are in the CSV, the sidecar and the plots."
    )
    return " ".join(parts + legend(table_rows))


def _power_sentence(table_rows, sequential: bool) -> str:
    """The range of detectable differences (relative to each test's baseline), one sentence."""
    by_key = {r.key: r for r in table_rows}
    pcts, levels = [], set()
    for row in table_rows:
        for j, cell in enumerate(row.cells):
            if not math.isfinite(cell.detectable) or cell.against is None:
                continue
            pct = fmt.delta_percent(
                by_key[cell.against].cells[j].stats.mean + cell.detectable,
                by_key[cell.against].cells[j].stats.mean,
            )
            if pct is not None:
                pcts.append(abs(pct))
                levels.add(cell.detectable_alpha)
    if not pcts:
        return ""
    lo, hi = min(pcts), max(pcts)
    span = (
        f"{_short_pct(lo)}%"
        if _short_pct(lo) == _short_pct(hi)
        else (f"{_short_pct(lo)}–{_short_pct(hi)}%")
    )
    if sequential:
        at = "at the level of the look it was last tested at"
    else:
        (level,) = levels
        at = f"at α/m = {level:.2g} (Holm's strictest threshold)"
    return (
        f"With these seeds a test could detect, with {POWER:.0%} power {at}, a difference of"
        f" {span} of its baseline's mean (per cell in the sidecar)."
    )


def _short_pct(x: float) -> str:
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"


def _sequential_sentence(claim: str, design: Design, label: str, alpha, m, decided) -> str:
    looks = ", ".join(str(n) for n in design.looks)
    done, total, seeds = decided["looks_done"], len(design.looks), decided["seeds_run"]
    left = fmt.plural(decided["undecided"], "comparison")
    if decided["decided"]:
        end = (
            f"The confirmation stopped after look {done} of {total} ({fmt.plural(seeds, 'seed')}):"
            f" every comparison of {label} was decided."
        )
    elif done == total:
        end = (
            f"The confirmation ran all {total} looks ({seeds} seeds): {left} of {label} undecided."
        )
    else:
        end = (
            f"The results hold {done} of the {total} looks ({fmt.plural(seeds, 'seed')}):"
            f" {left} of {label} still undecided."
        )
    return (
        f"{claim} at α = {alpha:g} in a group-sequential design over the"
        f" {fmt.plural(m, 'comparison')} of this table: looks after {looks} seeds, α spent over"
        f" the looks by a {SPENDING_NAMES[design.spending]} Lan–DeMets function, at each look a"
        " paired t-test of every comparison still undecided with Holm at that look's level;"
        " the family-wise error rate is at most α by the union bound over the looks. A"
        " comparison not significant whose test could detect"
        f" {design.practical:.1%} of its baseline's mean with {design.power:.0%} power is"
        f" decided negligible. {end}"
    )
