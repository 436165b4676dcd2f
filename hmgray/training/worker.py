"""The Ray Train worker loop: one model trained on this worker's dataset shards.

Runs inside each Ray Train worker (``TorchTrainer(train_loop_per_worker=...)``). It
streams ``get_dataset_shard(split).iter_torch_batches(...)``, trains for
``epochs``, evaluates on validation after every epoch (and on test after the last one
when ``eval_test`` is set, i.e. in the confirmation stage only), and reports one
metrics dict per epoch: ASHA decides on ``training_iteration`` = epochs done.

The task (``hmgray.task.Task``) supplies the model, the loss and the evaluator; the
worker names no family. Every report carries ``val_<metric>`` for each of the task's
metrics, ``val_loss`` (the training loss on validation) and ``val_curve``: the run's
convergence curve so far, JSON
``{"step": [...], "epoch": [...], "val_loss": [...], "val_<selection metric>": [...]}`` with one point
after every epoch (optimiser step counted from 0; ``epoch`` may be fractional) and, with
``eval_every_steps = N > 0``, also one before the first step and one after every N-th
step. The curve rides in the metrics of the epoch reports, so the reporting cadence
(and ASHA's ``training_iteration``) is unchanged, and the last report holds it whole.
``eval_groups`` is handed to the task's test evaluator (e.g. name -> ids of a group of
rows, reported as ``test_<name>_<metric>``).

Besides the metrics, each report carries bookkeeping values:
``startup_s`` (from the trial driver's start to this worker's first training batch:
the overhead of a nested Ray Train run), ``startup_marks`` (JSON: the wall-clock times,
in seconds since the epoch, at which this run passed each step of its start-up, in order:
``trial`` the trial function began, ``fit`` the ``TorchTrainer`` was built, ``entry`` the
worker's training function began, ``imported`` its training code was imported, ``model``
the model, optimiser and schedule were built, ``shards`` the dataset shards were opened,
``first_batch`` the first training batch arrived; ``benchmarks/trial_startup.py`` cuts
them into phases) and ``worker_pg`` (the id of this worker's
placement group, which :class:`hmgray.search.reaper.PlacementGroupReaper` removes when
Tune stops the trial), ``restarts`` (how many times this run went on from a checkpoint
after its worker group died) and ``resumed_from`` (the epoch of the last checkpoint it went
on from; 0 when it never did).

Checkpoints (``hmgray.training.checkpoint``): unless the config's ``_checkpoint`` is false,
rank 0 attaches the run's whole training state to every epoch's report. A run that starts
with a checkpoint (Ray Train restarted its workers after a failure, or Tune restarted the
trial on ``--resume``) loads it, checks it is whole, and goes on with the epoch after it:
same data order (the shuffle seed is the epoch's), same random generators, the schedule
where it was, the curve so far, the start-up figures of its first attempt.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import ray
import ray.train
import ray.train.torch
import torch

from hmgray.task import Task
from hmgray.training import checkpoint as ckpt
from hmgray.training import loop
from hmgray.training.settings import split_config, worker_batch_size

MARKS_FROM_DRIVER = ("fit", "entry", "imported")  # set by hmgray.training.driver


def _placement_group_hex() -> str:
    pg = ray.util.get_current_placement_group()
    return pg.id.hex() if pg is not None else ""


def train_batches(shard, batch_size: int, seed: int, epoch: int, **kwargs):
    """One epoch of a run's training batches from its dataset shard: Ray Data's
    ``iter_torch_batches`` with a local shuffle buffer of 4 batches, seeded by the run's
    seed and the epoch (a resumed run sees the order an uninterrupted one would). Batches
    arrive on the Train worker's device (``device="auto"``). ``kwargs`` go to
    ``iter_torch_batches`` (``benchmarks/ingest.py`` tries ``pin_memory``, prefetching)."""
    return shard.iter_torch_batches(
        batch_size=batch_size,
        local_shuffle_buffer_size=4 * batch_size,
        local_shuffle_seed=seed * 1000 + epoch,
        **kwargs,
    )


def train_loop_per_worker(config: dict[str, Any], *, task: Task, context: Mapping) -> None:
    """Train one run of ``task``; see the module docstring for what is reported."""
    driver_t0 = float(config.get("_driver_t0", time.time()))
    model_cfg, settings, _ = split_config(task, config)
    select = task.selection_metric
    torch.set_num_threads(settings.torch_threads)
    loop.seed_everything(settings.seed + ray.train.get_context().get_world_rank())

    device = ray.train.torch.get_device()
    use_bf16 = device.type == "cuda"
    marks = {"trial": driver_t0}  # start-up marks (module docstring)
    marks.update({k: float(config[f"_{k}_t"]) for k in MARKS_FROM_DRIVER if f"_{k}_t" in config})
    model = task.build_model(model_cfg, context)
    resumed, skipped = ckpt.load_latest(ray.train.get_checkpoint())
    if resumed is not None:  # into the bare model, before DDP wraps it
        model.load_state_dict(resumed["model"])
    world = ray.train.get_context().get_world_size()
    rank = ray.train.get_context().get_world_rank()
    checkpointing = bool(config.get("_checkpoint", True))
    batch_size = worker_batch_size(settings.batch_size, world)
    # Several workers: DDP. An arm may build a stage whose parameters a batch leaves
    # unused (a switched-off branch); DDP must not wait for their gradients.
    ddp = {"find_unused_parameters": True} if world > 1 else None
    if settings.compile:
        model.compile()
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs=ddp)
    optimizer = loop.make_optimizer(model, settings.lr, settings.weight_decay)
    # One-cycle schedule (15% warm-up, cosine decay to the end of `epochs`): measured to
    # beat a constant rate at the same budget. An ASHA-stopped trial simply stops on its
    # way down the schedule.
    rows = int(config.get("_train_rows", 0)) or settings.batch_size
    steps_per_epoch = math.ceil(rows / (batch_size * world)) + 1  # +1: uneven shards
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=settings.lr,
        total_steps=settings.epochs * steps_per_epoch,
        pct_start=0.15,
    )

    restarts, first_epoch = 0, 0
    marks["model"] = time.time()
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    test_shard = ray.train.get_dataset_shard("test") if settings.eval_test else None
    pg_hex = _placement_group_hex()
    marks["shards"] = time.time()
    startup_s = None
    first_batch_at: list[float] = []

    curve: dict[str, list[float]] = {"step": [], "epoch": [], "val_loss": [], f"val_{select}": []}
    step = 0
    steps_per_pass = 0  # optimiser steps of one epoch, known once the first epoch has run
    last_val: dict[str, float] = {}

    val_batches = ReplayBatches(
        lambda: val_shard.iter_torch_batches(batch_size=256), settings.val_cache_bytes
    )

    def validate() -> dict[str, float]:
        """Evaluate on validation at the current step and put the point on the curve."""
        val = loop.evaluate(
            model, val_batches, task=task, config=model_cfg, device=device, with_loss=True
        )
        curve["step"].append(step)
        curve["epoch"].append(round(step / steps_per_pass, 4) if steps_per_pass else 0.0)
        curve["val_loss"].append(val["loss"])
        curve[f"val_{select}"].append(val[select])
        last_val.clear()
        last_val.update(val, at_step=step)
        return val

    def after_step() -> None:
        nonlocal step
        step += 1
        if settings.eval_every_steps > 0 and step % settings.eval_every_steps == 0:
            validate()

    if resumed is not None:
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        loop.set_rng_state(resumed["rng"])
        first_epoch, step, steps_per_pass = (
            resumed["epoch"],
            resumed["step"],
            resumed["steps_per_pass"],
        )
        curve = resumed["curve"]
        startup_s, marks = resumed["startup_s"], resumed["marks"]
        restarts = resumed["restarts"] + 1
    elif skipped:
        # every checkpoint of the run was torn: it starts over, which it says
        restarts = 1

    def save(epoch_done: int) -> dict:
        """The run's state after ``epoch_done`` epochs (the checkpoint's contents)."""
        bare = getattr(model, "module", model)  # DDP wraps the model
        return {
            "epoch": epoch_done,
            "step": step,
            "steps_per_pass": steps_per_pass,
            "model": bare.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": loop.get_rng_state(),
            "curve": curve,
            "startup_s": startup_s,
            "marks": marks,
            "restarts": restarts,
        }

    pre_train_s = 0.0  # time spent before the first batch that is not start-up
    if settings.eval_every_steps > 0 and resumed is None:
        t0 = time.time()
        validate()  # step 0: the untrained model
        pre_train_s = time.time() - t0

    for epoch in range(first_epoch, settings.epochs):
        batches = train_batches(train_shard, batch_size, settings.seed, epoch)
        if startup_s is None:
            batches = _note_first(batches, first_batch_at)
        stats = loop.train_epoch(
            model,
            batches,
            optimizer,
            task=task,
            config=model_cfg,
            device=device,
            autocast_dtype=torch.bfloat16 if use_bf16 else None,
            grad_clip=settings.grad_clip,
            scheduler=scheduler,
            after_step=after_step,
        )
        if not steps_per_pass:  # the epoch coordinate of the first epoch's points, now computable
            steps_per_pass = max(step, 1)
            curve["epoch"] = [round(s / steps_per_pass, 4) for s in curve["step"]]
        if startup_s is None:
            arrived = first_batch_at[0] if first_batch_at else time.time()
            marks["first_batch"] = arrived - pre_train_s
            startup_s = marks["first_batch"] - driver_t0
        # the epoch's validation: reuse the point an every-N-steps pass just made
        val = dict(last_val) if last_val.get("at_step") == step else validate()
        val.pop("at_step", None)
        metrics = {f"val_{k}": v for k, v in val.items() if k != "rows"}
        metrics["train_loss"] = stats["loss"]
        if test_shard is not None and epoch == settings.epochs - 1:
            test = loop.evaluate(
                model,
                test_shard.iter_torch_batches(batch_size=256),
                task=task,
                config=model_cfg,
                device=device,
                groups=settings.eval_groups,
            )
            metrics.update({f"test_{k}": v for k, v in test.items() if k != "rows"})
        metrics.update(
            epoch=epoch + 1,
            startup_s=startup_s,
            wall_s=time.time() - driver_t0,
            worker_pg=pg_hex,
            world_size=world,
            startup_marks=json.dumps(marks),
            val_curve=json.dumps(curve, allow_nan=True),
            restarts=restarts,
            resumed_from=resumed["epoch"] if resumed is not None else 0,
        )
        # Only rank 0 writes (every rank holds the same weights after DDP's all-reduce);
        # every rank reports, as Ray Train requires.
        with ckpt.scratch_dir() as tmp:
            saved = None
            if checkpointing and rank == 0:
                ckpt.write_state(tmp, save(epoch + 1))
                saved = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(
                metrics,
                checkpoint=saved,
                checkpoint_dir_name=ckpt.dir_name(epoch + 1) if checkpointing else None,
            )


class ReplayBatches:
    """An iterable over ``make_iter()``'s batches that keeps them after the first full pass,
    while their tensors total at most ``max_bytes``, and replays them from memory
    afterwards. A larger source is read afresh on every pass, like ``make_iter()`` itself.
    A pass that is abandoned half-way does not fill the cache.
    """

    def __init__(self, make_iter, max_bytes: int):
        self.make_iter, self.max_bytes = make_iter, int(max_bytes)
        self.cached: list | None = None
        self.too_big = False

    def __iter__(self):
        if self.cached is not None:
            yield from self.cached
            return
        keep: list | None = None if self.too_big else []
        size = 0
        for batch in self.make_iter():
            if keep is not None:
                size += sum(v.nbytes for v in batch.values() if isinstance(v, torch.Tensor))
                if size > self.max_bytes:
                    keep, self.too_big = None, True
                else:
                    keep.append(batch)
            yield batch
        if keep is not None:
            self.cached = keep


def _note_first(batches, arrived_at: list[float]):
    """Pass batches through, appending the time the first one arrived to ``arrived_at``."""
    for b in batches:
        if not arrived_at:
            arrived_at.append(time.time())
        yield b
