"""What the in-process planted-effect benchmarks share (``ctr_planted.py``,
``gcd_planted.py``, ``retrieval_planted.py``): the flags ``--arms``, ``--per-epoch``,
``--config`` and ``--synth`` (the wrong ones refused by name), and :func:`fit`, one run at a
fixed configuration as the Ray Train worker trains it."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch

from hmgray.errors import ConfigError
from hmgray.training import loop


def add_flags(parser, config_name: str) -> None:
    """``--per-epoch``, ``--config`` (overrides of the task's ``config_name``) and
    ``--synth`` (the generator's constants)."""
    parser.add_argument(
        "--per-epoch", action="store_true", help="also test after each earlier epoch"
    )
    parser.add_argument(
        "--config", nargs="*", default=[], help=f"{config_name} overrides key=value"
    )
    parser.add_argument("--synth", nargs="*", default=[], help="generator constants key=value")


def pairs(items: list[str], flag: str) -> dict:
    """``key=value`` items -> dict, each value a Python literal where it reads as one."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag}: expected key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def apply_flags(args, arms: tuple[str, ...], synth: ModuleType) -> dict:
    """Check ``args.arms`` against ``arms``, set the generator module's constants named in
    ``args.synth`` (each must exist) and return the ``args.config`` overrides."""
    for arm in args.arms:
        if arm not in arms:
            raise SystemExit(f"--arms: unknown arm {arm!r}; valid: {', '.join(arms)}")
    for key, value in pairs(args.synth, "--synth").items():
        if not hasattr(synth, key):
            raise SystemExit(f"--synth: the generator has no constant {key!r}")
        setattr(synth, key, value)
    return pairs(args.config, "--config")


def synthetic_data(task, synth: ModuleType, n: int, seed: int):
    """``(tables, context, fixed settings, tensors)`` of the generator's ``n`` rows: the
    tables by split, the data's context, the task's fixed settings for it and every split
    decoded into tensors; a size the generator refuses exits naming ``--n``."""
    try:
        tables, context = synth.synthetic_tables(n, seed)
    except ValueError as err:
        raise SystemExit(f"--n: {err}") from None
    fixed = task.fixed_settings(SimpleNamespace(context=context))
    decode = task.decoder(context, fixed)
    data = {
        name: {k: torch.as_tensor(np.asarray(v)) for k, v in decode(table).items()}
        for name, table in tables.items()
    }
    return tables, context, fixed, data


def arm_config(task, arm: str, overrides: dict, **fixed):
    """The task's config of ``arm`` with ``fixed`` fields (the run's fixed settings) and
    the ``--config`` overrides on top; an unknown or invalid field exits naming
    ``--config`` and the field."""
    try:
        return task.make_config({**task.arm_config(arm), **fixed, **overrides})
    except ConfigError as err:
        raise SystemExit(f"--config: {err}") from None


def fit(
    task,
    cfg,
    context,
    batches: Callable[[torch.nn.Module, torch.Generator], Iterable[dict]],
    *,
    train_rows: int,
    batch_size: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
    score: Callable[[torch.nn.Module], Any] | None = None,
) -> tuple[torch.nn.Module, list]:
    """Train one model as the worker does, on one CPU thread: seeded,
    ``loop.make_optimizer``'s AdamW, a one-cycle schedule with 15% warm-up over ``epochs``
    x the worker's steps per epoch, gradient clip 1. ``batches(model, generator)`` gives
    each epoch's training batches. Returns the model and ``score(model)`` after every
    epoch but the last (empty without ``score``)."""
    torch.set_num_threads(1)
    loop.seed_everything(seed)
    model = task.build_model(cfg, context)
    optimizer = loop.make_optimizer(model, lr, weight_decay)
    steps = math.ceil(train_rows / batch_size) + 1  # as the worker counts
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(seed)
    scores = []
    for epoch in range(epochs):
        loop.train_epoch(
            model, batches(model, gen), optimizer,
            task=task, config=cfg, device="cpu", scheduler=scheduler,
        )  # fmt: skip
        if score is not None and epoch < epochs - 1:
            scores.append(score(model))
    return model, scores
