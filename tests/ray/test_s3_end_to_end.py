"""The granularity smoke experiment (two arms) with ``--storage s3://...`` against a local S3
server (moto's server mode, in a process of its own; credentials from the environment,
the endpoint from ``AWS_ENDPOINT_URL``): synthetic shards, Tune's and Train's state, the
checkpoints, the results, the report, the Optuna journals and the logs all land in the
bucket; ``--resume`` from the bucket records nothing twice; ``python -m analysis s3://...``
rebuilds the tables from it."""

import os
import socket
import subprocess
import sys
import time

import pytest

from hmgray.results import read_results
from tests.ray.procs import run_in_new_session

pytestmark = pytest.mark.ray

BUCKET = "hmgray-e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """A moto S3 server process with one bucket; yields the environment that reaches it."""
    import boto3

    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never probe an instance metadata endpoint
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("AWS_PROFILE", None)
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    for _ in range(60):  # the server takes a few seconds to listen
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the moto S3 server did not start")
    try:
        yield env, client
    finally:
        server.kill()
        server.wait()
        log.close()


def _keys(client, prefix):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _experiment(env, *extra):
    cmd = [sys.executable, "experiments/granularity_ablation.py", "--smoke-test",
           "--arms", "global,full", "--storage", f"s3://{BUCKET}/runs", "--name", "e2e",
           *extra]  # fmt: skip
    run, log = run_in_new_session(cmd, 600, env=env)
    if run is None:
        pytest.fail(f"the experiment did not finish:\n{log[-3000:]}")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    return run


def test_the_whole_experiment_lives_in_the_bucket(s3_env, tmp_path, monkeypatch):
    env, client = s3_env
    _experiment(env)
    keys = _keys(client, "runs/e2e/")
    where = {k.split("/")[2] for k in keys}
    assert {"data", "search-global", "search-full", "confirm", "train", "optuna", "report",
            "logs", "results.parquet", "experiment.json"} <= where, sorted(where)  # fmt: skip
    assert any(k.endswith("data/manifest.json") for k in keys)
    assert any(k.endswith("report/ladder.md") for k in keys)
    assert any(k.startswith("runs/e2e/optuna/") and k.endswith(".journal") for k in keys)

    uri = f"s3://{BUCKET}/runs/e2e/results.parquet"
    for k in (k for k in env if k.startswith("AWS_")):  # this process reads it too
        monkeypatch.setenv(k, env[k])
    rows = read_results(uri)[0].to_pylist()
    assert sorted((r["stage"], r["arm"]) for r in rows) == [
        ("confirm", "full"), ("confirm", "global"), ("search", "full"), ("search", "global")
    ]  # fmt: skip
    assert all(r["status"] == "ok" and r["restarts"] == 0 for r in rows)
    # each confirmation run keeps its last checkpoint, whole, in the bucket
    for r in rows:
        ckpts = {k.rsplit("/", 2)[1] for k in keys if f"/train/train-{r['trial_id']}/epoch-" in k}
        assert ckpts == (set() if r["stage"] == "search" else {"epoch-0002"}), (r, ckpts)

    # --resume from the bucket: nothing is run or recorded twice
    _experiment(env, "--resume")
    again = read_results(uri)[0].to_pylist()
    assert sorted(r["trial_id"] for r in again) == sorted(r["trial_id"] for r in rows)

    # the tables, rebuilt from the bucket
    out = tmp_path / "report"
    rebuilt = subprocess.run(
        [sys.executable, "-m", "analysis", uri, "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    stored = client.get_object(Bucket=BUCKET, Key="runs/e2e/report/ladder.md")["Body"].read()
    assert (out / "ladder.md").read_bytes() == stored
