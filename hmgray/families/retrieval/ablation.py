"""The hyperbolic retrieval ablation's extra piece: the curvature sweep.

The reference arm (``sms``, full GAHR; or the last hyperbolic arm planned), its selected
configuration unchanged except the curvature, which is fixed (``learn_c`` off) at each
``--sweep`` value of ``c``, re-trained on the shared seeds and evaluated on test (stage
``sweep``). The report's sweep table and curve (``analysis.sweep``) show test R@1 and the
other metrics against ``c`` with a 95 % band over seeds. The sweep describes the selected
model's sensitivity; nothing is selected from it.

Used as the ``hooks`` of ``experiments/hyperbolic_retrieval_ablation.py``.
"""

from __future__ import annotations

from hmgray.families.retrieval.config import stages
from hmgray.search.sweep import positive_floats, sweep_conditions, sweep_metadata


def add_flags(parser) -> None:
    parser.add_argument(
        "--sweep",
        type=positive_floats("curvature c", "0.1,1,10"),
        help="curvature values c of the sweep of the last hyperbolic arm planned "
        "(comma-separated, > 0, the curvature fixed; empty string: no sweep)",
    )


def sweep_arm(arms) -> str | None:
    hyperbolic = [a for a in arms if "hrl" in stages(a)]
    return hyperbolic[-1] if hyperbolic else None


def conditions(ctx):
    """The plain confirmation, then one sweep condition per curvature (fixed)."""
    return sweep_conditions(sweep_arm(ctx.args.arms), "c", ctx.args.sweep, {"learn_c": False})


def metadata(ctx) -> dict:
    return sweep_metadata(sweep_arm(ctx.args.arms), "c", ctx.args.sweep)
