"""A fair ablation: every arm gets the same search budget, then shared-seed confirmation.

Stage 1 (search), per arm: Ray Tune + ``OptunaSearch`` (TPE, seeded) over the arm's own
space (:mod:`hmgray.search.spaces`) with ASHA early stopping on the validation metric;
every arm gets ``num_samples`` trials and the same ASHA settings. The arm's best
configuration is picked on *validation* only (last reported ``val_mse``).
Stage 2 (confirm): each arm's best configuration is trained again, for the full number
of epochs, on the same K seeds for every arm, and evaluated once on *test*.

Each trial is a Train V2 driver (:func:`hmgray.training.driver.run_trial`) that reserves
0.01 CPU; its Train worker group holds the real resources, and
:class:`~hmgray.search.reaper.PlacementGroupReaper` releases it when ASHA stops the trial.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import ray.data
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from hmgray import storage
from hmgray.errors import HmgrayError
from hmgray.results import run_row
from hmgray.search.reaper import PlacementGroupReaper
from hmgray.search.spaces import hmgnet_space, to_tune
from hmgray.training.driver import Resources, run_trial

TRIAL_DRIVER_CPU = 0.01  # the trial function only waits on its TorchTrainer


def say(msg: str) -> None:
    """Progress output (a module function: Tune pickles its callbacks)."""
    print(msg, flush=True)


@dataclasses.dataclass(frozen=True)
class AblationPlan:
    """Everything that defines the search and confirmation stages of one experiment."""

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
    metric: str = "val_mse"
    mode: str = "min"


class Progress(tune.Callback):
    """One line per finished trial, so a long run shows where it is."""

    def __init__(self, label: str, total: int, max_epochs: int):
        self.label, self.total, self.max_epochs = label, total, max_epochs
        self.done = 0
        self.t0 = time.time()

    def _line(self, trial, status: str) -> None:
        self.done += 1
        r = trial.last_result or {}
        cfg = trial.config.get("run", trial.config)
        epochs = r.get("training_iteration", 0)
        val = r.get("val_mse", float("nan"))
        test = r.get("test_mse")
        stopped = " (stopped early by ASHA)" if status == "ok" and epochs < self.max_epochs else ""
        extra = f" test_mse={test:.1f}" if isinstance(test, float) else ""
        say(
            f"[{self.label}] {self.done}/{self.total} {cfg.get('arm')} seed={cfg.get('seed')} "
            f"trial={trial.trial_id} {status}: val_mse={val:.1f}{extra} "
            f"epochs={epochs}/{self.max_epochs}{stopped}  "
            f"[{time.time() - self.t0:.0f}s into stage]"
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._line(trial, "ok")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "ERROR")


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


def _trainable(plan: AblationPlan, datasets, market, root: str):
    fn = tune.with_parameters(
        run_trial,
        datasets=datasets,
        market=market,
        resources=plan.resources,
        train_storage=storage.join(root, "train"),
    )
    return tune.with_resources(fn, {"CPU": TRIAL_DRIVER_CPU})


def _rows(plan, stage, grid, provenance) -> list[dict[str, Any]]:
    rows = []
    for res in grid:
        cfg = res.config.get("run", res.config)
        err = None if res.error is None else f"{type(res.error).__name__}: {res.error}"[:2000]
        metrics = dict(res.metrics or {})
        rows.append(
            run_row(
                experiment=plan.experiment,
                dataset=plan.dataset,
                stage=stage,
                trial_id=str(metrics.get("trial_id") or res.path.rsplit("/", 1)[-1]),
                config=cfg,
                metrics=metrics,
                max_epochs=plan.epochs,
                error=err,
                provenance=provenance,
            )
        )
    rows.sort(key=lambda r: r["trial_id"])
    return rows


def run_search(
    plan: AblationPlan,
    arm: str,
    datasets: dict[str, ray.data.Dataset],
    market: dict,
    root: str,
    provenance: dict[str, str],
    *,
    resume: bool = False,
    echo: Callable[[str], None] = say,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tune one arm; return its best configuration (by validation) and its result rows."""
    space = to_tune(hmgnet_space(arm))
    param_space = {
        **plan.fixed,
        "arm": arm,
        "epochs": plan.epochs,
        "seed": plan.search_seed,
        "eval_test": False,
        **space,
    }
    echo(
        f"== search {arm}: {plan.num_samples} trials, OptunaSearch(TPE, seed={plan.search_seed})"
        f" + ASHA(max_t={plan.epochs}, grace={plan.grace_period}, rf={plan.reduction_factor})"
    )
    tune_config = tune.TuneConfig(
        metric=plan.metric,
        mode=plan.mode,
        num_samples=plan.num_samples,
        search_alg=OptunaSearch(seed=plan.search_seed),
        scheduler=ASHAScheduler(
            time_attr="training_iteration",
            max_t=plan.epochs,
            grace_period=plan.grace_period,
            reduction_factor=plan.reduction_factor,
        ),
        max_concurrent_trials=plan.max_concurrent,
    )
    callbacks = [PlacementGroupReaper(), Progress(f"search {arm}", plan.num_samples, plan.epochs)]
    grid = _tuner(
        f"search-{arm}",
        _trainable(plan, datasets, market, root),
        param_space,
        tune_config,
        root,
        callbacks,
        resume,
    ).fit()
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
        f"   best {arm}: {plan.metric}={best.metrics[plan.metric]:.1f} "
        + " ".join(f"{k}={cfg[k]}" for k in sorted(hmgnet_space(arm)))
    )
    return cfg, rows


def run_confirmation(
    plan: AblationPlan,
    best: dict[str, dict[str, Any]],
    datasets: dict[str, ray.data.Dataset],
    market: dict,
    root: str,
    provenance: dict[str, str],
    *,
    resume: bool = False,
    echo: Callable[[str], None] = say,
) -> list[dict[str, Any]]:
    """Re-train each arm's best configuration on the shared seeds; evaluate on test."""
    runs = [
        {**best[arm], "seed": seed, "epochs": plan.epochs, "eval_test": True}
        for arm in plan.arms
        for seed in plan.seeds
    ]
    echo(f"== confirm: {len(plan.arms)} arms x seeds {list(plan.seeds)} = {len(runs)} runs on test")
    tune_config = tune.TuneConfig(max_concurrent_trials=plan.max_concurrent)
    callbacks = [PlacementGroupReaper(), Progress("confirm", len(runs), plan.epochs)]
    grid = _tuner(
        "confirm",
        _trainable(plan, datasets, market, root),
        {"run": tune.grid_search(runs)},
        tune_config,
        root,
        callbacks,
        resume,
    ).fit()
    return _rows(plan, "confirm", grid, provenance)
