"""The contract every registered Task passes (and the toy task defined in tests/, which
no platform file knows): data, decoding, the model of every arm, the evaluator, the
spaces, the strict config, and one trial end to end through the experiment runner."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hmgray import storage
from hmgray.data.shards import load_manifest
from hmgray.errors import ConfigError
from hmgray.results import read_results
from hmgray.search.spaces import to_optuna, to_tune, validate_space
from hmgray.task import Task, get_task, register, task_names
from hmgray.training.settings import split_config
from tests.toy_task import ToyTask

REPO = Path(__file__).resolve().parents[1]
register("toy", ToyTask)
TASKS = sorted(set(task_names()) | {"toy"})
N = 120  # rows of synthetic data: every split non-empty


@pytest.fixture(scope="module", params=TASKS)
def data(request, tmp_path_factory):
    """(task, manifest, settings, decoded train batch as torch tensors)."""
    task = get_task(request.param)
    out = str(tmp_path_factory.mktemp(task.name) / "data")
    task.generate(out, N, seed=3)
    manifest = load_manifest(out, verify=True, task=task)
    settings = task.fixed_settings(manifest)
    decode = task.decoder(manifest.context, settings)
    table = storage.read_parquet(manifest.files_for("train")[0]).slice(0, 8)
    batch = {k: torch.from_numpy(np.asarray(v)) for k, v in decode(table).items()}
    return task, manifest, settings, batch


def _config(task: Task, settings: dict, arm: str):
    flat = {**settings, **task.arm_config(arm)}
    return split_config(task, flat)[0]


def test_synthetic_data_round_trips_through_shards_and_the_manifest(data, tmp_path):
    task, manifest, _, _ = data
    assert manifest.task == task.name and set(manifest.splits) >= {"train", "val", "test"}
    if task.transductive:  # test = rows of train again (their keys), scored with labels
        assert manifest.rows("train") + manifest.rows("val") == N
        key = task.shards.key_column

        def keys(split):
            return {k for f in manifest.files_for(split)
                    for k in storage.read_parquet(f).column(key).to_pylist()}  # fmt: skip

        assert keys("test") <= keys("train")
    else:
        assert sum(manifest.rows(s) for s in manifest.splits) == N
    assert all(manifest.rows(s) > 0 for s in ("train", "val", "test"))
    again = task.generate(str(tmp_path / "again"), N, seed=3)  # seeded: the same shards
    assert [f.sha256 for f in again.files] == [f.sha256 for f in manifest.files]


def test_decode_gives_the_batch_every_arm_trains_on(data):
    task, manifest, settings, batch = data
    assert task.batch_rows(batch) == 8
    for arm in task.arms:
        torch.manual_seed(0)
        cfg = _config(task, settings, arm)
        model = task.build_model(cfg, task.load_context(manifest))
        loss = task.loss(model(batch), batch, cfg)
        assert loss.ndim == 0 and torch.isfinite(loss), arm
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), arm
        assert any(float(g.abs().sum()) > 0 for g in grads), arm


def test_evaluator_is_best_on_perfect_and_worse_on_shuffled_predictions(data):
    task, manifest, settings, batch = data
    cfg = _config(task, settings, task.reference_arm)
    # up to 64 rows (rare positives, e.g. clicks, need more than a handful), in two batches
    table = storage.read_parquet(manifest.files_for("train")[0])
    half = min(32, table.num_rows // 2)
    decode = task.decoder(manifest.context, settings)
    rows = {k: torch.from_numpy(np.asarray(v)) for k, v in decode(table.slice(0, 2 * half)).items()}
    halves = [{k: v[:half] for k, v in rows.items()}, {k: v[half:] for k, v in rows.items()}]

    def run(perm):
        ev = task.evaluator(cfg)
        for h in halves:  # accumulated over two batches
            out = task.oracle(h)
            ev.update({k: v[perm] for k, v in out.items()}, h)
        return ev.compute()

    perfect = run(torch.arange(half))
    roll = torch.roll(torch.arange(half), 1)
    shuffled = run(roll)
    del batch
    # a permutation that changes no prediction (e.g. no click in these rows) cannot hurt
    changes = any(
        isinstance(v, torch.Tensor) and not torch.equal(v, v[roll])
        for h in halves
        for v in task.oracle(h).values()
    )
    assert any(not math.isnan(perfect[m.name]) for m in task.metrics), perfect
    for m in task.metrics:
        assert m.name in perfect, m.name
        if math.isnan(perfect[m.name]):  # undefined on this batch (AUC of one class)
            assert math.isnan(shuffled[m.name]), m.name
            continue
        if m.best is not None:
            assert perfect[m.name] == pytest.approx(m.best, abs=1e-6), m.name
        if math.isnan(shuffled[m.name]) or not changes:  # undefined, or the same predictions
            continue
        worse = (
            shuffled[m.name] > perfect[m.name]
            if m.direction == "min"
            else (shuffled[m.name] < perfect[m.name])
        )
        assert worse, (m.name, perfect[m.name], shuffled[m.name])
    assert task.selection_metric in perfect and task.search_metric.startswith("val_")


def test_every_arm_has_a_valid_space_and_a_reference(data):
    task = data[0]
    assert task.reference_arm in task.arms and task.ladder in ("cumulative", "star")
    for arm in task.arms:
        space = task.space(arm)
        validate_space(space, arm)
        assert set(to_tune(space)) == set(to_optuna(space)) == set(space)
    with pytest.raises(ConfigError, match="unknown arm"):
        task.space("no-such-arm")


def test_the_strict_config_rejects_an_unknown_key(data):
    task, _, settings, _ = data
    with pytest.raises(ConfigError, match="'bogus_knob'"):
        task.make_config({**task.arm_config(task.reference_arm), "bogus_knob": 1})
    with pytest.raises(ConfigError, match="'bogus_knob'"):
        split_config(task, {**settings, "bogus_knob": 1, "lr": 1e-3})


@pytest.mark.ray
@pytest.mark.parametrize("name", TASKS)
def test_one_trial_end_to_end_through_the_runner(name, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "tests.contract_run", name, "--storage", str(tmp_path)]
        + ["--name", "contract", "--arms", get_task(name).reference_arm]
        # the toy task's run streams its data through Ray Data and compiles its model in
        # the worker; the others' decoded data fits the object store, so the default
        # (auto) materialises it
        + (["--data-path", "stream", "--compile"] if name == "toy" else []),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table, meta = read_results(str(tmp_path / "contract" / "results.parquet"))
    rows = table.to_pylist()
    task = get_task(name)
    assert sorted(r["stage"] for r in rows) == ["confirm", "search"]
    assert all(r["status"] == "ok" and r["arm"] == task.reference_arm for r in rows)
    confirm = next(r for r in rows if r["stage"] == "confirm")
    for m in task.metrics:
        assert f"test_{m.name}" in table.column_names
    assert math.isfinite(confirm[f"test_{task.selection_metric}"])
    assert meta["task"] == name and meta["search_metric"] == task.search_metric
    assert meta["data_path"]["path"] == ("stream" if name == "toy" else "materialize")
    fixed = json.loads((tmp_path / "contract" / "experiment.json").read_text())["plan"]["fixed"]
    assert fixed.get("compile", False) == (name == "toy")  # every run's settings: compiled
    assert ("streaming 3 datasets" if name == "toy" else "materialised 3") in run.stdout
    assert set(meta["metric_specs"]) == {m.name for m in task.metrics}
    assert "TrainingReport" not in run.stdout and "(pid=" not in run.stdout  # Ray in logs/
    assert (tmp_path / "contract" / "logs" / "driver.log").stat().st_size > 0
    journal = tmp_path / "contract" / "optuna" / f"search-{task.reference_arm}.journal"
    assert json.loads(journal.read_text().splitlines()[0])  # an Optuna journal
