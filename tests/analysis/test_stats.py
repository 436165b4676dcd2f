"""Cell statistics, paired tests and Holm's correction against scipy and hand computations."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.stats import holm, min_pairs, paired_test, summarize

X = [0.251, 0.262, 0.248, 0.259, 0.255]
Y = [0.266, 0.270, 0.259, 0.275, 0.262]


def test_summary_matches_scipy_t_interval():
    s = summarize(X)
    mean, sem = np.mean(X), sps.sem(X)
    low, high = sps.t.interval(0.95, len(X) - 1, loc=mean, scale=sem)
    assert s.n == 5
    assert s.mean == pytest.approx(mean, rel=1e-12)
    assert s.std == pytest.approx(np.std(X, ddof=1), rel=1e-12)
    assert (s.ci_low, s.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_summary_bootstrap_matches_scipy_with_the_same_seed():
    s = summarize(X, ci="bootstrap", seed=0)
    ref = sps.bootstrap(
        (np.array(X),), np.mean, n_resamples=9999, method="percentile", rng=np.random.default_rng(0)
    )
    assert s.ci_low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert s.ci_high == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    assert s.ci_low < s.mean < s.ci_high
    assert summarize(X, ci="bootstrap") == s  # seeded: stable


def test_summary_small_n_has_no_spread():
    one = summarize([0.3])
    assert one.n == 1 and one.mean == 0.3 and math.isnan(one.std) and math.isnan(one.ci_low)
    empty = summarize([])
    assert empty.n == 0 and math.isnan(empty.mean)
    same = summarize([2.0, 2.0, 2.0])
    assert same.std == 0 and same.ci_low == same.ci_high == 2.0


def test_paired_t_matches_scipy_and_wilcoxon_reported_when_meaningful():
    r = paired_test(X, Y)
    ref = sps.ttest_rel(Y, X)
    assert r.method == "t" and r.testable and r.n_pairs == 5
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p == r.p_t == pytest.approx(ref.pvalue, rel=1e-12)
    assert math.isnan(r.p_wilcoxon)  # 5 pairs: Wilcoxon cannot reach 0.05, so no p printed
    x6, y6 = X + [0.250], Y + [0.268]
    r6 = paired_test(x6, y6)
    assert r6.p_wilcoxon == pytest.approx(sps.wilcoxon(y6, x6).pvalue, rel=1e-12)
    assert r6.p_wilcoxon == pytest.approx(2 / 2**6)  # all differences positive: exact minimum


def test_wilcoxon_as_deciding_test():
    x6, y6 = X + [0.250], Y + [0.268]
    r = paired_test(x6, y6, method="wilcoxon")
    assert r.testable and r.p == r.p_wilcoxon
    too_few = paired_test(X, Y, method="wilcoxon")
    assert not too_few.testable and math.isnan(too_few.p)
    assert "at least 6" in too_few.note


def test_too_few_seeds_says_so_instead_of_a_p_value():
    r = paired_test([0.1, 0.2], [0.3, 0.5])
    assert not r.testable and math.isnan(r.p) and math.isnan(r.p_t)
    assert r.note == "2 shared seeds; a paired t-test needs at least 3"


def test_min_pairs_is_where_wilcoxon_can_first_reach_alpha():
    assert min_pairs("t") == 3
    assert min_pairs("wilcoxon", 0.05) == 6  # 2/2^5 = 0.0625 > 0.05 >= 2/2^6
    assert min_pairs("wilcoxon", 0.01) == 8  # 2/2^7 = 0.0156 > 0.01 >= 2/2^8


def test_zero_variance_differences():
    same = paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.p == 1.0
    shifted = paired_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert shifted.p == 0.0 and "zero variance" in shifted.note


def _holm_reference(p):
    """Holm by its definition: reject H(i) iff p(j) <= alpha / (m - j + 1) for all j <= i;
    the adjusted p of H(i) is the smallest alpha at which it is rejected."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    for k, i in enumerate(order):
        adjusted[i] = min(1.0, max((m - j) * p[order[j]] for j in range(k + 1)))
    return adjusted


def test_holm_matches_definition_and_a_textbook_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, 1*0.04 -> 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(0, 0.2, size=int(rng.integers(1, 9))).tolist()
        assert holm(q) == pytest.approx(_holm_reference(q))


def test_holm_ignores_untested_comparisons():
    out = holm([0.01, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert all(math.isnan(v) for v in holm([float("nan")]))
