"""The anchor-effectiveness experiment's parts: few-shot and long-tail training sets as
confirmation conditions (``experiments/anchor_effectiveness.py`` declares the rest).

Training sets (the validation and test splits are always the full ones):

* ``full``: the whole training split (stage ``confirm``);
* few-shot ``k=<k>`` for k in ``--k`` (stage ``fewshot``): k listings of every item model;
* ``long-tail`` (stage ``longtail``): as many listings as the ``k = --longtail-k`` few-shot
  set (item models x k), with item-model frequencies following a Zipf-like law,
  n_r proportional to r^(-s), ``s = --zipf-s``, every item model at least one listing.
  The rare half of the item models is the ``tail``, the other half the ``head``
  (``hmgray.families.valuation.data.subsets``).

Subsets are drawn per confirmation seed (subset seed = (``--subset-seed``, run seed)), so
the spread over seeds includes the choice of the subset, and both arms of one seed see
the same subset (the paired tests pair them). Every run records test metrics over the
head and the tail item models of its seed's long-tail set (``test_head_*``,
``test_tail_*``); on the uniform sets they are the control for the long-tail set.

Equal optimisation budget: a subset is repeated round(N_train / N_subset) times (each copy
in its own seeded order) to form an epoch, so every run takes about as many optimiser
steps as a full-data run, on the same one-cycle schedule the search tuned.
"""

from __future__ import annotations

import argparse
import json
import math

from hmgray.cli import positive_int

HEAD_TAIL = ("test_head_mse", "test_head_mape", "test_tail_mse", "test_tail_mape")


def k_list(text: str) -> tuple[int, ...]:
    """``"5,20,80"`` -> (5, 20, 80): distinct positive integers, sorted."""
    try:
        ks = [int(p) for p in text.split(",") if p.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--k takes positive integers like 5,20,80; got {text!r}"
        ) from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k takes positive integers like 5,20,80; got {text!r}")
    if len(set(ks)) != len(ks):
        raise argparse.ArgumentTypeError(f"--k has duplicates: {text!r}")
    return tuple(sorted(ks))


def zipf_s(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--zipf-s must be a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"--zipf-s must be a finite number > 0, got {text!r}")
    return v


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=k_list, help="few-shot sizes: listings per item model (5,20,80)")
    p.add_argument(
        "--longtail-k",
        type=positive_int("--longtail-k"),
        help="the long-tail set has as many listings as this few-shot set (one of --k)",
    )
    p.add_argument("--zipf-s", type=zipf_s, default=1.5, help="long-tail exponent s (1.5)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the subset draws")
    p.add_argument(
        "--evals-per-epoch",
        type=positive_int("--evals-per-epoch"),
        default=2,
        help="validation-curve points per full-data epoch in the confirmation runs (2)",
    )


def check_args(args: argparse.Namespace, p: argparse.ArgumentParser) -> None:
    if isinstance(args.k, str):
        args.k = k_list(args.k)
    if args.longtail_k not in args.k:
        p.error(
            f"--longtail-k {args.longtail_k} must be one of --k {','.join(map(str, args.k))}: "
            "that few-shot set is the long-tail set's uniform control of the same size"
        )


def prepare(ctx) -> dict:
    """Per seed: the few-shot row indices per k and the long-tail subset, and every
    training set's (split name -> (distinct listings, repeats)); before Ray starts."""
    from hmgray.families.valuation.data.subsets import few_shot, long_tail, split_table

    args = ctx.args
    ids = split_table(ctx.manifest, "train", ["item_model_id"]).column("item_model_id").to_numpy()
    n_items = len(set(ids.tolist()))
    subsets, sizes = {}, {}
    for seed in args.seeds:
        draw = (args.subset_seed, seed)
        subsets[seed] = {
            "fewshot": {k: few_shot(ids, k, draw) for k in args.k},
            "longtail": long_tail(ids, n_items * args.longtail_k, args.zipf_s, draw),
        }
        for split, rows in _named(subsets[seed], seed).items():
            sizes[split] = (int(rows.size), max(1, round(ids.size / rows.size)))
    return {"subsets": subsets, "sizes": sizes}


def _named(sets: dict, seed: int) -> dict:
    named = {f"train-k{k}-s{seed}": rows for k, rows in sets["fewshot"].items()}
    named[f"train-longtail-s{seed}"] = sets["longtail"].indices
    return named


