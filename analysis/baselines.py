"""Which arm each arm of an ablation table is tested against: the claim the table makes.

The results' metadata ``ladder`` (the Task's declaration, contracts §5) says what kind of
ablation the arms are:

* ``cumulative``: each arm adds one stage to the arm before it (``global -> micro ->
  meso -> full``). The claim is that every step helps, so each arm is tested against the
  arm before it, paired over their shared seeds; the first arm is the base and has no
  test. With several groups of arms (metadata ``arm_references``, e.g. one ladder per
  backbone) the steps run within each group, in the table's arm order.
* ``star``: each arm removes one part of the reference (``full`` minus X). Each arm is
  tested against its reference.

Results written before the kind was recorded (no ``ladder`` key) are read as ``star``:
that is what their tables tested, so their markers keep their meaning.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.errors import AnalysisError
from analysis.load import Results

KINDS = ("cumulative", "star")


def ladder_kind(results: Results) -> str:
    """``"cumulative"`` or ``"star"`` (module docstring); a bad value names the field."""
    kind = results.meta.get("ladder", "star")
    if kind not in KINDS:
        raise AnalysisError(
            f"{results.uri}: metadata 'ladder' must be one of {', '.join(KINDS)}, got {kind!r}"
        )
    return kind


def group_of(results: Results, arm: str) -> str:
    """The reference arm whose group ``arm`` belongs to (a reference is in its own)."""
    return arm if arm in results.references else results.reference_of(arm)


def baselines(results: Results, arms: Sequence[str]) -> dict[str, str | None]:
    """arm -> the arm it is tested against, or None (a star's reference, a cumulative
    ladder's first step). ``arms`` is the table's arm order."""
    if ladder_kind(results) == "star":
        return {a: None if a in results.references else results.reference_of(a) for a in arms}
    out: dict[str, str | None] = {}
    last: dict[str, str] = {}
    for arm in arms:
        group = group_of(results, arm)
        out[arm] = last.get(group)
        last[group] = arm
    return out


def steps_text(results: Results, arms: Sequence[str]) -> str:
    """The steps as one line per group: ``"global → micro → meso → full"``; several groups
    are joined by ``"; "``. Star ladders give ``""``."""
    if ladder_kind(results) == "star":
        return ""
    groups: dict[str, list[str]] = {}
    for arm in arms:
        groups.setdefault(group_of(results, arm), []).append(arm)
    return "; ".join(" → ".join(g) for g in groups.values())


def pair_label(arm: str, baseline: str, cumulative: bool) -> str:
    """How notes name one comparison: ``"micro → meso"`` (a step) or ``"no_text vs full"``."""
    return f"{baseline} → {arm}" if cumulative else f"{arm} vs {baseline}"
