"""A run's flat config, split into what consumes it: the task's model config, the
platform's training settings, and the run's bookkeeping.

Tune hands every trial one flat dict (searched keys, the arm's keys, the fixed settings,
the seed...). :func:`split_config` assigns every key to exactly one owner and refuses a
key that nothing consumes, naming it, so a misspelt searched key fails the trial plan
before anything runs instead of being sampled, stored and silently ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from hmgray.errors import ConfigError
from hmgray.task import Task, strict_from_dict

__all__ = ["RUN_KEYS", "TrainSettings", "split_config"]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Optimisation knobs of one run (the model's own are in the task's config)."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    epochs: int = 8
    seed: int = 0
    grad_clip: float = 1.0
    eval_test: bool = False
    torch_threads: int = 1  # one thread per worker: trials run side by side on few cores
    eval_every_steps: int = 0  # > 0: a validation point every N optimiser steps (curves)
    eval_groups: dict[str, Any] | None = None  # handed to the task's evaluator
    # Validation batches up to this size are kept in the worker after the first pass and
    # replayed: a pass through Ray Data costs ~1.5 s of pipeline start-up on 2 cores.
    val_cache_bytes: int = 256 * 2**20
    # torch.compile the model in the worker (``nn.Module.compile``: in place, so state
    # dicts and checkpoints keep their keys). Off by default: on 2 cores compiling costs
    # 9 to 73 s per run for a 6 to 15 % faster step (benchmarks/README.md), more than a
    # search run of ~40 s saves; long GPU runs may gain.
    compile: bool = False


# Keys of the run itself, read by the trial driver and the results table:
# ablation_arm (the results' arm label when an arm is config overrides of a model arm),
# train_split (which dataset is the run's "train"), and private keys ("_" prefix:
# bookkeeping such as the driver's start time and the labels list, never in results).
RUN_KEYS = frozenset({"ablation_arm", "train_split"})
TRAIN_KEYS = frozenset(f.name for f in dataclasses.fields(TrainSettings))
LABELS_KEY = "_labels"  # names of descriptive keys a run carries (a condition's labels)


def split_config(
    task: Task, flat: Mapping[str, Any], labels: Iterable[str] = ()
) -> tuple[Any, TrainSettings, dict[str, Any]]:
    """(task config, training settings, run keys) of a flat trial config.

    ``labels`` (and the names listed under ``flat["_labels"]``) are descriptive keys a run
    may carry for the analysis (e.g. ``train_set``); they are kept with the run keys.
    Raises ``ConfigError`` naming every key that no part of the run consumes.
    """
    model_keys = {f.name for f in dataclasses.fields(task.config_cls)}
    allowed_labels = set(labels) | set(flat.get(LABELS_KEY, ()))
    model, train, run, unknown = {}, {}, {}, []
    for key, value in flat.items():
        if key in model_keys:
            model[key] = value
        elif key in TRAIN_KEYS:
            train[key] = value
        elif key in RUN_KEYS or key in allowed_labels or key.startswith("_"):
            run[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(
            f"task {task.name!r}: config key(s) {', '.join(map(repr, sorted(unknown)))} are "
            f"consumed by no part of the run (not in {task.config_cls.__name__}, "
            "TrainSettings or the run's keys); check the search space and fixed settings"
        )
    return task.make_config(model), strict_from_dict(TrainSettings, train), run


def worker_batch_size(batch_size: int, world: int) -> int:
    """Each of ``world`` data-parallel workers' batch: ``batch_size`` is the run's global
    batch, split evenly (DDP averages the workers' gradients, so one step sees the same
    number of rows as one worker's step would). Refused when it does not split evenly."""
    if batch_size % world:
        raise ConfigError(
            f"batch_size {batch_size} does not split evenly over {world} Train workers "
            "(--workers-per-trial); use a batch size divisible by the number of workers"
        )
    return batch_size // world
