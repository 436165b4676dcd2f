"""The Ray-independent core of one training run: seeding, one epoch, evaluating a split.

The Ray Train worker (``hmgray.training.worker``) calls these on the batches of
``iter_torch_batches`` (dict[str, Tensor], contracts §3); ``benchmarks/`` calls them on
in-memory tensors. Nothing here imports Ray, so the same code is measured in both.

Loss and metrics come from the run's Task (``hmgray.task``): ``task.loss(out, batch,
config)`` is minimised, ``task.evaluator(config, groups)`` accumulates over the batches of
a split and returns the task's metrics at the end.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hmgray.task import Task

__all__ = [
    "evaluate",
    "get_rng_state",
    "in_memory_batches",
    "make_optimizer",
    "seed_everything",
    "set_rng_state",
    "to_device",
    "train_epoch",
]

Batch = dict[str, Tensor]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and all GPUs) for a reproducible run."""
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_rng_state() -> dict[str, Any]:
    """The state of every generator :func:`seed_everything` seeds (for a checkpoint)."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the generators' state from :func:`get_rng_state` (a resumed run goes on
    drawing what an uninterrupted one would have)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def to_device(batch: dict, device: torch.device | str) -> Batch:
    """Move every tensor of a batch to ``device`` (numpy arrays are converted first)."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        out[k] = v.to(device, non_blocking=True) if isinstance(v, Tensor) else v
    return out


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; biases, LayerNorm weights and embedding tables get no weight decay.

    Decaying a LayerNorm gain towards 0 or an embedding row of a rare word towards 0
    fights the normalisation rather than regularising, the usual BERT/GPT practice.
    """
    emb = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or id(p) in emb else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay)},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=float(lr))


def train_epoch(
    model: nn.Module,
    batches: Iterable[dict],
    optimizer: torch.optim.Optimizer,
    *,
    task: Task,
    config: Any,
    device: torch.device | str,
    autocast_dtype: torch.dtype | None = None,
    grad_clip: float | None = 1.0,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    after_step: Callable[[], None] | None = None,
) -> dict[str, float]:
    """One pass over ``batches`` minimising ``task.loss(out, batch, config)``; returns
    ``loss`` (row-weighted mean), ``rows`` and ``seconds``.

    ``autocast_dtype`` (e.g. ``torch.bfloat16`` on a GPU) turns autocast on; None runs in
    float32 (a task computes its loss in float32 either way). ``grad_clip`` is the max
    global gradient norm (None = no clipping): one extreme batch early in training must not
    throw a small model far off. ``scheduler`` (optional) is stepped after every optimiser
    step, so its ``total_steps`` count batches, not epochs. ``after_step`` (optional) is
    called after every optimiser step (the worker evaluates on validation there for
    convergence curves); it may switch the model to eval mode, train mode is restored.
    """
    device = torch.device(device)
    model.train()
    total, rows, t0 = 0.0, 0, time.perf_counter()
    for raw in batches:
        batch = to_device(raw, device)
        n = task.batch_rows(batch)
        if n == 0:
            continue
        with torch.autocast(
            device_type=device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
        ):
            out = model(batch)
        lval = task.loss(out, batch, config)
        optimizer.zero_grad(set_to_none=True)
        lval.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(lval.detach()) * n
        rows += n
        if after_step is not None:
            after_step()
            model.train()
    return {
        "loss": total / rows if rows else float("nan"),
        "rows": rows,
        "seconds": time.perf_counter() - t0,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[dict],
    *,
    task: Task,
    config: Any,
    device: torch.device | str,
    autocast_dtype: torch.dtype | None = None,
    with_loss: bool = False,
    groups: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """The task's metrics over all rows of all batches (its evaluator accumulates them),
    plus ``rows``. The model is left in eval mode.

    With ``with_loss`` also ``loss``: the training loss over all rows (row-weighted mean),
    the quantity a convergence curve follows. ``groups`` is handed to the task's evaluator
    (e.g. metrics over a group of rows).
    """
    device = torch.device(device)
    model.eval()
    evaluator = task.evaluator(config, groups)
    loss_sum, rows = 0.0, 0
    for raw in batches:
        batch = to_device(raw, device)
        with torch.autocast(
            device_type=device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
        ):
            out = model(batch)
        n = task.batch_rows(batch)
        if with_loss and n:
            loss_sum += float(task.loss(out, batch, config)) * n
        evaluator.update(out, batch)
        rows += n
    metrics: dict[str, float] = {**evaluator.compute(), "rows": rows}
    if with_loss:
        metrics["loss"] = loss_sum / rows if rows else float("nan")
    return metrics


def in_memory_batches(data: dict[str, Tensor], batch_size: int, gen: torch.Generator | None = None):
    """Mini-batches of a decoded split held in memory as tensors (benchmarks, in-process
    analyses); shuffled when ``gen`` is given, in order otherwise."""
    n = len(next(iter(data.values())))
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield {k: v[idx] for k, v in data.items()}
