"""Convergence curves: a validation metric against optimiser step, per arm, over seeds.

Each run's curve is the ``curve_json`` of its results row (written by
``hmgray.training.worker``: lists ``step``, ``epoch``, ``val_loss``, ``val_mse``). Runs are
grouped by panel (the value of one config key, e.g. the training set) and arm; at every
step, over the seeds that have a finite point there (runs of one arm and panel share
their evaluation steps):

    mean = sum(y_s) / n
    band "ci":  mean ± t_{0.975, n-1} * std / sqrt(n)     (95% Student-t CI of the mean)
    band "std": mean ± std                                  (std with ddof = 1)

and no band where n < 2. The figure draws one panel per panel value, a line per arm with
its band (log y when the values span more than 10x); ``curves.csv`` holds the same
numbers. Declared in the results metadata (``curves``, contracts §5):

    {"stages": ["confirm", "fewshot"], "panel": "train_set", "metric": "val_loss",
     "band": "ci", "panels": ["full", "k=5"], "labels": {"\\"full\\"": "full data"},
     "name": "curves", "ylabel": "validation loss"}

(only ``stages`` is required; ``panel`` absent = one panel).
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis import format as fmt
from analysis.errors import AnalysisError
from analysis.load import Results, config_value, finished
from analysis.plots import COLORS, _grid
from analysis.stats import summarize

BANDS = {"ci": "95% CI of the mean (Student-t)", "std": "± 1 std (ddof = 1)"}
SPEC_KEYS = ("stages", "panel", "panels", "labels", "metric", "band", "name", "ylabel")
# y-axis labels of tables written before the metadata carried the task's labels
LEGACY_LABELS = {
    "val_loss": "val. loss ((pred - price) / MSRP)²",
    "val_mse": "validation MSE (currency²)",
}


def axis_label(meta: dict[str, Any], metric: str) -> str:
    """The y label of a curve of ``metric`` from the results' metadata: the task's loss
    label for ``val_loss``, ``validation <label> (<unit>)`` for ``val_<metric>``."""
    if metric == "val_loss" and meta.get("loss_label"):
        return str(meta["loss_label"])
    spec = (meta.get("metric_specs") or {}).get(metric.removeprefix("val_"))
    if metric.startswith("val_") and spec:
        unit = f" ({spec['unit']})" if spec.get("unit") else ""
        return f"validation {spec['label']}{unit}"
    return LEGACY_LABELS.get(metric, metric)


def spec_from_meta(results: Results) -> dict[str, Any] | None:
    """The checked ``curves`` entry of the metadata, with defaults; None when absent."""
    raw = results.meta.get("curves")
    if raw is None:
        return None
    where = f"{results.uri}: metadata curves"
    if not isinstance(raw, dict):
        raise AnalysisError(f"{where} must be an object")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise AnalysisError(f"{where}: unknown field(s) {', '.join(unknown)}")
    stages = raw.get("stages")
    if not (isinstance(stages, list) and stages and all(isinstance(s, str) for s in stages)):
        raise AnalysisError(f"{where}.stages must be a non-empty list of stage names")
    spec = {
        "name": "curves",
        "metric": "val_loss",
        "band": "ci",
        "panel": None,
        "panels": None,
        "labels": {},
        "ylabel": None,
        **raw,
    }
    if spec["band"] not in BANDS:
        raise AnalysisError(f"{where}.band must be one of {', '.join(BANDS)}, got {spec['band']!r}")
    if not isinstance(spec["metric"], str) or not isinstance(spec["name"], str):
        raise AnalysisError(f"{where}.metric and .name must be strings")
    if spec["panels"] is not None and not isinstance(spec["panels"], list):
        raise AnalysisError(f"{where}.panels must be a list")
    if not isinstance(spec["labels"], dict):
        raise AnalysisError(f"{where}.labels must be an object")
    return spec


def curve_points(results: Results, spec: dict[str, Any]) -> pd.DataFrame:
    """One row per curve point: panel (JSON text), arm, seed, trial_id, step, value.

    Rows of the spec's stages without a curve (null ``curve_json``: not recorded) are
    skipped; a curve that is not valid JSON or lacks the metric raises AnalysisError
    naming the trial.
    """
    frame = results.frame
    if "curve_json" not in frame.columns:
        raise AnalysisError(f"{results.uri}: no column 'curve_json' (no curves were recorded)")
    rows = frame[frame["stage"].isin(spec["stages"]) & frame["curve_json"].notna()]
    rows = rows[finished(rows)]
    metric = spec["metric"]
    out = []
    for _, r in rows.iterrows():
        try:
            curve = json.loads(r["curve_json"])
            steps, values = curve["step"], curve[metric]
        except (TypeError, ValueError, KeyError) as e:
            raise AnalysisError(
                f"{results.uri}: trial {r['trial_id']}: curve_json has no readable "
                f"'step' and {metric!r} lists ({type(e).__name__}: {e})"
            ) from e
        if len(steps) != len(values):
            raise AnalysisError(
                f"{results.uri}: trial {r['trial_id']}: curve_json 'step' and {metric!r} "
                "differ in length"
            )
        panel = (
            json.dumps(config_value(r["config_json"], spec["panel"]), sort_keys=True)
            if spec["panel"]
            else "null"
        )
        for step, value in zip(steps, values, strict=True):
            v = float("nan") if value is None else float(value)
            if math.isfinite(v):
                out.append((panel, r["arm"], int(r["seed"]), str(r["trial_id"]), int(step), v))
    points = pd.DataFrame(out, columns=["panel", "arm", "seed", "trial_id", "step", "value"])
    if len(points) == 0:
        raise AnalysisError(
            f"{results.uri}: no finite {metric!r} curve points in stage(s) "
            f"{', '.join(spec['stages'])}"
        )
    runs = points.drop_duplicates(["panel", "arm", "seed", "trial_id"])
    dup = runs[runs.duplicated(["panel", "arm", "seed"], keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise AnalysisError(
            f"{results.uri}: curves: several runs of arm {first['arm']!r}, seed "
            f"{int(first['seed'])} in panel {first['panel']} (trial_id "
            f"{', '.join(dup['trial_id'][:4])}); give each panel its own config value"
        )
    return points


def curve_bands(points: pd.DataFrame, band: str = "ci") -> pd.DataFrame:
    """Per (panel, arm, step): n, mean, low, high (NaN band where n < 2); see module doc."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {tuple(BANDS)}, got {band!r}")
    out = []
    for (panel, arm, step), g in points.groupby(["panel", "arm", "step"], sort=True):
        values = g.sort_values("seed")["value"].to_numpy(dtype=np.float64)
        s = summarize(values.tolist(), ci="t")
        if band == "ci":
            low, high = s.ci_low, s.ci_high
        else:
            low, high = s.mean - s.std, s.mean + s.std  # NaN for n < 2 (std is NaN)
        out.append((panel, arm, int(step), s.n, s.mean, low, high))
    return pd.DataFrame(out, columns=["panel", "arm", "step", "n", "mean", "low", "high"])


