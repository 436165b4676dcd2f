"""A run's per-epoch checkpoint, written so that a half-written one is never loaded.

Every epoch, rank 0 of a Train run writes its whole training state (model, optimiser and
schedule, random generators, convergence curve, epoch and step) into a fresh directory
and hands it to ``ray.train.report``, which uploads it to the experiment's storage
(``<storage>/<experiment>/train/train-<trial>/epoch-NNNN``). When a worker or its node
dies, Ray Train restarts the worker group (``FailureConfig``) and
``ray.train.get_checkpoint()`` returns the latest registered checkpoint, from which the
run goes on with the next epoch.

Why a content manifest: Ray registers a checkpoint only after its upload finished, but
the directory of an interrupted upload stays in storage, and an attempt that uploads
the same directory name again may land its files on top of the leftovers (Ray issue
#41700, open: "invalid checkpoints can result from some workers failing before finishing
their checkpointing"). So a checkpoint here is the state file plus
``hmgray-checkpoint.json``, which holds the state file's size and SHA-256 and is written
after it. :func:`read_state` accepts a directory only when the manifest parses and the
state file matches it byte for byte; otherwise the directory is torn, and
:func:`load_latest` falls back to the newest older checkpoint of the same run that is
whole (Ray keeps ``CheckpointConfig(num_to_keep=2)``: the last two), or to none (the
run starts over). A torn checkpoint is never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
MANIFEST_FILE = "hmgray-checkpoint.json"
FORMAT = 1
DIR_PREFIX = "epoch-"


class TornCheckpoint(Exception):
    """A checkpoint directory that is not whole (the reason is the message)."""


def dir_name(epoch: int) -> str:
    """The storage directory name of the checkpoint taken after ``epoch`` epochs."""
    return f"{DIR_PREFIX}{epoch:04d}"


def write_state(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (anything ``torch.save`` takes) into ``directory``: the state
    file first, then its manifest. Returns the directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    (d / STATE_FILE).write_bytes(data)
    manifest = {
        "format": FORMAT,
        "epoch": int(state.get("epoch", 0)),
        "files": {STATE_FILE: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}},
    }
    (d / MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True))
    return d


def read_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The state saved in ``directory`` by :func:`write_state`; raises
    :class:`TornCheckpoint` naming what is missing or does not match."""
    d = Path(directory)
    try:
        manifest = json.loads((d / MANIFEST_FILE).read_text())
        entry = manifest["files"][STATE_FILE]
        want_bytes, want_sha = int(entry["bytes"]), str(entry["sha256"])
    except FileNotFoundError:
        raise TornCheckpoint(f"{d}: no {MANIFEST_FILE} (the upload did not finish)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TornCheckpoint(f"{d}: {MANIFEST_FILE} is unreadable ({exc!r})") from None
    if manifest.get("format") != FORMAT:
        raise TornCheckpoint(f"{d}: {MANIFEST_FILE} has format {manifest.get('format')!r}")
    try:
        data = (d / STATE_FILE).read_bytes()
    except FileNotFoundError:
        raise TornCheckpoint(f"{d}: no {STATE_FILE}") from None
    if len(data) != want_bytes or hashlib.sha256(data).hexdigest() != want_sha:
        raise TornCheckpoint(
            f"{d}: {STATE_FILE} has {len(data)} bytes and does not match its manifest "
            f"({want_bytes} bytes, sha256 {want_sha[:12]}...)"
        )
    # The file is this run's own, written by write_state and verified byte for byte
    # against its manifest: safe to unpickle (it holds numpy and Python RNG states).
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def epoch_dirs(fs, path: str) -> list[str]:
    """Names of the epoch checkpoint folders of the run folder ``path`` on the pyarrow
    filesystem ``fs``, oldest first (Ray's own files beside them are left out); none
    when the folder is missing."""
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.Directory and i.base_name.startswith(DIR_PREFIX)
    )


def _older_siblings(checkpoint) -> list:
    """The run's other checkpoint directories older than ``checkpoint``, newest first,
    as ``ray.train.Checkpoint`` objects on the same filesystem."""
    from ray.train import Checkpoint

    parent, name = checkpoint.path.rstrip("/").rsplit("/", 1)
    try:
        names = epoch_dirs(checkpoint.filesystem, parent)
    except OSError:
        return []
    older = [n for n in reversed(names) if n < name]
    return [Checkpoint(f"{parent}/{n}", filesystem=checkpoint.filesystem) for n in older]


def load_latest(checkpoint) -> tuple[dict[str, Any] | None, list[str]]:
    """(state, skipped) from ``checkpoint`` (a ``ray.train.Checkpoint`` or None): its
    state if whole, else that of the newest older whole checkpoint of the run, else
    None. ``skipped`` says why each torn one was passed over."""
    skipped: list[str] = []
    if checkpoint is None:
        return None, skipped
    for candidate in [checkpoint, *_older_siblings(checkpoint)]:
        try:
            with candidate.as_directory() as d:
                return read_state(d), skipped
        except TornCheckpoint as exc:
            logger.warning("skipping a torn checkpoint: %s", exc)
            skipped.append(str(exc))
        except OSError as exc:
            skipped.append(f"{candidate.path}: unreadable ({exc!r})")
    return None, skipped


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A local directory for one checkpoint before Ray uploads it (removed on exit)."""
    return tempfile.TemporaryDirectory(prefix="hmgray-ckpt-")
