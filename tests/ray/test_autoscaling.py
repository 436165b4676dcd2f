"""Autoscaling on Ray's fake multi-node provider (``cluster/fake-multinode.yaml``: the node
types of ``cluster/aws-gpu.yaml``, each node a local raylet process).

A token-authenticated head that offers no CPU and no GPU starts with the autoscaler and a
worker node type ``gpu`` (4 CPUs, 1 GPU; min 0, max 2). The smoke experiment (two arms) is
submitted with ``ray job submit``. No worker node is up when it starts, so the runs can
only go at once if the experiment sizes them by what the cluster may grow to and asks the
autoscaler for them; the test checks that it said so, that worker nodes were launched,
that the job finished with its table, and that the nodes are gone again afterwards.

The job is submitted without a ``working_dir``: every fake node is a raylet on this
machine, with this checkout and this venv, and they all share the head's session folder,
including the folder where a job's ``working_dir`` is unpacked. With one (in its first
runs), the job's driver lost its current directory mid-run (``FileNotFoundError`` from
``os.getcwd()`` in Tune) once the autoscaler had launched and ended nodes. Packaging the
working directory is ``tests/ray/test_job_submit.py``'s subject; this one's is the
autoscaler. About 4-7 min, so it is marked ``slow``: ``make test-slow`` runs it (with the
other cluster-level tests), ``make test`` leaves it out to keep CI's suite in its limit.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from hmgray.results import read_results
from tests.ray.test_job_submit import RAY, REPO, free_port, stop_head, wait_for_dashboard

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ARMS = ("global", "full")
JOB_TIMEOUT_S = 600

NODES = """
import json, ray
ray.init(address={address!r}, logging_level="ERROR")
print("NODES " + json.dumps([n["Resources"] for n in ray.nodes() if n["Alive"]]), flush=True)
"""


def alive_nodes(address: str, env: dict) -> list[dict]:
    """The resources of every alive node of the cluster at ``address``."""
    out = subprocess.run(
        [sys.executable, "-c", NODES.format(address=address)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    # the autoscaler's events ("Resized to ...") may be printed around it
    line = next(x for x in out.stdout.splitlines() if x.startswith("NODES "))
    return json.loads(line.removeprefix("NODES "))


def test_the_cluster_scales_up_for_the_runs_and_down_after(tmp_path):
    import ray._private.services

    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True)

    gcs, dash, client, agent = (free_port() for _ in range(4))
    address = f"{ray._private.services.get_node_ip_address()}:{gcs}"
    config = yaml.safe_load((REPO / "cluster" / "fake-multinode.yaml").read_text())
    config["provider"]["gcs_address"] = address
    config_path = tmp_path / "autoscaling.yaml"
    config_path.write_text(yaml.safe_dump(config))

    temp_dir = tempfile.mkdtemp(prefix="hmray")  # short: Ray's socket paths must stay < 108
    head_log = tmp_path / "head.log"
    head_env = {**env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--num-cpus", "0", "--num-gpus", "0",
         "--port", str(gcs), "--dashboard-port", str(dash),
         "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent),
         "--include-dashboard=true", "--disable-usage-stats", "--temp-dir", temp_dir,
         f"--autoscaling-config={config_path}"],
        env=head_env, stdout=head_log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    storage = tmp_path / "runs"
    try:
        assert wait_for_dashboard(dash, head, head_log) == 401  # token auth is on
        assert len(alive_nodes(address, env)) == 1  # the head alone: min_workers 0
        # no working_dir: the fake nodes share this machine's files (docstring)
        entrypoint = shlex.join(
            ["env", f"HMGRAY_AUTOSCALING_CONFIG={config_path}", "HMGRAY_GIT_COMMIT=autoscale-test",
             sys.executable, "experiments/granularity_ablation.py", "--smoke-test",
             "--arms", ",".join(ARMS), "--storage", str(storage), "--name", "auto"]
        )  # fmt: skip
        submit = subprocess.run(
            [RAY, "job", "submit", "--address", f"http://127.0.0.1:{dash}",
             "--submission-id", "hmgray-autoscale",
             "--", "sh", "-c", f"cd {shlex.quote(str(REPO))} && {entrypoint}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
        )  # fmt: skip
        out = submit.stdout + submit.stderr
        nodes_after_job = alive_nodes(address, env)  # before the idle timeout (15 s)
        assert submit.returncode == 0, out[-5000:]
        assert "Job 'hmgray-autoscale' succeeded" in out, out[-3000:]

        # the nodes go once idle
        deadline = time.time() + 180
        while len(nodes := alive_nodes(address, env)) > 1 and time.time() < deadline:
            time.sleep(5)
        monitor = "\n".join(
            p.read_text(errors="replace")
            for p in Path(temp_dir).glob("session_latest/logs/monitor*")
            if p.is_file()
        )
    finally:
        try:
            stop_head(head)
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)

    # sized by what the cluster may grow to, and the autoscaler asked for all runs at once
    assert "sized by the autoscaler's maximum (8 CPU, 2 GPU)" in out, out[-5000:]
    assert re.search(r"asked the autoscaler for \d+ Train worker bundles", out), out[-5000:]
    # worker nodes of the `gpu` type were launched for the runs (the autoscaler's log) ...
    launched = [int(n) for n in re.findall(r"Launching (\d+) nodes, type gpu", monitor)]
    assert sum(launched) >= 1, monitor[-3000:]
    print(f"launched {sum(launched)} gpu node(s); alive right after the job: {nodes_after_job}")
    # ... and gone again once idle
    assert len(nodes) == 1, nodes

    table, _ = read_results(str(storage / "auto" / "results.parquet"))
    rows = table.to_pylist()
    assert sorted(r["arm"] for r in rows if r["stage"] == "confirm") == sorted(ARMS)
    assert all(r["status"] == "ok" for r in rows)
    assert (storage / "auto" / "report" / "ladder.md").is_file()
