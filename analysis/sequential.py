"""Group-sequential confirmation: seeds run in rounds until every planned comparison is
decided (``--seeds auto[:MAX]``), with the family-wise error rate still at most alpha.

The design (results metadata ``sequential``, written by the runner): looks after
n_1 < n_2 < ... < n_K = MAX seeds (:func:`default_looks`: 3 seeds, then every 2), the
metric whose comparisons decide when to stop, the spending function, and the practical
threshold. Everything below is replayed from the stored results, so ``python -m
analysis`` regenerates the same markers and the runner's stopping decision is the table's.

**Alpha spending** (Lan & DeMets, 1983). The level alpha is spent over the looks by a
function of the information fraction t_k = n_k / n_K; look k spends
a_k = alpha(t_k) - alpha(t_{k-1}), and the a_k add up to alpha:

    Pocock-type (default):   alpha(t) = alpha ln(1 + (e - 1) t)
    O'Brien-Fleming-type:    alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))

Pocock-type spending is the default because a decided comparison should stop the run
early; O'Brien-Fleming-type spending keeps almost all of alpha for the last look.

**A look.** At look k every comparison still undecided (S_k) is tested on the first n_k
seeds (the paired t-test of ``analysis.stats``), and Holm's step-down procedure at level
a_k runs over the testable ones. A rejected comparison is decided *significant*. One
that is not rejected is decided *negligible* when its detectable difference (80% power at
a_k / |S_k|) is at most ``practical`` times its baseline's mean: a difference that large
would most likely have been found. The others stay undecided; after the last look they are
reported as undecided.

**Error control.** At look k, Holm rejects a true null hypothesis only if the smallest
true-null p-value is at most a_k / |T_k| (T_k: the true nulls still undecided), so a false
rejection at look k has probability at most a_k, whatever happened at earlier looks.
Adding over the looks (the union bound), the probability of any false rejection is at
most a_1 + ... + a_K = alpha, for any stopping rule. The bound ignores that the looks
share seeds, so the procedure is conservative. Deciding a comparison negligible never
rejects anything, so it costs no error rate.

**Stopping rule** (the runner's): after each look, stop when every comparison of the
design's metric is decided; at n_K seeds, stop anyway.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from scipy import stats as sps

from analysis.errors import AnalysisError
from analysis.stats import MIN_PAIRS_T, POWER, detectable_difference, paired_test, t_power

SPENDING = ("pocock", "obrien-fleming")
SPENDING_NAMES = {"pocock": "Pocock-type", "obrien-fleming": "O'Brien–Fleming-type"}
FIRST_LOOK = MIN_PAIRS_T  # the paired t-test needs 3 pairs
LOOK_STEP = 2  # seeds added per round after the first look
DEFAULT_MAX = 10
DEFAULT_PRACTICAL = 0.01
OUTCOMES = ("significant", "negligible", "undecided", "untested")


def default_looks(most: int = DEFAULT_MAX) -> tuple[int, ...]:
    """Seeds after each look: 3, then every 2, and ``most`` last (e.g. 3, 5, 7, 9, 10)."""
    if most < FIRST_LOOK:
        raise ValueError(f"a sequential design needs at least {FIRST_LOOK} seeds, got {most}")
    looks = list(range(FIRST_LOOK, most, LOOK_STEP))
    return (*looks, most)


def spent(alpha: float, looks: Sequence[int], spending: str = "pocock") -> list[float]:
    """The level a_k spent at each look (they add up to ``alpha``)."""
    if spending not in SPENDING:
        raise ValueError(f"spending must be one of {SPENDING}, got {spending!r}")
    total = looks[-1]

    def cumulative(t: float) -> float:
        if spending == "pocock":
            return alpha * math.log(1 + (math.e - 1) * t)
        z = float(sps.norm.ppf(1 - alpha / 2))
        return float(2 - 2 * sps.norm.cdf(z / math.sqrt(t)))

    levels, before = [], 0.0
    for n in looks:
        now = alpha if n == total else cumulative(n / total)  # exactly alpha at the end
        levels.append(now - before)
        before = now
    return levels


@dataclass(frozen=True)
class Design:
    """A group-sequential confirmation (module docstring). ``metric`` is the results
    column (``test_<selection metric>``) whose comparisons decide when to stop;
    ``practical`` is relative to the baseline's mean; ``alpha`` is the stopping rule's."""

    looks: tuple[int, ...]
    metric: str
    spending: str = "pocock"
    practical: float = DEFAULT_PRACTICAL
    alpha: float = 0.05
    power: float = POWER

    def __post_init__(self) -> None:
        if not self.looks or list(self.looks) != sorted(set(self.looks)):
            raise ValueError(f"looks must be increasing seed counts, got {list(self.looks)}")
        if self.looks[0] < FIRST_LOOK:
            raise ValueError(f"the first look needs at least {FIRST_LOOK} seeds")
        if self.spending not in SPENDING:
            raise ValueError(f"spending must be one of {', '.join(SPENDING)}")
        if not 0 < self.alpha < 1 or not 0 < self.power < 1 or not self.practical >= 0:
            raise ValueError("alpha and power must lie in (0, 1), practical must be >= 0")

    @property
    def most(self) -> int:
        return self.looks[-1]

    def as_meta(self) -> dict:
        return {
            "looks": list(self.looks),
            "metric": self.metric,
            "spending": self.spending,
            "practical": self.practical,
            "alpha": self.alpha,
            "power": self.power,
        }

    @classmethod
    def from_meta(cls, raw: object, uri: str) -> Design:
        if not isinstance(raw, dict):
            raise AnalysisError(f"{uri}: metadata 'sequential' must be an object")
        unknown = sorted(set(raw) - {"looks", "metric", "spending", "practical", "alpha", "power"})
        if unknown:
            raise AnalysisError(f"{uri}: metadata 'sequential': unknown field(s) {unknown}")
        looks = raw.get("looks")
        if not (isinstance(looks, list) and looks and all(isinstance(n, int) for n in looks)):
            raise AnalysisError(f"{uri}: metadata sequential.looks must be a list of integers")
        if not isinstance(raw.get("metric"), str):
            raise AnalysisError(f"{uri}: metadata sequential.metric must be a metric column")
        try:
            return cls(
                looks=tuple(looks),
                metric=raw["metric"],
                spending=raw.get("spending", "pocock"),
                practical=float(raw.get("practical", DEFAULT_PRACTICAL)),
                alpha=float(raw.get("alpha", 0.05)),
                power=float(raw.get("power", POWER)),
            )
        except (TypeError, ValueError) as exc:
            raise AnalysisError(f"{uri}: metadata 'sequential': {exc}") from exc


def design_of(meta: Mapping, uri: str) -> Design | None:
    """The design in results metadata, or None for a fixed set of seeds."""
    raw = meta.get("sequential")
    return None if raw is None else Design.from_meta(raw, uri)


@dataclass(frozen=True)
class Comparison:
    """One planned comparison: values by seed of the arm and of its baseline arm."""

    key: Hashable
    metric: str
    baseline: Mapping[int, float]
    other: Mapping[int, float]


@dataclass(frozen=True)
class Decision:
    """How a comparison ended. ``look`` (1-based) and ``n_seeds``: the look it was decided
    at, or the last look done for an undecided one (0 when no look was done); ``p``: its
    p-value there; ``threshold``: the Holm threshold it met (significant) or the level of
    its detectable difference; ``detectable``: that difference (absolute) at that look."""

    outcome: str
    look: int
    n_seeds: int
    p: float = math.nan
    threshold: float = math.nan
    detectable: float = math.nan

    @property
    def decided(self) -> bool:
        return self.outcome in ("significant", "negligible")

    def as_meta(self) -> dict:
        return {
            "outcome": self.outcome,
            "look": self.look,
            "n_seeds": self.n_seeds,
            "p": self.p,
            "threshold": self.threshold,
            "detectable": self.detectable,
        }


def looks_done(design: Design, n_seeds: int) -> int:
    """How many of the design's looks ``n_seeds`` seeds complete."""
    return sum(1 for n in design.looks if n <= n_seeds)


