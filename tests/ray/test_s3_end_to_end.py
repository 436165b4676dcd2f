"""The granularity smoke experiment (two arms) with ``--storage s3://...`` against a local S3
server (moto's server mode, in a process of its own; credentials from the environment,
the endpoint from ``AWS_ENDPOINT_URL``): synthetic shards, Tune's and Train's state, the
checkpoints, the results, the report, the Optuna journals and the logs all land in the
bucket; ``--resume`` from the bucket records nothing twice; ``python -m analysis s3://...``
rebuilds the tables from it.

The second test is an outage of the S3 endpoint in the middle of the first search (a TCP
forwarder in front of the server, killed and started again): a clear error naming the
storage, nothing stored lost, and ``--resume`` completing. It takes about 5 min and is
marked ``slow`` (``make test-slow``); the first one is in ``make test``."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hmgray.results import read_results
from hmgray.training.checkpoint import read_state
from tests.ray.procs import kill_session, run_in_new_session

pytestmark = pytest.mark.ray

BUCKET = "hmgray-e2e"
OUTAGE_BOUND_S = 180  # how long the experiment may take to give up once S3 is gone


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


def _keys(client, prefix, bucket=BUCKET):
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
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


OUTAGE_BUCKET = "hmgray-outage"


def _start_proxy(listen: int, target: int) -> subprocess.Popen:
    """The S3 endpoint the experiment sees: a TCP forwarder to the moto server
    (``tests/ray/tcp_proxy.py``); killing it is the outage, the bucket lives on."""
    proxy = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("tcp_proxy.py")), str(listen), str(target)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert "forwarding" in proxy.stdout.readline()
    return proxy


@pytest.mark.slow
def test_a_storage_outage_fails_naming_the_storage_and_resume_completes(
    s3_env, tmp_path, monkeypatch
):
    """The S3 endpoint goes away while the first search is training: the experiment exits
    non-zero naming the storage, what the bucket held stays readable, and ``--resume`` once
    the endpoint is back records every planned run exactly once."""
    env, client = s3_env
    client.create_bucket(Bucket=OUTAGE_BUCKET)
    moto_port = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    port = _free_port()
    outage_env = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "experiments/granularity_ablation.py", "--smoke-test",
           "--arms", "global,full", "--storage", f"s3://{OUTAGE_BUCKET}/runs",
           "--name", "outage"]  # fmt: skip

    proxy = _start_proxy(port, moto_port)
    run = subprocess.Popen(
        cmd, env=outage_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        # the outage: once the first search run has checkpointed an epoch in the bucket
        deadline = time.time() + 400
        while time.time() < deadline and run.poll() is None:
            keys = _keys(client, "runs/outage/train/", OUTAGE_BUCKET)
            if any(k.endswith("/hmgray-checkpoint.json") for k in keys):
                break
            time.sleep(0.5)
        assert run.poll() is None, "the experiment ended before the outage"
        stored_before = set(_keys(client, "runs/outage/", OUTAGE_BUCKET))
        proxy.kill()
        proxy.wait()
        t_outage = time.time()
        try:
            out, _ = run.communicate(timeout=OUTAGE_BOUND_S + 120)
        except subprocess.TimeoutExpired:
            kill_session(run.pid)
            out, _ = run.communicate()
            pytest.fail(f"the experiment did not give up within the bound:\n{out[-4000:]}")
        gave_up_after = time.time() - t_outage
    finally:
        kill_session(run.pid, grace_s=15)
        proxy.kill()
    print(f"outage: the experiment exited {run.returncode} after {gave_up_after:.0f}s")
    print(out[-3000:])
    assert run.returncode == 1, out[-4000:]
    error = out.rsplit("\nerror: ", 1)[-1]
    assert f"'s3://{OUTAGE_BUCKET}/runs/outage/" in error.splitlines()[0], out[-4000:]
    assert f"Once s3://{OUTAGE_BUCKET}/runs/outage is reachable again" in error, error
    assert "--resume --name outage" in error, error
    assert "the logs could not be stored" in out, out[-4000:]  # and are not the error
    # nothing stored before the outage was lost or torn
    stored_after = set(_keys(client, "runs/outage/", OUTAGE_BUCKET))
    assert stored_before <= stored_after

    for key in stored_before:
        data = client.get_object(Bucket=OUTAGE_BUCKET, Key=key)["Body"].read()
        if key.endswith(("/data/manifest.json", "/experiment.json")):
            json.loads(data)  # hmgray's own (Tune's result.json logs may be empty so far)
        if key.endswith("/hmgray-checkpoint.json"):  # a checkpoint that was whole stays whole
            prefix = key.rsplit("/", 1)[0]
            folder = tmp_path / prefix.rsplit("/", 1)[1]
            folder.mkdir(exist_ok=True)
            for name in ("hmgray-checkpoint.json", "state.pt"):
                obj = client.get_object(Bucket=OUTAGE_BUCKET, Key=f"{prefix}/{name}")
                (folder / name).write_bytes(obj["Body"].read())
            read_state(folder)  # the loader a resumed run uses: raises if torn

    # the endpoint is back: --resume finishes with every planned run recorded once
    proxy = _start_proxy(port, moto_port)
    try:
        again, log = run_in_new_session([*cmd, "--resume"], 600, env=outage_env)
    finally:
        proxy.kill()
    if again is None:
        pytest.fail(f"--resume did not finish:\n{log[-3000:]}")
    assert again.returncode == 0, log[-5000:]
    for k in (k for k in env if k.startswith("AWS_")):  # this process reads it too
        monkeypatch.setenv(k, env[k])
    rows = read_results(f"s3://{OUTAGE_BUCKET}/runs/outage/results.parquet")[0].to_pylist()
    assert sorted((r["stage"], r["arm"]) for r in rows) == [
        ("confirm", "full"), ("confirm", "global"), ("search", "full"), ("search", "global")
    ]  # fmt: skip
    assert len({r["trial_id"] for r in rows}) == len(rows)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
