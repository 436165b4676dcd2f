"""`ray job submit` of the smoke experiment to a token-authenticated local head node.

The path a cluster run takes, on this machine: `ray start --head` with the dashboard and
RAY_AUTH_MODE=token, then `ray job submit --runtime-env cluster/runtime_env.yaml` from
the repository root. How the job finds its code and its Python:

* code: Ray zips the repository (the runtime env's ``working_dir: .``, minus its
  excludes), unpacks it for the job, runs the entrypoint inside it and puts it first
  on every worker's PYTHONPATH, so ``experiments/granularity_ablation.py`` is a
  relative path and ``import hmgray`` reads the uploaded copy;
* Python: the entrypoint names this venv's interpreter by absolute path (a bare
  ``python`` would be whatever the head's PATH finds); the workers use the interpreter
  that runs ``ray start``, this venv's too;
* provenance: ``.git`` is not uploaded, so the commit comes in HMGRAY_GIT_COMMIT.

The head runs in its own session (``ray start --block``) and is stopped by killing that
session's processes, never with ``ray stop``, which stops every Ray on the machine.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hmgray.results import read_results
from tests.ray.procs import kill_session, session_processes

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
# Two arms: the job path is what is tested here (test_smoke.py runs all four locally),
# and it shortens the run.
ARMS = ("global", "full")
JOB_TIMEOUT_S = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_head(head: subprocess.Popen) -> None:
    """SIGTERM the head's process group (GCS, raylet, dashboard), then SIGKILL whatever
    of its session is left after a few seconds (see tests/ray/procs.py): `ray start
    --block` itself takes over 30 s to go on SIGTERM, a test cluster need not wait."""
    try:
        os.killpg(head.pid, signal.SIGTERM)  # start_new_session: pgid == sid == head.pid
        head.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    kill_session(head.pid, grace_s=5)
    if head.poll() is None:
        head.kill()
        head.wait()
    assert not session_processes(head.pid)


def wait_for_dashboard(port: int, head: subprocess.Popen, log: Path, timeout: float = 120) -> int:
    """Until the dashboard answers; returns the HTTP status of an unauthenticated call."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert head.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            time.sleep(1)
    pytest.fail(f"dashboard on port {port} did not come up in {timeout}s")


@pytest.mark.ray
def test_job_submit_to_a_token_authenticated_head(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    # the token: ~/.ray/auth_token, made if missing (`ray start` will not make one)
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True)

    gcs, dash, client, agent = (free_port() for _ in range(4))
    temp_dir = tempfile.mkdtemp(prefix="hmray")  # short: Ray's socket paths must stay < 108
    head_log = tmp_path / "head.log"
    t0 = time.time()
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--num-cpus",
            "2",
            "--port",
            str(gcs),
            "--dashboard-port",
            str(dash),
            "--ray-client-server-port",
            str(client),
            "--dashboard-agent-listen-port",
            str(agent),
            "--include-dashboard=true",
            "--disable-usage-stats",
            "--temp-dir",
            temp_dir,
        ],
        env=env,
        stdout=head_log.open("w"),  # a file, not a pipe nobody reads while it runs
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # token auth is on: the dashboard refuses a request without the token
        assert wait_for_dashboard(dash, head, head_log) == 401
        t_head = time.time() - t0
        storage = tmp_path / "runs"
        submit = subprocess.run(
            [
                RAY,
                "job",
                "submit",
                "--address",
                f"http://127.0.0.1:{dash}",
                "--submission-id",
                "hmgray-smoke",
                "--runtime-env",
                "cluster/runtime_env.yaml",
                "--",
                "HMGRAY_GIT_COMMIT=job-test-commit",
                sys.executable,
                "experiments/granularity_ablation.py",
                "--smoke-test",
                "--arms",
                ",".join(ARMS),
                "--storage",
                str(storage),
                "--name",
                "job",
            ],
            cwd=REPO,  # working_dir "." is the repository
            env=env,
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT_S,
        )
        out = submit.stdout + submit.stderr
        assert submit.returncode == 0, out[-5000:]
        assert "Job 'hmgray-smoke' succeeded" in out, out[-3000:]
        status = subprocess.run(
            [RAY, "job", "status", "--address", f"http://127.0.0.1:{dash}", "hmgray-smoke"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Job 'hmgray-smoke' succeeded" in status.stdout + status.stderr
        print(f"head up in {t_head:.0f}s; job submitted and finished in {time.time() - t0:.0f}s")
    finally:
        try:
            stop_head(head)
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)

    assert "cluster at" in out  # the job joined the head instead of starting its own Ray
    assert "| full" in out or "full |" in out  # the Markdown table, in the job's log
    experiment = storage / "job"
    assert (experiment / "report" / "ladder.md").is_file()
    assert (experiment / "report" / "ladder.tex").is_file()
    table, meta = read_results(str(experiment / "results.parquet"))
    rows = table.to_pylist()
    assert sorted(r["arm"] for r in rows if r["stage"] == "confirm") == sorted(ARMS)
    assert all(r["status"] == "ok" for r in rows)
    assert {r["git_commit"] for r in rows} == {"job-test-commit"}
    assert json.dumps(meta)  # metadata present and JSON
