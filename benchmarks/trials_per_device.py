"""Throughput of k concurrent training processes on one device against one process.

What ``--gpus-per-trial 1/k`` does to a GPU: k runs' Train workers, each its own process,
train side by side on it. Here k processes (spawned, one torch thread each) build a
family's default-size model (``benchmarks/compute_step.py``'s set-up: the task's reference
arm on its synthetic batches, in memory), wait at a barrier, and train ``--steps`` steps
each with hmgray's training step (``hmgray.training.loop.train_epoch``, bf16 autocast on a
GPU). Aggregate throughput = all processes' rows / (last end - first start); speed-up =
aggregate(k) / aggregate(1), measured in this one run. Start-up is left out (the start-up
benchmark measures it): this is what sharing the device pays once the runs train.

On CPU it is a proxy: k processes on the machine's cores (k above the core count only
shares them). Usage::

    python benchmarks/trials_per_device.py                          # retrieval, CPU, k 1 2
    python benchmarks/trials_per_device.py --device cuda --k 1 2 4 8 --task recommender
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from hmgray.task import task_names  # noqa: E402


def _train(rank: int, args, barrier, results) -> None:
    from benchmarks.compute_step import task_setup
    from hmgray.training import loop

    torch.set_num_threads(1)
    device = torch.device(args.device)
    make, task, cfg, batches, lr, wd = task_setup(args)
    model = make().to(device)
    opt = loop.make_optimizer(model, lr, wd)
    dtype = torch.bfloat16 if device.type == "cuda" else None
    held = [loop.to_device(b, device) for b in batches]

    def steps(n: int) -> int:
        return loop.train_epoch(model, (held[i % len(held)] for i in range(n)), opt, task=task,
                                config=cfg, device=device, autocast_dtype=dtype)["rows"]  # fmt: skip

    steps(2)  # warm-up: allocator, kernels
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    barrier.wait()
    t0 = time.time()
    rows = steps(args.steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    results[rank] = (t0, time.time(), rows)


def aggregate(k: int, args) -> float:
    """Rows per second of ``k`` processes training at once."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(k), ctx.Manager().dict()
    procs = [ctx.Process(target=_train, args=(r, args, barrier, results)) for r in range(k)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad or len(results) != k:
        raise SystemExit(f"k={k}: a training process failed (exit codes {bad})")
    starts, ends, rows = zip(*results.values(), strict=True)
    return sum(rows) / (max(ends) - min(starts))


def main(argv: list[str] | None = None) -> dict[int, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="retrieval", choices=task_names())
    ap.add_argument("--arm", help="the model's arm (default: the task's reference arm)")
    ap.add_argument("--rows", type=int, default=600, help="synthetic rows")
    ap.add_argument("--batch", type=int, help="batch size (default: the task's)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2], help="processes at once")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per process")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU here")
    if min(args.k) < 1 or args.steps < 1:
        raise SystemExit("--k and --steps must be >= 1")
    ks = sorted(set(args.k) | {1})
    rates = {k: aggregate(k, args) for k in ks}
    where = (
        torch.cuda.get_device_name(0) if args.device == "cuda" else f"cpu, {mp.cpu_count()} cores"
    )
    print(f"{args.task} {args.arm or 'reference arm'}, {args.steps} steps per process, {where}")
    for k, rate in rates.items():
        print(f"k={k}: {rate:9.1f} rows/s   speed-up x{rate / rates[1]:.2f} of one process"
              f"   per process {rate / k:8.1f} rows/s", flush=True)  # fmt: skip
    return rates


if __name__ == "__main__":
    main()
