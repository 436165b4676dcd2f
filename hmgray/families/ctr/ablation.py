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

from hmgray.families.ctr.config import arm_parts
from hmgray.search.sweep import positive_floats, sweep_conditions, sweep_metadata


def add_flags(parser) -> None:
    parser.add_argument(
        "--sweep",
        type=positive_floats("w_coarse", "0.01,0.1,1,10"),
        help="w_coarse values of the sweep of the first backbone's mgipf arm "
        "(comma-separated, > 0; empty string: no sweep)",
    )


def sweep_arm(arms) -> str | None:
    return next((a for a in arms if arm_parts(a)[1] == "mgipf"), None)


def conditions(ctx):
    """The plain confirmation, then one sweep condition per w_coarse value."""
    return sweep_conditions(sweep_arm(ctx.args.arms), "w_coarse", ctx.args.sweep)


def metadata(ctx) -> dict:
    return {
        "arm_references": ctx.task.references(ctx.args.arms),
        **sweep_metadata(sweep_arm(ctx.args.arms), "w_coarse", ctx.args.sweep),
    }
