"""Per-epoch checkpoints: whole ones load, torn ones never do, and a torn latest one
falls back to the newest older whole one of the same run."""

import json
import random

import numpy as np
import pytest
import torch
from ray.train import Checkpoint

from hmgray.training import checkpoint as ckpt
from hmgray.training import loop


def _state(epoch):
    model = torch.nn.Linear(3, 2)
    torch.manual_seed(epoch)
    return {"epoch": epoch, "model": model.state_dict(), "curve": {"step": [epoch]}}


def test_a_whole_checkpoint_round_trips(tmp_path):
    state = _state(3)
    ckpt.write_state(tmp_path / "c", state)
    back = ckpt.read_state(tmp_path / "c")
    assert back["epoch"] == 3 and back["curve"] == {"step": [3]}
    for k, v in state["model"].items():
        assert torch.equal(back["model"][k], v)
    manifest = json.loads((tmp_path / "c" / ckpt.MANIFEST_FILE).read_text())
    assert manifest["epoch"] == 3 and manifest["files"][ckpt.STATE_FILE]["bytes"] > 0


@pytest.mark.parametrize(
    "tear, says",
    [
        ("no-manifest", "no hmgray-checkpoint.json"),
        ("truncated-state", "does not match its manifest"),
        ("flipped-byte", "does not match its manifest"),
        ("no-state", "no state.pt"),
        ("half-manifest", "unreadable"),
        ("stale-state", "does not match its manifest"),  # Ray #41700: leftovers of an attempt
    ],
)
def test_a_torn_checkpoint_is_refused_naming_why(tmp_path, tear, says):
    d = ckpt.write_state(tmp_path / "c", _state(2))
    state, manifest = d / ckpt.STATE_FILE, d / ckpt.MANIFEST_FILE
    if tear == "no-manifest":
        manifest.unlink()
    elif tear == "truncated-state":
        state.write_bytes(state.read_bytes()[:-10])
    elif tear == "flipped-byte":
        data = bytearray(state.read_bytes())
        data[len(data) // 2] ^= 0xFF
        state.write_bytes(bytes(data))
    elif tear == "no-state":
        state.unlink()
    elif tear == "half-manifest":
        manifest.write_text(manifest.read_text()[:20])
    elif tear == "stale-state":  # another attempt's state file under this manifest
        other = ckpt.write_state(tmp_path / "other", _state(1))
        state.write_bytes((other / ckpt.STATE_FILE).read_bytes())
    with pytest.raises(ckpt.TornCheckpoint, match=says):
        ckpt.read_state(d)


def test_a_torn_latest_checkpoint_falls_back_to_the_newest_whole_one(tmp_path):
    run = tmp_path / "train-x"
    for e in (1, 2, 3):
        ckpt.write_state(run / ckpt.dir_name(e), _state(e))
    (run / ckpt.dir_name(3) / ckpt.MANIFEST_FILE).unlink()  # the upload of epoch 3 was cut
    (run / "checkpoint_manager_snapshot.json").write_text("{}")  # Ray's own files are skipped
    state, skipped = ckpt.load_latest(Checkpoint(str(run / ckpt.dir_name(3))))
    assert state["epoch"] == 2
    assert len(skipped) == 1 and "epoch-0003" in skipped[0]


def test_no_whole_checkpoint_means_starting_over(tmp_path):
    run = tmp_path / "train-x"
    ckpt.write_state(run / ckpt.dir_name(1), _state(1))
    (run / ckpt.dir_name(1) / ckpt.STATE_FILE).write_bytes(b"torn")
    state, skipped = ckpt.load_latest(Checkpoint(str(run / ckpt.dir_name(1))))
    assert state is None and len(skipped) == 1
    assert ckpt.load_latest(None) == (None, [])


def test_the_generators_state_round_trips_through_a_checkpoint(tmp_path):
    loop.seed_everything(7)
    random.random(), np.random.rand(), torch.rand(1)
    ckpt.write_state(tmp_path / "c", {"epoch": 1, "rng": loop.get_rng_state()})
    want = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    loop.seed_everything(99)  # a fresh worker process seeds itself first
    loop.set_rng_state(ckpt.read_state(tmp_path / "c")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == want
