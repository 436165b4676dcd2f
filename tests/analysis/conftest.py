"""A results-table builder (contracts §5) with a planted ordering, for analysis tests.

``make_results_table()`` returns a pyarrow Table with the §5 columns and ``hmgray``
metadata: ``confirm`` rows (one per arm x seed x dataset), ``search`` rows (per arm, in
``created_at`` order) and, optionally, ``sweep`` rows over one searched quantity.

Planted truth: the test metrics of arm ``a`` are ``BASE[metric] * (1 + effects[a])`` times
a per-seed factor shared by all arms (seeds are paired, as in a real ablation) plus a small
arm-specific wiggle. The default effects make ``full`` best and each ablation worse, in
``ARMS`` order. Noise is a fixed pattern (no RNG, so golden tables never depend on a
numpy version) unless ``rng`` is given, which draws normal noise instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hmgray.results import metric_columns, results_schema
from hmgray.task import get_task
from tests.data.test_storage import moto_s3  # noqa: F401  (S3 server fixture, re-used here)

ARMS = ("full", "no_market", "no_scene", "no_text", "flat")
EFFECTS = {"full": 0.0, "no_market": 0.04, "no_scene": 0.08, "no_text": 0.15, "flat": 0.30}
BASE = {"test_mse": 0.25, "test_mae": 0.40, "test_mape": 12.0, "test_mse_subtle": 0.6}
METRICS = {
    "test_mse": {"label": "MSE", "direction": "min"},
    "test_mae": {"label": "MAE", "direction": "min"},
    "test_mape": {"label": "MAPE (%)", "direction": "min"},
}
SEARCH_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "layers": {"type": "int", "low": 1, "high": 3, "log": False},
    "attention": {"type": "categorical", "choices": ["softmax", "sparsemax"]},
}
T0 = datetime(2025, 1, 1, tzinfo=UTC)

# The writer's own schema (contracts §5): fixtures stay in step with real results tables.
SCHEMA = results_schema(metric_columns(get_task("valuation")))


def _pattern(*ints: int) -> float:
    """A fixed pseudo-noise value in [-1, 1] (deterministic, numpy-independent)."""
    h = hashlib.sha256(repr(ints).encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**31 - 1.0


def make_results_table(
    arms: Sequence[str] = ARMS,
    seeds: Sequence[int] = (0, 1, 2),
    datasets: Sequence[str] = ("synthetic-valuation",),
    effects: dict[str, float] | None = None,
    noise: float = 0.03,
    search_trials: int = 8,
    sweep: dict | None = None,
    drop: Iterable[tuple[str, int]] = (),
    nan: Iterable[tuple[str, int, str]] = (),
    metrics: dict | None = None,
    experiment: str = "granularity_ablation",
    reference_arm: str = "full",
    rng: np.random.Generator | None = None,
    meta: dict | None = None,
) -> pa.Table:
    """Build a §5 results table.

    Args:
        arms: arm names, in ``arm_order``; the reference arm is ``reference_arm``.
        seeds: declared confirmation seeds (metadata ``seeds``).
        datasets: one block of confirm rows per dataset (the second one 20% harder).
        effects: relative worsening per arm (default ``EFFECTS``; 0 for unknown arms).
        noise: relative size of the shared per-seed factor (the arm-specific wiggle is noise/5).
        search_trials: search rows per arm (0 for none).
        sweep: ``{"param": "gamma", "values": [...], "arm": "full", "seeds": [...]}`` adds
            ``sweep`` rows whose metrics are lowest at ``sweep["best"]`` (default 0.5).
        drop: (arm, seed) confirm runs to leave out (all datasets).
        nan: (arm, seed, metric) confirm values set to NaN.
        metrics: metadata ``metrics`` (default ``METRICS``).
        rng: draw normal noise from it instead of the fixed pattern.
        meta: further metadata entries (e.g. ``ladder``, ``arm_references``, ``sequential``).
    """
    effects = {**EFFECTS, **(effects or {})}
    metrics = metrics or METRICS
    drop, nan = set(drop), set(nan)
    rows: list[dict] = []

    drawn: dict[tuple[int, ...], float] = {}

    def noise_at(*key: int) -> float:
        """The noise of ``key``: the same key (e.g. one seed) gives the same value."""
        if rng is None:
            return _pattern(*key)
        if key not in drawn:
            drawn[key] = float(rng.standard_normal())
        return drawn[key]

    def add(dataset, arm, stage, seed, config, values, stopped=False):
        config_json = json.dumps(config, sort_keys=True)
        i = len(rows)
        row = {name: float("nan") for name in SCHEMA.names if name.startswith(("val_", "test_"))}
        row.update(values)
        row.update(
            experiment=experiment,
            dataset=dataset,
            arm=arm,
            stage=stage,
            trial_id=f"{stage}_{arm}_{i:04d}",
            seed=seed,
            config_json=config_json,
            config_hash=hashlib.sha256(config_json.encode()).hexdigest()[:12],
            training_iteration=3 if stopped else 10,
            stopped_early=stopped,
            wall_time_s=10.0 + i,
            startup_s=1.0,
            git_commit="0123456789abcdef0123456789abcdef01234567",
            data_manifest_hash=hashlib.sha256(dataset.encode()).hexdigest(),
            hmgray_version="0.1.0",
            ray_version="2.60.0",
            created_at=T0 + timedelta(minutes=i),
        )
        rows.append(row)

    for d, dataset in enumerate(datasets):
        hard = 1.0 + 0.2 * d
        for a, arm in enumerate(arms):
            for trial in range(search_trials):
                lr = float(10 ** (-4 + 2 * (_pattern(d, a, trial, 1) + 1) / 2))
                layers = 1 + int((_pattern(d, a, trial, 2) + 1) * 1.5) % 3
                attention = SEARCH_SPACE["attention"]["choices"][trial % 2]
                # val loss: a bowl in log10(lr) around 1e-3, weakly dependent on layers
                val = (
                    BASE["test_mse"]
                    * hard
                    * (1 + effects.get(arm, 0.0))
                    * (1 + 0.5 * (np.log10(lr) + 3) ** 2 + 0.02 * layers)
                )
                config = {"arm": arm, "attention": attention, "layers": layers, "lr": lr, "seed": 0}
                add(
                    dataset,
                    arm,
                    "search",
                    0,
                    config,
                    {"val_mse": float(val)},
                    stopped=trial % 3 == 2,
                )
        for a, arm in enumerate(arms):
            for seed in seeds:
                if (arm, seed) in drop:
                    continue
                shared = noise * noise_at(d, seed)
                values = {}
                for k, name in enumerate(BASE):
                    wiggle = noise / 5 * noise_at(d, a, seed, k)
                    value = BASE[name] * hard * (1 + effects.get(arm, 0.0)) * (1 + shared + wiggle)
                    values[name] = float("nan") if (arm, seed, name) in nan else float(value)
                config = {
                    "arm": arm,
                    "attention": "sparsemax",
                    "layers": 2,
                    "lr": 1e-3,
                    "seed": seed,
                }
                add(dataset, arm, "confirm", seed, config, values)
        if sweep:
            best = sweep.get("best", 0.5)
            for value in sweep["values"]:
                for seed in sweep.get("seeds", seeds):
                    shape = 1 + (float(value) - best) ** 2
                    values = {
                        name: float(BASE[name] * hard * shape * (1 + noise * noise_at(d, seed, 7)))
                        for name in BASE
                    }
                    config = {
                        "arm": sweep.get("arm", reference_arm),
                        sweep["param"]: value,
                        "seed": seed,
                    }
                    add(dataset, sweep.get("arm", reference_arm), "sweep", seed, config, values)

    extra = meta or {}
    meta = {
        "experiment": experiment,
        "reference_arm": reference_arm,
        "arm_order": list(arms),
        "metrics": metrics,
        "command": f"python experiments/{experiment}.py --smoke-test",
        "seeds": list(seeds),
        "search_space": {arm: SEARCH_SPACE for arm in arms},
        "search_metric": "val_mse",
        "search_mode": "min",
    }
    if sweep:
        meta["sweep"] = {"param": sweep["param"], "stage": "sweep"}
    meta.update(extra)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    # not sort_keys: the order of "metrics" is the column order of the tables
    return table.replace_schema_metadata({"hmgray": json.dumps(meta)})


def write_results(table: pa.Table, path) -> str:
    """Write ``table`` as Parquet at ``path`` (folders created); returns the path as str."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path)
    return path


@pytest.fixture
def results_uri(tmp_path) -> str:
    """A default results table (5 arms, 3 seeds, planted ladder) written under tmp_path."""
    return write_results(make_results_table(), tmp_path / "exp" / "results.parquet")
