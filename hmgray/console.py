"""The person's console: hmgray's own lines there, everything else in a log file.

Ray, Tune, Ray Data and Optuna print from the driver process (loggers, Tune's reporter,
C++ core-worker lines). :func:`console_to_log` points file descriptors 1 and 2 at a log
file for the duration of the Ray stages; :func:`say` writes to the real console either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["console_to_log", "say"]

_console: list = []


def say(msg: str = "") -> None:
    """A line on the person's console (flushed: a job log is read while it runs)."""
    out = _console[-1] if _console else sys.stdout
    print(msg, file=out, flush=True)


@contextlib.contextmanager
def console_to_log(path: str) -> Iterator[None]:
    """Send everything this process writes to file descriptors 1 and 2 to ``path``
    (appending); :func:`say` keeps writing to the console. Restored on exit, whatever
    happens."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        _console.append(console)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            _console.pop()
            console.close()
