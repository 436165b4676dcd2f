"""Load a results table (contracts §5) and check it before any statistics are computed.

A :class:`Results` is the Parquet table as a pandas frame plus its ``hmgray`` metadata
read into typed fields. Problems that make a report impossible (no rows, a missing
column or metadata field, a metric without a direction, the same arm and seed run
twice) raise :class:`AnalysisError` naming the file and the field; problems a report can
state (an arm missing seeds, NaN metrics) are left to the table builders, which say so.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import store
from analysis.errors import AnalysisError

REQUIRED_COLUMNS = (
    "dataset",
    "arm",
    "stage",
    "trial_id",
    "seed",
    "config_json",
    "config_hash",
    "git_commit",
    "data_manifest_hash",
)
DIRECTIONS = ("min", "max")


@dataclass(frozen=True)
class Metric:
    """One metric column. ``direction`` is ``"min"`` (lower is better) or ``"max"``."""

    name: str
    label: str
    direction: str

    @property
    def arrow(self) -> str:
        return "↓" if self.direction == "min" else "↑"

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "min" else a > b


@dataclass(frozen=True)
class Results:
    """A checked results table: rows (pandas) and the typed ``hmgray`` metadata."""

    uri: str
    frame: pd.DataFrame
    experiment: str
    metrics: tuple[Metric, ...]
    reference_arm: str
    arm_order: tuple[str, ...]
    seeds: tuple[int, ...] | None
    search_space: dict[str, dict[str, dict[str, Any]]]
    search_metric: str | None
    search_mode: str
    command: str | None
    # the experiment's sweeps: {'param', 'stage'} each (metadata 'sweep', one or a list)
    sweeps: tuple[dict[str, str], ...]
    sha256: str
    meta: dict[str, Any] = field(repr=False)
    # arm -> the arm it is compared with (metadata ``arm_references``: several groups of
    # arms, each with its own reference, e.g. one ladder per backbone); others: reference_arm
    arm_references: dict[str, str] = field(default_factory=dict)

    def reference_of(self, arm: str) -> str:
        return self.arm_references.get(arm, self.reference_arm)

    @property
    def references(self) -> list[str]:
        """Every arm that is some arm's reference, the main one first."""
        return list(dict.fromkeys([self.reference_arm, *self.arm_references.values()]))

    def stage(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["stage"] == name]

    def arms(self, rows: pd.DataFrame) -> list[str]:
        """Arms present in ``rows``: metadata ``arm_order`` first, then the rest sorted."""
        present = set(rows["arm"])
        ordered = [a for a in self.arm_order if a in present]
        return ordered + sorted(present - set(ordered))

    def metric(self, name: str) -> Metric:
        """The declared metric ``name``, or the search metric described by ``search_mode``."""
        for m in self.metrics:
            if m.name == name:
                return m
        if name == self.search_metric:
            return Metric(name, name, self.search_mode)
        raise AnalysisError(f"{self.uri}: metric {name!r} is not declared in metadata 'metrics'")


def finished(rows: pd.DataFrame) -> pd.Series:
    """Mask of the rows whose run finished (``status`` "ok"); a table without the column
    holds only finished runs."""
    if "status" not in rows.columns:
        return pd.Series(True, index=rows.index)
    return rows["status"].fillna("ok") == "ok"


def load_results(uri: str) -> Results:
    """Read and check the results table at ``uri`` (a local path or any storage URI)."""
    uri = store.normalize(uri)
    data = store.read_bytes(uri)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as e:
        raise AnalysisError(f"{uri}: not a readable Parquet file ({e})") from e
    return from_table(table, uri, sha256=hashlib.sha256(data).hexdigest())


