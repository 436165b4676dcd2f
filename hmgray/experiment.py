"""The experiment runner: the one owner of an experiment's folder and of its stages.

An experiment script is a declaration (:class:`Experiment`: the task, default and smoke
sizes, extra flags, the confirmation conditions); :func:`main` runs it::

    data -> plan -> search (per arm) -> confirm -> results -> report

Folder layout under ``<storage>/<name>/`` (a path or ``s3://bucket/prefix``)::

    experiment.json     the plan, the command, the data manifest; written once
    data/               synthetic shards + manifest.json (when --data is not given)
    search-<arm>/       Tune's record of each arm's search (restored by --resume)
    confirm/            Tune's record of the confirmation grid
    train/              Ray Train's run folders
    optuna/             each arm's study as an Optuna journal (optuna-dashboard reads it)
    results.parquet     one row per run, the task's metrics, provenance
    report/             tables (LaTeX, Markdown, CSV, JSON sidecars) and plots
    logs/               driver.log (everything Ray printed in this process) and the
                        local Ray session's logs (workers, raylet, GCS)

The console shows only hmgray's lines: the stages, one progress line per finished run,
the table and the paths. Ray's output goes to ``logs/``.

``--resume`` goes on with an interrupted experiment: the data is reused, Tune restores
each stage from its record (finished runs are not re-run), and the results table is
rebuilt from those records, so every planned run is recorded once.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hmgray import cli
from hmgray.console import console_to_log, say
from hmgray.errors import HmgrayError, StorageError

__all__ = ["Context", "Experiment", "main"]

SIZE_KEYS = ("n", "epochs", "num_samples", "seeds", "grace_period")
RAY_LOG_DIR = "/tmp/ray/session_latest/logs"  # a local Ray's session logs (Ray's default)
MAX_LOG_BYTES = 64 * 2**20  # a larger Ray log is left where it is (its path is printed)


@dataclasses.dataclass
class Context:
    """What the declaration's hooks see: the flags, the task, the data, and what
    ``prepare`` returned."""

    args: argparse.Namespace
    task: Any
    manifest: Any = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    prepared: Any = None
    command: str = ""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An experiment script's declaration.

    ``default`` and ``smoke`` give the sizes (``n`` synthetic rows, ``epochs``,
    ``num_samples`` search trials per arm, ``seeds``, ``grace_period`` of ASHA) and the
    defaults of the script's own flags (by argparse dest). ``hooks`` is an object (a
    module) with any of these functions: ``add_flags(parser)``, ``check_args(args,
    parser)``; ``prepare(ctx)``, run before Ray starts (bad data fails in seconds, with
    nothing half-written); ``datasets(ctx, decode)``, further Ray datasets (e.g. training
    subsets; ``decode(ds)`` decodes a dataset of the task's rows); ``conditions(ctx)``, the
    confirmation conditions (``hmgray.search.ablation.Condition``); ``metadata(ctx)``,
    entries merged into the results' metadata (tables, comparisons, curves).
    """

    task: str
    script: str
    title: str
    default: Mapping[str, Any]
    smoke: Mapping[str, Any]
    arms: tuple[str, ...] | None = None  # None: the task's arms, a subset with --arms
    arm_overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    reference_arm: str | None = None
    extra_metrics: tuple[str, ...] = ()
    printed_tables: tuple[str, ...] = ("ladder",)
    summary_columns: tuple[str, ...] = ()  # results columns whose test means are printed
    # > 0: after the default configuration, up to this many of every arm's start-up trials
    # are paired candidates (shared parameters drawn alike in every arm,
    # ``hmgray.search.spaces.paired_points``) instead of TPE's own random draws
    paired_starts: int = 0
    # True: every arm's search starts from the task's default configuration, TPE's random
    # start-up sized to the budget (``AblationPlan.start_from_default``)
    start_from_default: bool = False
    # the kind of ablation the arms are ("cumulative" or "star", ``analysis.baselines``);
    # None: the task's. Arms made of config overrides (a head against a head) declare theirs.
    ladder: str | None = None
    hooks: Any = None

    def hook(self, name: str) -> Callable | None:
        """The hook ``name`` of ``hooks``, or None."""
        return getattr(self.hooks, name, None)

    @property
    def name_prefix(self) -> str:
        return os.path.splitext(os.path.basename(self.script))[0].split("_")[0]


