"""A fair ablation: every arm gets the same search budget, then shared-seed confirmation.

The plan holds the task (``hmgray.task.Task``): its arms, spaces, metrics and the
validation metric that selects. Stage 1 (search), per arm: Ray Tune + ``OptunaSearch``
(TPE, seeded) over the arm's own space (``task.space``) with ASHA early stopping on the
validation metric; every arm gets ``num_samples`` trials and the same ASHA settings. Every
arm's first trial is the task's default configuration (``AblationPlan.default_point``), and
TPE's random start-up phase is a third of the budget (``spaces.startup_trials``). The
arm's best configuration is picked on *validation* only (last reported value).
Stage 2 (confirm): each arm's best configuration is trained again, for the full number
of epochs, on the same K seeds for every arm, and evaluated once on *test*.

An arm is one of the task's arms or, through ``AblationPlan.arm_overrides``, a label for
config overrides of one: e.g. ``{"direct": {"arm": "full", "head": "direct"}}``.
Such runs carry ``ablation_arm`` (the label, the results' ``arm``) in their config, and
are searched over the space of their model arm. The confirmation stage can also re-run
the best configurations on other training sets (:class:`Condition`, e.g. few-shot
subsets), each labelled with its own results ``stage``, all in one Tune grid.

Each trial is a Train V2 driver (:func:`hmgray.training.driver.run_trial`) that reserves
0.01 CPU; its Train worker group holds the real resources, and
:class:`~hmgray.search.reaper.PlacementGroupReaper` releases it when ASHA stops the trial.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import ray.data
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from hmgray import storage
from hmgray.console import say
from hmgray.errors import ConfigError, HmgrayError, StorageError
from hmgray.results import config_json, error_text, metric_columns, run_row
from hmgray.search.progress import OptunaJournal, Progress, fmt
from hmgray.search.reaper import CheckpointPruner, PlacementGroupReaper
from hmgray.search.spaces import (
    paired_points,
    point_in_space,
    startup_trials,
    to_tune,
    validate_space,
)
from hmgray.task import Task, strict_from_dict
from hmgray.training.driver import Recovery, Resources, run_trial
from hmgray.training.settings import (
    LABELS_KEY,
    TRAIN_KEYS,
    TrainSettings,
    split_config,
    worker_batch_size,
)

TRIAL_DRIVER_CPU = 0.01  # the trial function only waits on its TorchTrainer


@dataclasses.dataclass(frozen=True)
class AblationPlan:
    """Everything that defines the search and confirmation stages of one experiment."""

    task: Task
    experiment: str
    dataset: str
    arms: tuple[str, ...]
    num_samples: int
    seeds: tuple[int, ...]
    epochs: int
    grace_period: int
    reduction_factor: int
    search_seed: int
    max_concurrent: int
    resources: Resources
    fixed: dict[str, Any]  # config shared by every run (model sizes, batch size, ...)
    # arm label -> config overrides (must name the task's "arm"); other arms are the task's
    arm_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # further metrics reported by the runs to keep as results columns (e.g. test_tail_mape)
    extra_metrics: tuple[str, ...] = ()
    # Optuna journal files: where each arm's study is mirrored (local folder; None = none)
    journal_dir: str | None = None
    # > 0: after the default configuration (``default_point``), up to this many of the
    # start-up trials (``spaces.startup_trials``) are paired candidates
    # (``spaces.paired_points``: shared parameters take the same values in every arm)
    # instead of TPE's own independent random draws; TPE proposes the rest
    paired_starts: int = 0
    # True: every arm's first trial is the task's default configuration (``default_point``)
    # and TPE's random start-up phase is sized to the budget (``spaces.startup_trials``);
    # False: the earlier rule (paired candidates or TPE's draws, Optuna's fixed start-up of
    # 10), kept for the experiments whose README figures were measured with it
    start_from_default: bool = False
    # checkpoints and retries of each run (hmgray.training.driver.Recovery)
    recovery: Recovery = dataclasses.field(default_factory=Recovery)

    @property
    def metric(self) -> str:
        return self.task.search_metric

    @property
    def mode(self) -> str:
        return self.task.search_mode

    @property
    def columns(self) -> tuple[str, ...]:
        """The results table's metric columns: the task's, then the extra ones."""
        return (*metric_columns(self.task), *self.extra_metrics)

    def arm_config(self, arm: str) -> dict[str, Any]:
        """The config keys that make a run belong to ``arm``."""
        if arm not in self.arm_overrides:
            return self.task.arm_config(arm)
        over = dict(self.arm_overrides[arm])
        if "arm" not in over:
            raise ConfigError(f"arm_overrides[{arm!r}] must name the model 'arm' it overrides")
        return {**self.task.arm_config(over["arm"]), **over, "ablation_arm": arm}

    def space(self, arm: str) -> dict[str, dict[str, Any]]:
        """The declared search space of ``arm`` (that of its task arm)."""
        return self.task.space(self.arm_config(arm)["arm"])

    def search_config(self, arm: str) -> dict[str, Any]:
        """The fixed part of ``arm``'s search trials (the searched keys come on top)."""
        return {
            **self.fixed,
            **self.arm_config(arm),
            "epochs": self.epochs,
            "seed": self.search_seed,
            "eval_test": False,
        }

    def default_point(self, arm: str) -> dict[str, Any]:
        """The first trial of ``arm``'s search: the task's default configuration of what
        the arm searches: the plan's fixed settings where they set a searched key (a
        size), else ``task.search_defaults(arm)``, else the defaults of the task's config
        class (after the arm's own keys, e.g. a hard arm's fixed weights) and of
        ``TrainSettings`` (learning rate, weight decay). The same rule for every arm, so
        that each starts from what the task would run untuned. ``ConfigError`` if a
        default lies outside the arm's space."""
        space = self.space(arm)
        base = {**self.search_config(arm)}
        for name, value in self.task.search_defaults(arm).items():
            base.setdefault(name, value)
        model_keys = {f.name for f in dataclasses.fields(self.task.config_cls)}
        model = self.task.make_config({k: v for k, v in base.items() if k in model_keys})
        train = strict_from_dict(TrainSettings, {k: v for k, v in base.items() if k in TRAIN_KEYS})
        point = {}
        for name in space:
            owner = model if name in model_keys else train
            point[name] = getattr(owner, name)
        return point_in_space(point, space, f"default configuration of arm {arm!r}")

    def check(self, conditions: Sequence[Condition] = ()) -> None:
        """Refuse a plan whose runs would carry a key nothing consumes, a malformed space
        or a task default outside it, before anything runs (``ConfigError`` naming the arm
        and the key)."""
        for arm in self.arms:
            space = self.space(arm)
            validate_space(space, f"search space of arm {arm!r}")
            if self.start_from_default:
                self.default_point(arm)
            probe = {**self.search_config(arm), **{k: _probe(s) for k, s in space.items()}}
            for cond in conditions or (Condition(),):
                if not cond.applies(arm):
                    continue
                for seed in self.seeds:
                    run = {**probe, **cond.run_config(seed)}
                    try:
                        _, settings, _ = split_config(self.task, run)
                        worker_batch_size(settings.batch_size, self.resources.num_workers)
                    except ConfigError as exc:
                        raise ConfigError(f"arm {arm!r}, stage {cond.stage!r}: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class Condition:
    """One training condition of the confirmation stage, the same for every arm.

    ``stage`` labels its results rows; ``config`` holds the config keys it sets, e.g.
    ``train_split`` (the entry of ``datasets`` to train on, see
    :func:`hmgray.training.driver.run_trial`) and descriptive keys (the few-shot k);
    ``seed_config`` per-seed keys on top (a training subset drawn per seed). The default
    is the plain confirmation: full ``train`` split, stage ``confirm``, no extra keys.
    """

    stage: str = "confirm"
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed_config: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # descriptive keys of config / seed_config (what the analysis groups by, e.g.
    # train_set); the others must be consumed by the run
    labels: tuple[str, ...] = ()
    # the arms it applies to (None: every arm), e.g. a sweep of one arm's loss weight
    arms: tuple[str, ...] | None = None

    def applies(self, arm: str) -> bool:
        return self.arms is None or arm in self.arms

    def run_config(self, seed: int) -> dict[str, Any]:
        run = {**self.config, **self.seed_config.get(seed, {})}
        if self.labels:
            run[LABELS_KEY] = sorted(self.labels)
        return run


def _probe(spec: dict[str, Any]) -> Any:
    """A value of a declared parameter, to check that the key is consumed."""
    return spec["choices"][0] if spec["type"] == "categorical" else spec["low"]


def _fit(tuner: Callable[[], tune.Tuner], path: str):
    """``tuner().fit()``, with Tune's storage failures (pyarrow raises ``OSError``: an
    unreachable endpoint, a refused write) as a ``StorageError`` naming the stage's storage.
    A run's own failures do not come here: Tune records them in the grid."""
    try:
        return tuner().fit()
    except OSError as exc:
        raise StorageError(f"Tune could not read or write {path!r}: {exc}") from exc


def _tuner(
    run_name: str,
    trainable,
    param_space: dict,
    tune_config: tune.TuneConfig,
    root: str,
    callbacks: list,
    resume: bool,
) -> tune.Tuner:
    path = storage.join(root, run_name)
    if resume and tune.Tuner.can_restore(path):
        return tune.Tuner.restore(
            path,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=param_space,
        )
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune_config,
        run_config=tune.RunConfig(name=run_name, storage_path=root, callbacks=callbacks, verbose=0),
    )


