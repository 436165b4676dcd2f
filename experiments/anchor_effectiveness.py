"""Anchor effectiveness: direct price regression vs P = MSRP * (1 - delta), on Ray.

    python experiments/anchor_effectiveness.py                 # local embedded Ray
    python experiments/anchor_effectiveness.py --smoke-test    # about two minutes
    ray job submit -- python experiments/anchor_effectiveness.py --storage s3://bucket/runs

The two arms are the same HMG-Net (model arm ``full``: every granularity level and the
market graph) with different heads (``hmgray.families.valuation.model``)::

    direct:  price = price_scale * softplus(f_entity([E_entity, MSRP / price_scale]) + ...)
    anchor:  delta = sigmoid(f_entity(E_entity) + ...),  price = MSRP * (1 - delta)

The direct head also receives MSRP as an input feature, so the comparison isolates the
multiplicative anchor, not access to MSRP. The reference arm is ``anchor``.

Budget (the same for both arms):

1. Search, per arm, on the full training split: ``--num-samples`` trials of Optuna TPE
   (seeded) + ASHA over the same space (that of model arm ``full``), selection on
   validation only (``hmgray.search.ablation``).
2. Confirmation, one Tune grid: each arm's best configuration is re-trained on every
   training set below over the shared ``--seeds``, evaluated once on test. The search is
   not repeated per training set: both arms are tuned once with the same budget, then
   both are transferred unchanged, which is fair and fits the time budget.

Training sets (the validation and test splits are always the full ones):

* ``full``: the whole training split (stage ``confirm``);
* few-shot ``k=<k>`` for k in ``--k`` (stage ``fewshot``): k listings of every item model;
* ``long-tail`` (stage ``longtail``): as many listings as the ``k = --longtail-k`` few-shot
  set (12 item models x k), with item-model frequencies following a Zipf-like law,
  n_r proportional to r^(-s), ``s = --zipf-s``, every item model at least one listing.
  Which item models are frequent is a seeded permutation; the rare half of the item
  models is the ``tail``, the other half the ``head`` (``hmgray.families.valuation.data.subsets``).

Subsets are drawn per confirmation seed (subset seed = (``--subset-seed``, run seed)), so
the spread over seeds includes the choice of the subset, and both arms of one seed see
the same subset (the paired tests pair them). Every run records test metrics over the
head and the tail item models of its seed's long-tail set (``test_head_*``,
``test_tail_*``); on the uniform sets they are the control for the long-tail set.

Equal optimisation budget: a subset is repeated round(N_train / N_subset) times (each
copy in its own seeded order) to form an epoch, so every run takes about as many
optimiser steps as a full-data run, on the same one-cycle schedule the search tuned.

Convergence: every confirmation run evaluates the validation loss (the training loss,
((pred - price) / MSRP)^2) every ``N`` optimiser steps (``--evals-per-epoch`` points per
full-data epoch, and before the first step); ``curves.png`` plots its mean over seeds with
a 95% Student-t confidence band per arm and training set (``analysis.curves``).

Output: every run in ``<storage>/<name>/results.parquet`` (with its curve and head/tail
metrics), and under ``report/``: the full-data table (``ladder``), ``fewshot`` (rows k,
arms side by side, Δ and paired t-tests with Holm) and ``longtail`` (rows: the uniform
set of the same size vs the long-tail set) as LaTeX, Markdown, CSV and plots, and
``curves.{png,pdf,csv}``. The Markdown tables are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time

from hmgray.cli import (
    add_run_flags,
    experiment_root,
    fixed_model_settings,
    positive_int,
    prepare_data,
    run_slots,
    seeds,
    stage_overhead_summary,
)
from hmgray.errors import HmgrayError

ARMS = ("direct", "anchor")
ARM_OVERRIDES = {
    "direct": {"arm": "full", "head": "direct"},
    "anchor": {"arm": "full", "head": "depreciation"},
}
REFERENCE = "anchor"
HEAD_TAIL = ("test_head_mse", "test_head_mape", "test_tail_mse", "test_tail_mape")

# Default size: fits 15 min on 2 cores. What it costs on 2 cores: a run's Ray start-up
# is ~20 s whatever its size; training ~0.09 s per optimiser step and ~0.4 s per
# validation point, with two runs side by side. The plan: 2 search trials per arm (one
# round of 2 concurrent runs per arm) + 30 confirmation runs (2 arms x 3 seeds x 5
# training sets: 15 rounds). Measured: 6 epochs (396 steps) and 3 trials per arm took
# 20.5 min; with 3 epochs (198 steps) a round takes ~41 s. Both arms' searches draw the
# same candidate configurations (same space, same seeded sampler), so with a small
# budget each arm still picks, on validation, from the same candidates.
DEFAULT = dict(
    n_listings=3000,
    epochs=3,
    num_samples=2,
    seeds="0,1,2",
    grace_period=1,
    k="5,20,80",
    longtail_k=20,
)
# --smoke-test: the whole pipeline end to end, tiny.
SMOKE = dict(
    n_listings=300, epochs=2, num_samples=1, seeds="1", grace_period=1, k="3", longtail_k=3
)


def _k_list(text: str) -> tuple[int, ...]:
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


def _zipf_s(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--zipf-s must be a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"--zipf-s must be a finite number > 0, got {text!r}")
    return v


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--smoke-test", action="store_true", help="tiny end-to-end run (about two minutes)"
    )
    p.add_argument(
        "--num-samples", type=positive_int("--num-samples"), help="search trials per arm"
    )
    p.add_argument("--seeds", type=seeds, help="confirmation seeds: 0,1,2 or a count K")
    p.add_argument("--epochs", type=positive_int("--epochs"), help="epochs per run (ASHA's max_t)")
    p.add_argument("--n-listings", type=positive_int("--n-listings"), help="synthetic listings")
    p.add_argument("--k", type=_k_list, help="few-shot sizes: listings per item model (5,20,80)")
    p.add_argument(
        "--longtail-k",
        type=positive_int("--longtail-k"),
        help="the long-tail set has as many listings as this few-shot set (one of --k)",
    )
    p.add_argument(
        "--zipf-s", type=_zipf_s, default=1.5, help="long-tail exponent s: n_r ~ r^-s (1.5)"
    )
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the subset draws")
    p.add_argument(
        "--evals-per-epoch",
        type=positive_int("--evals-per-epoch"),
        default=2,
        help="validation-curve points per full-data epoch in the confirmation runs (2)",
    )
    add_run_flags(p, "anchor")
    args = p.parse_args(argv)
    size = SMOKE if args.smoke_test else DEFAULT
    for key, value in size.items():
        if getattr(args, key, None) is None:
            parse = {"seeds": seeds, "k": _k_list}.get(key)
            setattr(args, key, parse(value) if parse else value)
    if not args.seeds:
        p.error("--seeds: at least one confirmation seed is needed")
    if args.longtail_k not in args.k:
        p.error(
            f"--longtail-k {args.longtail_k} must be one of --k {','.join(map(str, args.k))}: "
            "that few-shot set is the long-tail set's uniform control of the same size"
        )
    if args.resume and not args.name:
        p.error("--resume needs --name of the experiment to resume")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    try:
        return _run(args, t_start)
    except HmgrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _subsets(manifest, args) -> dict:
    """Per seed: the few-shot row indices per k and the long-tail subset (before Ray)."""
    from hmgray.families.valuation.data.subsets import few_shot, long_tail, split_table

    ids = split_table(manifest, "train", ["item_model_id"]).column("item_model_id").to_numpy()
    n_items = len(set(ids.tolist()))
    out = {}
    for seed in args.seeds:
        draw = (args.subset_seed, seed)
        out[seed] = {
            "fewshot": {k: few_shot(ids, k, draw) for k in args.k},
            "longtail": long_tail(ids, n_items * args.longtail_k, args.zipf_s, draw),
        }
    return out


def _run(args, t_start: float) -> int:
    # Heavy imports after argument parsing: --help and flag errors stay instant.
    import ray

    from hmgray import storage
    from hmgray.ray_runtime import init_ray

    name, root = experiment_root(args, "anchor")
    results_uri = storage.join(root, "results.parquet")

    print(f"hmgray anchor effectiveness '{name}'; storage {root}")

    # -- data and subsets, before Ray starts: bad data fails in seconds, with no cluster
    manifest, generated = prepare_data(args, root)
    try:
        subsets = _subsets(manifest, args)
    except HmgrayError as exc:
        if generated is None:
            raise HmgrayError(f"{manifest.manifest_uri}: {exc}") from exc
        storage.remove(generated)  # leave nothing behind: the experiment never started
        if "://" not in root and os.path.isdir(root) and not os.listdir(root):
            os.rmdir(root)
        raise HmgrayError(
            f"{args.n_listings} synthetic listings: {exc} (more --n-listings?)"
        ) from exc
    if args.resume and storage.exists(results_uri):
        storage.remove(results_uri)  # rebuilt from Tune's own records below

    resources = init_ray()
    try:
        return _run_on_ray(args, t_start, name, root, manifest, subsets, resources)
    finally:
        # Always: a failed run must not leave a local Ray behind (on a cluster this
        # only disconnects the driver).
        ray.shutdown()


def _training_sets(manifest, subsets, args, opts) -> tuple[dict, dict]:
    """Decoded, materialised Ray datasets of every subset (keyed by train_split), and
    the number of distinct listings and repeats of each."""
    import numpy as np
    import pyarrow as pa
    import ray

    from hmgray.families.valuation.data.decode import decode_batch
    from hmgray.families.valuation.data.subsets import split_table

    table = split_table(manifest, "train")
    n_train = table.num_rows
    datasets, sizes = {}, {}
    for seed, sets in subsets.items():
        named = {f"train-k{k}-s{seed}": rows for k, rows in sets["fewshot"].items()}
        named[f"train-longtail-s{seed}"] = sets["longtail"].indices
        for split, rows in named.items():
            repeats = max(1, round(n_train / rows.size))
            rng = np.random.default_rng([args.subset_seed, seed, rows.size])
            # each copy in its own seeded order: batches mix listings across the copies
            copies = [
                table.take(pa.array(rows[rng.permutation(rows.size)])) for _ in range(repeats)
            ]
            ds = ray.data.from_arrow(pa.concat_tables(copies)).map_batches(
                decode_batch,
                batch_format="pyarrow",
                batch_size=256,
                fn_kwargs={
                    "image_size": tuple(manifest.image_size),
                    "max_words": opts.max_words,
                    "max_regions": opts.max_regions,
                    "vocab_size": opts.vocab_size,
                },
            )
            datasets[split] = ds.materialize()
            sizes[split] = (int(rows.size), repeats)
    return datasets, sizes


def _run_on_ray(
    args, t_start: float, name: str, root: str, manifest, subsets, resources: dict
) -> int:
    import analysis
    from hmgray import storage
    from hmgray.data.ray_dataset import DecodeOptions, decoded_splits
    from hmgray.ray_runtime import cluster_address
    from hmgray.results import git_commit, write_results
    from hmgray.search.ablation import AblationPlan, Condition, run_confirmation, run_search

    results_uri = storage.join(root, "results.parquet")
    plan_uri = storage.join(root, "experiment.json")
    where = f"cluster at {cluster_address()}" if cluster_address() else "local Ray"
    print(f"on {where}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
    opts = DecodeOptions()
    t0 = time.time()
    datasets = decoded_splits(manifest, ("train", "val", "test"), opts)
    extra, sizes = _training_sets(manifest, subsets, args, opts)
    datasets.update(extra)
    print(
        f"decoded and materialised {len(datasets)} datasets in Ray Data in {time.time() - t0:.1f}s"
    )

    # -- plan -------------------------------------------------------------------------
    concurrent, run_resources = run_slots(args, resources)
    batch_size = 32  # as the granularity ablation
    fixed = fixed_model_settings(manifest, opts, batch_size)
    plan = AblationPlan(
        experiment=name,
        dataset=manifest.dataset,
        arms=ARMS,
        num_samples=args.num_samples,
        seeds=args.seeds,
        epochs=args.epochs,
        grace_period=min(args.grace_period, args.epochs),
        reduction_factor=2,
        search_seed=args.search_seed,
        max_concurrent=concurrent,
        resources=run_resources,
        fixed=fixed,
        arm_overrides=ARM_OVERRIDES,
        extra_metrics=HEAD_TAIL,
    )
    steps_per_epoch = math.ceil(manifest.rows("train") / batch_size)
    every = max(1, round(steps_per_epoch / args.evals_per_epoch))
    conditions, subset_doc = _conditions(args, subsets, sizes, every, Condition)
    command = "python experiments/anchor_effectiveness.py " + shlex.join(sys.argv[1:])
    if not args.resume:
        storage.makedirs(root)
        storage.atomic_write_bytes(
            plan_uri,
            json.dumps(
                {
                    "plan": {**plan.__dict__, "resources": plan.resources.__dict__},
                    "conditions": [c.__dict__ for c in conditions],
                    "subsets": subset_doc,
                    "command": command,
                    "data_manifest": manifest.manifest_uri,
                },
                indent=2,
                sort_keys=True,
                default=str,
            ).encode(),
        )
    metadata = _metadata(name, plan, args, command, subset_doc)
    provenance = {"git_commit": git_commit(), "data_manifest_hash": manifest.hash}

    # -- search (full training set), then every training set in one grid ---------------
    best = {}
    for arm in plan.arms:
        best[arm], rows = run_search(
            plan, arm, datasets, manifest.market, root, provenance, resume=args.resume
        )
        write_results(results_uri, rows, metadata, HEAD_TAIL)
    rows = run_confirmation(
        plan,
        best,
        datasets,
        manifest.market,
        root,
        provenance,
        conditions=conditions,
        resume=args.resume,
    )
    table = write_results(results_uri, rows, metadata, HEAD_TAIL)

    # -- tables and plots -------------------------------------------------------------
    report = analysis.build_report(results_uri)
    for table_name in ("ladder", "fewshot", "longtail"):
        if table_name in report.markdown:
            print()
            print(report.markdown[table_name])
    print()
    stage_overhead_summary(
        table.to_pylist(), ("search", "confirm", "fewshot", "longtail"), time.time() - t_start
    )
    print(f"results: {results_uri}")
    for path in report.files:
        print(f"wrote {path}")
    failed = [r for r in table.to_pylist() if r["status"] != "ok"]
    if failed:
        print(
            f"error: {len(failed)} run(s) failed; see the 'error' column of {results_uri}",
            file=sys.stderr,
        )
        return 1
    return 0


def _conditions(args, subsets, sizes, every: int, Condition) -> tuple[list, dict]:
    """The confirmation stage's training sets (see the module docstring) and their record."""
    seeds = list(args.seeds)
    groups = {
        s: {"head": list(subsets[s]["longtail"].head), "tail": list(subsets[s]["longtail"].tail)}
        for s in seeds
    }
    common = {"eval_every_steps": every, "subset_seed": args.subset_seed}
    conditions = [
        Condition(
            "confirm",
            {**common, "train_set": "full"},
            {s: {"eval_groups": groups[s]} for s in seeds},
        )
    ]

    def condition(kind: str, labels: dict, prefix: str) -> Condition:
        """One training set per seed (``<prefix>-s<seed>``), the same test groups."""
        per_seed = {}
        for s in seeds:
            split = f"{prefix}-s{s}"
            per_seed[s] = {
                "train_split": split,
                "train_listings": sizes[split][0],
                "train_repeats": sizes[split][1],
                "eval_groups": groups[s],
            }
        return Condition(kind, {**common, **labels}, per_seed)

    for k in args.k:
        conditions.append(
            condition("fewshot", {"train_set": f"k={k}", "fewshot_k": k}, f"train-k{k}")
        )
    conditions.append(
        condition("longtail", {"train_set": "long-tail", "zipf_s": args.zipf_s}, "train-longtail")
    )
    doc = {
        "k": list(args.k),
        "longtail_k": args.longtail_k,
        "zipf_s": args.zipf_s,
        "subset_seed": args.subset_seed,
        "eval_every_steps": every,
        "longtail": {
            str(s): {
                "counts": {str(i): n for i, n in sorted(subsets[s]["longtail"].counts.items())},
                "head": groups[s]["head"],
                "tail": groups[s]["tail"],
            }
            for s in seeds
        },
    }
    return conditions, doc


