"""The model under explanation: shards decoded into memory, one model trained in process.

Attribution analyses ONE trained model, so it needs no Ray: the splits are decoded once
into torch tensors (``decode_batch``, contracts §3) and the model is trained with the very
functions every Ray Train worker runs (``hmgray.training.loop``: ``seed_everything``,
``make_optimizer``, ``train_epoch``, ``evaluate``), with the worker's one-cycle schedule,
on one process (as ``benchmarks/planted_ordering.py`` does).

Alongside the decoded tensors each split keeps what the model never sees but the
explanations need: listing ids, descriptions (to print the words) and the ``gt_*``
ground-truth columns of synthetic data (defect boxes, planted deltas).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import torch
from torch import Tensor

from hmgray import storage
from hmgray.data.shards import Manifest
from hmgray.data.text import tokenize
from hmgray.errors import DataError
from hmgray.families.valuation.data.decode import decode_batch
from hmgray.families.valuation.model import HMGNet, HMGNetConfig
from hmgray.families.valuation.task import ValuationTask, build_model
from hmgray.training.loop import (
    evaluate,
    in_memory_batches,
    make_optimizer,
    seed_everything,
    train_epoch,
)

__all__ = ["Split", "TrainRecipe", "load_split", "train_model"]

TASK = ValuationTask()


@dataclass
class Split:
    """One split in memory.

    Attributes:
        batch: the decoded batch (contracts §3) of all N listings, torch tensors.
        listing_id: N ids.  words: N lists of the tokenised description's first L words
            (position i of ``batch["tokens"]``).
        gt: ``gt_*`` column name -> N values (empty for real data).
    """

    batch: dict[str, Tensor]
    listing_id: list[str]
    words: list[list[str]]
    gt: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.listing_id)

    def take(self, idx: list[int]) -> Split:
        """The listings at positions ``idx``, in that order."""
        ix = torch.as_tensor(idx, dtype=torch.long)
        return Split(
            {k: v[ix] for k, v in self.batch.items()},
            [self.listing_id[i] for i in idx],
            [self.words[i] for i in idx],
            {k: [v[i] for i in idx] for k, v in self.gt.items()},
        )


def load_split(manifest: Manifest, split: str, opts: dict | None = None) -> Split:
    """Read and decode every shard of ``split`` (raises DataError naming a bad shard).
    ``opts``: the decoder's paddings (default: the task's ``DECODE_DEFAULTS``)."""
    from hmgray.families.valuation.task import DECODE_DEFAULTS

    opts = {**DECODE_DEFAULTS, **(opts or {})}
    tables = [storage.read_parquet(uri) for uri in manifest.files_for(split)]
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:
        raise DataError(f"{manifest.uri}: split {split!r} has no listings")
    np_batch = decode_batch(
        table,
        image_size=manifest.context["image_size"],
        max_words=opts["max_words"],
        max_regions=opts["max_regions"],
        vocab_size=opts["vocab_size"],
    )
    gt_cols = [c for c in table.column_names if c.startswith("gt_")]
    return Split(
        batch={k: torch.from_numpy(v) for k, v in np_batch.items()},
        listing_id=table.column("listing_id").to_pylist(),
        words=[tokenize(t)[: opts["max_words"]] for t in table.column("description").to_pylist()],
        gt=table.select(gt_cols).to_pydict() if gt_cols else {},
    )


@dataclass(frozen=True)
class TrainRecipe:
    """Optimisation of the explained model. Defaults: the best settings measured for the
    full arm in benchmarks/planted_ordering.py (lr 5e-3 one-cycle, batch 32; it also sets
    dropout 0 on the model config, which is the caller's ``HMGNetConfig``)."""

    epochs: int = 8
    lr: float = 5e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    seed: int = 0


def train_model(
    cfg: HMGNetConfig,
    market: dict,
    train: dict[str, Tensor],
    val: dict[str, Tensor] | None,
    recipe: TrainRecipe,
    log: Callable[[str], None] | None = print,
) -> tuple[HMGNet, list[dict]]:
    """Train one model; returns it (eval mode) and one history row per epoch
    (``epoch``, ``train_loss``, ``val_mse``, ``seconds``)."""
    seed_everything(recipe.seed)
    model = build_model(cfg, market)
    opt = make_optimizer(model, recipe.lr, recipe.weight_decay)
    steps = recipe.epochs * -(-len(train["price"]) // recipe.batch_size)
    # one-cycle (15% warm-up, cosine decay), as the Ray Train worker schedules it
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr, total_steps=max(1, steps), pct_start=0.15
    )
    gen = torch.Generator().manual_seed(recipe.seed)
    history, t0 = [], time.perf_counter()
    for ep in range(recipe.epochs):
        tr = train_epoch(
            model,
            in_memory_batches(train, recipe.batch_size, gen),
            opt,
            task=TASK,
            config=cfg,
            device="cpu",
            scheduler=sched,
        )
        row = {"epoch": ep + 1, "train_loss": tr["loss"], "val_mse": float("nan")}
        if val is not None:
            val_batches = in_memory_batches(val, 256)
            row["val_mse"] = evaluate(model, val_batches, task=TASK, config=cfg, device="cpu")[
                "mse"
            ]
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if log:
            log(
                f"  epoch {ep + 1}/{recipe.epochs}: train loss {row['train_loss']:.5f}, "
                f"val mse {row['val_mse']:.0f}  ({row['seconds']:.0f}s)"
            )
    model.eval()
    return model, history
