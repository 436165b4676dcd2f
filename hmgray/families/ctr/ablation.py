"""The coarse-loss ablation's extra pieces: per-backbone references, the w_coarse sweep.

* Each backbone's arms (``fine`` -> ``hard`` -> ``mgipf``) are compared with that
  backbone's ``mgipf`` arm (results metadata ``arm_references``), never across backbones.
* The sweep: the ``mgipf`` arm of the first planned backbone, its selected configuration
  unchanged except ``w_coarse``, re-trained on the shared seeds at each value of
  ``--sweep`` and evaluated on test (stage ``sweep``); the report's sweep table and curve
  (``analysis.sweep``) show test AUC, gAUC, logloss and tail AUC against ``w_coarse``.
  The sweep is a description of the selected model's sensitivity, not a selection: no
  value is picked from it.

Used as the ``hooks`` of ``experiments/coarse_loss_ablation.py``.
"""

from __future__ import annotations

import argparse

from hmgray.families.ctr.config import arm_parts
from hmgray.search.ablation import Condition

SWEEP_LABEL = "sweep_point"


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers like 0.01,0.1,1,10; got {text!r}"
        ) from None
    if any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"every w_coarse must be > 0; got {text!r}")
    return values


def add_flags(parser) -> None:
    parser.add_argument(
        "--sweep",
        type=_floats,
        help="w_coarse values of the sweep of the first backbone's mgipf arm "
        "(comma-separated, > 0; empty string: no sweep)",
    )


def sweep_arm(arms) -> str | None:
    return next((a for a in arms if arm_parts(a)[1] == "mgipf"), None)


def conditions(ctx) -> list[Condition]:
    """The plain confirmation, then one sweep condition per w_coarse value."""
    out = [Condition()]
    arm = sweep_arm(ctx.args.arms)
    if arm is None:
        return out
    for k, w in enumerate(ctx.args.sweep or ()):
        out.append(
            Condition(
                "sweep",
                {"w_coarse": float(w), SWEEP_LABEL: k},
                labels=(SWEEP_LABEL,),
                arms=(arm,),
            )
        )
    return out


def metadata(ctx) -> dict:
    meta = {"arm_references": ctx.task.references(ctx.args.arms)}
    if sweep_arm(ctx.args.arms) and ctx.args.sweep:
        meta["sweep"] = {"param": "w_coarse", "stage": "sweep"}
    return meta
