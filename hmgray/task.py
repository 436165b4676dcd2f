"""The Task protocol: everything a model family hands the platform, as one object.

The platform (``hmgray.data.shards``, ``hmgray.data.ray_dataset``, ``hmgray.training``,
``hmgray.search``, ``hmgray.results``, ``hmgray.experiment``) knows a family only through
its :class:`Task`; a family knows the platform only through this module. Adding a family is
one folder under ``hmgray/families/``, one line in :data:`REGISTRY` and one experiment
script.

A task provides:

* **arms**: ordered ablation arms, the reference arm, the kind of ladder
  (``"cumulative"``: each arm adds one stage to the one before; ``"star"``: each arm
  removes one part of the reference), and each arm's declarative search space (the spec
  format of :mod:`hmgray.search.spaces`) and the config keys that make a run that arm;
* **config**: one frozen dataclass (``config_cls``) with a strict ``from_dict``; the
  platform's own run keys (:class:`hmgray.training.settings.TrainSettings` and the run
  bookkeeping) are added by :func:`hmgray.training.settings.split_config`, so a key that
  nothing consumes is a ``ConfigError`` naming it;
* **model**: ``build_model(config, context)``, ``loss(out, batch, config)`` (a scalar
  tensor, lower is better) and ``evaluator(config, groups)``: an :class:`Evaluator` that
  accumulates over batches, so metrics over a whole split (per-user ranking, AUC, Hungarian
  accuracy, retrieval mAP) are as easy as means of per-row errors;
* **metrics**: :class:`MetricSpec` per evaluator key (label, direction, unit) and which
  one selects configurations; selection is always on the *validation* value;
* **data**: the shard schema and its checks (:class:`ShardSchema`), the decode step for
  Ray Data's ``map_batches``, a seeded synthetic generator with documented planted
  structure, the context the model needs beside the batches (carried in the manifest),
  and the settings fixed by the data; side tables beside the shards (e.g. an item
  catalogue), read into the model's context by ``load_context``.

The registry maps a task name to ``"module:attribute"`` and imports it on first use (the
pattern of transformers' auto classes), so a Ray worker imports only the family it
trains.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import pyarrow as pa

from hmgray.errors import ConfigError

__all__ = [
    "REGISTRY",
    "Evaluator",
    "MetricSpec",
    "ShardSchema",
    "Task",
    "get_task",
    "register",
    "strict_from_dict",
    "task_names",
]

Space = dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One metric of a task. ``name`` is the evaluator's key; the results table holds it
    as ``val_<name>`` and ``test_<name>``. ``direction``: ``"min"`` (lower is better) or
    ``"max"``."""

    name: str
    label: str
    direction: str
    unit: str = ""
    best: float | None = None  # the value of a perfect model (0 for an error, 1 for AUC)

    def __post_init__(self) -> None:
        if self.direction not in ("min", "max"):
            raise ConfigError(f"metric {self.name!r}: direction must be 'min' or 'max'")

    def as_meta(self) -> dict[str, str]:
        return {"label": self.label, "direction": self.direction, "unit": self.unit}


@runtime_checkable
class Evaluator(Protocol):
    """Accumulates model outputs over the batches of a split; ``compute`` returns every
    metric of the task (keys = ``MetricSpec.name``, plus any group metrics), NaN where a
    metric is undefined (e.g. no row of a group)."""

    def update(self, out: Mapping[str, Any], batch: Mapping[str, Any]) -> None: ...

    def compute(self) -> dict[str, float]: ...


@runtime_checkable
class ShardSchema(Protocol):
    """The row format of a task's shards and its checks (used by ``hmgray.data.shards``).

    Every check raises ``hmgray.errors.DataError`` whose message starts with ``where``
    (a file URI or a description) and names the field.
    """

    version: int  # the row schema's version, recorded in the manifest
    key_column: str  # unique per row within a file

    def order(self, table: pa.Table) -> pa.Table: ...

    def validate_schema(self, schema: pa.Schema, where: str) -> None: ...

    def validate_values(self, table: pa.Table, context: Mapping, where: str) -> None: ...

    def validate_context(self, context: Mapping, where: str) -> None: ...

    # Optional: side tables (rows that are not examples, e.g. an item catalogue), written
    # beside the shards and listed in the manifest. ``tables`` names the ones the task's
    # data must have (default none); ``validate_table(name, table, context, where)``
    # checks one.


