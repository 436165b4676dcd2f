"""A toy regression Task, defined outside hmgray: the proof that a family is added
without touching a platform file. It passes the contract suite (tests/test_task_contract.py)
and runs through the experiment runner (tests/contract_run.py).

Rows ``{id, x: list<float32>[F], y: float64}``; planted structure: y = x . w + 0.1 noise
with w = (1, -2, 0.5, 0, ...). Arms (cumulative): ``mean`` predicts a learnt constant,
``linear`` adds a linear map of x. Metrics: MSE (lower is better) and R² (higher is
better, over the whole split: it needs the split's mean, so the evaluator accumulates).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from hmgray.errors import DataError
from hmgray.task import MetricSpec, Task

F = 4
# "ARM:SEED:STEP": that arm's run seeded SEED raises at its STEP-th training step (tests
# inject a failing run with it; the workers of a local Ray inherit the environment). The
# step count is a buffer of the model, so it is checkpointed: a run that goes on from a
# checkpoint raises again at the same step, as a bug would.
FAIL_ENV = "HMGRAY_TOY_FAIL"
# "ARM:SEED:STEP:MARKER": at that step the worker process kills itself with SIGKILL (a
# lost worker or node: no clean-up, no exception), once: it first creates the file MARKER,
# and a run that finds MARKER there goes on. It waits KILL_DELAY_S first: Ray Train's
# controller collects the workers' reports (and registers their checkpoints) when it polls
# them, every 2 s; a worker lost sooner after a report takes that epoch's report with it,
# and the run redoes the epoch (which a test then cannot tell from a late checkpoint).
KILL_ENV = "HMGRAY_TOY_KILL"
KILL_DELAY_S = 5.0
KILL_ENV = "HMGRAY_TOY_KILL"
W = np.array([1.0, -2.0, 0.5, 0.0])
SCHEMA = pa.schema([("id", pa.string()), ("x", pa.list_(pa.float32(), F)), ("y", pa.float64())])


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    arm: str = "linear"
    n_features: int = F
    init: float = 0.0


class ToyShards:
    version, key_column = 1, "id"

    def order(self, table):
        return table.select(SCHEMA.names)

    def validate_schema(self, schema, where):
        for f in SCHEMA:
            if f.name not in schema.names or schema.field(f.name).type != f.type:
                raise DataError(f"{where}: column {f.name!r} must be {f.type}")

    def validate_values(self, table, context, where):
        if not np.isfinite(table.column("y").to_numpy()).all():
            raise DataError(f"{where}: column 'y' has non-finite values")

    def validate_context(self, context, where):
        if context.get("n_features") != F:
            raise DataError(f"{where}: field 'n_features' must be {F}")


class ToyModel(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.arm = cfg.arm
        self.bias = nn.Parameter(torch.tensor(cfg.init))
        self.linear = nn.Linear(cfg.n_features, 1, bias=False) if cfg.arm == "linear" else None
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, batch):
        if self.training:
            self.steps += 1
            self._inject_faults(int(self.steps))
        y = self.bias.expand(batch["y"].shape[0])
        if self.linear is not None:
            y = y + self.linear(batch["x"]).squeeze(-1)
        return {"y": y}

    def _inject_faults(self, steps: int) -> None:
        """The faults a test asks for through FAIL_ENV and KILL_ENV (module top)."""
        if os.environ.get(FAIL_ENV):
            arm, seed, step = os.environ[FAIL_ENV].split(":")
            if (self.arm, torch.initial_seed(), steps) == (arm, int(seed), int(step)):
                raise RuntimeError(f"injected failure at training step {step} of seed {seed}")
        if os.environ.get(KILL_ENV):
            arm, seed, step, marker = os.environ[KILL_ENV].split(":", 3)
            hit = (self.arm, torch.initial_seed(), steps) == (arm, int(seed), int(step))
            if hit and not os.path.exists(marker):
                with open(marker, "w") as f:
                    f.write(f"killed pid {os.getpid()} at step {steps}\n")
                time.sleep(KILL_DELAY_S)
                os.kill(os.getpid(), signal.SIGKILL)


class ToyEvaluator:
    def __init__(self):
        self.pred, self.true = [], []

    def update(self, out, batch):
        self.pred.append(out["y"].detach().float().cpu().numpy())
        self.true.append(batch["y"].float().cpu().numpy())

    def compute(self):
        p = np.concatenate(self.pred) if self.pred else np.zeros(0)
        t = np.concatenate(self.true) if self.true else np.zeros(0)
        if not t.size:
            return {"mse": float("nan"), "r2": float("nan")}
        sse, sst = float(((p - t) ** 2).sum()), float(((t - t.mean()) ** 2).sum())
        return {"mse": sse / t.size, "r2": 1.0 - sse / sst if sst > 0 else float("nan")}


def _decode(table):
    x = np.asarray(table.column("x").combine_chunks().flatten(), np.float32).reshape(-1, F)
    return {"x": x, "y": table.column("y").to_numpy().astype(np.float32)}


class ToyTask(Task):
    name, arms, reference_arm, ladder = "toy", ("mean", "linear"), "linear", "cumulative"
    config_cls = ToyConfig
    metrics = (MetricSpec("mse", "MSE", "min", best=0.0), MetricSpec("r2", "R²", "max", best=1.0))
    selection_metric = "mse"
    shards = ToyShards()

    def space(self, arm):
        self.check_arm(arm)
        space = {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}
        if arm == "linear":
            space["init"] = {"type": "float", "low": -1.0, "high": 1.0, "log": False}
        return space

    def build_model(self, config, context):
        return ToyModel(config)

    def loss(self, out, batch, config):
        return torch.mean((out["y"].float() - batch["y"].float()) ** 2)

    def evaluator(self, config, groups=None):
        return ToyEvaluator()

    def oracle(self, batch):
        return {"y": batch["y"]}

    def decoder(self, context, settings):
        return _decode  # a module-level function: picklable for Ray Data

    def generate(self, out_uri, n, seed):
        from hmgray.data.shards import write_shards

        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, F)).astype(np.float32)
        y = x @ W + 0.1 * rng.normal(size=n)
        cut = [int(0.7 * n), int(0.85 * n)]
        rows = pa.table({"id": [f"r{i}" for i in range(n)], "x": list(x), "y": y}, schema=SCHEMA)
        parts = (rows[: cut[0]], rows[cut[0] : cut[1]], rows[cut[1] :])
        tables = dict(zip(("train", "val", "test"), parts, strict=True))
        gen = {"name": "tests.toy_task", "seed": seed, "n": n}
        return write_shards(
            tables, out_uri, task=self, dataset="toy", generator=gen, context={"n_features": F}
        )

    def fixed_settings(self, manifest):
        return {"n_features": manifest.context["n_features"], "batch_size": 16}
