"""The runner's console: hmgray's lines stay on it, everything else goes to the log.

Run in a child process: the redirection works on file descriptors 1 and 2, which
pytest's own capturing also replaces."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import os, sys
from hmgray.console import console_to_log, say
with console_to_log(sys.argv[1]):
    print("a Ray INFO line")
    print("a warning on stderr", file=sys.stderr)
    os.write(1, b"a C++ core-worker line\\n")  # below Python, at the descriptor
    say("[search micro] 1/3 runs")
    if len(sys.argv) > 2:
        raise RuntimeError("boom")
say("after: back to normal")
"""


def _child(log: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(log), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_console_to_log_sends_fd_writes_to_the_file_and_say_to_the_console(tmp_path):
    log = tmp_path / "driver.log"
    run = _child(log)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[search micro] 1/3 runs\nafter: back to normal\n"
    assert run.stderr == ""
    text = log.read_text()
    assert "a Ray INFO line" in text and "a warning on stderr" in text
    assert "a C++ core-worker line" in text and "[search micro]" not in text


def test_the_console_comes_back_when_the_stage_fails(tmp_path):
    run = _child(tmp_path / "driver.log", "fail")
    assert run.returncode == 1
    assert "RuntimeError: boom" in run.stderr  # the traceback reaches the person
    assert "after" not in run.stdout and "[search micro]" in run.stdout
