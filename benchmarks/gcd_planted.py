"""Do the HypGCD arms differ at one fixed configuration, on the synthetic data?

Plain torch, no Ray: the same ``hmgray.training.loop`` and optimiser the Ray Train worker
runs (AdamW, one-cycle schedule with 15% warm-up, gradient clip 1, the task's batch of
128), on in-memory tensors, one thread, the training images fully shuffled each epoch.
Every arm trains with the same configuration for each seed, so a difference between arms
is the model's, not the search's. Prints per arm the clustering accuracy of the
unlabelled training images (All / Old / New, one Hungarian matching, mean +- sd over
seeds) and the validation ``Known`` accuracy the search selects on; with ``--per-epoch``
also the test figures after each earlier epoch. ``--config`` sets ``GcdConfig`` fields
for every arm (a field an arm does not use, such as ``delta`` for ``hcl``, changes
nothing there), ``--synth`` the generator's constants.

Usage::

    python benchmarks/gcd_planted.py                                   # released defaults
    python benchmarks/gcd_planted.py --epochs 10 --per-epoch
    python benchmarks/gcd_planted.py --arms hcl lhl --config delta=0.01 beta=1.0
    python benchmarks/gcd_planted.py --synth NOISE=20.0                # easier images
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

import hmgray.families.gcd.data.synth as synth  # noqa: E402
from benchmarks.fixed_config import (  # noqa: E402
    add_flags,
    apply_flags,
    arm_config,
    fit,
    synthetic_data,
)
from hmgray.families.gcd.config import ARMS  # noqa: E402
from hmgray.families.gcd.task import GcdTask  # noqa: E402
from hmgray.training import loop  # noqa: E402

_FIGURES = ("all", "old", "new", "known")


def _nn_batches(model, data: dict, batch_size: int, per_image: int, gen: torch.Generator):
    """The released code's ``NNBatchSampler``, rebuilt every epoch: each image's
    ``per_image`` nearest neighbours (itself included) by the model's normalised
    projection of the clean image; a batch is ``batch_size // per_image`` random
    images with their neighbours; ``len // batch_size`` batches."""
    model.eval()
    with torch.no_grad():
        proj = torch.cat([model(b)["proj"] for b in loop.in_memory_batches(data, 512)])
    model.train()
    x = torch.nn.functional.normalize(proj, dim=-1)
    near = torch.cdist(x, x).topk(per_image, largest=False).indices  # (N, per_image)
    n = len(x)
    for _ in range(n // batch_size):
        rows = near[torch.randperm(n, generator=gen)[: batch_size // per_image]].reshape(-1)
        yield {k: v[rows] for k, v in data.items()}


def _figures(model, data: dict, task, cfg) -> list[float]:
    m = loop.evaluate(model, loop.in_memory_batches(data, 512), task=task, config=cfg, device="cpu")
    return [m[k] for k in _FIGURES]


def _line(a: np.ndarray) -> str:
    sd = a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
    return "  ".join(
        f"{k} {a[:, i].mean():5.1f} +- {sd[i]:4.1f}" for i, k in enumerate(_FIGURES[:3])
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1400, help="synthetic images")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument(
        "--nn-batches",
        type=int,
        default=0,
        metavar="K",
        help="batches of K nearest neighbours (the released NNBatchSampler, K 5)",
    )
    add_flags(ap, "GcdConfig")
    args = ap.parse_args(argv)
    overrides = apply_flags(args, ARMS, synth)

    task = GcdTask()
    splits, context, fixed, data = synthetic_data(task, synth, args.n, args.data_seed)
    print(f"{args.n} images: train {len(data['train']['label'])} "
          f"({int(data['train']['labelled'].sum())} labelled), val {len(data['val']['label'])}, "
          f"test (unlabelled training images) {len(data['test']['label'])}")  # fmt: skip
    batch_size = int(fixed["batch_size"])
    if not 0 <= args.nn_batches <= batch_size:
        raise SystemExit(f"--nn-batches: expected 0 (off) to the batch size {batch_size}")

    def batches(model, gen):
        if args.nn_batches:
            return _nn_batches(model, data["train"], batch_size, args.nn_batches, gen)
        return loop.in_memory_batches(data["train"], batch_size, gen)

    for arm in args.arms:
        runs, per_epoch, t0 = [], {}, time.perf_counter()
        for seed in args.seeds:
            cfg = arm_config(task, arm, overrides)
            model, scores = fit(
                task, cfg, context, batches,
                train_rows=len(data["train"]["label"]), batch_size=batch_size,
                epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, seed=seed,
                score=partial(_figures, data=data["test"], task=task, cfg=cfg)
                if args.per_epoch else None,
            )  # fmt: skip
            for epoch, figures in enumerate(scores):
                per_epoch.setdefault(epoch, []).append(figures)
            runs.append(_figures(model, data["test"], task, cfg)[:3]
                        + _figures(model, data["val"], task, cfg)[3:])  # fmt: skip
        for epoch, rows in per_epoch.items():
            print(f"{arm:10s} after epoch {epoch + 1}: {_line(np.array(rows))}")
        a = np.array(runs)
        print(f"{arm:10s} test {_line(a)}   val Known {a[:, 3].mean():5.1f}"
              f"   {(time.perf_counter() - t0) / len(a):.0f} s/run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
