"""experiments/anchor_effectiveness.py from the command line: flag errors and bad data.

Every case runs the script as a subprocess, as a user would. Flag errors stop in argparse
(exit 2, before any heavy import); bad ``--data`` stops in shard verification and a
training split too small for the few-shot / long-tail sets stops in subset selection,
both before Ray starts, so no case here starts a Ray cluster.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hmgray.families.valuation.data.synth import write_synthetic_valuation
from tests.experiments.test_cli import bump_schema_version, flip_a_byte, nan_prices

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "anchor_effectiveness.py"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--k", "0,5"], "--k"),
        (["--k", "five"], "--k"),
        (["--k", "5,5"], "--k"),
        (["--longtail-k", "7"], "--longtail-k"),  # not one of --k
        (["--longtail-k", "-1"], "--longtail-k"),
        (["--zipf-s", "0"], "--zipf-s"),
        (["--zipf-s", "inf"], "--zipf-s"),
        (["--evals-per-epoch", "0"], "--evals-per-epoch"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "1,1"], "--seeds"),
        (["--num-samples", "x"], "--num-samples"),
        (["--epochs", "0"], "--epochs"),
        (["--gpus-per-trial", "nan"], "--gpus-per-trial"),
        (["--resume"], "--resume"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_flag_value_exits_2_naming_the_flag(tmp_path, args, flag):
    run = run_cli(*args, "--storage", str(tmp_path), timeout=30)
    assert run.returncode == 2, run.stderr
    assert flag in run.stderr.strip().splitlines()[-1], run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clean") / "shards"
    write_synthetic_valuation(str(d), n=60, seed=0)
    return d


@pytest.fixture
def data(clean_data, tmp_path) -> Path:
    d = tmp_path / "shards"
    d.mkdir()
    for f in clean_data.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    return d


def _nothing_written(experiment: Path) -> None:
    assert not (experiment / "results.parquet").exists()
    assert not (experiment / "experiment.json").exists()
    assert not (experiment / "report").exists()


@pytest.mark.parametrize(
    "corrupt", [flip_a_byte, bump_schema_version, nan_prices], ids=lambda f: f.__name__
)
def test_bad_data_fails_before_ray_naming_file_and_field(data, tmp_path, corrupt):
    file, field = corrupt(data)
    runs = tmp_path / "runs"
    run = run_cli("--smoke-test", "--data", str(data), "--storage", str(runs), "--name", "bad")
    assert run.returncode == 1, run.stdout + run.stderr
    err = run.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and file in err and field in err, run.stderr
    assert "Traceback" not in run.stderr and "local Ray" not in run.stdout
    _nothing_written(runs / "bad")


def test_too_few_listings_for_k_names_the_manifest_and_item_model(data, tmp_path):
    """60 listings: about 3 training listings per item model, fewer than k = 5."""
    runs = tmp_path / "runs"
    run = run_cli(
        "--data", str(data), "--k", "5", "--longtail-k", "5", "--storage", str(runs), "--name", "x"
    )
    assert run.returncode == 1, run.stdout + run.stderr
    err = run.stderr.strip().splitlines()[-1]
    assert str(data) in err and "few-shot k=5" in err and "item_model_id" in err, err
    assert "local Ray" not in run.stdout
    _nothing_written(runs / "x")


def test_generated_data_too_small_leaves_nothing_behind(tmp_path):
    runs = tmp_path / "runs"
    run = run_cli("--n-listings", "60", "--storage", str(runs), "--name", "small", timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    err = run.stderr.strip().splitlines()[-1]
    assert "few-shot k=5" in err and "--n-listings" in err, err
    assert not (runs / "small").exists()  # the generated data was removed again


def test_existing_experiment_is_not_overwritten(tmp_path):
    exp = tmp_path / "runs" / "taken"
    exp.mkdir(parents=True)
    (exp / "experiment.json").write_text(json.dumps({"plan": {}}))
    run = run_cli("--smoke-test", "--storage", str(tmp_path / "runs"), "--name", "taken")
    assert run.returncode == 1 and "already holds an experiment" in run.stderr
    assert sorted(p.name for p in exp.iterdir()) == ["experiment.json"]
