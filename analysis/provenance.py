"""Where every number of a table comes from, and the one command that regenerates it.

The sidecar JSON (``<table>.json``) lists, per cell, the seeds, trial ids, config hashes
and values behind it, with its statistics and test; per table, the git commit(s), data
manifest hash(es), versions, the results file and its sha256, and the command. The LaTeX
file repeats the essentials as comments. Nothing here depends on the clock or on where
the report is written, so regenerating from the same results gives the same bytes.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from analysis.cells import Cell, Table
from analysis.load import Results
from analysis.stats import POWER, TEST_RATIONALE

DEFAULT_OPTIONS = {"ci": "t", "test": "t", "alpha": 0.05, "siunitx": False}


def regenerate_command(results_uri: str, out_dir: str | None = None, **options: Any) -> str:
    """``python -m analysis <results-uri>`` plus every option that is not the default."""
    args = ["python", "-m", "analysis", results_uri]
    if out_dir is not None:
        args += ["--out", out_dir]
    for name, default in DEFAULT_OPTIONS.items():
        value = options.get(name, default)
        if value == default:
            continue
        args += [f"--{name}"] if value is True else [f"--{name}", str(value)]
    return shlex.join(args)


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _comparisons_text(ladder: str | None) -> str | None:
    if ladder == "cumulative":
        return "each arm against the arm before it in the ladder (analysis.baselines)"
    if ladder == "star":
        return "each arm against its reference arm (analysis.baselines)"
    return None


def _sorted_unique(values) -> list[str]:
    return sorted({str(v) for v in values})


def _cell(row_key: str, column_key: str, cell: Cell) -> dict[str, Any]:
    s, t = cell.stats, cell.test
    return {
        "row": row_key,
        "column": column_key,
        "n": s.n,
        "mean": s.mean,
        "std": s.std,
        "ci": [s.ci_low, s.ci_high],
        "seeds": list(cell.seeds),
        "trial_ids": list(cell.trial_ids),
        "config_hashes": list(cell.config_hashes),
        "values": list(cell.values),
        "nan_seeds": list(cell.nan_seeds),
        "fewer_seeds": cell.fewer,
        "displayed": (cell.mean_text + (" ± " + cell.std_text if cell.std_text else "")),
        "rank": cell.rank,
        "delta_pct": cell.delta_pct,
        "test": None
        if t is None
        else {
            "method": t.method,
            "n_pairs": t.n_pairs,
            "statistic": t.statistic,
            "p": t.p,
            "p_t": t.p_t,
            "p_wilcoxon": t.p_wilcoxon,
            "testable": t.testable,
            "note": t.note,
            "p_holm": cell.p_holm,
            "significant": cell.significant,
            "against": cell.against,
            "mean_diff": t.mean_diff,
            "sd_diff": t.sd_diff,
            "detectable_difference": {
                "power": POWER,
                "alpha": cell.detectable_alpha,
                "absolute": cell.detectable,
            },
            "sequential": None if cell.decision is None else cell.decision.as_meta(),
        },
    }


def sidecar(table: Table, results: Results, command: str, files: list[str]) -> dict[str, Any]:
    """The provenance document of ``table`` (written as ``<table>.json``)."""
    rows = table.source_rows
    manifests = {
        str(d): _sorted_unique(rows.loc[rows["dataset"] == d, "data_manifest_hash"])
        for d in sorted(set(rows["dataset"]))
    }
    doc = {
        "format": "hmgray-analysis-table",
        "version": 1,
        "table": table.name,
        "kind": table.kind,
        "label": table.label,
        "files": files,
        "regenerate": command,
        "results": {"uri": results.uri, "sha256": results.sha256},
        "experiment": results.experiment,
        "experiment_command": results.command,
        "git_commits": _sorted_unique(rows["git_commit"]),
        "data_manifest_hashes": manifests,
        "hmgray_versions": _sorted_unique(rows["hmgray_version"])
        if "hmgray_version" in rows
        else [],
        "ray_versions": _sorted_unique(rows["ray_version"]) if "ray_version" in rows else [],
        "reference_arm": results.reference_arm,
        "declared_seeds": list(results.seeds) if results.seeds is not None else None,
        "options": table.options,
        "statistics": {
            "cell": "mean, std (ddof=1), n, 95% CI over seeds; NaN values left out",
            "test": table.options.get("test"),
            "why": TEST_RATIONALE,
            "correction": "Holm across the tested comparisons of this table"
            if "sequential" not in table.options
            else "group-sequential: alpha spent over the looks, Holm within each look"
            " (analysis.sequential)",
            "comparisons": _comparisons_text(table.options.get("ladder")),
        },
        "caption": table.caption,
        "notes": list(table.notes),
        "columns": [
            {
                "key": c.key,
                "metric": c.metric.name,
                "label": c.metric.label,
                "direction": c.metric.direction,
                "group": c.group,
                "decimals": c.decimals,
            }
            for c in table.columns
        ],
        "rows": [{"key": r.key, "label": r.label, "reference": r.is_reference} for r in table.rows],
        "cells": [
            _cell(r.key, c.key, cell)
            for r in table.rows
            for c, cell in zip(table.columns, r.cells, strict=True)
        ],
    }
    return _clean(doc)


def sidecar_bytes(doc: dict[str, Any]) -> bytes:
    return (
        json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


def latex_comments(doc: dict[str, Any], table: Table) -> list[str]:
    """The sidecar's essentials as LaTeX comment lines (full detail in the JSON)."""
    lines = [
        f"hmgray analysis: table {doc['table']!r} of experiment {doc['experiment']!r}",
        f"Regenerate from the stored results: {doc['regenerate']}",
        f"Results: {doc['results']['uri']} (sha256 {doc['results']['sha256'] or 'n/a'})",
        f"Experiment command: {doc['experiment_command'] or 'n/a'}",
        f"git commit: {', '.join(doc['git_commits'])}",
    ]
    for dataset, hashes in doc["data_manifest_hashes"].items():
        lines.append(f"data manifest hash ({dataset}): {', '.join(hashes)}")
    lines.append(
        f"hmgray {', '.join(doc['hmgray_versions']) or 'n/a'}; ray {', '.join(doc['ray_versions']) or 'n/a'}"
    )
    lines.append(
        f"Per cell: seeds, trial ids, config hashes, values and tests in {table.name}.json"
    )
    for row in table.rows:
        groups: dict[str | None, list[Cell]] = {}
        for col, cell in zip(table.columns, row.cells, strict=True):
            groups.setdefault(col.group, []).append(cell)
        for group, cells in groups.items():
            runs = sorted(
                {
                    (s, t, h)
                    for c in cells
                    for s, t, h in zip(c.seeds, c.trial_ids, c.config_hashes, strict=True)
                }
            )
            where = f" [{group}]" if group is not None else ""
            if not runs:
                lines.append(f"  {row.label}{where}: no runs")
                continue
            lines.append(
                f"  {row.label}{where}: seeds {','.join(str(r[0]) for r in runs)};"
                f" trials {','.join(r[1] for r in runs)}; configs {','.join(r[2] for r in runs)}"
            )
    return lines
