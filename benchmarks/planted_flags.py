"""The flags the in-process planted-effect benchmarks share (``ctr_planted.py``,
``gcd_planted.py``): ``--arms``, ``--per-epoch``, ``--config`` and ``--synth``, the wrong
ones refused by name."""

from __future__ import annotations

import ast
from types import ModuleType


def add_flags(parser, config_name: str) -> None:
    """``--per-epoch``, ``--config`` (overrides of the task's ``config_name``) and
    ``--synth`` (the generator's constants)."""
    parser.add_argument(
        "--per-epoch", action="store_true", help="also test after each earlier epoch"
    )
    parser.add_argument(
        "--config", nargs="*", default=[], help=f"{config_name} overrides key=value"
    )
    parser.add_argument("--synth", nargs="*", default=[], help="generator constants key=value")


def pairs(items: list[str], flag: str) -> dict:
    """``key=value`` items -> dict, each value a Python literal where it reads as one."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag}: expected key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def apply_flags(args, arms: tuple[str, ...], synth: ModuleType) -> dict:
    """Check ``args.arms`` against ``arms``, set the generator module's constants named in
    ``args.synth`` (each must exist) and return the ``args.config`` overrides."""
    for arm in args.arms:
        if arm not in arms:
            raise SystemExit(f"--arms: unknown arm {arm!r}; valid: {', '.join(arms)}")
    for key, value in pairs(args.synth, "--synth").items():
        if not hasattr(synth, key):
            raise SystemExit(f"--synth: the generator has no constant {key!r}")
        setattr(synth, key, value)
    return pairs(args.config, "--config")
