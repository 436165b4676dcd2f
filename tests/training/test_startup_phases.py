"""benchmarks/trial_startup.py's cutting of a run's start-up into phases, on a hand-made
timeline: each phase is the gap between consecutive marks, and they add up to the time
from the trial actor's __init__ to the first batch."""

import pytest

from benchmarks.trial_startup import PHASES, actor_inits, phases


def _init(cls: str, start: float, dur: float) -> dict:
    return {"cat": f"task::{cls}.__init__", "name": "__init__", "ts": start * 1e6, "dur": dur * 1e6}


def test_phases_are_the_gaps_between_the_marks_and_the_actors_inits():
    events = [
        _init("ImplicitFunc", 90.0, 0.5),  # an earlier run's actors must not be picked
        _init("TrainController", 91.0, 1.0),
        _init("RayTrainWorker", 93.0, 0.2),
        _init("ImplicitFunc", 100.0, 0.5),
        {"cat": "task:execute", "name": "task:execute", "ts": 100.1e6, "dur": 1.0},  # not an init
        _init("TrainController", 103.0, 2.0),
        _init("RayTrainWorker", 108.0, 0.5),
        _init("DatasetManager", 109.0, 0.3),
    ]
    marks = dict(trial=101.0, fit=101.5, entry=110.0, imported=110.5, model=113.0,
                 shards=113.2, first_batch=115.0)  # fmt: skip
    got = phases(marks, actor_inits(events))
    assert tuple(got) == PHASES
    want = [0.5, 1.0, 3.5, 3.0, 0.5, 1.5, 0.5, 2.5, 0.2, 1.8]
    assert list(got.values()) == pytest.approx(want)
    assert sum(got.values()) == pytest.approx(115.0 - 100.0)


def test_a_timeline_without_the_train_actors_is_refused():
    with pytest.raises(SystemExit, match="TrainController"):
        phases(dict(trial=1.0, fit=1.0, entry=2.0, imported=2.0, model=2.0, shards=2.0,
                    first_batch=3.0), actor_inits([_init("ImplicitFunc", 0.5, 0.1)]))  # fmt: skip
