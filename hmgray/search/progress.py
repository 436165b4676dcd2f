"""What a person watches while a stage runs: a progress line per finished run, and each
arm's Optuna study mirrored into a journal file that ``optuna-dashboard`` reads.

Both are Tune callbacks in the experiment's driver process (module-level classes: Tune
pickles its callbacks).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from ray import tune

from hmgray.console import say
from hmgray.results import epochs_done
from hmgray.search.spaces import Space, to_optuna


def fmt(value: float) -> str:
    """A metric value for a person: whole numbers from 1000 up, 4 significant digits below."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class Progress(tune.Callback):
    """One line per finished run: runs done / total, the best validation value so far,
    elapsed time and an estimate of the time left (elapsed / done x runs left: runs of
    one stage have the same budget, ASHA only shortens them)."""

    def __init__(self, label: str, total: int, metric: str, mode: str, metric_label: str):
        self.label, self.total = label, int(total)
        self.metric, self.mode, self.metric_label = metric, mode, metric_label
        self.done, self.errors = 0, 0
        self.best = math.nan
        self.t0 = time.time()

    def _better(self, value: float) -> bool:
        if math.isnan(self.best):
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def _line(self, trial, ok: bool) -> None:
        self.done += 1
        self.errors += not ok
        value = (trial.last_result or {}).get(self.metric)
        if ok and isinstance(value, (int, float)) and math.isfinite(value) and self._better(value):
            self.best = float(value)
        elapsed = time.time() - self.t0
        left = elapsed / self.done * (self.total - self.done)
        width = 20
        filled = round(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        best = "-" if math.isnan(self.best) else fmt(self.best)
        errs = f", {self.errors} failed" if self.errors else ""
        say(
            f"[{self.label}] [{bar}] {self.done}/{self.total} runs{errs}; best val "
            f"{self.metric_label} {best}; {_clock(elapsed)} elapsed, ~{_clock(left)} left"
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._line(trial, ok=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, ok=False)


class OptunaJournal(tune.Callback):
    """Mirrors one arm's search into an Optuna journal file, live: each finished trial
    becomes a study trial with its sampled parameters and its per-epoch validation values
    (intermediate values). A trial that ran its ``max_t`` epochs is COMPLETE with its last
    value; one that ASHA stopped earlier is PRUNED (Optuna's word for it); a failed trial
    is FAIL.

    Why a mirror and not ``OptunaSearch(storage=...)``: Tune checkpoints its searcher by
    pickling it, and a journal storage holds a thread lock that cannot be pickled. The
    searcher keeps its in-memory study; this callback writes what it decided.
    ``optuna-dashboard <experiment>/optuna/<arm>.journal`` shows it, during the run or
    after.
    """

    def __init__(self, folder: str, study: str, space: Space, metric: str, mode: str, max_t: int):
        self.path = os.path.join(folder, f"{study}.journal")
        self.max_t = int(max_t)
        self.study_name, self.space = study, space
        self.metric, self.mode = metric, mode
        self.history: dict[str, dict[int, float]] = {}
        self._study = None

    def _open(self):
        if self._study is None:
            import optuna
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self._study = optuna.create_study(
                storage=JournalStorage(JournalFileBackend(self.path)),
                study_name=self.study_name,
                direction="minimize" if self.mode == "min" else "maximize",
                load_if_exists=True,
            )
        return self._study

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            step = epochs_done(result)
            self.history.setdefault(trial.trial_id, {})[step] = float(value)

    def _add(self, trial, failed: bool) -> None:
        import optuna

        params: dict[str, Any] = {k: trial.config[k] for k in self.space if k in trial.config}
        history = self.history.pop(trial.trial_id, {})
        last = trial.last_result or {}
        value = last.get(self.metric)
        ok = not failed and isinstance(value, (int, float)) and math.isfinite(value)
        State = optuna.trial.TrialState
        state = State.FAIL
        if ok:
            done = epochs_done(last) >= self.max_t
            state = State.COMPLETE if done else State.PRUNED
        frozen = optuna.trial.create_trial(
            params=params,
            distributions={k: d for k, d in to_optuna(self.space).items() if k in params},
            value=float(value) if state == State.COMPLETE else None,
            intermediate_values=history,
            user_attrs={"tune_trial_id": trial.trial_id},
            state=state,
        )
        try:
            self._open().add_trial(frozen)
        except Exception as exc:  # a dashboard mirror must never fail the search
            say(f"  (could not record trial {trial.trial_id} in {self.path}: {exc})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._add(trial, failed=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._add(trial, failed=True)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_study"] = None  # reopened from the file after a restore
        return state
