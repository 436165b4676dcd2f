"""Statistics of one table cell and of one arm against the reference arm.

Cell summary (values x_1..x_n of one metric over seeds):
    mean = sum(x) / n,   std = sqrt(sum((x - mean)^2) / (n - 1))   (ddof = 1)
    Student-t 95% CI:  mean ± t_{0.975, n-1} * std / sqrt(n)
    bootstrap 95% CI:  percentile interval of the resampled means (seeded, so stable)

Paired comparison of an arm with the reference over their shared seeds (d_i = arm_i - ref_i):
    paired t-test:  t = mean(d) / (std(d) / sqrt(n)),  n - 1 degrees of freedom, two-sided
    Wilcoxon signed-rank: exact two-sided distribution when there are no ties or zeros

Which test decides, and why: the paired **t-test**. An ablation affords 3-10 seeds, and
the exact Wilcoxon test cannot reach p < 0.05 with fewer than 6 pairs (its smallest
two-sided p is 2 / 2^n: 0.25, 0.125, 0.0625 for n = 3, 4, 5), so it would never mark a
difference, however large. The t-test assumes roughly normal paired differences, which
holds for a test metric averaged over many examples (the seed-to-seed spread is an
average of many terms). The Wilcoxon p-value is reported beside it as a distribution-free
check once n is large enough for it to mean something; ``method="wilcoxon"`` makes it the
deciding test instead.

Holm's step-down correction controls the family-wise error rate over the comparisons
of one table: sort p ascending, p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j)).

Power of the paired t-test (what a test with these seeds could have found): with n pairs
whose differences have standard deviation s, the statistic is noncentral t with n - 1
degrees of freedom and noncentrality nc = delta sqrt(n) / s, so

    power(delta) = P(T' > t_crit) + P(T' < -t_crit),   t_crit = t_{1 - a/2, n - 1}

The detectable difference is the delta at which power(delta) = 0.8; the seeds needed for
an observed difference are the least n whose detectable difference is at most it. Both
take s from the observed pairs, so they are planning figures, not guarantees.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps

TEST_RATIONALE = (
    "Paired t-test over the seeds shared with the reference arm: with the 3-10 seeds of an "
    "ablation the exact Wilcoxon signed-rank test cannot reach p < 0.05 below 6 pairs "
    "(smallest two-sided p = 2/2^n), while the seed-to-seed spread of a test metric averaged "
    "over many examples is close to normal, the t-test's assumption. Wilcoxon p-values are "
    "reported beside it as a distribution-free check once n allows."
)
CI_METHODS = ("t", "bootstrap")
TEST_METHODS = ("t", "wilcoxon")
# A t-test on 2 pairs has 1 degree of freedom: a p-value, but one that rests entirely on
# normality and has almost no power; 3 pairs is the least we test.
MIN_PAIRS_T = 3
BOOTSTRAP_RESAMPLES = 9999
POWER = 0.8  # the power at which detectable differences and seeds needed are stated
MAX_SEEDS_NEEDED = 1000  # beyond this a difference is called out of reach


@dataclass(frozen=True)
class CellStats:
    """mean, std (ddof = 1; NaN for n < 2), n and a CI (NaN bounds for n < 2)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    ci_method: str
    confidence: float


def summarize(
    values: Sequence[float], ci: str = "t", confidence: float = 0.95, seed: int = 0
) -> CellStats:
    """Summary of the finite ``values`` of one cell. NaN must be removed by the caller."""
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        nan = math.nan
        return CellStats(0, nan, nan, nan, nan, ci, confidence)
    mean = float(np.mean(x))
    if n < 2:
        return CellStats(n, mean, math.nan, math.nan, math.nan, ci, confidence)
    std = float(np.std(x, ddof=1))
    if std == 0.0:  # every seed gave the same value: the interval is the point itself
        return CellStats(n, mean, std, mean, mean, ci, confidence)
    if ci == "t":
        half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        res = sps.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return CellStats(n, mean, std, low, high, ci, confidence)


@dataclass(frozen=True)
class PairedTest:
    """Arm vs reference over ``n_pairs`` shared seeds.

    ``p`` is the deciding test's p-value (``method``), NaN when not ``testable``, in which
    case ``note`` says why (too few seeds). ``p_t`` / ``p_wilcoxon`` are both tests'
    p-values, each NaN when n is too small for that test to mean anything.
    ``mean_diff`` / ``sd_diff``: mean and std (ddof = 1) of the paired differences
    ``other - reference`` (NaN where undefined), what power statements are made from.
    """

    method: str
    n_pairs: int
    statistic: float
    p: float
    p_t: float
    p_wilcoxon: float
    testable: bool
    note: str
    mean_diff: float = math.nan
    sd_diff: float = math.nan


def min_pairs(method: str, alpha: float = 0.05) -> int:
    """The least number of pairs with which ``method`` can reach p <= alpha at all."""
    if method == "t":
        return MIN_PAIRS_T
    n = 1
    while 2.0 / 2**n > alpha:  # smallest exact two-sided Wilcoxon p-value is 2 / 2^n
        n += 1
    return n


