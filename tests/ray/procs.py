"""Running a Ray-starting command so that nothing of it can outlive the test.

The command gets a session of its own (``start_new_session``); Ray's processes (GCS,
raylet, workers: workers change their process group but not their session) stay in
it, so "every process of that session" is exactly what the command started. On a
timeout, or when it ends with stragglers, those processes are killed by pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def session_processes(sid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in session ``sid``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, sid
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d.name))
    return pids


def kill_session(sid: int, grace_s: float = 0.0) -> list[int]:
    """Wait up to ``grace_s`` for session ``sid`` to empty, then SIGKILL what is left.
    Returns the pids that had to be killed."""
    deadline = time.time() + grace_s
    while (left := session_processes(sid)) and time.time() < deadline:
        time.sleep(0.5)
    killed: list[int] = []
    # in rounds: a dying raylet may still fork a worker between listing and killing
    for _ in range(20):
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        left = session_processes(sid)
    return killed


def run_in_new_session(
    cmd: list[str], timeout: float, **kwargs
) -> tuple[subprocess.CompletedProcess | None, str]:
    """Like ``subprocess.run(cmd, capture_output=True, text=True, timeout=...)``, but a
    timeout returns ``(None, output so far)`` after killing the whole session, and any
    process left once the command ended is killed too (after a 15 s grace)."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, _ = proc.communicate()
        return None, out
    finally:
        kill_session(proc.pid, grace_s=15)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, ""), out


SMOKE_TIMEOUT_S = 900  # ~3-8 min on 2 busy cores; a slower CI machine must not fail them


def run_smoke(script: str, storage: Path, timeout_s: int = SMOKE_TIMEOUT_S, extra_args: tuple = ()):
    """Run ``experiments/<script> --smoke-test [extra_args]`` into ``storage/smoke`` in its
    own session.

    Returns (CompletedProcess, experiment folder); fails the test if it did not finish.
    """
    import pytest

    repo = Path(__file__).resolve().parents[2]
    t0 = time.time()
    cmd = [sys.executable, str(repo / "experiments" / script), "--smoke-test"]
    run, log = run_in_new_session(
        [*cmd, *extra_args, "--storage", str(storage), "--name", "smoke"],
        timeout_s,
        cwd=repo,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if run is None:
        pytest.fail(f"the {script} smoke run did not finish in {timeout_s}s:\n{log[-3000:]}")
    print(f"{script} smoke run: {time.time() - t0:.0f}s")
    return run, storage / "smoke"


def ok_results(run, experiment: Path) -> tuple[list[dict], dict]:
    """(results rows, metadata) of a finished smoke run; fails the test unless it exited 0
    and every run in its results is ``ok``."""
    from hmgray.results import read_results

    assert run.returncode == 0, run.stdout[-6000:]
    table, meta = read_results(str(experiment / "results.parquet"))
    rows = table.to_pylist()
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    return rows, meta