class Task:
    """Base class of a family's task; subclasses set the class attributes and methods.

    The methods that a subclass must provide raise ``NotImplementedError`` here.
    """

    name: ClassVar[str]
    arms: ClassVar[tuple[str, ...]]
    reference_arm: ClassVar[str]
    ladder: ClassVar[str] = "cumulative"
    config_cls: ClassVar[type]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    selection_metric: ClassVar[str]  # a MetricSpec name; selection on val_<name>
    loss_label: ClassVar[str] = "validation loss"
    row_noun: ClassVar[str] = "rows"  # what a row is: the synthetic size flag is --n-<noun>
    # the fewest synthetic rows whose test split defines every metric (a tiny run uses this)
    min_synthetic_rows: ClassVar[int] = 100
    # True where ``test`` holds rows of ``train`` again (transductive evaluation: category
    # discovery scores its unlabelled training images); n synthetic rows are train + val
    transductive: ClassVar[bool] = False
    shards: ClassVar[ShardSchema]

    # -- arms and spaces -------------------------------------------------------------
    def space(self, arm: str) -> Space:
        raise NotImplementedError

    def arm_config(self, arm: str) -> dict[str, Any]:
        """The config keys that make a run belong to ``arm`` (default: ``{"arm": arm}``)."""
        self.check_arm(arm)
        return {"arm": arm}

    def search_defaults(self, arm: str) -> dict[str, Any]:
        """Default values of searched parameters that the config classes do not hold
        (e.g. the authors' weight decay where ``TrainSettings``' generic one is outside the
        arm's space). Every arm's search starts from the task's default configuration:
        these on top of the config's and ``TrainSettings``' defaults and the fixed
        settings (``hmgray.search.ablation.AblationPlan.default_point``). Default: none."""
        return {}

    def check_arm(self, arm: str) -> None:
        if arm not in self.arms:
            raise ConfigError(f"unknown arm {arm!r}; valid arms: {', '.join(self.arms)}")

    # -- model -----------------------------------------------------------------------
    def make_config(self, d: Mapping[str, Any]) -> Any:
        """The task's config from a plain dict; unknown keys are a ``ConfigError``."""
        return strict_from_dict(self.config_cls, d)

    def build_model(self, config: Any, context: Mapping[str, Any]):
        raise NotImplementedError

    def loss(self, out: Mapping[str, Any], batch: Mapping[str, Any], config: Any):
        raise NotImplementedError

    def evaluator(self, config: Any, groups: Mapping[str, Any] | None = None) -> Evaluator:
        raise NotImplementedError

    def oracle(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """What a perfect model would output on ``batch`` (the contract tests feed it to
        the evaluator: every metric must be at its best on it, worse when shuffled)."""
        raise NotImplementedError

    def batch_rows(self, batch: Mapping[str, Any]) -> int:
        """Rows (samples) in a decoded batch; the first array's length by default."""
        first = next(iter(batch.values()))
        return int(first.shape[0])

    # -- metrics ---------------------------------------------------------------------
    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise ConfigError(
            f"task {self.name!r}: unknown metric {name!r}; "
            f"metrics: {', '.join(m.name for m in self.metrics)}"
        )

    @property
    def search_metric(self) -> str:
        """The results column that selects configurations (always validation)."""
        return f"val_{self.selection_metric}"

    @property
    def search_mode(self) -> str:
        return self.metric(self.selection_metric).direction

    # -- data ------------------------------------------------------------------------
    def decoder(self, context: Mapping[str, Any], settings: Mapping[str, Any]) -> Callable:
        """A picklable ``fn(pa.Table) -> dict[str, np.ndarray]`` for Ray Data's
        ``map_batches(batch_format="pyarrow")``; ``settings`` are :meth:`fixed_settings`."""
        raise NotImplementedError

    def generate(self, out_uri: str, n: int, seed: int):
        """Write seeded synthetic shards (with the task's planted structure) to ``out_uri``;
        return the ``Manifest``."""
        raise NotImplementedError

    def load_context(self, manifest) -> Mapping[str, Any]:
        """What ``build_model`` gets as ``context``, read once in the driver and shipped to
        every worker: the manifest's JSON context by default; a task with side tables
        (``manifest.read_table``) reads them here."""
        return manifest.context

    def fixed_settings(self, manifest) -> dict[str, Any]:
        """Config values fixed by the data, shared by every run (not searched)."""
        return {}


def strict_from_dict(cls: type, d: Mapping[str, Any]):
    """``cls(**d)`` for a dataclass ``cls``; a key that is not a field is a ``ConfigError``
    naming it (a misspelt searched key must not be sampled, stored and ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys: {', '.join(sorted(names))}"
        )
    try:
        return cls(**d)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


# name -> "module:attribute" of the Task subclass, imported on first use
REGISTRY: dict[str, str] = {
    "valuation": "hmgray.families.valuation.task:ValuationTask",
    "recommender": "hmgray.families.recommender.task:RecommenderTask",
    "ctr": "hmgray.families.ctr.task:CtrTask",
    "retrieval": "hmgray.families.retrieval.task:RetrievalTask",
    "gcd": "hmgray.families.gcd.task:GcdTask",
}
_LOADED: dict[str, Task] = {}


def register(name: str, target: str | type[Task]) -> None:
    """Add a task: ``target`` is ``"module:ClassName"`` or the class itself (tests)."""
    if isinstance(target, str):
        REGISTRY[name] = target
        _LOADED.pop(name, None)
    else:
        REGISTRY[name] = f"{target.__module__}:{target.__qualname__}"
        _LOADED[name] = target()


def task_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get_task(name: str | Task) -> Task:
    """The task registered as ``name`` (a Task passes through)."""
    if isinstance(name, Task):
        return name
    if name not in REGISTRY:
        raise ConfigError(f"unknown task {name!r}; registered tasks: {', '.join(REGISTRY)}")
    if name not in _LOADED:
        module, _, attr = REGISTRY[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
        _LOADED[name] = cls()
    return _LOADED[name]
