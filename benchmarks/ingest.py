"""How well hmgray's Ray Data pipeline feeds a training step: ingest ratio, one run.

Inside one Ray Train run (one worker, as the runner starts it), the same model trains on

- **pipeline**: the run's training shard through ``hmgray.training.worker.train_batches``
  (``iter_torch_batches`` with the worker's shuffle buffer and seed), exactly what a trial
  streams;
- **in memory**: the same batches collected once into a list (pinned host memory on a
  GPU).

Ingest ratio = rows/s of the pipeline / rows/s in memory (Ray's release tests measure a
data loader the same way); 1.0 means the pipeline never keeps the step waiting. Both data
paths of the runner are measured: ``materialize`` (the splits decoded once in the driver
and held in the object store: the default on a small machine) and ``stream`` (read and
decode in Ray Data while the worker trains: the path for data larger than the object
store). The two take turns, one epoch each, after one warm-up epoch each; rows/s of a
side are its median over the timed epochs. The worker takes one CPU
and one GPU with ``--device cuda``; the rest of the machine is Ray Data's.

Usage::

    python benchmarks/ingest.py                                   # retrieval, CPU
    python benchmarks/ingest.py --task recommender --n 4000 --device cuda
    python benchmarks/ingest.py --paths stream --pin-memory --prefetch 4
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402
import ray.train  # noqa: E402
import ray.train.torch  # noqa: E402
import torch  # noqa: E402
from ray.train import BackendConfig, DataConfig, RunConfig, ScalingConfig  # noqa: E402
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer  # noqa: E402

from hmgray.data.ray_dataset import decoded_splits  # noqa: E402
from hmgray.ray_runtime import init_ray  # noqa: E402
from hmgray.task import get_task, task_names  # noqa: E402
from hmgray.training import loop  # noqa: E402
from hmgray.training.settings import split_config  # noqa: E402
from hmgray.training.worker import train_batches  # noqa: E402


def _epoch_rate(model, batches, optimizer, task, cfg, device, bf16: bool) -> float:
    """Rows per second of one training epoch over ``batches`` (synchronised on a GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    stats = loop.train_epoch(
        model,
        batches,
        optimizer,
        task=task,
        config=cfg,
        device=device,
        autocast_dtype=torch.bfloat16 if bf16 else None,
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return stats["rows"] / (time.perf_counter() - t0)


def _measure(config: dict[str, Any], *, task, context) -> None:
    """Ray Train worker: pipeline epochs, then the same batches held in memory."""
    cfg, settings, _ = split_config(task, config["flat"])
    torch.set_num_threads(settings.torch_threads)
    loop.seed_everything(settings.seed)
    device = ray.train.torch.get_device()
    bf16 = device.type == "cuda"
    model = task.build_model(cfg, context).to(device)
    optimizer = loop.make_optimizer(model, settings.lr, settings.weight_decay)
    shard = ray.train.get_dataset_shard("train")
    extra = dict(config["iter_kwargs"])

    def pipeline(epoch: int):
        return train_batches(shard, settings.batch_size, settings.seed, epoch, **extra)

    epochs = int(config["epochs"])
    held = []  # the same rows, collected once into memory
    for batch in train_batches(shard, settings.batch_size, settings.seed, 0, device="cpu"):
        if device.type == "cuda":
            batch = {k: v.pin_memory() if torch.is_tensor(v) else v for k, v in batch.items()}
        held.append(batch)
    _epoch_rate(model, pipeline(0), optimizer, task, cfg, device, bf16)  # warm-up
    _epoch_rate(model, held, optimizer, task, cfg, device, bf16)
    piped, in_memory = [], []
    for e in range(1, epochs + 1):  # in turns: a slower spell of the machine hits both
        piped.append(_epoch_rate(model, pipeline(e), optimizer, task, cfg, device, bf16))
        in_memory.append(_epoch_rate(model, held, optimizer, task, cfg, device, bf16))
    rates = {
        "pipeline_rows_s": statistics.median(piped),
        "in_memory_rows_s": statistics.median(in_memory),
        "rows": sum(task.batch_rows(b) for b in held),
    }
    # Train V2 keeps a report's metrics only with a checkpoint; one node: a file carries them
    Path(config["out"]).write_text(json.dumps(rates))
    ray.train.report(rates)


def measure_path(task, manifest, context, flat, *, materialize: bool, args) -> dict[str, float]:
    """One Ray Train run over one data path; its reported rates."""
    datasets = decoded_splits(manifest, task, flat, ("train",), materialize=materialize)
    iter_kwargs: dict[str, Any] = {}
    if args.pin_memory:
        iter_kwargs["pin_memory"] = True
    if args.prefetch is not None:
        iter_kwargs["prefetch_batches"] = args.prefetch
    out = Path(args.storage).parent / f"rates-{'materialize' if materialize else 'stream'}.json"
    trainer = DataParallelTrainer(
        functools.partial(_measure, task=task, context=context),
        backend_config=BackendConfig(),
        train_loop_config={
            "flat": flat,
            "epochs": args.epochs,
            "iter_kwargs": iter_kwargs,
            "out": str(out),
        },
        scaling_config=ScalingConfig(
            num_workers=1,
            use_gpu=args.device == "cuda",
            resources_per_worker={"CPU": 1, **({"GPU": 1} if args.device == "cuda" else {})},
        ),
        datasets={"train": datasets["train"]},
        dataset_config=DataConfig(datasets_to_split=[]),
        run_config=RunConfig(name=f"ingest-{int(time.time())}", storage_path=args.storage),
    )
    trainer.fit()
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="retrieval", choices=task_names())
    ap.add_argument("--arm", help="the model's arm (default: the task's reference arm)")
    ap.add_argument("--n", type=int, default=3000, help="synthetic rows")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per side and path")
    ap.add_argument("--paths", nargs="+", default=["materialize", "stream"],
                    choices=["materialize", "stream"])  # fmt: skip
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--pin-memory", action="store_true", help="iter_torch_batches(pin_memory)")
    ap.add_argument("--prefetch", type=int, help="iter_torch_batches(prefetch_batches)")
    ap.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    ap.add_argument("--storage", default=None, help="Ray Train storage (default: a temp dir)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU here")
    if args.epochs < 1 or args.n < 1:
        raise SystemExit("--epochs and --n must be >= 1")
    task = get_task(args.task)
    arm = args.arm or task.reference_arm
    task.check_arm(arm)
    with tempfile.TemporaryDirectory(prefix="hmgray-ingest-") as tmp:
        args.storage = args.storage or str(Path(tmp) / "train")
        manifest = task.generate(str(Path(tmp) / "shards"), max(args.n, task.min_synthetic_rows), 0)
        flat = {**task.fixed_settings(manifest), **task.arm_config(arm)}
        context = task.load_context(manifest)
        resources = init_ray(num_cpus=args.num_cpus, log_to_driver=False)
        print(
            f"{task.name} arm {arm}: {manifest.rows('train')} training rows, batch "
            f"{flat.get('batch_size', 64)}, device {args.device}, "
            f"{resources.get('CPU', 0):g} CPUs; {args.epochs} timed epochs after a warm-up"
        )
        out = {}
        for path in args.paths:
            m = measure_path(task, manifest, context, flat, materialize=path == "materialize",
                             args=args)  # fmt: skip
            ratio = m["pipeline_rows_s"] / m["in_memory_rows_s"]
            out[path] = {**m, "ratio": ratio}
            print(
                f"{path:12s} pipeline {m['pipeline_rows_s']:9.1f} rows/s   in memory "
                f"{m['in_memory_rows_s']:9.1f} rows/s   ingest ratio {ratio:.3f}",
                flush=True,
            )
        ray.shutdown()
    return out


if __name__ == "__main__":
    main()
