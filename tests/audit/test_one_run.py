"""The one-run audit (Steinke, Nasr & Jagielski 2023): reference values, coverage by simulation, sample sizes.

References are independent of the code under test: the paper's printed values, a root of SciPy's
binomial tail, a term-by-term transcription of the paper's p-value (its Appendix D), and simulations of
mechanisms whose ε is known exactly.
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import binom

from dpqml.audit import (
    DEFAULT_GUESS_FRACTIONS,
    canaries_needed,
    one_run_audit,
    one_run_epsilon_lower_bound,
    one_run_p_value,
)


def paper_p_value(m, r, v, eps, delta):
    """Steinke et al. 2023, Corollary 5.4, written out term by term as in their Appendix D."""
    q = expit(eps)
    p = binom.sf(v - 1, r, q)  # P[Binomial(r, q) >= v]
    i = np.arange(1, v + 1)
    windows = np.cumsum(binom.pmf(v - i, r, q))  # P[v - i <= Binomial(r, q) < v] for i = 1, ..., v
    alpha = np.max(windows / i, initial=0.0)
    return min(p + 2 * m * delta * alpha, 1.0)


def reference_lower_bound(m, r, v, delta, confidence):
    """The ε at which the paper's p-value crosses 1 − confidence (0 when ε = 0 is not refuted)."""
    level = 1 - confidence
    if paper_p_value(m, r, v, 0.0, delta) > level:
        return 0.0
    return brentq(lambda e: paper_p_value(m, r, v, e, delta) - level, 0.0, 50.0, xtol=1e-12)


def coverage_tolerance(trials, rate):
    """Allowed count above ``rate · trials``: three binomial standard deviations."""
    return 3 * math.sqrt(trials * rate * (1 - rate))


@pytest.mark.parametrize(("m", "r", "v", "delta", "published"), [
    (1000, 100, 75, 1e-4, 0.673),  # arXiv:2305.08846, Appendix D (the worked example of get_eps_audit)
    (100000, 1510, 1439, 1e-5, 2.675),  # ibid., Section 7 (CIFAR-10 white-box, 1000 guesses per side)
])
def test_reproduces_the_values_printed_in_the_paper(m, r, v, delta, published):
    assert one_run_epsilon_lower_bound(v, r, m, delta=delta, confidence=0.95) == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize(("m", "r", "v", "confidence"), [
    (1000, 100, 75, 0.95), (1000, 1000, 700, 0.95), (200, 40, 40, 0.99), (50, 10, 9, 0.9), (10**5, 2000, 1900, 0.95),
])
def test_delta_zero_is_the_root_of_the_binomial_tail(m, r, v, confidence):
    expected = brentq(lambda e: binom.sf(v - 1, r, expit(e)) - (1 - confidence), 0.0, 50.0, xtol=1e-13)
    assert one_run_epsilon_lower_bound(v, r, m, confidence=confidence) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("m", "r", "v", "delta"), [
    (1000, 100, 75, 1e-4), (1000, 1000, 700, 1e-5), (500, 200, 180, 1e-3), (100, 100, 100, 1e-2),
])
def test_delta_positive_matches_the_papers_p_value(m, r, v, delta):
    expected = reference_lower_bound(m, r, v, delta, 0.95)
    got = one_run_epsilon_lower_bound(v, r, m, delta=delta)
    assert got == pytest.approx(expected, abs=1e-7)
    assert paper_p_value(m, r, v, got, delta) <= 0.05 + 1e-12  # the reported ε is refuted
    assert got < one_run_epsilon_lower_bound(v, r, m)  # δ costs: the δ term is not dropped
    assert one_run_p_value(v, r, m, 1.0, delta=delta) == pytest.approx(paper_p_value(m, r, v, 1.0, delta), rel=1e-9)


@pytest.mark.parametrize(("v", "r", "eps"), [(180000, 200000, 2.0), (150000, 200000, 0.5), (199990, 200000, 8.0)])
def test_p_value_with_long_windows_is_the_papers_or_slightly_above(v, r, eps):
    # windows longer than 4096 are bounded on a grid: never below the paper's value, at most 0.03% above
    expected = paper_p_value(r, r, v, eps, 1e-6)
    got = one_run_p_value(v, r, r, eps, delta=1e-6)
    assert expected * (1 - 1e-12) <= got <= expected * (1 + 3e-4)


