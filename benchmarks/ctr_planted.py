"""Do the MGIPF arms differ at one fixed configuration, on the synthetic data?

Plain torch, no Ray: the same ``hmgray.training.loop`` and optimiser the Ray Train worker
runs (AdamW, one-cycle schedule with 15% warm-up, gradient clip 1, the task's batch of
256), on in-memory tensors, one thread. The training rows are read in the shards' order
and shuffled within windows of ``--buffer`` rows (the worker's local shuffle buffer is
4 x batch = 1024 rows); ``--buffer 0`` shuffles them fully. Every arm trains with the
same configuration for each seed, so a difference between arms is the model's, not the
search's. Prints per arm test AUC (mean +- sd over seeds), long-tail AUC, group AUC and
validation AUC (with ``--per-epoch`` also the test figures after each earlier epoch), and,
once, how well the planted quantities themselves rank test clicks: the ceiling from the
true interests, the training-split pseudo-labels, and the placement alone (what a model
that learned no interest at all would reach).

Usage::

    python benchmarks/ctr_planted.py                                  # default config
    python benchmarks/ctr_planted.py --config embedding_dim=8 --lr 1.25e-3
    python benchmarks/ctr_planted.py --arms din_hard din_mgipf --config w_coarse=3.0
    python benchmarks/ctr_planted.py --synth P_VIEW_INTEREST=0.0       # random histories
    python benchmarks/ctr_planted.py --epochs 3 --per-epoch            # test AUC by epoch
    python benchmarks/ctr_planted.py --synth P_GROUP_INTEREST=1.0 --lr 1e-2 --config l2=1e-3
                                                         # interests shared by user groups
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

import hmgray.families.ctr.data.synth as synth  # noqa: E402
from benchmarks.fixed_config import (  # noqa: E402
    add_flags,
    apply_flags,
    arm_config,
    fit,
    synthetic_data,
)
from hmgray.families.ctr.config import ARMS  # noqa: E402
from hmgray.families.ctr.metrics import group_auc  # noqa: E402
from hmgray.families.ctr.task import CtrTask  # noqa: E402
from hmgray.training import loop  # noqa: E402


def _train_batches(data: dict, batch_size: int, gen: torch.Generator, buffer: int):
    """The training rows in file order, shuffled within windows of ``buffer`` rows (an
    approximation of Ray Data's local shuffle buffer); fully shuffled when ``buffer`` <= 0."""
    if buffer <= 0:
        yield from loop.in_memory_batches(data, batch_size, gen)
        return
    n = len(data["label"])
    order = torch.cat(
        [w[torch.randperm(len(w), generator=gen)] for w in torch.arange(n).split(buffer)]
    )
    for i in range(0, n, batch_size):
        rows = order[i : i + batch_size]
        yield {k: v[rows] for k, v in data.items()}


def _aucs(model, data: dict, task, cfg) -> tuple[float, float, float]:
    """(AUC, long-tail AUC, group AUC) by the task's own evaluator."""
    m = loop.evaluate(
        model, loop.in_memory_batches(data, 1024), task=task, config=cfg, device="cpu"
    )
    return m["auc"], m["auc_tail"], m["gauc"]


def _ceilings(test) -> None:
    y = test["label"].to_numpy()
    tail = test["tail"].to_numpy(zero_copy_only=False).astype(bool)
    b = test["gt_brand_interest"].to_numpy(zero_copy_only=False).astype(float)
    c = test["gt_cate_interest"].to_numpy(zero_copy_only=False).astype(float)
    pid2 = (test["pid"].to_numpy() == 2).astype(float)
    yb, yc = test["y_brand"].to_numpy(), test["y_cate"].to_numpy()
    scores = {
        "gt_p (the click probability)": test["gt_p"].to_numpy(),
        "true interests and placement": synth.BETA_BRAND * b + synth.BETA_CATE * c
        + synth.PID_EFFECT[2] * pid2,
        "pseudo-labels and placement": 2.0 * yb + yc + synth.PID_EFFECT[2] * pid2,
        "placement alone": synth.PID_EFFECT[2] * pid2,
    }  # fmt: skip
    user = test["user"].to_numpy()
    for name, s in scores.items():
        print(f"  test AUC of {name:30s} {roc_auc_score(y, s):.4f}"
              f"  tail {roc_auc_score(y[tail], s[tail]):.4f}"
              f"  gAUC {group_auc(user, y, s):.4f}")  # fmt: skip
    clicks, tail_clicks = int(y.sum()), int(y[tail].sum())
    print(f"  test clicks {clicks} of {len(y)} rows ({y.mean():.1%}), on the tail {tail_clicks}")
    if (yb == 1).any():
        print(
            f"  share of y_brand = 1 test rows with a true brand interest: {b[yb == 1].mean():.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=75000, help="synthetic impressions")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["din_fine", "din_hard", "din_mgipf"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--buffer", type=int, default=1024, help="shuffle window (0: full)")
    add_flags(ap, "CtrConfig")
    args = ap.parse_args(argv)
    overrides = apply_flags(args, ARMS, synth)

    task = CtrTask()
    splits, context, fixed, data = synthetic_data(task, synth, args.n, args.data_seed)
    print(f"{args.n} impressions: train {len(data['train']['label'])}, "
          f"test {len(data['test']['label'])}")  # fmt: skip
    _ceilings(splits["test"])
    batch_size, weight_decay = int(fixed["batch_size"]), float(fixed["weight_decay"])
    for arm in args.arms:
        runs, per_epoch, t0 = [], {}, time.perf_counter()
        for seed in args.seeds:
            cfg = arm_config(task, arm, overrides, max_history=fixed["max_history"])
            model, scores = fit(
                task, cfg, context,
                lambda model, gen: _train_batches(data["train"], batch_size, gen, args.buffer),
                train_rows=len(data["train"]["label"]), batch_size=batch_size,
                epochs=args.epochs, lr=args.lr, weight_decay=weight_decay, seed=seed,
                score=partial(_aucs, data=data["test"], task=task, cfg=cfg)
                if args.per_epoch else None,
            )  # fmt: skip
            for epoch, figures in enumerate(scores):
                per_epoch.setdefault(epoch, []).append(figures)
            runs.append(
                _aucs(model, data["test"], task, cfg) + _aucs(model, data["val"], task, cfg)
            )
        a = np.array(runs)
        for epoch, rows in per_epoch.items():
            e = np.array(rows)
            print(f"{arm:14s} after epoch {epoch + 1}: test AUC {e[:, 0].mean():.4f}"
                  f"  tail {e[:, 1].mean():.4f}  gAUC {e[:, 2].mean():.4f}")  # fmt: skip
        print(f"{arm:14s} test AUC {a[:, 0].mean():.4f} +- {a[:, 0].std(ddof=1) if len(a) > 1 else 0:.4f}"
              f"  tail {a[:, 1].mean():.4f}  gAUC {a[:, 2].mean():.4f}   val AUC {a[:, 3].mean():.4f}"
              f"   {(time.perf_counter() - t0) / len(a):.0f} s/run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
