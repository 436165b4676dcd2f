"""How often the tables' markers are wrong, and how often they find a planted effect.

``python -m analysis.calibration [--tables N] [--seed S]`` prints, per procedure, the
false-positive rate on null tables and the power on tables with planted effects of
stated sizes; ``tests/analysis/test_calibration.py`` asserts the same figures.

Simulated table: ``ARMS`` (4 arms), ``METRICS`` (3 metrics), paired seeds. A run's
metric is ``base * (1 + effect_arm) * (1 + s_seed + w_run)``: a per-seed effect
``s ~ N(0, SEED_SD^2)`` shared by every arm (seeds are paired, as in a real ablation) and a
per-run effect ``w ~ N(0, RUN_SD^2)``, so the paired difference of two arms has standard
deviation ``SD_DIFF = sqrt(2) RUN_SD`` relative to ``base``. Planted effects are stated in
units of SD_DIFF.

Procedures:

* ``steps``: a cumulative ladder, each arm tested against the arm before it, fixed seeds,
  Holm across the table (``analysis.tables``);
* ``star``: each arm against the reference (the last arm), fixed seeds, Holm;
* ``sequential``: the cumulative ladder in the group-sequential design of
  ``analysis.sequential`` (looks after 3, 5, 7, 9, 10 seeds, Pocock-type spending,
  practical threshold 1 %), stopped by the runner's rule on the first metric.

Scenarios: ``null`` (no arm differs): the share of cells marked and the share of tables
with any marker (the family-wise error rate, which the procedures control at alpha);
``planted`` (every tested comparison differs by ``size`` SD_DIFF): the share of those
cells marked (power), and for the sequential design the mean number of seeds run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.load import from_frame
from analysis.sequential import Comparison, Design, all_decided, default_looks, replay
from analysis.tables import ladder_table

ARMS = ("a0", "a1", "a2", "a3")  # a cumulative ladder a0 -> a1 -> a2 -> a3; a3 the reference
METRICS = ("test_m0", "test_m1", "test_m2")
SEED_SD = 0.03
RUN_SD = 0.006
SD_DIFF = math.sqrt(2) * RUN_SD
ALPHA = 0.05
FIXED_SEEDS = 5
SEQUENTIAL_MAX = 10
PROCEDURES = ("steps", "star", "sequential")


def planted(procedure: str, size: float) -> dict[str, float]:
    """Effects (relative worsening) that make every tested comparison differ by ``size``
    SD_DIFF: each step of the ladder, or each arm against the reference."""
    if procedure == "star":
        return {a: 0.0 if a == ARMS[-1] else size * SD_DIFF for a in ARMS}
    n = len(ARMS) - 1
    return {a: (n - i) * size * SD_DIFF for i, a in enumerate(ARMS)}


def _values(effects: dict[str, float], n_seeds: int, rng: np.random.Generator) -> np.ndarray:
    """(arm, metric, seed) values of one simulated table."""
    shared = rng.normal(0, SEED_SD, n_seeds)
    effect = np.array([effects[a] for a in ARMS])[:, None, None]
    run = rng.normal(0, RUN_SD, (len(ARMS), len(METRICS), n_seeds))
    return (1 + effect) * (1 + shared[None, None, :] + run)


def _results(values: np.ndarray, ladder: str, meta: dict | None = None):
    rows = []
    for a, arm in enumerate(ARMS):
        for s in range(values.shape[2]):
            config = json.dumps({"arm": arm, "seed": s})
            row = {
                "dataset": "simulated",
                "arm": arm,
                "stage": "confirm",
                "trial_id": f"{arm}-{s}",
                "seed": s,
                "config_json": config,
                "config_hash": hashlib.sha256(config.encode()).hexdigest()[:12],
                "git_commit": "0" * 40,
                "data_manifest_hash": "0" * 64,
            }
            row.update({m: float(values[a, k, s]) for k, m in enumerate(METRICS)})
            rows.append(row)
    doc = {
        "experiment": "calibration",
        "reference_arm": ARMS[-1],
        "arm_order": list(ARMS),
        "ladder": ladder,
        "metrics": {m: {"label": m, "direction": "min"} for m in METRICS},
        "seeds": list(range(values.shape[2])),
        **(meta or {}),
    }
    return from_frame(pd.DataFrame(rows), doc, "simulated.parquet")


def _fixed_marks(values: np.ndarray, procedure: str) -> np.ndarray:
    """(arm, metric) markers of the fixed-seed ladder table."""
    table = ladder_table(_results(values, "cumulative" if procedure == "steps" else "star"))
    return np.array([[c.significant for c in r.cells] for r in table.rows])


def _sequential_marks(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(arm, metric) markers of the sequential design when the runner's rule stops it,
    and the seeds it ran."""
    design = Design(default_looks(values.shape[2]), METRICS[0])
    comparisons = [
        Comparison((a, k), METRICS[k], dict(enumerate(values[a - 1, k])), dict(enumerate(values[a, k])))
        for a in range(1, len(ARMS))
        for k in range(len(METRICS))
    ]  # fmt: skip
    for n in design.looks:  # a look, then the stopping rule, as hmgray.experiment runs it
        decisions, _ = replay(design, comparisons, list(range(n)), ALPHA)
        if all_decided(decisions, comparisons, design.metric):
            break
    marks = np.zeros((len(ARMS), len(METRICS)), dtype=bool)
    for (a, k), d in decisions.items():
        marks[a, k] = d.outcome == "significant"
    return marks, n