def test_no_evidence_gives_zero():
    assert one_run_epsilon_lower_bound(50, 100, 100) == 0.0  # chance accuracy
    assert one_run_epsilon_lower_bound(0, 0, 10) == 0.0  # no guesses
    assert one_run_epsilon_lower_bound(3, 3, 3) == 0.0  # 3/3 happens 1 time in 8 by chance: not 95%
    assert one_run_epsilon_lower_bound(5, 5, 5) > 0.0  # 5/5: 1 in 32
    assert one_run_epsilon_lower_bound(100, 100, 10**4, delta=0.01) == 0.0  # 2mδ = 200: δ swamps the evidence


@pytest.mark.parametrize(("r", "m", "delta"), [(60, 60, 0.0), (60, 600, 1e-4), (200, 1000, 1e-4)])
def test_monotone_in_correct_guesses(r, m, delta):
    bounds = [one_run_epsilon_lower_bound(v, r, m, delta=delta) for v in range(r + 1)]
    assert all(b2 >= b1 for b1, b2 in zip(bounds, bounds[1:]))
    assert bounds[0] == 0.0 and bounds[-1] > 0.0


def test_higher_confidence_gives_a_lower_bound():
    values = [one_run_epsilon_lower_bound(90, 100, 1000, confidence=c) for c in (0.8, 0.9, 0.95, 0.99, 0.999)]
    assert all(b < a for a, b in zip(values, values[1:]))


def _bounds_by_count(r, m, delta, counts):
    """The bound for each distinct count (the bound depends on the data only through it)."""
    table = {int(v): one_run_epsilon_lower_bound(int(v), r, m, delta=delta) for v in np.unique(counts)}
    return np.array([table[int(v)] for v in counts])


@pytest.mark.parametrize("epsilon", [0.5, 2.0])
def test_exceeds_the_true_epsilon_at_most_at_the_stated_rate(epsilon):
    # Randomized response on each canary's membership bit is exactly ε-DP and tight: the number of
    # correct guesses is Binomial(r, e^ε/(1+e^ε)), so the bound should exceed ε in close to 5% of trials.
    trials, r = 4000, 1000
    counts = np.random.default_rng(7).binomial(r, expit(epsilon), size=trials)
    exceed = int(np.sum(_bounds_by_count(r, r, 0.0, counts) > epsilon))
    assert exceed <= 0.05 * trials + coverage_tolerance(trials, 0.05)
    assert exceed >= 0.02 * trials  # and it is not needlessly loose


def test_delta_term_keeps_the_rate_for_an_epsilon_delta_mechanism():
    # With probability δ the mechanism reveals every canary, otherwise randomized response: (ε, δ)-DP.
    # Dropping δ from the bound would exceed ε in about 9% of trials; keeping it must stay within 5%.
    epsilon, delta, m, trials = 1.0, 0.05, 300, 2000
    rng = np.random.default_rng(11)
    reveal = rng.random(trials) < delta
    counts = np.where(reveal, m, rng.binomial(m, expit(epsilon), size=trials))
    limit = 0.05 * trials + coverage_tolerance(trials, 0.05)
    assert np.sum(_bounds_by_count(m, m, delta, counts) > epsilon) <= limit
    assert np.sum(_bounds_by_count(m, m, 0.0, counts) > epsilon) > limit  # the test can see a dropped δ


def _randomized_response_scores(rng, m, epsilon):
    """Coins, and scores of an ε-DP randomized response on each coin (plus a coin-independent tie-break)."""
    included = rng.random(m) < 0.5
    reported = np.where(rng.random(m) < expit(epsilon), included, ~included)
    return reported + 0.5 * rng.random(m), included


def test_audit_counts_guesses_as_described():
    scores = np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.8])
    included = np.array([True, False, False, True, True, True])
    # k+ = 2: the two highest (0.9 in, 0.8 in) right twice; k− = 2: the two lowest (0.1 out, 0.3 in) right once
    report = one_run_audit(scores, included, k_pos=2, k_neg=2)
    assert (report["guesses"], report["correct"], report["canaries"]) == (4, 3, 6)
    assert report["candidates"] == 1 and report["confidence"] == 0.95
    assert report["epsilon_lower"] == 0.0
    only_in = one_run_audit(scores, included.astype(int), k_pos=3)
    assert (only_in["k_neg"], only_in["guesses"], only_in["correct"]) == (0, 3, 3)


