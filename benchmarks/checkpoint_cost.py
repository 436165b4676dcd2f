"""What a per-epoch checkpoint costs a run: HMG-Net (full arm, default width) on CPU.

A Train run checkpoints its whole training state after every epoch
(``hmgray.training.checkpoint``): model, AdamW moments, schedule, generators, curve. This
prints, measured in this one run, the checkpoint's size, the median time to write it
(``write_state``: serialise, hash, write the file and its manifest), to copy it to a
second local folder (what Ray's upload does on local storage) and to read and verify it
back, next to the median time of one training step (forward, backward, AdamW) and the
ratio of one checkpoint to one epoch of the default granularity run (4000 listings, 70 %
for training, batch 32). Usage::

    python benchmarks/checkpoint_cost.py [--repeats 10] [--steps 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmgray.families.valuation.model import HMGNet, HMGNetConfig  # noqa: E402
from hmgray.families.valuation.task import loss  # noqa: E402
from hmgray.training import checkpoint as ckpt  # noqa: E402
from hmgray.training import loop  # noqa: E402
from tests.fakes import fake_batch, fake_market  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rows", type=int, default=2800, help="training rows of one epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    market = fake_market()
    cfg = HMGNetConfig(arm="full")
    model = HMGNet(cfg, market).train()
    batch = fake_batch(args.batch, market=market, vocab_size=cfg.vocab_size)
    opt = loop.make_optimizer(model, 1e-3, 1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=10_000)

    steps = []
    for i in range(args.steps + 3):  # 3 warm-up steps
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss(model(batch), batch, cfg.price_scale).backward()
        opt.step()
        sched.step()
        if i >= 3:
            steps.append(time.perf_counter() - t0)

    def state() -> dict:
        return {
            "epoch": 1, "step": 88, "steps_per_pass": 88, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "rng": loop.get_rng_state(), "curve": {"step": list(range(8))}, "restarts": 0,
        }  # fmt: skip

    write, copy, read = [], [], []
    with tempfile.TemporaryDirectory() as root:
        for r in range(args.repeats):
            src, dst = Path(root) / f"local-{r}", Path(root) / "storage" / ckpt.dir_name(r)
            t0 = time.perf_counter()
            ckpt.write_state(src, state())
            t1 = time.perf_counter()
            shutil.copytree(src, dst)
            t2 = time.perf_counter()
            ckpt.read_state(dst)
            t3 = time.perf_counter()
            write.append(t1 - t0), copy.append(t2 - t1), read.append(t3 - t2)
        size = (Path(root) / "local-0" / ckpt.STATE_FILE).stat().st_size

    step = statistics.median(steps)
    per_epoch = math.ceil(args.rows / args.batch)
    epoch_s = step * per_epoch
    save_s = statistics.median(write) + statistics.median(copy)
    params = sum(p.numel() for p in model.parameters())
    print(f"HMG-Net full arm, {params:,} parameters, threads={args.threads}, batch={args.batch}")
    print(f"checkpoint        {size / 2**20:7.2f} MiB")
    print(f"write_state       {1e3 * statistics.median(write):7.1f} ms (median of {args.repeats})")
    print(f"copy to storage   {1e3 * statistics.median(copy):7.1f} ms")
    print(f"read + verify     {1e3 * statistics.median(read):7.1f} ms")
    print(f"training step     {1e3 * step:7.1f} ms (median of {args.steps})")
    print(f"one epoch         {epoch_s:7.2f} s ({per_epoch} steps of {args.rows} rows)")
    print(f"checkpoint / step  x{save_s / step:.2f}")
    print(f"checkpoint / epoch  {save_s / epoch_s:.4f}")


if __name__ == "__main__":
    main()
