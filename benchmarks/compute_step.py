"""hmgray's training step against a standalone tuned step of the same model, and MFU.

Both steps train the same model (the same initial weights, loss, optimiser settings and
gradient clip) on the same batches, held on the device beforehand (``ingest.py``
measures the feed), so only the step differs:

- **hmgray**: ``hmgray.training.loop.train_epoch``, what every Ray Train worker runs
  (eager, bf16 autocast on a GPU, ``make_optimizer``'s AdamW);
- **tuned**: the model under ``torch.compile``, bf16 autocast (on a GPU; ``--bf16`` asks
  for it on CPU), fused AdamW on a GPU, channels_last for convolutional models.

Compute ratio = hmgray rows/s / tuned rows/s, measured in this one run after warm-up
steps (which pay for compilation): the two sides take ``--rounds`` turns of ``--steps``
steps each and each side's rate is its median turn. Model FLOPs utilisation (MFU) = the model's FLOPs per
training step (forward and backward, counted by ``torch.utils.flop_counter`` on one
step: matmuls and convolutions, 2 FLOPs a multiply-add) x steps per second / the peak.
The peak on a GPU is the datasheet's dense bf16 figure for the card (``--peak-tflops``
overrides it); on CPU it is measured here, the best of a few large float32 matmuls on
the same threads, so CPU MFU reads "of what this CPU reaches on a matmul".

``--model task`` (default) is a family's default-size model on its synthetic batches;
``--model resnet50`` is the recommender's image encoder at the write-up's size
(ResNet-50, ``hmgray.families.recommender.layers.image``) with a 1000-way head, trained
from scratch on random ``--image-size`` images (224 on a GPU, as ResNet-50 benchmarks
use).

Usage::

    python benchmarks/compute_step.py                            # retrieval model, CPU
    python benchmarks/compute_step.py --task recommender --steps 20
    python benchmarks/compute_step.py --model resnet50 --device cuda --batch 256
    python benchmarks/compute_step.py --model resnet50 --batch 4 --image-size 64   # CPU proxy
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from hmgray.task import get_task, task_names  # noqa: E402
from hmgray.training import loop  # noqa: E402
from hmgray.training.settings import split_config  # noqa: E402

# Dense bf16 tensor-core peaks from the vendors' datasheets (no sparsity), TFLOP/s.
GPU_PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "L4": 121.0,
                   "A10": 125.0}  # fmt: skip


class _ResNetClassifier(nn.Module):
    """ResNet-50 (hmgray's encoder) + a linear head: ``batch -> {"logits"}``."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        from hmgray.families.recommender.layers.image import ResNetEncoder

        self.encoder = ResNetEncoder(64, (3, 4, 6, 3))
        self.head = nn.Linear(2048, classes)

    def forward(self, batch: dict) -> dict:
        return {"logits": self.head(self.encoder(batch["image"]))}


class _ClassifierTask:
    """The two Task methods ``train_epoch`` calls, for the ResNet-50 classifier."""

    @staticmethod
    def loss(out, batch, config):
        return nn.functional.cross_entropy(out["logits"].float(), batch["label"])

    @staticmethod
    def batch_rows(batch) -> int:
        return len(batch["label"])


def _seeded(build):
    """``build`` as a factory of identically initialised models (a model may hold
    buffers ``copy.deepcopy`` cannot copy, e.g. a sparse graph)."""

    def make() -> nn.Module:
        torch.manual_seed(0)
        return build()

    return make


def resnet_setup(args) -> tuple[Any, Any, Any, list[dict], float, float]:
    """(model factory, task, config, batches, lr, weight decay) for ``--model resnet50``."""
    gen = torch.Generator().manual_seed(0)
    batches = [
        {
            "image": torch.randn(args.batch, 3, args.image_size, args.image_size, generator=gen),
            "label": torch.randint(0, 1000, (args.batch,), generator=gen),
        }
        for _ in range(4)
    ]
    return _seeded(_ResNetClassifier), _ClassifierTask(), None, batches, 1e-3, 1e-4


def task_setup(args) -> tuple[Any, Any, Any, list[dict], float, float]:
    """(model factory, task, config, batches, lr, weight decay) of a family's default
    model on its synthetic training batches (decoded in process, no Ray)."""
    import pyarrow.parquet as pq

    task = get_task(args.task)
    arm = args.arm or task.reference_arm
    task.check_arm(arm)
    with tempfile.TemporaryDirectory(prefix="hmgray-compute-") as tmp:
        manifest = task.generate(tmp, max(args.rows, task.min_synthetic_rows), 0)
        fixed = task.fixed_settings(manifest)
        cfg, settings, _ = split_config(task, {**fixed, **task.arm_config(arm)})
        context = task.load_context(manifest)
        fs, paths = manifest.filesystem_paths("train")
        table = pq.ParquetDataset(paths, filesystem=fs).read()
        decoded = task.decoder(manifest.context, fixed)(table)
    data = {k: torch.as_tensor(np.asarray(v)) for k, v in decoded.items()}
    batch = args.batch or settings.batch_size
    batches = [b for b in loop.in_memory_batches(data, batch) if task.batch_rows(b) == batch]
    if not batches:
        raise SystemExit(f"--rows {args.rows}: fewer training rows than one batch of {batch}")
    make = _seeded(lambda: task.build_model(cfg, context))
    return make, task, cfg, batches[:4], settings.lr, settings.weight_decay


def step_flops(make, task, cfg, batch: dict, device) -> int:
    """FLOPs of one training step's forward and backward (no optimiser)."""
    m = make().to(device).train()
    b = loop.to_device(batch, device)
    with FlopCounterMode(display=False) as counter:
        task.loss(m(b), b, cfg).backward()
    return counter.get_total_flops()


def cpu_peak_flops(threads: int) -> float:
    """The best float32 FLOP/s of a few 1024^3 matmuls on ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(8):
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * 1024**3 / (time.perf_counter() - t0))
    return best


def gpu_peak_flops(device, override: float | None) -> tuple[float, str]:
    if override:
        return override * 1e12, "--peak-tflops"
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12, f"{name} datasheet dense bf16"
    raise SystemExit(f"no datasheet peak for {name!r}: give --peak-tflops")


def _rate(step, batches: list[dict], steps: int, device) -> float:
    """Rows per second of ``steps`` calls of ``step(batch)`` cycling over ``batches``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0, rows = time.perf_counter(), 0
    for i in range(steps):
        rows += step(batches[i % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return rows / (time.perf_counter() - t0)


def hmgray_step(model, task, cfg, lr, wd, device):
    """``step(batch) -> rows``: one batch through ``loop.train_epoch``."""
    opt = loop.make_optimizer(model, lr, wd)
    dtype = torch.bfloat16 if device.type == "cuda" else None

    def step(batch):
        return loop.train_epoch(model, [batch], opt, task=task, config=cfg, device=device,
                                autocast_dtype=dtype)["rows"]  # fmt: skip

    return step


def tuned_step(
    model, task, cfg, lr, wd, device, *, compile_: bool, bf16: bool, channels_last: bool
):
    """``step(batch) -> rows``: the standalone step (module docstring)."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_ else model
    groups = loop.make_optimizer(model, lr, wd).param_groups
    opt = torch.optim.AdamW(groups, lr=lr, fused=device.type == "cuda")
    model.train()

    def step(batch):
        b = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        if channels_last and "image" in b and b["image"].ndim == 4:
            b["image"] = b["image"].contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            out = fwd(b)
        lval = task.loss(out, b, cfg)
        opt.zero_grad(set_to_none=True)
        lval.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return task.batch_rows(b)

    return step


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="task", choices=["task", "resnet50"])
    ap.add_argument("--task", default="retrieval", choices=task_names())
    ap.add_argument("--arm", help="the model's arm (default: the task's reference arm)")
    ap.add_argument("--rows", type=int, default=600, help="synthetic rows (--model task)")
    ap.add_argument("--batch", type=int, help="batch size (default: the task's; resnet50 64)")
    ap.add_argument("--image-size", type=int, default=224, help="--model resnet50 images")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per side and round")
    ap.add_argument("--rounds", type=int, default=5, help="turns of timed steps per side")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    ap.add_argument("--no-compile", action="store_true", help="tuned step without torch.compile")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast in the tuned step on CPU")
    ap.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                    help="channels_last in the tuned step (auto: on for resnet50)")  # fmt: skip
    ap.add_argument("--peak-tflops", type=float, help="the device's peak (default: see above)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU here")
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        raise SystemExit("--steps and --rounds must be >= 1 and --warmup >= 0")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.model == "resnet50":
        args.batch = args.batch or 64
        make, task, cfg, batches, lr, wd = resnet_setup(args)
        what = f"ResNet-50, {args.image_size}x{args.image_size} images"
    else:
        make, task, cfg, batches, lr, wd = task_setup(args)
        what = f"{args.task} {args.arm or get_task(args.task).reference_arm}"
    # the batches live on the device already: this measures the step, the ingest
    # benchmark measures how batches get there
    batches = [loop.to_device(b, device) for b in batches]
    rows = task.batch_rows(batches[0])
    flops = step_flops(make, task, cfg, batches[0], device)
    if device.type == "cuda":
        peak, peak_src = gpu_peak_flops(device, args.peak_tflops)
    else:
        peak = args.peak_tflops * 1e12 if args.peak_tflops else cpu_peak_flops(args.threads)
        peak_src = "--peak-tflops" if args.peak_tflops else "measured fp32 matmul"
    on_gpu = device.type == "cuda"
    sides = {
        "hmgray": hmgray_step(make().to(device), task, cfg, lr, wd, device),
        "tuned": tuned_step(
            make().to(device), task, cfg, lr, wd, device,
            compile_=not args.no_compile, bf16=on_gpu or args.bf16,
            channels_last=args.channels_last == "on"
            or (args.channels_last == "auto" and args.model == "resnet50"),
        ),
    }  # fmt: skip
    warm = {}
    for name, step in sides.items():
        t0 = time.perf_counter()
        for i in range(args.warmup):
            step(batches[i % len(batches)])
        warm[name] = time.perf_counter() - t0
    # the sides take turns, so that a slower spell of a shared machine hits both
    timed = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, step in sides.items():
            timed[name].append(_rate(step, batches, args.steps, device))
    rates = {name: statistics.median(r) for name, r in timed.items()}
    for name, rate in rates.items():
        print(f"{name:7s} {rate:9.1f} rows/s   MFU {rate / rows * flops / peak:6.1%}"
              f"   (median of {args.rounds} x {args.steps} steps; warm-up {warm[name]:.1f} s)",
              flush=True)  # fmt: skip
    ratio = rates["hmgray"] / rates["tuned"]
    print(
        f"{what}, batch {rows}, {args.device}"
        + (f" ({torch.cuda.get_device_name(device)})" if on_gpu else f", {args.threads} thread(s)")
        + f": {flops / rows / 1e9:.3f} GFLOP per row and step; peak {peak / 1e12:.2f} TFLOP/s "
        f"({peak_src})"
    )
    print(f"compute ratio (hmgray / tuned) {ratio:.3f}")
    return {
        **{f"{k}_rows_s": v for k, v in rates.items()},
        "ratio": ratio,
        "flops_per_row": flops / rows,
        "mfu_hmgray": rates["hmgray"] / rows * flops / peak,
        "mfu_tuned": rates["tuned"] / rows * flops / peak,
    }


if __name__ == "__main__":
    main()
