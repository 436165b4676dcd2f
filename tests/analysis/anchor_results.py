"""A results table shaped like experiments/anchor_effectiveness.py writes, with planted truth.

Arms ``direct`` and ``anchor`` (the reference); stages ``confirm`` (full training set),
``fewshot`` (config ``fewshot_k`` in K, ``train_set`` "k=<k>") and ``longtail``. Test
metrics of arm a at training set t and seed s:

    value = BASE[metric] * SIZE[t] * (1 + EFFECT[a][t]) * (1 + 0.05 * pattern(t, s))
            * (1 + 0.005 * pattern(a, t, s))

(a per-seed factor shared by both arms: seeds are paired). Every run has a validation
curve ``val_loss(step) = c_a * exp(-step / 40) + 0.01 * (1 + 0.1 * pattern(a, t, s))``
at steps 0, 10, ..., 100 (``CURVE_STEPS``).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hmgray.results import metric_columns, results_schema
from hmgray.task import get_task

ARMS = ("direct", "anchor")
K = (5, 20, 80)
SETS = ("full", *(f"k={k}" for k in K), "long-tail")
STAGE = {"full": "confirm", "long-tail": "longtail", **{f"k={k}": "fewshot" for k in K}}
SIZE = {"full": 1.0, "k=5": 3.0, "k=20": 2.0, "k=80": 1.3, "long-tail": 2.2}
EFFECT = {
    "anchor": dict.fromkeys(SETS, 0.0),
    "direct": {"full": 0.01, "k=5": 0.6, "k=20": 0.25, "k=80": 0.001, "long-tail": 0.3},
}
BASE = {"test_mse": 2500.0, "test_mape": 8.0, "test_tail_mape": 10.0, "test_head_mape": 7.0}
EXTRA = ("test_tail_mape", "test_head_mape")
CURVE_STEPS = tuple(range(0, 101, 10))
CURVE_SCALE = {"direct": 2.0, "anchor": 0.5}
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def pattern(*ints) -> float:
    """A fixed pseudo-noise value in [-1, 1] (no RNG: tables never depend on numpy)."""
    h = hashlib.sha256(repr(ints).encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**31 - 1.0


def value(metric: str, arm: str, train_set: str, seed: int) -> float:
    t = SETS.index(train_set)
    a = ARMS.index(arm)
    return (
        BASE[metric]
        * SIZE[train_set]
        * (1 + EFFECT[arm][train_set])
        * (1 + 0.05 * pattern(t, seed))
        * (1 + 0.005 * pattern(a, t, seed, metric))
    )


def curve(arm: str, train_set: str, seed: int) -> dict:
    t, a = SETS.index(train_set), ARMS.index(arm)
    loss = [
        CURVE_SCALE[arm] * math.exp(-s / 40) + 0.01 * (1 + 0.1 * pattern(a, t, seed, s))
        for s in CURVE_STEPS
    ]
    return {
        "step": list(CURVE_STEPS),
        "epoch": [s / 50 for s in CURVE_STEPS],
        "val_loss": loss,
        "val_mse": [1000 * v for v in loss],
    }


def metadata(seeds=(0, 1, 2)) -> dict:
    return {
        "experiment": "anchor_effectiveness",
        "reference_arm": "anchor",
        "arm_order": list(ARMS),
        "metrics": {
            "test_mse": {"label": "MSE", "direction": "min"},
            "test_mape": {"label": "MAPE (%)", "direction": "min"},
            "test_tail_mape": {"label": "MAPE rare (%)", "direction": "min"},
            "test_head_mape": {"label": "MAPE frequent (%)", "direction": "min"},
        },
        "command": "python experiments/anchor_effectiveness.py --smoke-test",
        "seeds": list(seeds),
        "search_space": {},
        "search_metric": "val_mse",
        "search_mode": "min",
        "comparisons": [
            {
                "name": "fewshot",
                "param": "fewshot_k",
                "stages": ["fewshot"],
                "metrics": ["test_mse", "test_mape"],
                "row_header": "k",
                "title": "few-shot training sets",
            }
        ],
        "curves": {
            "stages": ["confirm", "fewshot", "longtail"],
            "panel": "train_set",
            "panels": list(SETS),
        },
    }


def make_anchor_table(
    seeds=(0, 1, 2), drop=(), curves: bool = True, meta: dict | None = None
) -> pa.Table:
    """The table; ``drop``: (arm, train_set, seed) runs left out."""
    rows = []
    for train_set in SETS:
        for arm in ARMS:
            for seed in seeds:
                if (arm, train_set, seed) in drop:
                    continue
                config = {"arm": "full", "ablation_arm": arm, "seed": seed, "train_set": train_set}
                if train_set.startswith("k="):
                    config["fewshot_k"] = int(train_set[2:])
                cj = json.dumps(config, sort_keys=True)
                i = len(rows)
                row = {
                    "experiment": "anchor_effectiveness",
                    "dataset": "synthetic-valuation",
                    "arm": arm,
                    "stage": STAGE[train_set],
                    "trial_id": f"t{i:04d}",
                    "seed": seed,
                    "config_json": cj,
                    "config_hash": hashlib.sha256(cj.encode()).hexdigest()[:12],
                    "training_iteration": 8,
                    "stopped_early": False,
                    "status": "ok",
                    "error": None,
                    "wall_time_s": 30.0,
                    "startup_s": 10.0,
                    "git_commit": "0" * 40,
                    "data_manifest_hash": "f" * 64,
                    "hmgray_version": "0.1.0",
                    "ray_version": "2.60.0",
                    "created_at": T0 + timedelta(minutes=i),
                    "curve_json": json.dumps(curve(arm, train_set, seed)) if curves else None,
                }
                for metric in BASE:
                    row[metric] = value(metric, arm, train_set, seed)
                rows.append(row)
    table = pa.Table.from_pylist(
        rows, schema=results_schema((*metric_columns(get_task("valuation")), *EXTRA))
    )
    return table.replace_schema_metadata({"hmgray": json.dumps(meta or metadata(seeds))})
