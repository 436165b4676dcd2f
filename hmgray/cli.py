"""The command line the ``experiments/`` scripts share: argparse types and the run flags.

Each argparse type raises ``argparse.ArgumentTypeError`` with a message naming the flag, so a bad value
ends the script with argparse's usage line, the message and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence

__all__ = [
    "AutoSeeds",
    "add_run_flags",
    "comma_list",
    "fraction",
    "non_negative_float",
    "non_negative_int",
    "positive_int",
    "seeds",
]


def _int_at_least(flag: str, low: int, what: str) -> Callable[[str], int]:
    """A parser for ``flag`` that accepts integers >= ``low``; ``what`` names them in
    the error ("a positive integer")."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {v}")
        return v

    return parse


def positive_int(flag: str) -> Callable[[str], int]:
    """A parser for ``flag`` that accepts integers > 0."""
    return _int_at_least(flag, 1, "a positive integer")


def non_negative_int(flag: str) -> Callable[[str], int]:
    """A parser for ``flag`` that accepts integers >= 0."""
    return _int_at_least(flag, 0, "an integer >= 0")


@dataclasses.dataclass(frozen=True)
class AutoSeeds:
    """``--seeds auto[:MAX]``: confirmation seeds in rounds, up to ``most`` (a
    group-sequential design, ``analysis.sequential``)."""

    most: int


AUTO_SEEDS_MAX = 10  # --seeds auto without :MAX


def seeds(text: str) -> tuple[int, ...] | AutoSeeds:
    """``--seeds``: ``"0,1,2"`` -> (0, 1, 2); a single ``"K"`` -> (0, ..., K-1);
    ``"auto"`` or ``"auto:MAX"`` -> :class:`AutoSeeds` (rounds of seeds up to MAX)."""
    if text.strip().startswith("auto"):
        return _auto_seeds(text.strip())
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


def _auto_seeds(text: str) -> AutoSeeds:
    from analysis.sequential import FIRST_LOOK

    head, sep, most = text.partition(":")
    if head != "auto" or (sep and not most.strip().isdigit()):
        raise argparse.ArgumentTypeError(f"--seeds auto takes auto or auto:MAX; got {text!r}")
    n = int(most) if sep else AUTO_SEEDS_MAX
    if n < FIRST_LOOK:
        raise argparse.ArgumentTypeError(
            f"--seeds {text}: MAX must be at least {FIRST_LOOK} (the first look's seeds)"
        )
    return AutoSeeds(n)


def fraction(flag: str) -> Callable[[str], float]:
    """A parser for ``flag`` that accepts real numbers in [0, 1)."""

    def parse(text: str) -> float:
        v = non_negative_float(flag)(text)
        if v >= 1:
            raise argparse.ArgumentTypeError(f"{flag} must be a fraction below 1, got {text!r}")
        return v

    return parse


def non_negative_float(flag: str) -> Callable[[str], float]:
    """A parser for ``flag`` that accepts real numbers >= 0."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number, got {text!r}") from None
        if not v >= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be >= 0, got {text!r}")
        return v

    return parse


def add_run_flags(p: argparse.ArgumentParser, name_prefix: str) -> None:
    """The flags of every Ray experiment script: where it lives, its data, its resources."""
    p.add_argument(
        "--storage", default="runs", help="where experiments live: a path or s3://bucket/prefix"
    )
    p.add_argument("--name", help=f"experiment name (default: {name_prefix}-<UTC time>)")
    p.add_argument("--resume", action="store_true", help="resume the experiment --name")
    p.add_argument(
        "--data", help="existing shards (folder or manifest.json) instead of synthetic data"
    )
    p.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--search-seed", type=int, default=0, help="seed of Optuna's TPE sampler")
    p.add_argument(
        "--gpus-per-trial",
        type=non_negative_float("--gpus-per-trial"),
        default=0.0,
        help="GPUs for each run's Train worker (fractions allowed); 0 = CPU",
    )
    p.add_argument(
        "--workers-per-trial",
        type=positive_int("--workers-per-trial"),
        default=1,
        help="Train workers per run: data parallel (DDP; gloo on CPU, NCCL on GPU), each "
        "run's batch split across them (default 1)",
    )
    p.add_argument(
        "--data-path",
        choices=("auto", "materialize", "stream"),
        default="auto",
        help="decoded data materialised once in the object store, or read and decoded by "
        "Ray Data while the workers train; auto (default) materialises when the decoded "
        "data fits in half the object store, and says which",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile every run's model (pays in long runs, mostly on GPU; on 2 CPU "
        "cores compiling costs more than a short run saves: benchmarks/README.md)",
    )
    p.add_argument(
        "--max-failures",
        type=non_negative_int("--max-failures"),
        default=2,
        help="retries of a run whose Train worker failed, each from its last epoch's "
        "checkpoint (default 2); preemptions of spot nodes are retried without limit",
    )
    p.add_argument(
        "--max-concurrent",
        type=positive_int("--max-concurrent"),
        help="runs at once (default: by free CPUs / GPUs)",
    )
    p.add_argument(
        "--practical-difference",
        type=fraction("--practical-difference"),
        default=0.01,
        help="with --seeds auto: a difference below this fraction of the baseline's mean "
        "does not matter; a comparison whose test would find it is decided (default 0.01)",
    )


def comma_list(flag: str, valid: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """A parser for ``flag`` that takes a comma-separated subset of ``valid``."""

    def parse(text: str) -> tuple[str, ...]:
        items = tuple(a.strip() for a in text.split(",") if a.strip())
        bad = [a for a in items if a not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{flag}: unknown value(s) {', '.join(bad) or '(none)'}; valid: {', '.join(valid)}"
            )
        return items

    return parse
