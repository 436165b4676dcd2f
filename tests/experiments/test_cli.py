"""experiments/granularity_ablation.py from the command line: flag errors and bad data.

Every case runs the script as a subprocess (as a user would). Flag errors stop in
argparse (exit 2, before any heavy import); bad ``--data`` stops in shard verification,
which runs before Ray starts, so no case here starts a Ray cluster.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hmgray import storage
from hmgray.families.valuation.data.synth import write_synthetic_valuation

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "experiments" / "granularity_ablation.py"


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
        (["--num-samples", "0"], "--num-samples"),
        (["--num-samples", "two"], "--num-samples"),
        (["--seeds", "x"], "--seeds"),
        (["--seeds", "0"], "--seeds"),  # a count of zero seeds: nothing to confirm on
        (["--seeds", "1,1"], "--seeds"),
        (["--arms", "global,bogus"], "--arms"),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial"),
        (["--gpus-per-trial", "nan"], "--gpus-per-trial"),
        (["--epochs", "-3"], "--epochs"),
        (["--resume"], "--resume"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_flag_value_exits_2_naming_the_flag(tmp_path, args, flag):
    run = run_cli(*args, "--storage", str(tmp_path), timeout=30)
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert flag in last, run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unknown_arm_lists_the_valid_ones(tmp_path):
    run = run_cli("--arms", "global,bogus", "--storage", str(tmp_path), timeout=30)
    assert "bogus" in run.stderr and "global, micro, meso, full" in run.stderr


# -- bad data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clean") / "shards"
    write_synthetic_valuation(str(d), n=60, seed=0)
    return d


@pytest.fixture
def data(clean_data, tmp_path) -> Path:
    """A private copy of the clean dataset, to corrupt."""
    d = tmp_path / "shards"
    d.mkdir()
    for f in clean_data.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    return d


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def _shard(d: Path, split: str) -> tuple[int, Path]:
    files = _manifest(d)["files"]
    i = next(i for i, f in enumerate(files) if f["split"] == split)
    return i, d / files[i]["path"]


def flip_a_byte(d: Path) -> tuple[str, str]:
    """Same size, different bytes: only the sha256 can tell."""
    i, path = _shard(d, "val")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path.name, f"files[{i}].sha256"


def remove_a_shard(d: Path) -> tuple[str, str]:
    i, path = _shard(d, "test")
    path.unlink()
    return path.name, f"files[{i}].path"


def bump_schema_version(d: Path) -> tuple[str, str]:
    raw = _manifest(d)
    raw["schema_version"] = 99
    (d / "manifest.json").write_text(json.dumps(raw))
    return "manifest.json", "schema_version"


def nan_prices(d: Path) -> tuple[str, str]:
    """A shard whose hash is right (the manifest is updated) but whose prices are NaN."""
    i, path = _shard(d, "train")
    table = pq.read_table(path)
    price = table.column("price").to_pylist()
    price[0] = price[3] = float("nan")
    table = table.set_column(
        table.schema.get_field_index("price"), "price", pa.array(price, pa.float64())
    )
    data = storage.parquet_bytes(table, row_group_size=256)
    path.write_bytes(data)
    raw = _manifest(d)
    raw["files"][i].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (d / "manifest.json").write_text(json.dumps(raw))
    return path.name, "'price'"


@pytest.mark.parametrize(
    "corrupt",
    [flip_a_byte, remove_a_shard, bump_schema_version, nan_prices],
    ids=lambda f: f.__name__,
)
def test_bad_data_fails_before_ray_naming_file_and_field(data, tmp_path, corrupt):
    file, field = corrupt(data)
    runs = tmp_path / "runs"
    run = run_cli("--smoke-test", "--data", str(data), "--storage", str(runs), "--name", "bad")
    assert run.returncode == 1, run.stdout + run.stderr
    err = run.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and file in err and field in err, run.stderr
    assert "Traceback" not in run.stderr
    assert "local Ray" not in run.stdout  # detected before Ray started
    experiment = runs / "bad"
    assert not (experiment / "report").exists()
    assert not (experiment / "results.parquet").exists()
    assert not (experiment / "experiment.json").exists()


def test_manifest_path_is_accepted_like_its_folder(data, tmp_path):
    """``--data .../manifest.json`` reads the same dataset (checked via a failure message)."""
    bump_schema_version(data)
    run = run_cli("--data", str(data / "manifest.json"), "--storage", str(tmp_path))
    assert run.returncode == 1 and "schema_version" in run.stderr
