"""What the Ray ``experiments/`` scripts share: argparse types, the run flags, the summary.

Each argparse type raises ``argparse.ArgumentTypeError`` with a message naming the flag, so a bad value
ends the script with argparse's usage line, the message and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "add_run_flags",
    "experiment_root",
    "prepare_data",
    "non_negative_float",
    "positive_int",
    "seeds",
    "stage_overhead_summary",
]


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
        "--max-concurrent",
        type=positive_int("--max-concurrent"),
        help="runs at once (default: by free CPUs / GPUs)",
    )


def stage_overhead_summary(rows: list[dict], stages: tuple[str, ...], elapsed: float) -> None:
    """Print per stage how much of a run is Ray start-up rather than training."""
    for stage in stages:
        rs = [r for r in rows if r["stage"] == stage and r["status"] == "ok"]
        if not rs:
            continue
        start = sum(r["startup_s"] for r in rs) / len(rs)
        wall = sum(r["wall_time_s"] for r in rs) / len(rs)
        stopped = sum(bool(r["stopped_early"]) for r in rs)
        print(
            f"{stage}: {len(rs)} runs ({stopped} stopped early by ASHA); mean start-up "
            f"{start:.1f}s / mean run wall time {wall:.1f}s = {start / wall:.2f} of each run"
        )
    print(f"total wall time {elapsed / 60:.1f} min")


def experiment_root(args: argparse.Namespace, name_prefix: str) -> tuple[str, str]:
    """(name, root URI) of the experiment the run flags point at.

    Raises HmgrayError when ``root`` already holds an experiment and --resume is not set,
    or --resume is set and there is none.
    """
    from hmgray import storage  # pyarrow: not at import, so --help stays instant
    from hmgray.errors import HmgrayError

    storage_root = args.storage if "://" in args.storage else os.path.abspath(args.storage)
    name = args.name or f"{name_prefix}-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    root = storage.join(storage_root, name)
    plan_uri = storage.join(root, "experiment.json")
    if storage.exists(plan_uri) and not args.resume:
        raise HmgrayError(
            f"{root} already holds an experiment: pass --resume to go on with it, or another --name"
        )
    if args.resume and not storage.exists(plan_uri):
        raise HmgrayError(f"--resume: no experiment at {root} (no experiment.json)")
    return name, root


def prepare_data(args: argparse.Namespace, root: str):
    """The verified manifest of --data, or of the synthetic listings under ``root/data``
    (generated now, or reused on --resume). Returns (manifest, URI generated now or None).
    """
    from hmgray import storage
    from hmgray.data.shards import load_manifest
    from hmgray.families.valuation.data.synth import write_synthetic_valuation

    generated = None
    if args.data:
        manifest = load_manifest(args.data, verify=True)
    else:
        data_uri = storage.join(root, "data")
        if args.resume and storage.exists(storage.join(data_uri, "manifest.json")):
            manifest = load_manifest(data_uri, verify=True)
        else:
            print(f"generating {args.n_listings} synthetic listings (seed {args.data_seed}) ...")
            manifest = write_synthetic_valuation(data_uri, args.n_listings, args.data_seed)
            generated = data_uri
    print(
        f"data {manifest.dataset}: "
        + ", ".join(f"{s} {manifest.rows(s)}" for s in manifest.splits)
        + f"; manifest sha256 {manifest.hash[:12]}"
    )
    return manifest, generated


def run_slots(args: argparse.Namespace, resources: dict) -> tuple[int, Any]:
    """Runs at once and each run's Train worker resources, from the flags and the cluster.

    ``--max-concurrent`` wins; else one run per GPU share (``--gpus-per-trial``) or per
    CPU. On CPUs each worker gets one core's worth, less the trial drivers' 0.01 CPU each,
    so that the concurrent runs fit the CPUs exactly.
    """
    from hmgray.training.driver import Resources

    gpus = args.gpus_per_trial
    cpus = resources.get("CPU", 1.0)
    if args.max_concurrent:
        concurrent = args.max_concurrent
    elif gpus > 0:
        concurrent = max(1, int(resources.get("GPU", 0) / gpus))
    else:
        concurrent = max(1, int(cpus))
    cpu_per_worker = (
        1.0 if gpus > 0 else max(0.1, min(1.0, (cpus - 0.05 * concurrent) / concurrent))
    )
    return concurrent, Resources(cpus_per_worker=round(cpu_per_worker, 2), gpus_per_worker=gpus)


def fixed_model_settings(manifest, opts, batch_size: int = 32) -> dict:
    """Model and training settings fixed by the data (not searched), shared by the HMG-Net
    experiments. Batch 32: more optimiser steps per epoch, measured better at the same
    budget."""
    prices = manifest.market.get("item_model_msrp") or [1000.0]
    return {
        "image_size": list(manifest.image_size),
        "max_words": opts.max_words,
        "max_regions": opts.max_regions,
        "vocab_size": opts.vocab_size,
        "price_scale": float(sum(prices) / len(prices)),
        "batch_size": batch_size,
        "d_model": 48,
    }
