"""Where a nested Ray Train run's start-up goes, phase by phase.

Runs an experiment through hmgray's own runner (default: the granularity ablation's smoke
run, one arm: one search run and one confirmation run, one after the other), then cuts
each run's start-up into phases from two sources measured in that one run:

* the run's own start-up marks (``startup_marks`` in every report: the trial function's
  start, the ``TorchTrainer``'s construction, the worker's training function, its
  imports, the model, the dataset shards, the first batch; ``hmgray.training.worker``);
* Ray's task timeline (``ray.timeline()``, read before the runner shuts Ray down): when
  each actor's ``__init__`` ran, for the Tune trial actor, the Train controller and the
  Train worker.

Phases, in order (seconds and share of the run's start-up, from the trial actor's
``__init__`` to the first training batch)::

    trial actor          Tune's trial actor __init__ (its process, the trainable's imports)
    trial to trainer     trial actor ready -> TorchTrainer built (incl. counting the rows)
    train controller     TorchTrainer built -> controller actor's __init__ done
    worker group         controller ready -> worker actor's __init__ begins (placement
                         group, a worker process)
    worker actor         the worker actor's __init__
    backend setup        worker ready -> the training function begins (torch process
                         group, dataset shards handed over, the function's thread)
    training imports     hmgray.training.worker and torch in the worker
    model build          the family's model code imported and the model built
    dataset shards       get_dataset_shard for train / val (/ test)
    first batch          the shard iterator's start-up until the first training batch

Usage::

    python benchmarks/trial_startup.py                              # granularity smoke, 1 arm
    python benchmarks/trial_startup.py --script experiments/coarse_loss_ablation.py --arm din_fine
    python benchmarks/trial_startup.py -- --n-listings 4000 --epochs 2   # runner flags after --
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHASES = (
    "trial actor",
    "trial to trainer",
    "train controller",
    "worker group",
    "worker actor",
    "backend setup",
    "training imports",
    "model build",
    "dataset shards",
    "first batch",
)
CONTROLLER, WORKER = "TrainController", "RayTrainWorker"


def actor_inits(events: list[dict]) -> list[tuple[str, float, float]]:
    """(class name, start, end) in seconds since the epoch of every actor ``__init__`` in
    Ray's Chrome-trace timeline, sorted by start."""
    out = []
    for e in events:
        cat = str(e.get("cat", ""))
        if cat.startswith("task::") and cat.endswith(".__init__") and "dur" in e:
            start = float(e["ts"]) / 1e6
            out.append((cat[len("task::") : -len(".__init__")], start, start + e["dur"] / 1e6))
    return sorted(out, key=lambda x: x[1])


def _last_before(inits, t: float, pick) -> tuple[str, float, float] | None:
    found = [a for a in inits if pick(a[0]) and a[1] <= t]
    return found[-1] if found else None


def phases(marks: dict[str, float], inits: list[tuple[str, float, float]]) -> dict[str, float]:
    """Seconds of each phase (``PHASES``) of one run; see the module docstring."""
    trial = _last_before(inits, marks["trial"], lambda c: c not in (CONTROLLER, WORKER))
    controller = _last_before(inits, marks["entry"], lambda c: c == CONTROLLER)
    worker = _last_before(inits, marks["entry"], lambda c: c == WORKER)
    missing = [
        n for n, a in (("trial", trial), (CONTROLLER, controller), (WORKER, worker)) if a is None
    ]
    if missing:
        raise SystemExit(
            f"Ray's timeline has no __init__ of {', '.join(missing)} before the run's marks"
        )
    t = [
        trial[1],
        trial[2],
        marks["fit"],
        controller[2],
        worker[1],
        worker[2],
        marks["entry"],
        marks["imported"],
        marks["model"],
        marks["shards"],
        marks["first_batch"],
    ]
    return {name: t[i + 1] - t[i] for i, name in enumerate(PHASES)}


def run_marks(root: str) -> list[tuple[str, dict[str, float]]]:
    """(Tune experiment folder, start-up marks) of every run under ``root``, from the first
    report in each trial's ``result.json``."""
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*", "*", "result.json"))):
        with open(path) as f:
            first = f.readline()
        if first.strip():
            report = json.loads(first)
            if "startup_marks" in report:
                stage = Path(path).parents[1].name
                out.append((stage, json.loads(report["startup_marks"])))
    return out


def load_experiment(script: str):
    """The ``hmgray.experiment.Experiment`` a script declares (its one module-level one)."""
    from hmgray.experiment import Experiment

    spec = importlib.util.spec_from_file_location("_bench_experiment", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, Experiment)]
    if len(found) != 1:
        raise SystemExit(f"{script}: expected one Experiment, found {len(found)}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", default="experiments/granularity_ablation.py")
    ap.add_argument("--arm", default=None, help="the arm to run (default: the task's first)")
    ap.add_argument("--full-size", action="store_true", help="the default size, not --smoke-test")
    ap.add_argument("runner_args", nargs="*", help="more runner flags, after --")
    args = ap.parse_args(argv)

    import ray

    from hmgray.experiment import main as run_experiment
    from hmgray.task import get_task

    exp = load_experiment(args.script)
    arm = args.arm or get_task(exp.task).arms[0]
    events: list[dict] = []
    real_shutdown = ray.shutdown

    def shutdown_after_timeline(*a, **k):
        if ray.is_initialized() and not events:
            events.extend(ray.timeline())
        return real_shutdown(*a, **k)

    with tempfile.TemporaryDirectory(prefix="hmgray-startup-") as storage:
        flags = [] if args.full_size else ["--smoke-test"]
        flags += ["--arms", arm, "--storage", storage, "--name", "bench", *args.runner_args]
        os.environ.setdefault("RAY_task_events_report_interval_ms", "200")
        with mock.patch.object(ray, "shutdown", shutdown_after_timeline):
            rc = run_experiment(exp, flags)
        if rc != 0:
            raise SystemExit(f"the experiment failed (exit {rc}); see its logs above")
        runs = run_marks(os.path.join(storage, "bench"))
    if not runs:
        raise SystemExit("no run reported start-up marks")
    inits = actor_inits(events)
    table = [(stage, phases(marks, inits)) for stage, marks in runs]

    print(f"\nstart-up of {len(table)} run(s) of {args.script} (arm {arm}), seconds:")
    print(f"{'phase':<18}" + "".join(f"{stage[:12]:>13}" for stage, _ in table) + "   mean  share")
    totals = [sum(p.values()) for _, p in table]
    mean_total = statistics.mean(totals)
    for name in PHASES:
        vals = [p[name] for _, p in table]
        mean = statistics.mean(vals)
        print(
            f"{name:<18}" + "".join(f"{v:13.2f}" for v in vals) + f"{mean:7.2f}"
            f"{mean / mean_total:7.0%}"
        )
    print(f"{'total':<18}" + "".join(f"{v:13.2f}" for v in totals) + f"{mean_total:7.2f}   100%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
