"""Optuna hyperparameter importances of one arm's search, rebuilt from the results table.

The study is rebuilt from the ``search`` rows: one ``optuna.trial.create_trial`` per
completed trial (finite search metric), with the searched values read from
``config_json`` and distributions built from the metadata ``search_space``. Importances
come from fANOVA (seeded, so stable) when scikit-learn is installed, else PED-ANOVA
(deterministic). Whenever importances cannot mean anything (fewer than 2 completed
trials, a single searched parameter) the result carries a message instead.
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

MIN_TRIALS = 2


@dataclass(frozen=True)
class Importance:
    """``values`` (param -> importance, summing to 1) or None with ``message`` saying why."""

    values: dict[str, float] | None
    evaluator: str
    n_trials: int
    message: str


def distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Optuna distributions of a metadata ``search_space`` entry (contracts §5)."""
    from hmgray.search.spaces import to_optuna

    return to_optuna(space)


def evaluator_name() -> str:
    return "fANOVA (seed 0)" if importlib.util.find_spec("sklearn") else "PED-ANOVA"


def param_importances(
    rows: pd.DataFrame, space: dict[str, dict[str, Any]] | None, metric: str, mode: str
) -> Importance:
    """Importances of the searched parameters for ``rows`` (one arm's search, in order)."""
    name = evaluator_name()
    if not space:
        return Importance(None, name, 0, "no search space in the metadata")
    if len(space) < 2:
        only = next(iter(space))
        return Importance(
            None, name, 0, f"one searched parameter ({only}): importance is 1 by definition"
        )
    import optuna

    dists = distributions(space)
    trials, skipped = [], 0
    for config_json, value in zip(rows["config_json"], rows[metric], strict=True):
        if value is None or not math.isfinite(float(value)):
            continue  # not completed: no value to explain
        config = json.loads(config_json)
        params = {k: config.get(k) for k in dists}
        try:
            trials.append(
                optuna.trial.create_trial(params=params, distributions=dists, value=float(value))
            )
        except ValueError:  # value missing or outside the declared space
            skipped += 1
    note = f" ({skipped} outside the search space)" if skipped else ""
    if len(trials) < MIN_TRIALS:
        n = len(trials)
        return Importance(
            None,
            name,
            n,
            f"{n} completed trial{'' if n == 1 else 's'}{note}: too few (need {MIN_TRIALS})",
        )
    if len({t.value for t in trials}) < 2:
        return Importance(None, name, len(trials), f"all {len(trials)} trials have the same value")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" chatter
    try:
        study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
        study.add_trials(trials)
        if name.startswith("fANOVA"):
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        else:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning for PED-ANOVA
            values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as e:  # an evaluator failing on odd data must not stop the report
        return Importance(None, name, len(trials), f"not computable: {e}")
    finally:
        optuna.logging.set_verbosity(verbosity)
    return Importance({k: float(v) for k, v in values.items()}, name, len(trials), note.strip())
