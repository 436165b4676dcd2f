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

import argparse

from hmgray.families.retrieval.config import stages
from hmgray.search.ablation import Condition

SWEEP_LABEL = "sweep_point"


def _curvatures(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.1,1,10; got {text!r}") from None
    if any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"every curvature c must be > 0; got {text!r}")
    return values


def add_flags(parser) -> None:
    parser.add_argument(
        "--sweep",
        type=_curvatures,
        help="curvature values c of the sweep of the last hyperbolic arm planned "
        "(comma-separated, > 0, the curvature fixed; empty string: no sweep)",
    )


def sweep_arm(arms) -> str | None:
    hyperbolic = [a for a in arms if "hrl" in stages(a)]
    return hyperbolic[-1] if hyperbolic else None


def conditions(ctx) -> list[Condition]:
    """The plain confirmation, then one sweep condition per curvature."""
    out = [Condition()]
    arm = sweep_arm(ctx.args.arms)
    if arm is None:
        return out
    for k, c in enumerate(ctx.args.sweep or ()):
        out.append(
            Condition(
                "sweep",
                {"c": float(c), "learn_c": False, SWEEP_LABEL: k},
                labels=(SWEEP_LABEL,),
                arms=(arm,),
            )
        )
    return out


def metadata(ctx) -> dict:
    if sweep_arm(ctx.args.arms) and ctx.args.sweep:
        return {"sweep": {"param": "c", "stage": "sweep"}}
    return {}
