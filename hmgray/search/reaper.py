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
