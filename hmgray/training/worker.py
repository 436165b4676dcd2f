"""The Ray Train worker loop: one model trained on this worker's dataset shards.

Runs inside each Ray Train worker (``TorchTrainer(train_loop_per_worker=...)``). It
streams ``get_dataset_shard(split).iter_torch_batches(...)``, trains for
``epochs``, evaluates on validation after every epoch (and on test after the last one
when ``eval_test`` is set, i.e. in the confirmation stage only), and reports one
metrics dict per epoch: ASHA decides on ``training_iteration`` = epochs done.

Besides the metrics, each report carries two bookkeeping values:
``startup_s`` (from the trial driver's start to this worker's first training batch:
the overhead of a nested Ray Train run) and ``worker_pg`` (the id of this worker's
placement group, which :class:`hmgray.search.reaper.PlacementGroupReaper` removes when
Tune stops the trial).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import ray
import ray.train
import ray.train.torch
import torch

from hmgray.models.hmgnet import HMGNetConfig
from hmgray.tasks.valuation import build_model
from hmgray.training import loop


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Optimisation knobs of one run (the model's own are in ``HMGNetConfig``)."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    epochs: int = 8
    seed: int = 0
    grad_clip: float = 1.0
    eval_test: bool = False
    torch_threads: int = 1  # one thread per worker: trials run side by side on few cores

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


MODEL_FIELDS = frozenset(f.name for f in dataclasses.fields(HMGNetConfig))


def model_config(config: dict[str, Any]) -> HMGNetConfig:
    """The model part of a flat trial config (Tune hands plain dicts)."""
    return HMGNetConfig.from_dict({k: v for k, v in config.items() if k in MODEL_FIELDS})


def _placement_group_hex() -> str:
    pg = ray.util.get_current_placement_group()
    return pg.id.hex() if pg is not None else ""


def train_loop_per_worker(config: dict[str, Any], *, market: dict) -> None:
    """Train one HMG-Net run; see the module docstring for what is reported."""
    driver_t0 = float(config.get("_driver_t0", time.time()))
    settings = TrainSettings.from_dict(config)
    torch.set_num_threads(settings.torch_threads)
    loop.seed_everything(settings.seed + ray.train.get_context().get_world_rank())

    device = ray.train.torch.get_device()
    use_bf16 = device.type == "cuda"
    model = build_model(model_config(config), market)
    model = ray.train.torch.prepare_model(model)
    optimizer = loop.make_optimizer(model, settings.lr, settings.weight_decay)
    # One-cycle schedule (15% warm-up, cosine decay to the end of `epochs`): measured on
    # the valuation task to beat a constant rate at the same budget. An ASHA-stopped
    # trial simply stops on its way down the schedule.
    world = ray.train.get_context().get_world_size()
    rows = int(config.get("_train_rows", 0)) or settings.batch_size
    steps_per_epoch = math.ceil(rows / (settings.batch_size * world)) + 1  # +1: uneven shards
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.epochs * steps_per_epoch,
        pct_start=0.15,
    )
    price_scale = float(config.get("price_scale", HMGNetConfig.price_scale))

    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    test_shard = ray.train.get_dataset_shard("test") if settings.eval_test else None
    pg_hex = _placement_group_hex()
    startup_s = None
    first_batch_at: list[float] = []

    for epoch in range(settings.epochs):
        batches = train_shard.iter_torch_batches(
            batch_size=settings.batch_size,
            local_shuffle_buffer_size=4 * settings.batch_size,
            local_shuffle_seed=settings.seed * 1000 + epoch,
        )
        if startup_s is None:
            batches = _note_first(batches, first_batch_at)
        stats = loop.train_epoch(
            model,
            batches,
            optimizer,
            price_scale=price_scale,
            device=device,
            autocast_dtype=torch.bfloat16 if use_bf16 else None,
            grad_clip=settings.grad_clip,
            scheduler=scheduler,
        )
        if startup_s is None:
            startup_s = (first_batch_at[0] if first_batch_at else time.time()) - driver_t0
        val = loop.evaluate(model, val_shard.iter_torch_batches(batch_size=256), device=device)
        metrics = {f"val_{k}": v for k, v in val.items() if k != "rows"}
        metrics["train_loss"] = stats["loss"]
        if test_shard is not None and epoch == settings.epochs - 1:
            test = loop.evaluate(
                model, test_shard.iter_torch_batches(batch_size=256), device=device
            )
            metrics.update({f"test_{k}": v for k, v in test.items() if k != "rows"})
        metrics.update(
            epoch=epoch + 1,
            startup_s=startup_s,
            wall_s=time.time() - driver_t0,
            worker_pg=pg_hex,
        )
        ray.train.report(metrics)


def _note_first(batches, arrived_at: list[float]):
    """Pass batches through, appending the time the first one arrived to ``arrived_at``."""
    for b in batches:
        if not arrived_at:
            arrived_at.append(time.time())
        yield b