def _trainable(plan: AblationPlan, datasets, context, root: str):
    fn = tune.with_parameters(
        run_trial,
        datasets=datasets,
        task=plan.task,
        context=context,
        resources=plan.resources,
        train_storage=storage.join(root, "train"),
        recovery=plan.recovery,
    )
    return tune.with_resources(fn, {"CPU": TRIAL_DRIVER_CPU})


def _rows(plan, stage: str | Callable[[dict], str], grid, provenance) -> list[dict[str, Any]]:
    """Results rows of a finished grid; ``stage`` is a label or a function of the config."""
    rows = []
    for res in grid:
        cfg = res.config.get("run", res.config)
        err = None if res.error is None else error_text(res.error)
        metrics = dict(res.metrics or {})
        rows.append(
            run_row(
                experiment=plan.experiment,
                dataset=plan.dataset,
                stage=stage(cfg) if callable(stage) else stage,
                trial_id=str(metrics.get("trial_id") or res.path.rsplit("/", 1)[-1]),
                config=cfg,
                metrics=metrics,
                max_epochs=plan.epochs,
                error=err,
                provenance=provenance,
                columns=plan.columns,
            )
        )
    rows.sort(key=lambda r: r["trial_id"])
    return rows


def search_start(plan: AblationPlan, arm: str) -> tuple[list[dict] | None, Any, str]:
    """(points to evaluate first, the TPE sampler, a description) of ``arm``'s search."""
    declared = plan.space(arm)
    if plan.start_from_default:
        # the start-up phase: the task's default configuration first, then paired
        # candidates (or TPE's own random draws) up to the phase's size; TPE the rest
        n_startup = startup_trials(plan.num_samples)
        n_paired = min(plan.paired_starts, n_startup - 1)
        points = [plan.default_point(arm), *paired_points(declared, n_paired, plan.search_seed)]
        sampler = optuna.samplers.TPESampler(seed=plan.search_seed, n_startup_trials=n_startup)
        n_random = n_startup - 1 - n_paired
        start = (
            f"start-up {n_startup}: the default configuration"
            + (f" + {n_paired} paired candidates" if n_paired else "")
            + (f" + {n_random} random" if n_random else "")
        )
        return points, sampler, start
    n_paired = min(plan.paired_starts, plan.num_samples)
    points = paired_points(declared, n_paired, plan.search_seed) if n_paired else None
    sampler = optuna.samplers.TPESampler(seed=plan.search_seed)
    return (
        points,
        sampler,
        f"{n_paired} paired starting candidates" if n_paired else "random start-up",
    )