def replay(
    design: Design,
    comparisons: Iterable[Comparison],
    seed_order: Sequence[int],
    alpha: float,
) -> tuple[dict[Hashable, Decision], int]:
    """Every comparison's decision, replaying the design's looks over ``seed_order`` (the
    seeds in the order they were run; look k uses the first n_k). Returns the decisions
    and how many looks were done."""
    levels = spent(alpha, design.looks, design.spending)
    done = looks_done(design, len(seed_order))
    decisions: dict[Hashable, Decision] = {}
    last = {}  # key -> (test, level, look, seeds) of its last look, for undecided ones
    undecided = list(comparisons)
    for k in range(done):
        n, level = design.looks[k], levels[k]
        seeds = set(seed_order[:n])
        tests = {}
        for c in undecided:
            shared = sorted(seeds & set(c.baseline) & set(c.other))
            base = [c.baseline[s] for s in shared]
            other = [c.other[s] for s in shared]
            tests[c.key] = (paired_test(base, other, "t", alpha, wilcoxon=False), base)
        testable = sorted(
            (c for c in undecided if tests[c.key][0].testable), key=lambda c: tests[c.key][0].p
        )
        m = len(testable)
        for j, c in enumerate(testable):  # Holm's step-down at this look's level
            test = tests[c.key][0]
            if test.p > level / (m - j):
                break
            decisions[c.key] = Decision("significant", k + 1, n, test.p, level / (m - j))
        for c in testable:
            if c.key in decisions:
                continue
            test, base = tests[c.key]
            practical = design.practical * abs(sum(base) / len(base))
            # detectable difference <= practical  <=>  power at the practical size >= power
            found = test.sd_diff == 0 or (
                t_power(practical, test.sd_diff, test.n_pairs, level / m) >= design.power
            )
            if found:
                decisions[c.key] = _final("negligible", test, level / m, k + 1, n, design)
            else:
                last[c.key] = (test, level / m, k + 1, n)
        undecided = [c for c in undecided if c.key not in decisions]
    for c in undecided:
        if c.key in last:
            decisions[c.key] = _final("undecided", *last[c.key], design)
        else:
            decisions[c.key] = Decision("untested", done, design.looks[done - 1] if done else 0)
    return decisions, done


def _final(outcome: str, test, level: float, look: int, n: int, design: Design) -> Decision:
    detect = detectable_difference(test.sd_diff, test.n_pairs, level, design.power)
    return Decision(outcome, look, n, test.p, level, detect)


def all_decided(
    decisions: Mapping[Hashable, Decision], comparisons: Iterable[Comparison], metric: str
) -> bool:
    """True when every comparison of ``metric`` is decided (the stopping rule)."""
    return all(decisions[c.key].decided for c in comparisons if c.metric == metric)