def from_table(table: pa.Table, uri: str, sha256: str = "") -> Results:
    """Check an in-memory results table; ``uri`` only names it in messages and provenance."""
    raw = (table.schema.metadata or {}).get(b"hmgray")
    if raw is None:
        raise AnalysisError(f"{uri}: Parquet key-value metadata 'hmgray' is missing")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise AnalysisError(f"{uri}: metadata 'hmgray' is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise AnalysisError(f"{uri}: metadata 'hmgray' must be a JSON object")
    return from_frame(table.to_pandas(), meta, uri, sha256)


def from_frame(frame: pd.DataFrame, meta: dict[str, Any], uri: str, sha256: str = "") -> Results:
    """Check rows and metadata already in memory (used by tests and simulations)."""
    if len(frame) == 0:
        raise AnalysisError(f"{uri}: the results table is empty (no runs recorded)")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise AnalysisError(f"{uri}: missing column(s) {', '.join(missing)}")
    if frame["seed"].isna().any():
        bad = frame.loc[frame["seed"].isna(), "trial_id"].tolist()[:5]
        raise AnalysisError(f"{uri}: column 'seed' is null for trial(s) {', '.join(map(str, bad))}")
    frame = frame.reset_index(drop=True).copy()
    frame["seed"] = frame["seed"].astype("int64")
    metrics = _metrics(meta, frame, uri)
    reference = meta.get("reference_arm")
    if not isinstance(reference, str) or not reference:
        raise AnalysisError(f"{uri}: metadata field 'reference_arm' is missing")
    arm_order = tuple(str(a) for a in meta.get("arm_order") or ())
    seeds = meta.get("seeds")
    if seeds is not None and not (
        isinstance(seeds, list) and all(isinstance(s, int) for s in seeds)
    ):
        raise AnalysisError(f"{uri}: metadata field 'seeds' must be a list of integers")
    search_mode = meta.get("search_mode", "min")
    if search_mode not in DIRECTIONS:
        raise AnalysisError(
            f"{uri}: metadata 'search_mode' must be 'min' or 'max', got {search_mode!r}"
        )
    sweep = meta.get("sweep")
    sweeps = sweep if isinstance(sweep, list) else [sweep] if sweep is not None else []
    if not all(isinstance(w, dict) and isinstance(w.get("param"), str) for w in sweeps):
        raise AnalysisError(
            f"{uri}: metadata 'sweep' must be {{'param': ..., 'stage': ...}} or a list of them"
        )
    refs = meta.get("arm_references") or {}
    if not (isinstance(refs, dict) and all(isinstance(v, str) for v in refs.values())):
        raise AnalysisError(f"{uri}: metadata 'arm_references' must map arm names to arm names")
    results = Results(
        uri=uri,
        frame=frame,
        experiment=str(meta.get("experiment") or _first(frame, "experiment") or "experiment"),
        metrics=metrics,
        reference_arm=reference,
        arm_order=arm_order,
        seeds=tuple(sorted(seeds)) if seeds is not None else None,
        search_space=meta.get("search_space") or {},
        search_metric=meta.get("search_metric"),
        search_mode=search_mode,
        command=meta.get("command"),
        sweeps=tuple(sweeps),
        sha256=sha256,
        meta=meta,
        arm_references={str(k): v for k, v in refs.items()},
    )
    _check_duplicates(results, "confirm")
    return results


def _first(frame: pd.DataFrame, column: str) -> str | None:
    return str(frame[column].iloc[0]) if column in frame.columns else None


def _metrics(meta: dict[str, Any], frame: pd.DataFrame, uri: str) -> tuple[Metric, ...]:
    declared = meta.get("metrics")
    if not isinstance(declared, dict) or not declared:
        raise AnalysisError(f"{uri}: metadata field 'metrics' is missing or empty")
    metrics = []
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise AnalysisError(f"{uri}: metadata metrics.{name} must be an object")
        direction = spec.get("direction")
        if direction not in DIRECTIONS:
            raise AnalysisError(
                f"{uri}: metadata metrics.{name}.direction must be 'min' or 'max', got {direction!r}"
            )
        if name not in frame.columns:
            raise AnalysisError(f"{uri}: metric column {name!r} (declared in metadata) is missing")
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise AnalysisError(f"{uri}: metric column {name!r} is not numeric")
        metrics.append(Metric(name, str(spec.get("label") or name), direction))
    return tuple(metrics)


def _check_duplicates(results: Results, stage: str) -> None:
    """Two runs of one (dataset, arm, seed) would be averaged as if they were two seeds."""
    rows = results.stage(stage)
    dup = rows[rows.duplicated(["dataset", "arm", "seed"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        same = dup[(dup["arm"] == first["arm"]) & (dup["seed"] == first["seed"])]
        raise AnalysisError(
            f"{results.uri}: {len(same)} {stage} rows for arm {first['arm']!r}, seed "
            f"{int(first['seed'])} (trial_id {', '.join(map(str, same['trial_id']))}); "
            "keep one run per arm and seed"
        )


def config_value(config_json: str, key: str) -> Any:
    """The value of ``key`` in a row's ``config_json`` (flat keys), or None when absent."""
    try:
        config = json.loads(config_json)
    except (TypeError, json.JSONDecodeError):
        return None
    value = config.get(key) if isinstance(config, dict) else None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
