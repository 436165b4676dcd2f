"""A finished trial's checkpoints: a search trial keeps none, a confirmation run its last;
an errored trial keeps them all (--resume goes on from them)."""

from types import SimpleNamespace

from hmgray.search.reaper import CheckpointPruner
from hmgray.training import checkpoint as ckpt


def _run(train, trial_id, epochs=(3, 4)):
    run = train / f"train-{trial_id}"
    for e in epochs:
        ckpt.write_state(run / ckpt.dir_name(e), {"epoch": e})
    (run / "checkpoint_manager_snapshot.json").write_text("{}")  # Ray's own: left alone
    return run


def _left(run):
    return sorted(p.name for p in run.iterdir())


def test_search_trials_keep_none_and_confirmation_runs_their_last(tmp_path):
    train = tmp_path / "train"
    search, confirm = _run(train, "s1"), _run(train, "c1")
    CheckpointPruner(str(train), keep=0).on_trial_complete(0, [], SimpleNamespace(trial_id="s1"))
    CheckpointPruner(str(train), keep=1).on_trial_complete(0, [], SimpleNamespace(trial_id="c1"))
    assert _left(search) == ["checkpoint_manager_snapshot.json"]
    assert _left(confirm) == ["checkpoint_manager_snapshot.json", "epoch-0004"]


def test_an_errored_trial_and_a_missing_run_are_left_alone(tmp_path):
    train = tmp_path / "train"
    run = _run(train, "e1")
    pruner = CheckpointPruner(str(train), keep=0)
    pruner.on_trial_error(0, [], SimpleNamespace(trial_id="e1"))
    assert _left(run) == ["checkpoint_manager_snapshot.json", "epoch-0003", "epoch-0004"]
    pruner.on_trial_complete(0, [], SimpleNamespace(trial_id="never-ran"))  # no error