def datasets(ctx, decode) -> dict:
    """Decoded, materialised Ray datasets of every subset, keyed by ``train_split``."""
    import numpy as np
    import pyarrow as pa
    import ray

    from hmgray.families.valuation.data.subsets import split_table

    table = split_table(ctx.manifest, "train")
    out = {}
    for seed, sets in ctx.prepared["subsets"].items():
        for split, rows in _named(sets, seed).items():
            repeats = ctx.prepared["sizes"][split][1]
            rng = np.random.default_rng([ctx.args.subset_seed, seed, rows.size])
            # each copy in its own seeded order: batches mix listings across the copies
            copies = [
                table.take(pa.array(rows[rng.permutation(rows.size)])) for _ in range(repeats)
            ]
            out[split] = decode(ray.data.from_arrow(pa.concat_tables(copies))).materialize()
    return out


def conditions(ctx) -> list:
    """The confirmation stage's training sets (see the module docstring)."""
    from hmgray.search.ablation import Condition

    args, subsets, sizes = ctx.args, ctx.prepared["subsets"], ctx.prepared["sizes"]
    seeds = list(args.seeds)
    steps_per_epoch = math.ceil(ctx.manifest.rows("train") / ctx.settings["batch_size"])
    every = max(1, round(steps_per_epoch / args.evals_per_epoch))
    groups = {
        s: {"head": list(subsets[s]["longtail"].head), "tail": list(subsets[s]["longtail"].tail)}
        for s in seeds
    }
    common = {"eval_every_steps": every, "subset_seed": args.subset_seed}
    labels = ("train_set", "subset_seed", "fewshot_k", "zipf_s", "train_listings", "train_repeats")

    def condition(stage: str, config: dict, prefix: str | None) -> Condition:
        per_seed = {}
        for s in seeds:
            per_seed[s] = {"eval_groups": groups[s]}
            if prefix:
                split = f"{prefix}-s{s}"
                per_seed[s].update(
                    train_split=split, train_listings=sizes[split][0], train_repeats=sizes[split][1]
                )
        return Condition(stage, {**common, **config}, per_seed, labels)

    return [
        condition("confirm", {"train_set": "full"}, None),
        *(
            condition("fewshot", {"train_set": f"k={k}", "fewshot_k": k}, f"train-k{k}")
            for k in args.k
        ),
        condition("longtail", {"train_set": "long-tail", "zipf_s": args.zipf_s}, "train-longtail"),
    ]


def metadata(ctx) -> dict:
    """The tables (full-data ladder, few-shot, long-tail) and the curves of the report."""
    args, subsets = ctx.args, ctx.prepared["subsets"]
    k_ref, s_ = args.longtail_k, f"{args.zipf_s:g}"
    return {
        "metrics": {
            "test_mse": {"label": "MSE", "direction": "min"},
            "test_mape": {"label": "MAPE (%)", "direction": "min"},
            "test_tail_mape": {"label": "MAPE rare (%)", "direction": "min"},
            "test_head_mape": {"label": "MAPE frequent (%)", "direction": "min"},
        },
        "comparisons": [
            {
                "name": "fewshot",
                "param": "fewshot_k",
                "stages": ["fewshot"],
                "metrics": ["test_mse", "test_mape"],
                "row_header": "k (listings per item model)",
                "title": "few-shot training sets, k listings of every item model",
            },
            {
                "name": "longtail",
                "param": "train_set",
                "stages": ["fewshot", "longtail"],
                "values": [f"k={k_ref}", "long-tail"],
                "labels": {
                    json.dumps(f"k={k_ref}"): f"uniform (k={k_ref})",
                    json.dumps("long-tail"): f"long-tail (s={s_})",
                },
                "metrics": ["test_tail_mape", "test_head_mape", "test_mape"],
                "row_header": "training set",
                "title": (
                    f"long-tail item models: training sets of the same size, uniform vs "
                    f"Zipf-like (n_r ~ r^-{s_}); rare = the rarest half of the "
                    "item models in the long-tail set"
                ),
            },
        ],
        "curves": {
            "stages": ["confirm", "fewshot", "longtail"],
            "panel": "train_set",
            "panels": ["full", *(f"k={k}" for k in args.k), "long-tail"],
            "labels": {
                json.dumps("full"): "full training set",
                **{json.dumps(f"k={k}"): f"few-shot, k={k}" for k in args.k},
                json.dumps("long-tail"): f"long-tail (s={s_})",
            },
            "metric": "val_loss",
            "band": "ci",
        },
        "subsets": {
            "k": list(args.k),
            "longtail_k": k_ref,
            "zipf_s": args.zipf_s,
            "subset_seed": args.subset_seed,
            "longtail": {
                str(s): {
                    "counts": {str(i): n for i, n in sorted(sub["longtail"].counts.items())},
                    "head": list(sub["longtail"].head),
                    "tail": list(sub["longtail"].tail),
                }
                for s, sub in subsets.items()
            },
        },
    }
