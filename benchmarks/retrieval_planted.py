"""Do the retrieval arms (CLIP -> MERU -> GAHR) differ at one fixed configuration, on the
synthetic data?

Plain torch, no Ray: ``benchmarks.fixed_config.fit``, the Ray Train worker's loop and
optimiser (AdamW, one-cycle schedule with 15% warm-up, gradient clip 1, the task's batch
of 64), on in-memory tensors, one thread, the training pairs shuffled each epoch. Every
arm trains with the same configuration for each seed (learning rate and weight decay
MERU's, 5e-4 and 0.2, as the search's first trial), so a difference between arms is the
model's, not the search's. Prints per arm text-to-image R@1, R@5, mAP and mINP on test
(mean +- sd over seeds), validation R@1 (what the search selects on) and the curvature
each run ended with; with ``--per-epoch`` also test R@1 after each earlier epoch.
``--config`` sets ``RetrievalConfig`` fields for every arm (a field an arm does not use,
such as ``lam`` before ``sms``, changes nothing there), ``--synth`` the generator's
constants.

Usage::

    python benchmarks/retrieval_planted.py                              # the authors' weights
    python benchmarks/retrieval_planted.py --arms bai sms --config lam=0.05
    python benchmarks/retrieval_planted.py --epochs 10 --per-epoch
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import hmgray.families.retrieval.data.synth as synth  # noqa: E402
from benchmarks.fixed_config import (  # noqa: E402
    add_flags,
    apply_flags,
    arm_config,
    fit,
    synthetic_data,
)
from hmgray.families.retrieval.config import ARMS  # noqa: E402
from hmgray.families.retrieval.task import RetrievalTask  # noqa: E402
from hmgray.training import loop  # noqa: E402

_TEST = ("r1", "r5", "map", "minp")


def _figures(model, data: dict, task, cfg) -> dict[str, float]:
    return loop.evaluate(
        model, loop.in_memory_batches(data, 256), task=task, config=cfg, device="cpu"
    )


def _mean_sd(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():5.1f} +- {a.std(ddof=1) if len(a) > 1 else 0.0:4.1f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3200, help="synthetic (image, caption) pairs")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=list(ARMS))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.2)
    add_flags(ap, "RetrievalConfig")
    args = ap.parse_args(argv)
    overrides = apply_flags(args, ARMS, synth)

    task = RetrievalTask()
    splits, context, fixed, data = synthetic_data(task, synth, args.n, args.data_seed)
    print(f"{args.n} pairs: train {len(data['train']['identity'])}, "
          f"val {len(data['val']['identity'])}, test {len(data['test']['identity'])} "
          f"({context['num_identities']} identities in {context['groups']} groups)")  # fmt: skip
    batch_size = int(fixed["batch_size"])
    text = {k: fixed[k] for k in ("vocab_size", "max_words")}

    def batches(model, gen):
        return loop.in_memory_batches(data["train"], batch_size, gen)

    for arm in args.arms:
        runs, per_epoch, t0 = [], {}, time.perf_counter()
        for seed in args.seeds:
            cfg = arm_config(task, arm, overrides, **text)
            model, scores = fit(
                task, cfg, context, batches,
                train_rows=len(data["train"]["identity"]), batch_size=batch_size,
                epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, seed=seed,
                score=partial(_figures, data=data["test"], task=task, cfg=cfg)
                if args.per_epoch else None,
            )  # fmt: skip
            for epoch, figures in enumerate(scores):
                per_epoch.setdefault(epoch, []).append(figures["r1"])
            test, val = (
                _figures(model, data["test"], task, cfg),
                _figures(model, data["val"], task, cfg),
            )
            runs.append({**{k: test[k] for k in _TEST}, "val_r1": val["r1"], "c": test["c"]})
        for epoch, r1 in per_epoch.items():
            print(f"{arm:6s} after epoch {epoch + 1}: test R@1 {_mean_sd(r1)}")
        col = {k: [r[k] for r in runs] for k in runs[0]}
        curv = "" if np.isnan(col["c"]).all() else f"   c {np.mean(col['c']):.2f}"
        print(f"{arm:6s} test R@1 {_mean_sd(col['r1'])}  R@5 {_mean_sd(col['r5'])}"
              f"  mAP {_mean_sd(col['map'])}  mINP {_mean_sd(col['minp'])}"
              f"   val R@1 {np.mean(col['val_r1']):5.1f}{curv}"
              f"   {(time.perf_counter() - t0) / len(runs):.0f} s/run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