def paired_test(
    reference: Sequence[float],
    other: Sequence[float],
    method: str = "t",
    alpha: float = 0.05,
    *,
    wilcoxon: bool = True,
) -> PairedTest:
    """Two-sided paired test of ``other`` against ``reference`` (aligned by seed).
    ``wilcoxon=False`` skips the Wilcoxon p-value (NaN) where only the t-test decides."""
    if method not in TEST_METHODS:
        raise ValueError(f"method must be one of {TEST_METHODS}, got {method!r}")
    ref = np.asarray(reference, dtype=np.float64)
    arm = np.asarray(other, dtype=np.float64)
    if ref.shape != arm.shape:
        raise ValueError("reference and other must be paired (same length)")
    n = int(ref.size)
    d = arm - ref
    p_t, t_stat = math.nan, math.nan
    if n >= min_pairs("t", alpha):
        if np.all(d == d[0]):  # zero variance: scipy's t would be ±inf (or NaN for d == 0)
            t_stat = 0.0 if d[0] == 0 else math.copysign(math.inf, d[0])
            p_t = 1.0 if d[0] == 0 else 0.0
        else:
            res = sps.ttest_rel(arm, ref)
            t_stat, p_t = float(res.statistic), float(res.pvalue)
    p_w, w_stat = math.nan, math.nan
    if method == "wilcoxon" and not wilcoxon:
        raise ValueError("method='wilcoxon' needs the Wilcoxon p-value")
    if wilcoxon and n >= min_pairs("wilcoxon", alpha):
        if np.all(d == 0):
            p_w, w_stat = 1.0, 0.0
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # ties: normal approximation
                res = sps.wilcoxon(arm, ref)
            w_stat, p_w = float(res.statistic), float(res.pvalue)
    needed = min_pairs(method, alpha)
    p, stat = (p_t, t_stat) if method == "t" else (p_w, w_stat)
    testable = n >= needed
    note = ""
    if not testable:
        name = "a paired t-test" if method == "t" else "the Wilcoxon signed-rank test"
        note = f"{n} shared seed{'s' if n != 1 else ''}; {name} needs at least {needed}"
    elif method == "t" and np.all(d == d[0]) and d[0] != 0:
        note = "identical difference on every seed (zero variance)"
    mean_d = float(np.mean(d)) if n else math.nan
    sd_d = float(np.std(d, ddof=1)) if n >= 2 else math.nan
    return PairedTest(method, n, stat, p, p_t, p_w, testable, note, mean_d, sd_d)


def t_power(delta: float, sd: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` on ``n`` pairs whose
    differences have mean ``delta`` and standard deviation ``sd`` (module docstring)."""
    if n < 2 or not (math.isfinite(sd) and math.isfinite(delta)):
        return math.nan
    if sd == 0:
        return 1.0 if delta != 0 else alpha
    df = n - 1
    return _power(abs(delta) * math.sqrt(n) / sd, df, float(sps.t.ppf(1 - alpha / 2, df)))


def _power(nc: float, df: int, crit: float) -> float:
    # P(T' < -c | nc) = P(T' > c | -nc): scipy's nct.cdf gives NaN deep in the lower
    # tail (e.g. df 5, nc 10), its sf with the sign flipped does not
    return float(sps.nct.sf(crit, df, nc) + sps.nct.sf(crit, df, -nc))


def detectable_difference(sd: float, n: int, alpha: float, power: float = POWER) -> float:
    """The smallest |mean paired difference| that the two-sided paired t-test on ``n``
    pairs (differences' std ``sd``) finds at level ``alpha`` with probability ``power``.

    NaN below :data:`MIN_PAIRS_T` pairs or for a non-finite ``sd``; 0 when ``sd`` is 0.
    """
    if n < MIN_PAIRS_T or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    df = n - 1
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    hi = crit + 1.0  # power rises with the noncentrality nc and passes 0.5 near nc = crit
    while _power(hi, df, crit) < power:
        hi *= 2.0
    nc = optimize.brentq(lambda x: _power(x, df, crit) - power, 0.0, hi, rtol=1e-10)
    return float(nc) / math.sqrt(n) * sd


def seeds_needed(
    delta: float, sd: float, alpha: float, power: float = POWER, most: int = MAX_SEEDS_NEEDED
) -> int | None:
    """The least number of pairs (at least :data:`MIN_PAIRS_T`) with which a paired
    t-test at level ``alpha`` finds a true mean difference ``delta`` (differences' std
    ``sd``) with probability ``power``; None when ``delta`` is 0, non-finite, or needs more
    than ``most`` pairs."""
    if not (math.isfinite(delta) and math.isfinite(sd)) or delta == 0:
        return None
    if sd == 0:
        return MIN_PAIRS_T

    def enough(n: int) -> bool:
        return t_power(delta, sd, n, alpha) >= power

    if not enough(most):
        return None
    lo, hi = MIN_PAIRS_T, most  # power rises with n: bisect on the first n that is enough
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    return lo


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values; NaN entries stay NaN and are not counted in the family."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m == 0:
        return out.tolist()
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
