"""Argument types shared by the ``experiments/`` scripts (argparse ``type=`` callables).

Each raises ``argparse.ArgumentTypeError`` with a message naming the flag, so a bad value
ends the script with argparse's usage line, the message and exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["positive_int", "seeds"]


def positive_int(flag: str) -> Callable[[str], int]:
    """A parser for ``flag`` that accepts integers > 0."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} must be a positive integer, got {text!r}"
            ) from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be a positive integer, got {v}")
        return v

    return parse


def seeds(text: str) -> tuple[int, ...]:
    """``--seeds``: ``"0,1,2"`` -> (0, 1, 2); a single ``"K"`` -> (0, ..., K-1)."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes integers like 0,1,2 or a count; got {text!r}"
        ) from None
    if not parts or any(p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"--seeds takes non-negative integers; got {text!r}")
    if "," not in text:
        return tuple(range(parts[0])) if parts[0] > 0 else ()
    if len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"--seeds has duplicates: {text!r}")
    return tuple(parts)
