"""The category discovery ablation's extra pieces: the sweeps of the margin and the curvature.

The full model's (``lhl``; or the last hyperbolic arm planned) selected configuration is
re-trained on the shared seeds with one parameter changed and evaluated on test:

* stage ``sweep_delta``: the local hierarchy loss's margin ``delta`` at each
  ``--sweep-delta`` value (only when ``lhl`` is planned: no other arm has the margin);
* stage ``sweep_c``: the ball's curvature ``c`` at each ``--sweep-c`` value.

The report's sweep tables and curves (``analysis.sweep``, one per parameter) show All,
Old, New and Known against it with a 95 % band over seeds. The sweeps describe the
selected model's sensitivity; nothing is selected from them.

Used as the ``hooks`` of ``experiments/category_discovery_ablation.py``.
"""

from __future__ import annotations

from hmgray.families.gcd.config import stages
from hmgray.search.ablation import Condition
from hmgray.search.sweep import positive_floats, sweep_conditions, sweep_metadata


def add_flags(parser) -> None:
    parser.add_argument(
        "--sweep-delta",
        type=positive_floats("margin delta", "0.01,0.1,1"),
        help="margins delta of the full model's sweep (comma-separated, > 0; "
        "empty string: no sweep)",
    )
    parser.add_argument(
        "--sweep-c",
        type=positive_floats("curvature c", "0.01,0.1,1"),
        help="curvatures c of the last hyperbolic arm's sweep (comma-separated, > 0; "
        "empty string: no sweep)",
    )


def _arm(arms, stage: str) -> str | None:
    found = [a for a in arms if stage in stages(a)]
    return found[-1] if found else None


def _sweeps(args) -> list[tuple[str | None, str, tuple, str]]:
    return [
        (_arm(args.arms, "lhl"), "delta", args.sweep_delta, "sweep_delta"),
        (_arm(args.arms, "hcl"), "c", args.sweep_c, "sweep_c"),
    ]


def conditions(ctx):
    """The plain confirmation, then one condition per margin, then one per curvature."""
    out = [Condition()]
    for arm, param, values, stage in _sweeps(ctx.args):
        out += sweep_conditions(arm, param, values, stage=stage, confirm=False)
    return out


def metadata(ctx) -> dict:
    sweeps = [sweep_metadata(arm, param, values, stage).get("sweep")
              for arm, param, values, stage in _sweeps(ctx.args)]  # fmt: skip
    sweeps = [s for s in sweeps if s]
    return {"sweep": sweeps} if sweeps else {}