def _tested(procedure: str) -> np.ndarray:
    """(arm, metric) cells that carry a test."""
    tested = np.ones((len(ARMS), len(METRICS)), dtype=bool)
    tested[len(ARMS) - 1 if procedure == "star" else 0] = False
    return tested


@dataclass(frozen=True)
class Rates:
    procedure: str
    size: float  # planted difference in SD_DIFF (0: null)
    tables: int
    cell_rate: float  # share of tested cells marked (false positives, or power)
    any_rate: float  # share of tables with any marker (the family-wise error rate on null)
    mean_seeds: float


def simulate(procedure: str, size: float, tables: int, seed: int) -> Rates:
    """Run ``tables`` simulated tables of ``procedure`` with every comparison planted at
    ``size`` SD_DIFF (0: the null)."""
    if procedure not in PROCEDURES:
        raise ValueError(f"procedure must be one of {PROCEDURES}")
    rng = np.random.default_rng(seed)
    effects = planted(procedure, size) if size else dict.fromkeys(ARMS, 0.0)
    n_seeds = SEQUENTIAL_MAX if procedure == "sequential" else FIXED_SEEDS
    tested = _tested(procedure)
    marked, any_marked, seeds = 0, 0, 0
    for _ in range(tables):
        values = _values(effects, n_seeds, rng)
        if procedure == "sequential":
            marks, used = _sequential_marks(values)
        else:
            marks, used = _fixed_marks(values, procedure), n_seeds
        marked += int(marks[tested].sum())
        any_marked += int(marks[tested].any())
        seeds += used
    cells = tables * int(tested.sum())
    return Rates(procedure, size, tables, marked / cells, any_marked / tables, seeds / tables)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.calibration", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tables", type=int, default=400, help="simulated tables per line")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation")
    parser.add_argument("--sizes", default="0,2,4", help="planted differences, in SD_DIFF")
    args = parser.parse_args(argv)
    sizes = [float(x) for x in args.sizes.split(",")]
    print(
        f"{len(ARMS)} arms x {len(METRICS)} metrics; seeds: {FIXED_SEEDS} fixed, up to "
        f"{SEQUENTIAL_MAX} sequential; SD_DIFF = {SD_DIFF:.4f} of the mean; alpha {ALPHA}"
    )
    print("procedure   planted   tables  cells marked  tables marked  mean seeds")
    for i, procedure in enumerate(PROCEDURES):
        for j, size in enumerate(sizes):
            r = simulate(procedure, size, args.tables, args.seed + 100 * i + j)
            what = "null" if size == 0 else f"{size:g} SD"
            print(
                f"{procedure:<11} {what:<9} {r.tables:>6}  {r.cell_rate:>12.3f}  "
                f"{r.any_rate:>13.3f}  {r.mean_seeds:>10.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
