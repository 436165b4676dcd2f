"""One Tune trial = one Ray Train run (the Train V2 pattern).

The trial's function builds a ``TorchTrainer`` and calls ``fit()``; the workers'
``ray.train.report`` calls reach Tune through ``TuneReportCallback``, so ASHA sees
every epoch. The trial itself reserves almost nothing (0.01 CPU, see
``hmgray.search.ablation``): the CPUs and GPUs belong to the Train worker group.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import ray.data
from ray import tune
from ray.train import (
    BackendConfig,
    CheckpointConfig,
    DataConfig,
    FailureConfig,
    RunConfig,
    ScalingConfig,
)
from ray.train.torch import TorchTrainer
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from hmgray.task import Task


def train_run_name(trial_id: str) -> str:
    """The name (folder under the experiment's ``train/``) of a trial's Train run."""
    return f"train-{trial_id}"


def _train_entry(config: dict[str, Any], *, task: Task, context: dict) -> None:
    """Ray Train's per-worker entry point. The training code (torch and the family's
    model libraries: seconds of imports) is imported here, in the worker, not in the
    trial's driver process."""
    entered = time.time()
    from hmgray.training.worker import train_loop_per_worker

    config = {**config, "_entry_t": entered, "_imported_t": time.time()}
    train_loop_per_worker(config, task=task, context=context)


@dataclass(frozen=True)
class Resources:
    """What each trial's Train worker group asks for."""

    num_workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    def scaling_config(self) -> ScalingConfig:
        per_worker = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker > 0:
            per_worker["GPU"] = self.gpus_per_worker
        return ScalingConfig(
            num_workers=self.num_workers,
            use_gpu=self.gpus_per_worker > 0,
            resources_per_worker=per_worker,
        )


@dataclass(frozen=True)
class Recovery:
    """What a run does when one of its Train workers (or the worker's node) dies.

    Every epoch rank 0 checkpoints the run's whole training state to the experiment's
    storage (``hmgray.training.checkpoint``; Ray keeps the last ``keep`` of them and
    deletes older ones). On a failure Ray Train restarts the worker group and the run
    goes on from the last whole checkpoint: at most ``max_failures`` times for failures
    (a worker that raised, or died without a preemption notice), and without limit for
    preemptions (a node the cloud reclaimed, as Ray's preemption watcher sees it: these
    are not counted against ``max_failures``; ``max_preemptions`` = -1). A failure that
    comes back every time (a bug) fails the run after ``max_failures`` retries, each of
    which costs one worker start and the epoch it was in, since it starts from the
    checkpoint. ``checkpoint=False`` turns checkpointing off (benchmarks); a retry then
    starts over.
    """

    max_failures: int = 2
    max_preemptions: int = -1
    checkpoint: bool = True
    keep: int = 2

    def failure_config(self) -> FailureConfig:
        return FailureConfig(
            max_failures=self.max_failures, max_preemption_failures=self.max_preemptions
        )

    def checkpoint_config(self) -> CheckpointConfig:
        return CheckpointConfig(num_to_keep=self.keep)


def _trainer(resources: Resources):
    """The Train V2 trainer class for a run of ``resources.num_workers`` workers.

    Several workers: ``TorchTrainer``, whose torch backend joins them in a process group
    (gloo on CPU, NCCL on GPU) for DDP. One worker has nobody to talk to: the plain
    ``DataParallelTrainer`` with Ray Train's no-op ``BackendConfig`` runs the same worker
    code (``prepare_model`` leaves a model of world size 1 unwrapped; ``get_device``
    reads the worker's GPU from Ray), without a process group. It also spares the run's
    Train controller, a new process each run, the import of torch that unpickling a
    ``TorchConfig`` costs (seconds on 2 cores; ``benchmarks/trial_startup.py``).
    """
    if resources.num_workers > 1:
        return TorchTrainer
    return functools.partial(DataParallelTrainer, backend_config=BackendConfig())


def run_trial(
    config: dict[str, Any],
    *,
    datasets: dict[str, ray.data.Dataset],
    task: Task,
    context: dict,
    resources: Resources,
    train_storage: str,
    recovery: Recovery = Recovery(),
) -> None:
    """Tune function trainable: train ``config`` on Ray Train and report every epoch.

    A confirmation trial's config is ``{"run": {...}}`` (a grid over arm x seed);
    a search trial's is the flat config itself. ``train_split`` in the config (default
    ``"train"``) names the entry of ``datasets`` the run trains on, e.g. a few-shot subset;
    it is the workers' ``"train"`` dataset. Validation and test are always ``"val"`` and
    ``"test"``.
    """
    flat = dict(config.get("run", config))
    split = flat.get("train_split", "train")
    if split not in datasets:
        raise KeyError(f"train_split {split!r}: no such dataset (have {sorted(datasets)})")
    flat["_driver_t0"] = time.time()
    # the training rows size the LR schedule: counted on a materialised dataset (free);
    # a streamed one would be read and decoded whole to count it, so the runner hands its
    # row count from the manifest instead
    streamed_rows = flat.pop("_stream_train_rows", None)
    if split == "train" and streamed_rows:
        flat["_train_rows"] = int(streamed_rows)
    else:
        flat["_train_rows"] = datasets[split].count()
    trial_id = tune.get_context().get_trial_id()
    wanted = ("val", "test") if flat.get("eval_test") else ("val",)
    flat["_checkpoint"] = recovery.checkpoint
    flat["_fit_t"] = time.time()  # a start-up mark (hmgray.training.worker)
    trainer = _trainer(resources)(
        functools.partial(_train_entry, task=task, context=context),
        train_loop_config=flat,
        scaling_config=resources.scaling_config(),
        datasets={"train": datasets[split], **{k: datasets[k] for k in wanted}},
        # Only training data is sharded across workers; every worker evaluates the whole
        # validation/test set (no split coordinator actors for them: less start-up). One
        # worker reads the training set whole too: a split into one part is the same rows
        # in the same order, and its coordinator actor cost a process start per run
        # (benchmarks/trial_startup.py).
        dataset_config=DataConfig(datasets_to_split=["train"] if resources.num_workers > 1 else []),
        run_config=RunConfig(
            name=train_run_name(trial_id),
            storage_path=train_storage,
            callbacks=[TuneReportCallback()],
            failure_config=recovery.failure_config(),
            checkpoint_config=recovery.checkpoint_config(),
        ),
    )
    trainer.fit()
