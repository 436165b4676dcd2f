"""HMG-Net granularity ablation: global -> micro -> meso -> full, fairly tuned, on Ray.

    python experiments/granularity_ablation.py                 # local embedded Ray
    python experiments/granularity_ablation.py --smoke-test    # about a minute
    ray job submit -- python experiments/granularity_ablation.py --storage s3://bucket/runs

It joins the cluster named by RAY_ADDRESS (set by ``ray job submit``) or starts a local
Ray; generates the synthetic listings (unless --data names existing shards); tunes every
arm with the same budget (Optuna TPE + ASHA, selection on validation); re-runs each
arm's best configuration on the shared seeds, evaluated on test; appends every run to
``<storage>/<name>/results.parquet``; and writes the ablation table (LaTeX + Markdown)
and plots under ``<storage>/<name>/report/``.
"""

from __future__ import annotations

import argparse
import json
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

ARMS = ("global", "micro", "meso", "full")

# Default size: a real run that shows the planted ordering in <= 15 min on 2 cores.
# 3 search trials per arm, not 4: measured 16.1 min with 4 (with 4 DSCA heads and the line
# channels the micro arm needs its 8 epochs of 2800 listings to learn the defects).
# ASHA's first rung at epoch 4, not 2: the micro/meso arms learn the defects and the
# detached parts after epoch ~4, so at epoch 2 the validation MSE does not tell a good
# configuration from a bad one (a meso configuration that reached val MSE 5011 at epoch 8
# was stopped at epoch 2 in another run, at 8877, behind one that ended at 5758).
DEFAULT = dict(n_listings=4000, epochs=8, num_samples=3, seeds="0,1,2", grace_period=4)
# --smoke-test: the whole pipeline end to end, tiny.
SMOKE = dict(n_listings=300, epochs=2, num_samples=1, seeds="1", grace_period=1)


def _arms(text: str) -> tuple[str, ...]:
    arms = tuple(a.strip() for a in text.split(",") if a.strip())
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise argparse.ArgumentTypeError(
            f"--arms: unknown arm(s) {', '.join(bad) or '(none)'}; valid arms: {', '.join(ARMS)}"
        )
    return arms


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke-test", action="store_true", help="tiny end-to-end run (about a minute)")
    p.add_argument(
        "--num-samples", type=positive_int("--num-samples"), help="search trials per arm"
    )
    p.add_argument("--seeds", type=seeds, help="confirmation seeds: 0,1,2 or a count K")
    p.add_argument("--epochs", type=positive_int("--epochs"), help="epochs per run (ASHA's max_t)")
    p.add_argument("--n-listings", type=positive_int("--n-listings"), help="synthetic listings")
    p.add_argument(
        "--arms", type=_arms, default=ARMS, help="comma-separated subset of " + ",".join(ARMS)
    )
    add_run_flags(p, "granularity")
    args = p.parse_args(argv)
    size = SMOKE if args.smoke_test else DEFAULT
    for key, value in size.items():
        if getattr(args, key, None) is None:
            setattr(args, key, seeds(value) if key == "seeds" else value)
    if not args.seeds:
        p.error("--seeds: at least one confirmation seed is needed")
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


def _run(args, t_start: float) -> int:
    # Heavy imports after argument parsing: --help and flag errors stay instant.
    import ray

    from hmgray import storage
    from hmgray.ray_runtime import init_ray

    name, root = experiment_root(args, "granularity")
    results_uri = storage.join(root, "results.parquet")
    if args.resume and storage.exists(results_uri):
        storage.remove(results_uri)  # rebuilt from Tune's own records below

    print(f"hmgray granularity ablation '{name}'; storage {root}")

    # -- data, before Ray starts: a bad shard fails in seconds, with no cluster to wait for
    manifest, _ = prepare_data(args, root)

    resources = init_ray()
    try:
        return _run_on_ray(args, t_start, name, root, manifest, resources)
    finally:
        # Always: a failed run must not leave a local Ray behind (on a cluster this
        # only disconnects the driver).
        ray.shutdown()


def _run_on_ray(args, t_start: float, name: str, root: str, manifest, resources: dict) -> int:
    import analysis
    from hmgray import storage
    from hmgray.data.ray_dataset import DecodeOptions, decoded_splits
    from hmgray.ray_runtime import cluster_address
    from hmgray.results import git_commit, write_results
    from hmgray.search.ablation import AblationPlan, run_confirmation, run_search
    from hmgray.search.spaces import hmgnet_space

    results_uri = storage.join(root, "results.parquet")
    plan_uri = storage.join(root, "experiment.json")
    where = f"cluster at {cluster_address()}" if cluster_address() else "local Ray"
    print(f"on {where}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
    opts = DecodeOptions()
    t0 = time.time()
    datasets = decoded_splits(manifest, ("train", "val", "test"), opts)
    print(f"decoded and materialised in Ray Data in {time.time() - t0:.1f}s")

    # -- plan -------------------------------------------------------------------------
    concurrent, run_resources = run_slots(args, resources)
    fixed = fixed_model_settings(manifest, opts)
    plan = AblationPlan(
        experiment=name,
        dataset=manifest.dataset,
        arms=args.arms,
        num_samples=args.num_samples,
        seeds=args.seeds,
        epochs=args.epochs,
        grace_period=min(args.grace_period, args.epochs),
        reduction_factor=2,
        search_seed=args.search_seed,
        max_concurrent=concurrent,
        resources=run_resources,
        fixed=fixed,
    )
    command = "python experiments/granularity_ablation.py " + shlex.join(sys.argv[1:])
    if not args.resume:
        storage.makedirs(root)
        storage.atomic_write_bytes(
            plan_uri,
            json.dumps(
                {
                    "plan": {**plan.__dict__, "resources": plan.resources.__dict__},
                    "command": command,
                    "data_manifest": manifest.manifest_uri,
                },
                indent=2,
                sort_keys=True,
                default=str,
            ).encode(),
        )
    metadata = {
        "experiment": name,
        "reference_arm": "full" if "full" in plan.arms else plan.arms[-1],
        "arm_order": list(plan.arms),
        "metrics": {
            "test_mse": {"label": "MSE", "direction": "min"},
            "test_mae": {"label": "MAE", "direction": "min"},
            "test_mape": {"label": "MAPE (%)", "direction": "min"},
            "test_mse_subtle": {"label": "MSE subtle", "direction": "min"},
        },
        "command": command,  # contracts §5: the command that ran the experiment
        "seeds": list(plan.seeds),
        "search_space": {arm: hmgnet_space(arm) for arm in plan.arms},
        "search_metric": plan.metric,
        "search_mode": plan.mode,
    }
    provenance = {"git_commit": git_commit(), "data_manifest_hash": manifest.hash}

    # -- search, then confirmation ------------------------------------------------------
    best = {}
    for arm in plan.arms:
        best[arm], rows = run_search(
            plan, arm, datasets, manifest.market, root, provenance, resume=args.resume
        )
        write_results(results_uri, rows, metadata)
    rows = run_confirmation(
        plan, best, datasets, manifest.market, root, provenance, resume=args.resume
    )
    table = write_results(results_uri, rows, metadata)

    # -- table ------------------------------------------------------------------------
    report = analysis.build_report(results_uri)
    print()
    print(report.ladder_markdown)
    print()
    stage_overhead_summary(table.to_pylist(), ("search", "confirm"), time.time() - t_start)
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


if __name__ == "__main__":
    sys.exit(main())
