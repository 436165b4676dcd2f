"""A one-parameter sweep of a selected configuration, for an experiment's hooks.

After the confirmation, one arm's selected configuration is re-trained on the shared
seeds at each value of one parameter (stage ``sweep``, rows labelled ``sweep_point``);
the report's sweep table and curve (``analysis.sweep``) show the test metrics against
it. A sweep describes the selected model's sensitivity: nothing is selected from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hmgray.search.ablation import Condition

__all__ = ["SWEEP_LABEL", "positive_floats", "sweep_conditions", "sweep_metadata"]

SWEEP_LABEL = "sweep_point"


def positive_floats(name: str, example: str) -> Callable[[str], tuple[float, ...]]:
    """argparse type for a comma-separated list of values of ``name``, each > 0
    (``example`` shows the format in the error); the empty string gives no values."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected numbers like {example}; got {text!r}"
            ) from None
        if any(not v > 0 for v in values):
            raise argparse.ArgumentTypeError(f"every {name} must be > 0; got {text!r}")
        return values

    return parse


def sweep_conditions(
    arm: str | None,
    param: str,
    values: Sequence[float] | None,
    fixed: Mapping[str, Any] | None = None,
    *,
    stage: str = "sweep",
    confirm: bool = True,
) -> list[Condition]:
    """The plain confirmation (unless ``confirm`` is false), then one condition of stage
    ``stage`` of ``arm`` per value of ``param`` (with the config keys ``fixed`` set too);
    only the confirmation when ``arm`` is None. An experiment with several sweeps gives
    each its own stage and concatenates the lists (the confirmation once)."""
    out = [Condition()] if confirm else []
    if arm is None:
        return out
    for k, v in enumerate(values or ()):
        # the label tells the sweeps' runs apart even where two sweeps meet at one config
        point = k if stage == "sweep" else f"{stage}:{k}"
        out.append(
            Condition(
                stage,
                {param: float(v), **(fixed or {}), SWEEP_LABEL: point},
                labels=(SWEEP_LABEL,),
                arms=(arm,),
            )
        )
    return out


def sweep_metadata(
    arm: str | None, param: str, values: Sequence[float] | None, stage: str = "sweep"
) -> dict:
    """The results metadata that tells the analysis about the sweep (none without one).
    Several sweeps: metadata ``{"sweep": [each one's "sweep" entry, ...]}``."""
    return {"sweep": {"param": param, "stage": stage}} if arm and values else {}