# ----------------------------------------------------------------------------- flags


def parse_args(exp: Experiment, argv: Sequence[str] | None = None) -> argparse.Namespace:
    from hmgray.task import get_task

    task = get_task(exp.task)
    p = argparse.ArgumentParser(description=exp.title, prog=exp.script)
    p.add_argument("--smoke-test", action="store_true", help="tiny end-to-end run")
    p.add_argument(
        "--num-samples", type=cli.positive_int("--num-samples"), help="search trials per arm"
    )
    p.add_argument("--seeds", type=cli.seeds, help="confirmation seeds: 0,1,2 or a count K")
    p.add_argument(
        "--epochs", type=cli.positive_int("--epochs"), help="epochs per run (ASHA's max_t)"
    )
    rows_flag = f"--n-{task.row_noun}"
    p.add_argument(
        rows_flag, dest="n", type=cli.positive_int(rows_flag), help=f"synthetic {task.row_noun}"
    )
    if exp.arms is None:
        p.add_argument(
            "--arms",
            type=cli.comma_list("--arms", task.arms),
            default=task.arms,
            help="comma-separated subset of " + ",".join(task.arms),
        )
    if exp.hook("add_flags"):
        exp.hook("add_flags")(p)
    cli.add_run_flags(p, exp.name_prefix)
    args = p.parse_args(argv)
    if exp.arms is not None:
        args.arms = exp.arms
    for key, value in (exp.smoke if args.smoke_test else exp.default).items():
        if getattr(args, key, None) is None:
            setattr(args, key, cli.seeds(value) if key == "seeds" else value)
    # --seeds auto[:MAX]: every seed a round may run, decided round by round (sequential)
    args.sequential = args.seeds.most if isinstance(args.seeds, cli.AutoSeeds) else None
    if args.sequential:
        args.seeds = tuple(range(args.sequential))
    if not args.seeds:
        p.error("--seeds: at least one confirmation seed is needed")
    if args.resume and not args.name:
        p.error("--resume needs --name of the experiment to resume")
    if exp.hook("check_args"):
        exp.hook("check_args")(args, p)
    return args


# ----------------------------------------------------------------------------- stages


def experiment_root(args: argparse.Namespace, name_prefix: str) -> tuple[str, str]:
    """(name, root URI) of the experiment. Raises HmgrayError when ``root`` already holds
    an experiment and --resume is not set, or --resume is set and there is none."""
    from hmgray import storage

    base = args.storage if "://" in args.storage else os.path.abspath(args.storage)
    name = args.name or f"{name_prefix}-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    root = storage.join(base, name)
    plan_uri = storage.join(root, "experiment.json")
    if storage.exists(plan_uri) and not args.resume:
        raise HmgrayError(
            f"{root} already holds an experiment: pass --resume to go on with it, or another --name"
        )
    if args.resume and not storage.exists(plan_uri):
        raise HmgrayError(f"--resume: no experiment at {root} (no experiment.json)")
    return name, root


def prepare_data(ctx: Context, root: str) -> str | None:
    """Load and verify --data, or the synthetic data under ``root/data`` (generated now,
    or reused on --resume). Sets ``ctx.manifest``; returns the URI generated now or None."""
    from hmgray import storage
    from hmgray.data.shards import load_manifest

    args, task, generated = ctx.args, ctx.task, None
    if args.data:
        ctx.manifest = load_manifest(args.data, verify=True, task=task)
    else:
        data_uri = storage.join(root, "data")
        if args.resume and storage.exists(storage.join(data_uri, "manifest.json")):
            ctx.manifest = load_manifest(data_uri, verify=True, task=task)
        else:
            say(f"generating {args.n} synthetic {task.row_noun} (seed {args.data_seed})")
            task.generate(data_uri, args.n, args.data_seed)
            ctx.manifest = load_manifest(data_uri, verify=False, task=task)
            generated = data_uri
    m = ctx.manifest
    say(
        f"data {m.dataset}: "
        + ", ".join(f"{s} {m.rows(s)}" for s in m.splits)
        + f"; manifest sha256 {m.hash[:12]}"
    )
    return generated


