"""The depreciation-attribution command (``experiments/depreciation_attribution.py``).

Attribution analyses ONE trained model: it trains the ``full`` arm (the one with the
depreciation head, delta = sigmoid(f_entity + gamma f_market)) in this process, with the
same ``hmgray.training.loop`` functions that run inside Ray Train workers (``inprocess``),
on synthetic listings (or on --data), then explains its delta on the listings of --split
(``report``: gradients, occlusion, market, localisation against baselines).

Writes under ``<storage>/<name>/``: ``listings/<listing_id>.png`` (image + heat maps +
coloured words + region statements) and ``listings/<listing_id>-market.png`` for
--num-listings-to-draw listings, ``market.png``, ``summary.md``, ``summary.json`` (written
last: its presence means the run completed) and ``model.pt`` (state dict and config of the
explained model). Synthetic data is generated in a temporary folder (it is reproducible
from --n-listings and --data-seed; the manifest hash is recorded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import sys
import time

from hmgray.errors import HmgrayError

# Default size: a model that has learned obvious defects, in <= 15 min on 2 cores.
DEFAULT = dict(
    n_listings=4000,
    epochs=8,
    num_listings_to_draw=12,
    ig_steps=32,
    ig_max_steps=128,
    market_listings=200,
)
# --smoke-test: every stage end to end, tiny.
SMOKE = dict(
    n_listings=300,
    epochs=2,
    num_listings_to_draw=3,
    ig_steps=8,
    ig_max_steps=32,
    market_listings=20,
)
BASELINES = ("blur", "grey", "zeros")  # hmgray.families.valuation.explain.gradients.IMAGE_BASELINES


def _int_at_least(flag: str, low: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{flag} must be >= {low}, got {v}")
        return v

    return parse


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="experiments/depreciation_attribution.py",
        description="Depreciation attribution: why does HMG-Net think an item lost value, and where?",
    )
    p.add_argument("--smoke-test", action="store_true", help="tiny end-to-end run (~15 s)")
    p.add_argument("--storage", default="runs", help="where experiments live: path or s3://...")
    p.add_argument("--name", help="experiment name (default: attribution-<UTC time>)")
    p.add_argument("--data", help="existing shards (folder or manifest.json) instead of synthetic")
    p.add_argument(
        "--n-listings", type=_int_at_least("--n-listings", 20), help="synthetic listings"
    )
    p.add_argument(
        "--data-seed", type=_int_at_least("--data-seed", 0), default=0, help="synthetic data seed"
    )
    p.add_argument("--epochs", type=_int_at_least("--epochs", 1), help="training epochs")
    p.add_argument("--seed", type=_int_at_least("--seed", 0), default=0, help="training seed")
    p.add_argument(
        "--num-listings-to-draw",
        type=_int_at_least("--num-listings-to-draw", 0),
        help="listings drawn as PNG",
    )
    p.add_argument(
        "--ig-steps",
        type=_int_at_least("--ig-steps", 1),
        help="integrated-gradients quadrature nodes",
    )
    p.add_argument(
        "--ig-max-steps",
        type=_int_at_least("--ig-max-steps", 1),
        help="listings that fail the completeness check are redone with 2x the nodes, up to this",
    )
    p.add_argument(
        "--baseline",
        choices=BASELINES,
        default="blur",
        help="image baseline of integrated gradients",
    )
    p.add_argument(
        "--split", choices=("val", "test"), default="test", help="listings that are explained"
    )
    p.add_argument(
        "--max-explained",
        type=_int_at_least("--max-explained", 1),
        help="explain at most this many listings of --split (default: all)",
    )
    p.add_argument(
        "--market-listings",
        type=_int_at_least("--market-listings", 1),
        help="listings averaged in the market plot",
    )
    p.add_argument(
        "--tolerance",
        type=_int_at_least("--tolerance", 0),
        default=1,
        help="pointing game: px around the defect box that count as a hit",
    )
    # One thread by default: the model's batch-32 kernels gain little from a second one,
    # and on a shared 2-core machine 2 threads were measured ~4x slower (smoke run 42 s vs
    # 10.5 s wall) from threads spinning while the other is descheduled.
    p.add_argument(
        "--threads", type=_int_at_least("--threads", 1), default=1, help="torch CPU threads"
    )
    args = p.parse_args(argv)
    size = SMOKE if args.smoke_test else DEFAULT
    for key, value in size.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return _run(args, argv)
    except HmgrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _log(msg: str) -> None:
    print(msg, flush=True)


def _run(args, argv) -> int:
    # Heavy imports after argument parsing: --help and flag errors stay instant.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run_with_threads(args, argv)
    finally:
        torch.set_num_threads(threads)  # main() may be called in a longer-lived process


def _run_with_threads(args, argv) -> int:
    import tempfile

    import torch

    from hmgray import storage
    from hmgray.data.shards import load_manifest
    from hmgray.errors import ConfigError, DataError
    from hmgray.families.valuation.data.synth import write_synthetic_valuation
    from hmgray.families.valuation.explain.inprocess import TrainRecipe, load_split, train_model
    from hmgray.families.valuation.explain.report import ExplainSettings, explain
    from hmgray.families.valuation.model import HMGNetConfig
    from hmgray.families.valuation.task import DECODE_DEFAULTS

    t_start = time.time()
    storage_root = args.storage if "://" in args.storage else os.path.abspath(args.storage)
    name = args.name or "attribution-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    root = storage.join(storage_root, name)
    if storage.exists(storage.join(root, "summary.json")):
        raise HmgrayError(f"{root} already holds an attribution run: pass another --name")
    _log(f"hmgray depreciation attribution '{name}'; storage {root}")

    # -- data (verified before anything is written) -----------------------------------
    opts = DECODE_DEFAULTS
    with tempfile.TemporaryDirectory(prefix="hmgray-attr-") as tmp:
        if args.data:
            manifest = load_manifest(args.data, verify=True, task="valuation")
        else:
            _log(f"generating {args.n_listings} synthetic listings (seed {args.data_seed}) ...")
            manifest = write_synthetic_valuation(tmp, args.n_listings, args.data_seed)
        where = args.data or "the synthetic data"
        for split in ("train", args.split):
            if manifest.rows(split) == 0:
                raise DataError(f"{manifest.manifest_uri}: no {split!r} listings (from {where})")
        t0 = time.time()
        splits = {
            s: load_split(manifest, s, opts)
            for s in dict.fromkeys(("train", "val", args.split))
            if manifest.rows(s) > 0
        }
    _log(
        f"data {manifest.dataset}: "
        + ", ".join(f"{s} {len(v)}" for s, v in splits.items())
        + f"; decoded in {time.time() - t0:.1f}s; manifest sha256 {manifest.hash[:12]}"
    )

    prices = manifest.context["market"].get("item_model_msrp") or [1000.0]
    try:
        cfg = HMGNetConfig(
            arm="full",
            image_size=tuple(manifest.context["image_size"]),
            max_words=opts["max_words"],
            max_regions=opts["max_regions"],
            vocab_size=opts["vocab_size"],
            price_scale=float(sum(prices) / len(prices)),
            d_model=48,
            dropout=0.0,  # benchmarks/planted_ordering.py: best measured for this budget
        )
    except ValueError as e:
        raise ConfigError(f"--data {args.data}: the model cannot take this dataset ({e})") from e

    # -- train -------------------------------------------------------------------------
    recipe = TrainRecipe(epochs=args.epochs, seed=args.seed)
    _log(
        f"training the full arm: {len(splits['train'])} listings, {recipe.epochs} epochs, "
        f"batch {recipe.batch_size}, lr {recipe.lr} one-cycle, seed {recipe.seed}"
    )
    val = splits["val"].batch if "val" in splits else None
    model, history = train_model(
        cfg, manifest.context["market"], splits["train"].batch, val, recipe, log=_log
    )

    settings = ExplainSettings(
        ig_steps=args.ig_steps,
        ig_max_steps=args.ig_max_steps,
        baseline=args.baseline,
        num_listings_to_draw=args.num_listings_to_draw,
        max_explained=args.max_explained,
        market_listings=args.market_listings,
        tolerance=args.tolerance,
        init_seed=args.seed,
        split=args.split,
    )
    result = explain(model, cfg, manifest, splits[args.split], settings, history, _log)
    command = "python experiments/depreciation_attribution.py " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )
    result.summary["command"] = command
    result.summary["data"] = (
        {"shards": args.data}
        if args.data
        else {"synthetic": {"n_listings": args.n_listings, "seed": args.data_seed}}
    )
    result.summary["wall_time_s"] = time.time() - t_start

    # -- write: PNGs and the model first, the summary last ------------------------------
    for rel, data in result.files.items():
        storage.atomic_write_bytes(storage.join(root, rel), data)
    import io

    buf = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, buf)
    storage.atomic_write_bytes(storage.join(root, "model.pt"), buf.getvalue())
    storage.atomic_write_bytes(storage.join(root, "summary.md"), result.markdown.encode())
    storage.atomic_write_bytes(
        storage.join(root, "summary.json"),
        json.dumps(_json_safe(result.summary), indent=2, sort_keys=True).encode(),
    )
    print()
    print(result.table)
    print()
    for rel in [*result.files, "model.pt", "summary.md", "summary.json"]:
        print(f"wrote {storage.join(root, rel)}")
    print(f"total wall time {(time.time() - t_start) / 60:.1f} min")
    return 0


def _json_safe(x):
    """NaN/inf -> None (strict JSON), numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
