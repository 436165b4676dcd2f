"""ASHA stops nested Ray Train trials early, and every trial still runs on 2 CPUs.

The hazard (see :mod:`hmgray.search.reaper`): when ASHA stops a Tune trial that runs a
``TorchTrainer``, the trial's Train worker group keeps its placement group (the
group lives as long as the job), so on a small cluster the next trial waits for CPUs
that never come back. Here a 2-CPU Ray runs hmgray's own ``run_search`` with one trial
at a time whose worker group takes all but 0.05 CPU: a single leaked group blocks every
later trial. The search runs in a subprocess with a timeout, so a regression fails
(timeout, or errored rows once Ray Train gives up on the worker group) instead of hanging.

Run alone: ``python -m tests.ray.test_asha OUT.json`` from the repository root.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.ray.procs import run_in_new_session

REPO = Path(__file__).resolve().parents[2]
NUM_SAMPLES = 4
EPOCHS = 4  # ASHA rungs at 1 and 2 epochs (grace 1, reduction factor 2), max_t 4
TIMEOUT_S = 420  # ~110 s when healthy on 2 busy cores; a leaked group hangs forever


def search(out: str) -> None:
    """Run one arm's search on a fresh 2-CPU local Ray; write rows + reaper record to ``out``."""
    import ray

    from hmgray.data.ray_dataset import decoded_splits
    from hmgray.families.valuation.data.synth import write_synthetic_valuation
    from hmgray.families.valuation.task import ValuationTask
    from hmgray.ray_runtime import init_ray
    from hmgray.search import ablation
    from hmgray.search.reaper import PlacementGroupReaper
    from hmgray.training.driver import Resources

    reapers: list[PlacementGroupReaper] = []

    class RecordingReaper(PlacementGroupReaper):
        def __init__(self):
            super().__init__()
            reapers.append(self)

    ablation.PlacementGroupReaper = RecordingReaper  # run_search builds its own callbacks
    # Only the learning rate is searched, over a wide range, so that the trials' rung
    # results spread out (seen: ASHA stops trial 3 with val_mse 28% above its cutoff).
    # Trials run one at a time and everything is seeded, so the decisions repeat.
    wide = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}

    class WideLR(ValuationTask):
        def space(self, arm):
            return wide

    task = WideLR()

    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_synthetic_valuation(os.path.join(tmp, "data"), n=160, seed=0)
        init_ray(num_cpus=2)
        try:
            fixed = {**task.fixed_settings(manifest), "price_scale": 1000.0, "d_model": 16}
            datasets = decoded_splits(manifest, task, fixed, ("train", "val"))
            plan = ablation.AblationPlan(
                task=task,
                experiment="asha",
                dataset=manifest.dataset,
                arms=("global",),
                num_samples=NUM_SAMPLES,
                seeds=(0,),
                epochs=EPOCHS,
                grace_period=1,
                reduction_factor=2,
                search_seed=0,
                max_concurrent=1,  # one trial at a time: arrival order, hence ASHA, is fixed
                # what the experiment script gives one run on 2 CPUs (all but the
                # drivers' share): a leaked group leaves no room for the next trial
                resources=Resources(cpus_per_worker=1.95),
                fixed=fixed,
            )
            t0 = time.time()
            _, rows = ablation.run_search(
                plan, "global", datasets, manifest.context, tmp, {"git_commit": "test"}
            )
            record = {
                "seconds": time.time() - t0,
                "rows": [{k: v for k, v in r.items() if k != "created_at"} for r in rows],
                "removed": [tid for r in reapers for tid in r.removed],
            }
        finally:
            ray.shutdown()
    Path(out).write_text(json.dumps(record, default=str))


@pytest.mark.ray
def test_asha_stops_trials_early_and_every_trial_still_completes(tmp_path):
    out = tmp_path / "asha.json"
    t0 = time.time()
    run, log = run_in_new_session(
        [sys.executable, "-m", "tests.ray.test_asha", str(out)], TIMEOUT_S, cwd=REPO
    )
    if run is None:
        pytest.fail(
            f"search did not finish in {TIMEOUT_S}s (a leaked worker group?):\n{log[-3000:]}"
        )
    assert run.returncode == 0, log[-5000:]
    record = json.loads(out.read_text())
    rows = record["rows"]
    print(f"search of {len(rows)} trials: {record['seconds']:.0f}s ({time.time() - t0:.0f}s all)")

    assert len(rows) == NUM_SAMPLES
    assert [r["status"] for r in rows] == ["ok"] * NUM_SAMPLES, [r["error"] for r in rows]
    assert all(math.isfinite(r["val_mse"]) for r in rows)
    stopped = {r["trial_id"] for r in rows if r["stopped_early"]}
    full = {r["trial_id"] for r in rows if r["training_iteration"] == EPOCHS}
    assert len(stopped) >= 1 and len(full) >= 1
    assert stopped | full == {r["trial_id"] for r in rows}
    assert all(r["training_iteration"] in (1, 2) for r in rows if r["stopped_early"])
    # each stopped trial's worker group was still there when its trial ended: the reaper
    # removed it (a finished run releases its own, so the reaper has nothing to do there)
    assert stopped <= set(record["removed"]), (stopped, record["removed"])


if __name__ == "__main__":
    search(sys.argv[1])