def _metadata(name: str, plan, args, command: str, subset_doc: dict) -> dict:
    k_ref = args.longtail_k
    return {
        "experiment": name,
        "reference_arm": REFERENCE,
        "arm_order": list(plan.arms),
        "metrics": {
            "test_mse": {"label": "MSE", "direction": "min"},
            "test_mape": {"label": "MAPE (%)", "direction": "min"},
            "test_tail_mape": {"label": "MAPE rare (%)", "direction": "min"},
            "test_head_mape": {"label": "MAPE frequent (%)", "direction": "min"},
        },
        "command": command,  # contracts §5: the command that ran the experiment
        "seeds": list(plan.seeds),
        "search_space": {arm: plan.space(arm) for arm in plan.arms},
        "search_metric": plan.metric,
        "search_mode": plan.mode,
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
                    json.dumps("long-tail"): f"long-tail (s={args.zipf_s:g})",
                },
                "metrics": ["test_tail_mape", "test_head_mape", "test_mape"],
                "row_header": "training set",
                "title": (
                    f"long-tail item models: training sets of the same size, uniform vs "
                    f"Zipf-like (n_r ~ r^-{args.zipf_s:g}); rare = the rarest half of the "
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
                json.dumps("long-tail"): f"long-tail (s={args.zipf_s:g})",
            },
            "metric": "val_loss",
            "band": "ci",
        },
        "subsets": subset_doc,
    }


if __name__ == "__main__":
    sys.exit(main())
