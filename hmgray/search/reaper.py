"""Release the Train worker group of a trial that Tune stopped.

Why this exists (measured with Ray 2.60 on 2 CPUs): a Tune trial that runs a nested
``TorchTrainer`` owns a Train controller actor, and the controller creates the worker
group's placement group. When ASHA stops the trial, Tune kills the trial actor and the
controller dies with it, but a placement group lives as long as its *job*, not its
creator actor. Ray Train's own ``PlacementGroupCleaner`` would remove it, but it
polls the State API, which needs the dashboard; without one (an embedded local Ray,
or a cluster started without it) the stopped trial's CPUs stay reserved and the next
trial waits forever ("worker group startup timed out ... waiting for 1 workers").
ASHA also stops every trial that reaches ``max_t`` (its last report, before the Train
run can shut down cleanly), so in a search *every* trial needs this, not only the ones
cut at a rung: without it, a search on 2 CPUs that runs one trial at a time hangs
after its first trial (tests/ray/test_asha.py; measured: no second trial in 400 s).

The worker reports its placement group id (``worker_pg``) with every epoch's
metrics; this callback remembers it per trial and removes the group as soon as the
trial ends, whatever ended it (completed, stopped by the scheduler, errored). Removing
the group of a run that already released it is a no-op.
"""

from __future__ import annotations

import logging

import ray
from ray import tune
from ray._raylet import PlacementGroupID
from ray.util.placement_group import PlacementGroup, placement_group_table

logger = logging.getLogger(__name__)


class PlacementGroupReaper(tune.Callback):
    def __init__(self) -> None:
        self._groups: dict[str, str] = {}
        self.removed: list[str] = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        pg = result.get("worker_pg")
        if pg:
            self._groups[trial.trial_id] = pg

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._release(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._release(trial.trial_id)

    def _release(self, trial_id: str) -> None:
        pg_hex = self._groups.pop(trial_id, None)
        if not pg_hex:
            return
        pg = PlacementGroup(PlacementGroupID(bytes.fromhex(pg_hex)))
        try:
            state = placement_group_table(pg).get("state")
            if state not in (None, "REMOVED"):
                ray.util.remove_placement_group(pg)
                self.removed.append(trial_id)
        except Exception as exc:  # never let clean-up fail the experiment
            logger.warning("could not release placement group of trial %s: %s", trial_id, exc)


class CheckpointPruner(tune.Callback):
    """Delete a finished trial's epoch checkpoints but its last ``keep``.

    A run's checkpoints (``hmgray.training.checkpoint``, one per epoch, Ray keeps two)
    are there to go on after a failure; once the trial has completed, a search trial's
    are of no further use (its results are in the table: ``keep=0``) and a confirmation
    run keeps its final model (``keep=1``). The HMG-Net default model's checkpoint is
    7 MiB (``benchmarks/checkpoint_cost.py``), so this is the difference between a few
    and a few hundred MiB per experiment. A trial that errored keeps its checkpoints:
    ``--resume`` restarts it from them.
    """

    def __init__(self, train_storage: str, keep: int) -> None:
        self.train_storage, self.keep = train_storage, int(keep)

    def on_trial_complete(self, iteration, trials, trial, **info):
        from hmgray import storage
        from hmgray.training.checkpoint import epoch_dirs
        from hmgray.training.driver import train_run_name

        run = storage.join(self.train_storage, train_run_name(trial.trial_id))
        try:
            names = epoch_dirs(*storage.resolve(run))
            for name in names[: max(0, len(names) - self.keep)]:
                storage.remove(storage.join(run, name))
        except Exception as exc:  # never let clean-up fail the experiment
            logger.warning("could not prune the checkpoints of trial %s: %s", trial.trial_id, exc)
