"""HMG-Net training-step cost per ablation arm (forward + backward, no optimiser step).

Prints the median time of a 64-listing step on one CPU thread per arm and its ratio to
the ``global`` arm, all measured in this one run (compare ratios across machines, not
times). Usage::

    python benchmarks/hmgnet_step.py [--batch 64] [--d-model 48] [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmgray.families.valuation.model import ARMS, HMGNet, HMGNetConfig  # noqa: E402
from hmgray.families.valuation.task import loss  # noqa: E402
from tests.fakes import fake_batch, fake_market  # noqa: E402


def step_times(arm: str, batch: dict, market: dict, d_model: int, repeats: int) -> list[float]:
    torch.manual_seed(0)
    cfg = HMGNetConfig(arm=arm, d_model=d_model)
    net = HMGNet(cfg, market).train()
    times = []
    for i in range(repeats + 3):  # 3 warm-up steps
        net.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss(net(batch), batch, cfg.price_scale).backward()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    market = fake_market()
    batch = fake_batch(args.batch, market=market, vocab_size=HMGNetConfig().vocab_size)
    times = {arm: step_times(arm, batch, market, args.d_model, args.repeats) for arm in ARMS}
    medians = {arm: statistics.median(t) for arm, t in times.items()}
    print(
        f"batch={args.batch} d_model={args.d_model} threads={args.threads} "
        "(48x48 images, 8x8 patches, 32 words, 4 regions)"
    )
    for arm, t in medians.items():
        print(
            f"{arm:7s} median {1e3 * t:6.1f} ms/step  min {1e3 * min(times[arm]):6.1f} ms"
            f"   median x{t / medians['global']:.2f} of global"
        )


if __name__ == "__main__":
    main()