def run_slots(
    args: argparse.Namespace,
    resources: Mapping[str, float],
    ceiling: Mapping[str, float] | None = None,
):
    """Runs at once and each run's Train worker resources, from the flags and the cluster.

    ``--max-concurrent`` wins; else as many runs as the GPUs hold ``--workers-per-trial``
    workers of ``--gpus-per-trial`` each, or as the CPUs hold that many workers of one CPU.
    On CPUs each worker gets one core's worth at most, less the trial drivers' 0.01 CPU
    each, so that the concurrent runs fit the CPUs exactly. ``ceiling`` (an autoscaling
    cluster's configured maximum, :func:`hmgray.ray_runtime.autoscaler_ceiling`) sizes
    the runs instead of the resources present where it is larger: a cluster whose GPU
    workers are not up yet would otherwise run one run at a time.
    """
    from hmgray.training.driver import Resources

    if ceiling:
        resources = {
            k: max(resources.get(k, 0.0), ceiling.get(k, 0.0)) for k in {*resources, *ceiling}
        }
    gpus, workers = args.gpus_per_trial, args.workers_per_trial
    cpus = resources.get("CPU", 1.0)
    if args.max_concurrent:
        concurrent = args.max_concurrent
    elif gpus > 0:
        concurrent = max(1, int(resources.get("GPU", 0) / (gpus * workers)))
    else:
        concurrent = max(1, int(cpus // workers))
    cpu_per_worker = (
        1.0 if gpus > 0 else max(0.1, min(1.0, (cpus - 0.05 * concurrent) / (concurrent * workers)))
    )
    return concurrent, Resources(
        num_workers=workers, cpus_per_worker=round(cpu_per_worker, 2), gpus_per_worker=gpus
    )


def _withdraw_autoscaler_request() -> None:
    """Withdraw what the experiment asked the autoscaler for, however it ended: a
    standing request would keep the cluster's nodes up."""
    from hmgray.ray_runtime import withdraw_autoscaler_request

    try:
        withdraw_autoscaler_request()
    except Exception as exc:  # the experiment's own outcome matters more
        say(f"warning: could not withdraw the request to the autoscaler: {exc}")


def autoscaled_slots(args, resources, ceiling, most_runs: int):
    """``run_slots`` on a cluster that may autoscale, and what it asks the autoscaler for.

    Returns (runs at once, each run's resources, the bundles to request, a phrase for the
    start-up line saying what the concurrency came from). With ``--max-concurrent`` or
    no autoscaler (``ceiling`` None) nothing is requested. Otherwise the concurrency
    comes from the larger of the resources present and the ceiling, capped at
    ``most_runs`` (the largest stage: nothing runs more at once), and the bundles are
    every Train worker of that many runs, so the autoscaler starts the nodes for all of
    them at once.
    """
    if args.max_concurrent or not ceiling:
        concurrent, res = run_slots(args, resources)
        why = "--max-concurrent" if args.max_concurrent else "the resources present"
        return concurrent, res, [], why
    concurrent, res = run_slots(args, resources, ceiling)
    concurrent = max(1, min(concurrent, most_runs))
    bundle = {"CPU": res.cpus_per_worker}
    if res.gpus_per_worker > 0:
        bundle["GPU"] = res.gpus_per_worker
    bundles = [dict(bundle) for _ in range(concurrent * res.num_workers)]
    shown = ", ".join(f"{v:g} {k}" for k, v in sorted(ceiling.items()) if k in ("CPU", "GPU"))
    return concurrent, res, bundles, f"the autoscaler's maximum ({shown})"


def sequential_design(ctx: Context):
    """The group-sequential design of ``--seeds auto[:MAX]`` (``analysis.sequential``),
    deciding on the test value of the task's selection metric; None for fixed seeds."""
    from analysis.sequential import Design, default_looks

    if not ctx.args.sequential:
        return None
    return Design(
        looks=default_looks(ctx.args.sequential),
        metric=f"test_{ctx.task.selection_metric}",
        practical=ctx.args.practical_difference,
    )


def results_metadata(exp: Experiment, ctx: Context, plan) -> dict[str, Any]:
    """The results table's ``hmgray`` metadata (contracts §5): everything ``analysis/``
    reads, the task's metric specs included. ``seeds`` are the planned seeds; a
    sequential confirmation replaces them by the seeds run so far."""
    task, args = ctx.task, ctx.args
    ref = exp.reference_arm or (task.reference_arm if task.reference_arm in plan.arms else None)
    design = sequential_design(ctx)
    meta = {
        "experiment": plan.experiment,
        "task": task.name,
        "reference_arm": ref or plan.arms[-1],
        "arm_order": list(plan.arms),
        "ladder": exp.ladder or task.ladder,
        "metrics": {f"test_{m.name}": m.as_meta() for m in task.metrics},
        "metric_specs": {m.name: m.as_meta() for m in task.metrics},
        "loss_label": task.loss_label,
        "command": ctx.command,
        "seeds": list(args.seeds[: design.looks[0]] if design else args.seeds),
        "search_space": {arm: plan.space(arm) for arm in plan.arms},
        "search_metric": plan.metric,
        "search_mode": plan.mode,
    }
    if design is not None:
        meta["sequential"] = design.as_meta()
    if exp.hook("metadata"):
        meta.update(exp.hook("metadata")(ctx))
    return meta


# ----------------------------------------------------------------------------- logs


def copy_files(local: str, uri: str, max_bytes: int | None = None) -> int:
    """Copy the files of the local folder ``local`` (not its subfolders) to the storage
    folder ``uri``, skipping any larger than ``max_bytes``; returns how many were copied.
    Used for the Ray session's logs (local Ray only: on a cluster the worker logs stay on
    their nodes, where ``ray logs`` reaches them) and for what a remote experiment keeps
    locally while it runs (driver log, Optuna journals)."""
    from hmgray import storage

    if not os.path.isdir(local):
        return 0
    n = 0
    for entry in sorted(os.scandir(local), key=lambda e: e.name):
        if entry.is_file() and (max_bytes is None or entry.stat().st_size <= max_bytes):
            with open(entry.path, "rb") as f:
                storage.atomic_write_bytes(storage.join(uri, entry.name), f.read())
            n += 1
    return n


def fetch_files(uri: str, local: str) -> int:
    """Copy the files of the storage folder ``uri`` (not its subfolders) into the local
    folder ``local``; returns how many. ``--resume`` of a remote experiment fetches its
    Optuna journals this way, so that the journals it uploads at the end still hold the
    trials from before the interruption."""
    import pyarrow.fs as pafs

    from hmgray import storage

    fs, path = storage.resolve(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    os.makedirs(local, exist_ok=True)
    n = 0
    for info in infos:
        if info.type == pafs.FileType.File:
            data = storage.read_bytes(storage.join(uri, info.base_name))
            with open(os.path.join(local, info.base_name), "wb") as f:
                f.write(data)
            n += 1
    return n


# ----------------------------------------------------------------------------- main


def main(exp: Experiment, argv: Sequence[str] | None = None) -> int:
    """Run the declared experiment; 0 on success, 1 on an hmgray error or a failed run,
    2 on a bad flag (argparse)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(exp, argv)
    t_start = time.time()
    try:
        return _run(exp, args, argv, t_start)
    except HmgrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(exp: Experiment, args: argparse.Namespace, argv: list[str], t_start: float) -> int:
    import ray

    from hmgray import storage
    from hmgray.ray_runtime import init_ray
    from hmgray.task import get_task

    task = get_task(exp.task)
    ctx = Context(args=args, task=task, command=f"python {exp.script} " + shlex.join(argv))
    name, root = experiment_root(args, exp.name_prefix)
    say(f"hmgray {exp.title} '{name}' (task {task.name}); storage {root}")

    # data and the plan, before Ray starts: bad data or a bad plan fails in seconds
    generated = prepare_data(ctx, root)
    ctx.settings = task.fixed_settings(ctx.manifest)
    try:
        try:
            ctx.prepared = exp.hook("prepare")(ctx) if exp.hook("prepare") else None
        except HmgrayError as exc:
            where = (
                f"{args.n} synthetic {task.row_noun} (--n-{task.row_noun})"
                if generated
                else ctx.manifest.manifest_uri
            )
            raise HmgrayError(f"{where}: {exc}") from exc
        from hmgray.training.driver import Resources

        workers = Resources(num_workers=args.workers_per_trial)
        plan, conditions = _plan(exp, ctx, name, max_concurrent=1, resources=workers)
        plan.check(conditions)
    except HmgrayError:
        if generated is not None:  # the experiment never started: leave nothing behind
            storage.remove(generated)
            if "://" not in root and os.path.isdir(root) and not os.listdir(root):
                os.rmdir(root)
        raise
    results_uri = storage.join(root, "results.parquet")
    if args.resume and storage.exists(results_uri):
        storage.remove(results_uri)  # rebuilt from Tune's own records below

    logs_uri = storage.join(root, "logs")
    local_logs = logs_uri if "://" not in logs_uri else tempfile.mkdtemp(prefix="hmgray-logs-")
    os.makedirs(local_logs, exist_ok=True)
    driver_log = os.path.join(local_logs, "driver.log")
    say(f"Ray's output: {storage.join(logs_uri, 'driver.log')} and {logs_uri}/ray/")
    session_logs = None
    failure: BaseException | None = None
    try:
        with console_to_log(driver_log):
            resources = init_ray(log_to_driver=False)
            if not os.environ.get("RAY_ADDRESS"):  # this session's, not a later one's
                session_logs = os.path.realpath(RAY_LOG_DIR)
            try:
                return _run_on_ray(exp, ctx, name, root, resources, t_start)
            except StorageError as exc:  # mid-experiment: say how to go on
                raise StorageError(
                    f"{exc}\nThe experiment's storage failed; what it held stays as it was. "
                    f"Once {root} is reachable again, the same command with --resume "
                    f"--name {name} goes on where it stopped."
                ) from exc
            finally:
                _withdraw_autoscaler_request()
                ray.shutdown()  # a failed run must not leave a local Ray behind
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if local_logs != logs_uri:
                copy_files(local_logs, logs_uri)
            if session_logs:
                copy_files(session_logs, storage.join(logs_uri, "ray"), MAX_LOG_BYTES)
            say(f"full logs: {logs_uri}/")
        except HmgrayError as exc:
            if failure is None:
                raise
            # the experiment's own error is the one to report (an unreachable storage
            # fails this copy too); the logs are still on this machine
            say(f"the logs could not be stored ({exc}); they are in {local_logs}/")


def _plan(exp: Experiment, ctx: Context, name: str, *, max_concurrent: int, resources):
    from hmgray.search.ablation import AblationPlan, Condition
    from hmgray.training.driver import Recovery

    args = ctx.args
    plan = AblationPlan(
        task=ctx.task,
        experiment=name,
        dataset=ctx.manifest.dataset,
        arms=tuple(args.arms),
        num_samples=args.num_samples,
        seeds=tuple(args.seeds),
        epochs=args.epochs,
        grace_period=min(args.grace_period, args.epochs),
        reduction_factor=2,
        search_seed=args.search_seed,
        max_concurrent=max_concurrent,
        resources=resources,
        fixed={**ctx.settings, **({"compile": True} if args.compile else {})},
        arm_overrides={k: dict(v) for k, v in exp.arm_overrides.items()},
        extra_metrics=exp.extra_metrics,
        paired_starts=exp.paired_starts,
        start_from_default=exp.start_from_default,
        recovery=Recovery(max_failures=args.max_failures),
    )
    conditions = exp.hook("conditions")(ctx) if exp.hook("conditions") else [Condition()]
    return plan, conditions


def _run_on_ray(exp: Experiment, ctx: Context, name: str, root: str, resources, t0: float):
    import analysis
    from hmgray import storage
    from hmgray.data.ray_dataset import choose_data_path, decode, decoded_splits
    from hmgray.ray_runtime import ask_autoscaler, autoscaler_ceiling, cluster_address
    from hmgray.results import error_summary, git_commit, write_results
    from hmgray.search.ablation import run_confirmation, run_search

    args, task, manifest = ctx.args, ctx.task, ctx.manifest
    where = f"cluster at {cluster_address()}" if cluster_address() else "local Ray"
    say(f"on {where}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
    t = time.time()
    splits = ("train", "val", "test")
    path = choose_data_path(manifest, task, ctx.settings, splits, args.data_path)
    datasets = decoded_splits(manifest, task, ctx.settings, splits, materialize=path.materialize)
    if exp.hook("datasets"):
        datasets.update(
            exp.hook("datasets")(ctx, lambda ds: decode(ds, task, manifest.context, ctx.settings))
        )
    if path.materialize:
        say(
            f"decoded and materialised {len(datasets)} datasets in Ray Data in "
            f"{time.time() - t:.1f}s ({path.why})"
        )
    else:
        # Ray Data reads and decodes on CPUs the Train workers must leave free: one CPU
        # is kept out of the runs' sizing (a read task asks for a whole CPU)
        resources = {**resources, "CPU": max(1.0, resources.get("CPU", 1.0) - 1.0)}
        say(f"streaming {len(datasets)} datasets through Ray Data while training ({path.why})")

    most_runs = max(args.num_samples, len(args.arms) * len(args.seeds))
    ceiling = autoscaler_ceiling() if cluster_address() else None
    concurrent, run_resources, bundles, sized_by = autoscaled_slots(
        args, resources, ceiling, most_runs
    )
    if bundles:  # withdrawn when the experiment ends (below), so the cluster can shrink
        ask_autoscaler(bundles)
        say(f"asked the autoscaler for {len(bundles)} Train worker bundles of {bundles[0]}")
    plan, conditions = _plan(exp, ctx, name, max_concurrent=concurrent, resources=run_resources)
    if not path.materialize:  # hmgray.training.driver.run_trial: no counting pass per run
        plan = dataclasses.replace(
            plan, fixed={**plan.fixed, "_stream_train_rows": manifest.rows("train")}
        )
    journal_dir = storage.join(root, "optuna")
    if "://" in root:  # journals are local files: kept beside the logs, uploaded at the end
        journal_dir = tempfile.mkdtemp(prefix="hmgray-optuna-")
        if args.resume:  # go on with the stored journals, not fresh ones
            fetch_files(storage.join(root, "optuna"), journal_dir)
    plan = dataclasses.replace(plan, journal_dir=journal_dir)
    say(
        f"plan: arms {', '.join(plan.arms)}; {plan.num_samples} search trials per arm; "
        f"seeds {list(plan.seeds)}; {plan.epochs} epochs; {concurrent} runs at once "
        f"(sized by {sized_by})"
        + (
            f", each on {run_resources.num_workers} Train workers (data parallel)"
            if run_resources.num_workers > 1
            else ""
        )
    )
    _write_plan(root, plan, conditions, ctx, args.resume)
    metadata = results_metadata(exp, ctx, plan)
    metadata["data_path"] = {"path": path.name, "why": path.why}
    provenance = {"git_commit": git_commit(), "data_manifest_hash": manifest.hash}
    results_uri = storage.join(root, "results.parquet")
    context = task.load_context(manifest)

    best = {}
    for arm in plan.arms:
        best[arm], rows = run_search(
            plan, arm, datasets, context, root, provenance, resume=args.resume, echo=say
        )
        write_results(results_uri, rows, metadata, plan.columns)
    confirm = functools.partial(
        run_confirmation,
        best=best,
        datasets=datasets,
        context=context,
        root=root,
        provenance=provenance,
        conditions=conditions,
        resume=args.resume,
        echo=say,
    )
    design = sequential_design(ctx)
    if design is None:
        table = write_results(results_uri, confirm(plan), metadata, plan.columns)
    else:
        table = _confirm_in_rounds(confirm, plan, design, results_uri, metadata)
    if "://" in root:
        copy_files(journal_dir, storage.join(root, "optuna"))

    report = analysis.build_report(results_uri)
    for table_name in exp.printed_tables:
        if table_name in report.markdown:
            say()
            say(report.markdown[table_name])
    say()
    stages = tuple(dict.fromkeys(["search", *(c.stage for c in conditions)]))
    _overhead_summary(table.to_pylist(), stages, time.time() - t0)
    _column_summary(table.to_pylist(), exp.summary_columns)
    say(f"results: {results_uri}")
    for path in report.files:
        say(f"wrote {path}")
    say(f"watch the searches: optuna-dashboard {storage.join(root, 'optuna')}/<stage>.journal")
    say(f"training curves: tensorboard --logdir {root}")
    failed = [r for r in table.to_pylist() if r["status"] != "ok"]
    if failed:
        say(f"error: {len(failed)} run(s) failed; see the 'error' column of {results_uri}")
        for r in failed:
            say(
                f"  {r['stage']} {r['arm']} seed {r['seed']} (trial {r['trial_id']}): "
                + error_summary(r["error"])
            )
        return 1
    return 0


def _confirm_in_rounds(confirm: Callable, plan, design, results_uri: str, metadata: dict):
    """The group-sequential confirmation (``analysis.sequential``): one round of seeds per
    look, each appended to the results, until the ladder table decides every comparison
    of the design's metric or the last look is done. Each round is its own Tune grid
    (``confirm``, ``confirm-2``, ...), so ``--resume`` replays the same rounds."""
    import analysis
    from analysis.load import from_table
    from hmgray.results import write_results

    done = 0
    for k, n in enumerate(design.looks):
        seeds = plan.seeds[done:n]
        say(
            f"confirm, look {k + 1} of {len(design.looks)}: seeds {list(seeds)} "
            f"({n} in all, at most {design.most})"
        )
        rows = confirm(dataclasses.replace(plan, seeds=seeds), name=_round_name(k))
        meta = {**metadata, "seeds": list(plan.seeds[:n])}
        table = write_results(results_uri, rows, meta, plan.columns)
        state = analysis.ladder_table(from_table(table, results_uri)).options["sequential"]
        done = n
        if state["decided"]:
            say(f"  every comparison of {design.metric} is decided after {n} seeds: stop")
            break
        left = "" if k + 1 == len(design.looks) else ": another round"
        say(f"  {state['undecided']} comparison(s) of {design.metric} undecided{left}")
    return table


def _round_name(k: int) -> str:
    """The Tune run name of the confirmation's round k (0-based)."""
    return "confirm" if k == 0 else f"confirm-{k + 1}"


def _write_plan(root: str, plan, conditions, ctx: Context, resume: bool) -> None:
    from hmgray import storage

    if resume:
        return
    design = sequential_design(ctx)
    doc = {
        "task": ctx.task.name,
        "plan": {
            **{k: v for k, v in plan.__dict__.items() if k != "task"},
            "resources": plan.resources.__dict__,
        },
        "conditions": [c.__dict__ for c in conditions],
        "sequential": None if design is None else design.as_meta(),
        "command": ctx.command,
        "data_manifest": ctx.manifest.manifest_uri,
    }
    storage.makedirs(root)
    storage.atomic_write_bytes(
        storage.join(root, "experiment.json"),
        json.dumps(doc, indent=2, sort_keys=True, default=str).encode(),
    )


def _column_summary(rows: list[dict], columns: tuple[str, ...]) -> None:
    """Mean and range of each of ``columns`` over the runs evaluated on test, per stage
    (a sweep that fixes the value must not blend into the confirmation's)."""
    for column in columns:
        by_stage: dict[str, list[float]] = {}
        for r in rows:
            v = r.get(column)
            if v is not None and v == v and r["status"] == "ok":  # present, not NaN
                by_stage.setdefault(r["stage"], []).append(v)
        for stage, values in by_stage.items():
            say(
                f"{column} ({stage}): mean {sum(values) / len(values):.3g} "
                f"(min {min(values):.3g}, max {max(values):.3g}) over {len(values)} runs"
            )


def _overhead_summary(rows: list[dict], stages: tuple[str, ...], elapsed: float) -> None:
    """Per stage, how much of a run is Ray start-up rather than training."""
    for stage in stages:
        rs = [r for r in rows if r["stage"] == stage and r["status"] == "ok"]
        if not rs:
            continue
        start = sum(r["startup_s"] for r in rs) / len(rs)
        wall = sum(r["wall_time_s"] for r in rs) / len(rs)
        stopped = sum(bool(r["stopped_early"]) for r in rs)
        say(
            f"{stage}: {len(rs)} runs ({stopped} stopped early by ASHA); mean start-up "
            f"{start:.1f}s / mean run wall time {wall:.1f}s = {start / wall:.2f} of each run"
        )
    say(f"total wall time {elapsed / 60:.1f} min")