def run_search(
    plan: AblationPlan,
    arm: str,
    datasets: dict[str, ray.data.Dataset],
    context: dict,
    root: str,
    provenance: dict[str, str],
    *,
    resume: bool = False,
    echo: Callable[[str], None] = say,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tune one arm; return its best configuration (by validation) and its result rows."""
    declared = plan.space(arm)
    param_space = {**plan.search_config(arm), **to_tune(declared)}
    points, sampler, start = search_start(plan, arm)
    echo(
        f"search {arm}: {plan.num_samples} trials, OptunaSearch(TPE, seed={plan.search_seed}, "
        f"{start}) + ASHA(max_t={plan.epochs}, grace={plan.grace_period}, "
        f"rf={plan.reduction_factor})"
    )
    tune_config = tune.TuneConfig(
        metric=plan.metric,
        mode=plan.mode,
        num_samples=plan.num_samples,
        search_alg=OptunaSearch(
            sampler=sampler,
            points_to_evaluate=points,
        ),
        scheduler=ASHAScheduler(
            # the epoch the run reports, not Tune's count of its reports: a run that Tune
            # restarts on --resume goes on from its checkpoint's epoch
            time_attr="epoch",
            max_t=plan.epochs,
            grace_period=plan.grace_period,
            reduction_factor=plan.reduction_factor,
        ),
        max_concurrent_trials=plan.max_concurrent,
    )
    label = plan.task.metric(plan.task.selection_metric).label
    callbacks = [
        PlacementGroupReaper(),
        CheckpointPruner(storage.join(root, "train"), keep=0),
        Progress(f"search {arm}", plan.num_samples, plan.metric, plan.mode, label),
    ]
    if plan.journal_dir:
        callbacks.append(
            OptunaJournal(
                plan.journal_dir, f"search-{arm}", declared, plan.metric, plan.mode, plan.epochs
            )
        )
    grid = _fit(
        lambda: _tuner(
            f"search-{arm}",
            _trainable(plan, datasets, context, root),
            param_space,
            tune_config,
            root,
            callbacks,
            resume,
        ),
        storage.join(root, f"search-{arm}"),
    )
    rows = _rows(plan, "search", grid, provenance)
    try:
        best = grid.get_best_result(
            metric=plan.metric, mode=plan.mode, scope="last", filter_nan_and_inf=True
        )
    except RuntimeError as exc:
        raise HmgrayError(f"search {arm}: no trial finished with a finite {plan.metric}") from exc
    if best.metrics is None or plan.metric not in best.metrics:
        raise HmgrayError(f"search {arm}: no trial reported {plan.metric}")
    cfg = {k: v for k, v in best.config.items() if not k.startswith("_")}
    echo(
        f"  best {arm}: {plan.metric}={fmt(best.metrics[plan.metric])} "
        + " ".join(f"{k}={_short(cfg[k])}" for k in sorted(declared))
    )
    return cfg, rows


def confirmation_runs(
    plan: AblationPlan,
    best: dict[str, dict[str, Any]],
    conditions: Sequence[Condition] = (Condition(),),
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The configs of the confirmation grid (condition x arm x seed) and, keyed by each
    config's ``config_json``, its results stage."""
    runs, stages = [], {}
    for cond in conditions:
        unknown = sorted(set(cond.arms or ()) - set(plan.arms))
        if unknown:
            raise HmgrayError(f"condition {cond.stage!r}: arm(s) {unknown} are not planned")
        for arm in filter(cond.applies, plan.arms):
            for seed in plan.seeds:
                run = {
                    **best[arm],
                    "seed": seed,
                    "epochs": plan.epochs,
                    "eval_test": True,
                    **cond.run_config(seed),
                }
                key = config_json(run)
                if key in stages:
                    raise HmgrayError(
                        f"confirmation: two conditions give the same run ({arm}, seed {seed}); "
                        "give each condition its own config keys"
                    )
                stages[key] = cond.stage
                runs.append(run)
    return runs, stages


def run_confirmation(
    plan: AblationPlan,
    best: dict[str, dict[str, Any]],
    datasets: dict[str, ray.data.Dataset],
    context: dict,
    root: str,
    provenance: dict[str, str],
    *,
    conditions: Sequence[Condition] = (Condition(),),
    resume: bool = False,
    echo: Callable[[str], None] = say,
    name: str = "confirm",
) -> list[dict[str, Any]]:
    """Re-train each arm's best configuration on the shared seeds; evaluate on test.

    One Tune grid over condition x arm x seed (the default: the full training set only,
    stage ``confirm``), so runs of every condition share the CPUs without a pause
    between them. Each row's stage is its condition's. ``name`` is the grid's Tune run
    (a sequential confirmation runs one per round of seeds).
    """
    runs, stages = confirmation_runs(plan, best, conditions)
    sets = "" if len(conditions) == 1 else f"{len(conditions)} conditions x "
    echo(
        f"{name}: {sets}{len(plan.arms)} arms x seeds {list(plan.seeds)}"
        f"{'' if all(c.arms is None for c in conditions) else ' (where they apply)'} = "
        f"{len(runs)} runs, evaluated on test"
    )
    tune_config = tune.TuneConfig(max_concurrent_trials=plan.max_concurrent)
    label = plan.task.metric(plan.task.selection_metric).label
    callbacks = [
        PlacementGroupReaper(),
        CheckpointPruner(storage.join(root, "train"), keep=1),
        Progress(name, len(runs), plan.metric, plan.mode, label),
    ]
    grid = _fit(
        lambda: _tuner(
            name,
            _trainable(plan, datasets, context, root),
            {"run": tune.grid_search(runs)},
            tune_config,
            root,
            callbacks,
            resume,
        ),
        storage.join(root, name),
    )

    def stage_of(cfg: dict) -> str:
        key = config_json(cfg)
        if key not in stages:
            raise HmgrayError(f"confirmation: a result's config is none of the planned runs: {key}")
        return stages[key]

    return _rows(plan, stage_of, grid, provenance)


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