def _panels(spec: dict[str, Any], bands: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(bands["panel"]))
    if spec["panels"] is None:
        return sorted(present, key=lambda k: _sort_key(json.loads(k)))
    wanted = [json.dumps(p, sort_keys=True) for p in spec["panels"]]
    return [p for p in wanted if p in present] + [p for p in present if p not in wanted]


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, json.dumps(value, sort_keys=True))


def _label(spec: dict[str, Any], panel: str) -> str:
    if panel in spec["labels"]:
        return str(spec["labels"][panel])
    value = json.loads(panel)
    name = spec["panel"]
    return "all runs" if value is None else f"{name} = {fmt.sweep_label(value)}"


def curves_figure(results: Results, spec: dict[str, Any], bands: pd.DataFrame) -> Figure:
    """One panel per panel value: the metric against step, per arm, mean and band."""
    panels = _panels(spec, bands)
    arms = results.arms(bands)
    fig, axes = _grid(len(panels), ncols=min(3, len(panels)), size=(2.8, 2.3))
    ylabel = spec["ylabel"] or axis_label(results.meta, spec["metric"])
    for ax, panel in zip(axes, panels, strict=True):
        here = bands[bands["panel"] == panel]
        means = here["mean"].to_numpy(dtype=np.float64)
        # log y when the means span more than 10x; a band reaching 0 or below (a wide CI
        # from few seeds) is then drawn down to the bottom of the axis
        log_y = bool(means.size) and means.min() > 0 and means.max() / means.min() > 10
        floor = means.min() / 2 if log_y else -np.inf
        seeds = 0
        for a, arm in enumerate(arms):
            g = here[here["arm"] == arm].sort_values("step")
            if len(g) == 0:
                continue
            seeds = max(seeds, int(g["n"].max()))
            color = COLORS[a % len(COLORS)]
            ax.plot(g["step"], g["mean"], "-", color=color, linewidth=1.0, label=arm)
            ok = g[np.isfinite(g["low"]) & np.isfinite(g["high"])]
            if len(ok):
                ax.fill_between(
                    ok["step"],
                    np.maximum(ok["low"], floor),
                    ok["high"],
                    color=color,
                    alpha=0.2,
                    linewidth=0,
                )
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor)
        ax.set_title(f"{_label(spec, panel)} ({seeds} seed{'s' if seeds != 1 else ''})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(ylabel)
        if ax is axes[0]:
            ax.legend(frameon=False)
    fig.suptitle(
        f"{results.experiment}: {spec['metric']} against step, lower is better; "
        f"line: mean over seeds, band: {BANDS[spec['band']]}",
        fontsize=8,
    )
    return fig


def curves_csv(bands: pd.DataFrame) -> bytes:
    """The plotted numbers: panel (JSON text), arm, step, n, mean, low, high."""
    buf = io.StringIO()
    bands.to_csv(buf, index=False, lineterminator="\n", float_format=lambda x: repr(float(x)))
    return buf.getvalue().encode()