def test_grid_is_bonferroni_corrected():
    rng = np.random.default_rng(3)
    scores, included = _randomized_response_scores(rng, 1000, 3.0)
    report = one_run_audit(scores, included, delta=1e-5)
    grid = sorted({round(f * 1000 / 2) for f in DEFAULT_GUESS_FRACTIONS})
    assert report["candidates"] == len(grid) == 6
    assert report["per_test_confidence"] == pytest.approx(1 - 0.05 / 6)
    assert report["k_pos"] == report["k_neg"] in grid
    expected = reference_lower_bound(1000, report["guesses"], report["correct"], 1e-5, 1 - 0.05 / 6)
    assert report["epsilon_lower"] == pytest.approx(expected, abs=1e-7)
    for k in grid:  # the reported pair is the best of the grid, each at the corrected confidence
        v = one_run_audit(scores, included, k_pos=k, k_neg=k)["correct"]
        assert reference_lower_bound(1000, 2 * k, v, 1e-5, 1 - 0.05 / 6) <= report["epsilon_lower"] + 1e-7


def test_grid_search_keeps_the_stated_rate():
    # Picking the best of 6 (k+, k−) pairs without correction exceeds the true ε in ~12% of trials.
    epsilon, m, trials = 1.0, 1000, 400
    rng = np.random.default_rng(5)
    corrected, uncorrected = 0, 0
    for _ in range(trials):
        scores, included = _randomized_response_scores(rng, m, epsilon)
        corrected += one_run_audit(scores, included)["epsilon_lower"] > epsilon
        grid = sorted({round(f * m / 2) for f in DEFAULT_GUESS_FRACTIONS})
        uncorrected += max(one_run_audit(scores, included, k_pos=k, k_neg=k)["epsilon_lower"] for k in grid) > epsilon
    limit = 0.05 * trials + coverage_tolerance(trials, 0.05)
    assert corrected <= limit
    assert uncorrected > limit  # the test can see a missing correction


def test_a_perfect_attacker_certifies_its_epsilon_with_the_canaries_said_to_be_needed():
    m = canaries_needed(2.0)
    included = np.arange(m) % 2 == 0
    scores = included.astype(float)  # perfect separation
    k = m // 2
    assert one_run_audit(scores, included, k_pos=k, k_neg=m - k)["epsilon_lower"] >= 2.0
    assert one_run_epsilon_lower_bound(m - 1, m - 1, m - 1) < 2.0


@pytest.mark.parametrize(("epsilon", "confidence", "fraction"), [
    (0.5, 0.95, 1.0), (1.0, 0.95, 1.0), (2.0, 0.99, 1.0), (4.0, 0.95, 1.0), (2.0, 0.95, 0.1), (1.0, 0.9, 0.3),
])
def test_canaries_needed_without_delta_is_the_smallest_sufficient_count(epsilon, confidence, fraction):
    # Hand derivation: r guesses all right has probability q^r under ε-DP; need q^r <= 1 − confidence.
    def certifies(m):
        r = max(1, math.floor(fraction * m))
        return binom.sf(r - 1, r, expit(epsilon)) <= 1 - confidence

    expected = next(m for m in range(1, 10**6) if certifies(m))
    assert canaries_needed(epsilon, confidence=confidence, guess_fraction=fraction) == expected


@pytest.mark.parametrize(("epsilon", "delta"), [(4.0, 1e-5), (6.0, 1e-5), (2.0, 1e-3), (3.0, 1e-4)])
def test_canaries_needed_with_delta(epsilon, delta):
    m = canaries_needed(epsilon, delta=delta)
    assert paper_p_value(m, m, m, epsilon, delta) <= 0.05
    assert paper_p_value(m - 1, m - 1, m - 1, epsilon, delta) > 0.05
    assert m >= canaries_needed(epsilon)


def test_canaries_needed_refuses_an_epsilon_that_delta_makes_unreachable():
    # 2·m·δ·α tends to about 2δ(1 + e^ε) as m grows: 0.16 at ε = 9, far above 0.05, and no m certifies ε.
    with pytest.raises(ValueError, match="delta"):
        canaries_needed(9.0, delta=1e-5)


def test_with_delta_more_canaries_can_hurt():
    # ε = 8, δ = 1e-5: the p-value of a perfect attacker dips below 5% near 10⁴ canaries and climbs back
    # above it by 10⁶ (the 2·m·δ term); canaries_needed finds the dip.
    m = canaries_needed(8.0, delta=1e-5)
    assert 10**4 < m < 2 * 10**4
    assert paper_p_value(m, m, m, 8.0, 1e-5) <= 0.05 < paper_p_value(10**6, 10**6, 10**6, 8.0, 1e-5)
