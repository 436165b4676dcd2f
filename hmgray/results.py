"""The results table: one row per run (search trial or confirmation run), with provenance.

Layout and metadata follow ``docs/contracts.md`` §5. The table lives at
``<storage>/<experiment>/results.parquet`` and is rewritten atomically after every stage
(read, append, write to a temporary name, rename; one PUT on object stores), so an
interrupted experiment keeps every finished stage and a reader never sees half a file.

The columns are the run's bookkeeping (``BASE_HEAD``, ``BASE_TAIL``) around the task's
metric columns: ``val_<m>`` and ``test_<m>`` for each of its metrics
(:func:`metric_columns`), then any extra metric columns an experiment names (float64,
e.g. ``test_tail_mape``). Appending to a table written before a column existed fills it
with nulls, so older tables stay loadable and appendable. The metadata (``hmgray`` key)
carries the task's name and its metric specs, which is all ``analysis/`` reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

import hmgray
from hmgray import storage

BASE_HEAD = [
    ("experiment", pa.string()),
    ("dataset", pa.string()),
    ("arm", pa.string()),
    ("stage", pa.string()),
    ("trial_id", pa.string()),
    ("seed", pa.int64()),
    ("config_json", pa.string()),
    ("config_hash", pa.string()),
    ("training_iteration", pa.int64()),
    ("stopped_early", pa.bool_()),
    ("status", pa.string()),
    ("error", pa.string()),
]
BASE_TAIL = [
    ("wall_time_s", pa.float64()),
    ("startup_s", pa.float64()),
    # times the run went on from a checkpoint after its Train worker group died (0: none;
    # null in tables older than the column)
    ("restarts", pa.int64()),
    ("git_commit", pa.string()),
    ("data_manifest_hash", pa.string()),
    ("hmgray_version", pa.string()),
    ("ray_version", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    # the run's validation curve (hmgray.training.worker), JSON; null when the run
    # reported none (tables older than the column)
    ("curve_json", pa.string()),
]


def metric_columns(task) -> tuple[str, ...]:
    """``val_<m>`` for every metric of ``task``, then ``test_<m>``."""
    names = [m.name for m in task.metrics]
    return tuple(f"{p}_{m}" for p in ("val", "test") for m in names)


def results_schema(columns: Sequence[str] = ()) -> pa.Schema:
    """The bookkeeping columns around one float64 column per metric column name (in the
    given order, each once)."""
    base = {n for n, _ in BASE_HEAD + BASE_TAIL}
    cols = [m for m in dict.fromkeys(columns) if m not in base]
    return pa.schema(BASE_HEAD + [(m, pa.float64()) for m in cols] + BASE_TAIL)


def git_commit(repo: Path | None = None) -> str:
    """HEAD of the checkout hmgray runs from, ``+dirty`` if it has local changes.

    ``HMGRAY_GIT_COMMIT``, when set, wins: a job shipped to a cluster as a Ray
    ``working_dir`` has no ``.git`` (cluster/runtime_env.yaml excludes it), so the
    submitter passes its commit along (see cluster/README.md).
    """
    if os.environ.get("HMGRAY_GIT_COMMIT"):
        return os.environ["HMGRAY_GIT_COMMIT"]
    cwd = repo or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def config_json(config: dict[str, Any]) -> str:
    clean = {k: v for k, v in config.items() if not k.startswith("_")}  # bookkeeping
    return json.dumps(clean, sort_keys=True, default=str)


def config_hash(cfg_json: str) -> str:
    return hashlib.sha256(cfg_json.encode()).hexdigest()[:12]


ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes Ray puts in its error messages
ERROR_CHARS = 4000
# "RuntimeError: message", "ray.train.WorkerGroupError: message", as tracebacks end
_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit): "
)


def error_text(exc: BaseException, limit: int = ERROR_CHARS) -> str:
    """A failed run's exception for the results' ``error`` column: type and message, colour
    codes removed; a longer text keeps its head and its tail (where a nested traceback ends
    with the exception the run itself raised)."""
    text = ANSI.sub("", f"{type(exc).__name__}: {exc}")
    if len(text) <= limit:
        return text
    head = limit // 4
    return text[:head] + "\n[...]\n" + text[-(limit - head - 7) :]


def error_summary(text: str | None) -> str:
    """The innermost exception line of an ``error`` text (the last ``SomeError: ...`` line,
    e.g. the worker's own error inside Ray's wrappers), else its first line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (raised[-1] if raised else lines[0] if lines else "no message")[:300]


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def epochs_done(result: dict[str, Any]) -> int:
    """Epochs a run has done: the epoch it last reported. A run that Tune restarted on
    ``--resume`` went on from its checkpoint, so Tune's ``training_iteration`` (its count
    of the reports) can be smaller; results without ``epoch`` fall back to it."""
    return int(result.get("epoch") or result.get("training_iteration") or 0)


def run_row(
    *,
    experiment: str,
    dataset: str,
    stage: str,
    trial_id: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    max_epochs: int,
    error: str | None,
    provenance: dict[str, str],
    columns: Sequence[str] = (),
) -> dict[str, Any]:
    """One results row from a finished Tune trial's config and last reported metrics.

    The row's ``arm`` is the config's ``ablation_arm`` when set (an arm defined by config
    overrides of a model arm), else its ``arm``. ``columns`` are the metric columns to
    copy from ``metrics`` (NaN where absent).
    """
    cj = config_json(config)
    iters = epochs_done(metrics)
    curve = metrics.get("val_curve")
    row = {
        "experiment": experiment,
        "dataset": dataset,
        "arm": str(config.get("ablation_arm") or config["arm"]),
        "stage": stage,
        "trial_id": trial_id,
        "seed": int(config.get("seed", 0)),
        "config_json": cj,
        "config_hash": config_hash(cj),
        "training_iteration": iters,
        "stopped_early": error is None and iters < max_epochs,
        "status": "error" if error else "ok",
        "error": error,
        "wall_time_s": _num(metrics.get("wall_s")),
        "startup_s": _num(metrics.get("startup_s")),
        "restarts": int(metrics.get("restarts") or 0),
        "created_at": dt.datetime.now(dt.UTC),
        "hmgray_version": hmgray.__version__,
        "ray_version": ray.__version__,
        "curve_json": curve if isinstance(curve, str) else None,
        **provenance,
    }
    for col in columns:
        row[col] = _num(metrics.get(col))
    return row


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: cast, or all-null where absent."""
    cols = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def write_results(
    uri: str,
    rows: list[dict[str, Any]],
    metadata: dict[str, Any],
    columns: Sequence[str] = (),
) -> pa.Table:
    """Append ``rows`` to the table at ``uri`` (created if absent), atomically.

    Columns: ``results_schema(columns)``, then any further column the stored table
    already has (kept, null for the new rows); a column the stored table lacks is null
    for its old rows.
    """
    schema = results_schema(columns)
    old = None
    if storage.exists(uri):
        old = storage.read_parquet(uri)
        kept = [old.schema.field(n) for n in old.column_names if n not in schema.names]
        schema = pa.schema(list(schema) + kept)
    new = pa.Table.from_pylist(rows, schema=schema)
    table = new if old is None else pa.concat_tables([_conform(old, schema), new])
    table = table.replace_schema_metadata({"hmgray": json.dumps(metadata)})
    storage.atomic_write_parquet(table, uri)
    return table


def read_results(uri: str) -> tuple[pa.Table, dict[str, Any]]:
    table = storage.read_parquet(uri)
    meta = json.loads((table.schema.metadata or {}).get(b"hmgray", b"{}"))
    return table, meta
