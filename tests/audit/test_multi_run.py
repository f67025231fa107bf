"""The multi-run audit: Clopper–Pearson against SciPy's beta quantiles, coverage and convergence by simulation.

The reference mechanism is randomized response on the target's presence: the score of a run is 1 with
probability e^ε/(1+e^ε) when the target is in and with probability 1/(1+e^ε) when it is out. It is
exactly ε-DP, and the test "in iff score ≥ 1" meets the ε-DP trade-off with equality.
"""

import math

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import beta

from dpqml.audit import clopper_pearson_epsilon_lower_bound, clopper_pearson_upper, multi_run_audit, runs_needed


def reference_bound(tp, fn, fp, tn, delta, confidence):
    """Hand formula with SciPy's beta quantiles: one-sided upper bounds at 1 − β/2 each."""
    half = (1 - confidence) / 2
    fpr = 1.0 if fp == fp + tn else beta.ppf(1 - half, fp + 1, tn)
    fnr = 1.0 if fn == fn + tp else beta.ppf(1 - half, fn + 1, tp)
    candidates = [0.0]
    if 1 - delta - fnr > 0:
        candidates.append(math.log((1 - delta - fnr) / fpr))
    if 1 - delta - fpr > 0:
        candidates.append(math.log((1 - delta - fpr) / fnr))
    return max(candidates)


def randomized_response_runs(rng, n, epsilon):
    q = expit(epsilon)
    return (rng.random(n) < q).astype(float), (rng.random(n) < 1 - q).astype(float)


@pytest.mark.parametrize(("counts", "delta", "confidence"), [
    ((90, 10, 5, 95), 0.0, 0.95),
    ((90, 10, 5, 95), 1e-5, 0.95),
    ((10, 90, 95, 5), 0.0, 0.95),  # the reversed test: the second log ratio
    ((500, 0, 0, 500), 0.0, 0.99),  # perfect separation
    ((30, 20, 20, 30), 0.0, 0.95),  # weak evidence: 0
    ((90, 10, 5, 95), 0.2, 0.9),
])
def test_matches_the_hand_formula(counts, delta, confidence):
    assert clopper_pearson_epsilon_lower_bound(*counts, delta=delta, confidence=confidence) == pytest.approx(
        reference_bound(*counts, delta, confidence), rel=1e-12, abs=1e-12)


def test_hand_example_step_by_step():
    # 100 runs each side; 10 false negatives, 5 false positives; 95%: each rate bounded at 97.5%.
    fpr_upper = beta.ppf(0.975, 6, 95)  # ≈ 0.1128
    fnr_upper = beta.ppf(0.975, 11, 90)  # ≈ 0.1762
    assert clopper_pearson_upper(5, 100, 0.025) == pytest.approx(fpr_upper, rel=1e-12)
    assert clopper_pearson_upper(100, 100, 0.025) == 1.0
    expected = math.log((1 - fnr_upper) / fpr_upper)
    assert expected == pytest.approx(1.986, abs=2e-3)
    assert clopper_pearson_epsilon_lower_bound(90, 10, 5, 95) == pytest.approx(expected, rel=1e-12)


def test_exceeds_the_true_epsilon_at_most_at_the_stated_rate():
    epsilon, n, trials = 1.0, 2000, 2000
    q = expit(epsilon)
    rng = np.random.default_rng(21)
    tp = rng.binomial(n, q, size=trials)
    fp = rng.binomial(n, 1 - q, size=trials)
    exceed = sum(clopper_pearson_epsilon_lower_bound(int(a), n - int(a), int(b), n - int(b)) > epsilon
                 for a, b in zip(tp, fp))
    assert exceed <= 0.05 * trials + 3 * math.sqrt(trials * 0.05 * 0.95)


def best_bound_over_all_thresholds(scores_in, scores_out, confidence):
    """The dishonest audit: every threshold tried on the very runs that are counted, the best one kept."""
    thresholds = np.concatenate([scores_in, scores_out])
    n_in, n_out = scores_in.size, scores_out.size
    fn = n_in - (scores_in[None, :] >= thresholds[:, None]).sum(axis=1)
    fp = (scores_out[None, :] >= thresholds[:, None]).sum(axis=1)
    half = (1 - confidence) / 2  # the hand formula of reference_bound, for all thresholds at once
    fpr = np.where(fp < n_out, beta.ppf(1 - half, fp + 1, np.maximum(n_out - fp, 1)), 1.0)
    fnr = np.where(fn < n_in, beta.ppf(1 - half, fn + 1, np.maximum(n_in - fn, 1)), 1.0)
    with np.errstate(divide="ignore"):
        return max(0.0, np.max(np.log(1 - fnr) - np.log(fpr)), np.max(np.log(1 - fpr) - np.log(fnr)))


def test_split_threshold_choice_keeps_the_rate_where_choosing_on_the_counted_runs_does_not():
    # No signal at all (true ε = 0): any positive bound is wrong. At confidence 0.5 (so that the rates can be
    # told apart in 300 trials), choosing the threshold on the counted runs is wrong in ~70% of trials.
    n, trials, confidence = 100, 300, 0.5
    rng = np.random.default_rng(8)
    honest, dishonest = 0, 0
    for seed in range(trials):
        scores_in, scores_out = rng.normal(size=n), rng.normal(size=n)
        honest += multi_run_audit(scores_in, scores_out, confidence=confidence, seed=seed)["epsilon_lower"] > 0
        dishonest += best_bound_over_all_thresholds(scores_in, scores_out, confidence) > 0
    limit = (1 - confidence) * trials + 3 * math.sqrt(trials * confidence * (1 - confidence))
    assert honest <= limit
    assert dishonest > limit  # the test can see a dishonest choice


def test_grows_with_the_number_of_runs_toward_the_truth():
    epsilon = 1.0
    means = []
    for n in (100, 1000, 10000):
        rng = np.random.default_rng(n)
        means.append(np.mean([multi_run_audit(*randomized_response_runs(rng, n, epsilon), seed=s)["epsilon_lower"]
                              for s in range(5)]))
    assert means[0] < means[1] < means[2] <= epsilon
    assert means[2] > epsilon - 0.15


def test_audit_reports_counts_at_the_fixed_threshold():
    scores_in = [0.9, 0.8, 0.3, 0.7]
    scores_out = [0.1, 0.75, 0.2, 0.4, 0.05]
    report = multi_run_audit(scores_in, scores_out, threshold=0.7)
    assert (report["tp"], report["fn"], report["fp"], report["tn"]) == (3, 1, 1, 4)  # 0.7 counts as "in"
    assert report["selection"] == "fixed" and (report["runs_in"], report["runs_out"]) == (4, 5)
    assert report["epsilon_lower"] == pytest.approx(reference_bound(3, 1, 1, 4, 0.0, 0.95), abs=1e-12)
    assert report["fpr_upper"] == pytest.approx(beta.ppf(0.975, 2, 4), rel=1e-12)


def test_split_counts_the_other_half_of_each_side():
    rng = np.random.default_rng(2)
    scores_in, scores_out = randomized_response_runs(rng, 401, 2.0)
    report = multi_run_audit(scores_in, scores_out)
    assert report["selection"] == "split" and report["threshold"] == 1.0
    assert report["tp"] + report["fn"] == 201 and report["fp"] + report["tn"] == 201  # ⌈401/2⌉ counted
    assert report["epsilon_lower"] == pytest.approx(
        reference_bound(report["tp"], report["fn"], report["fp"], report["tn"], 0.0, 0.95), abs=1e-12)
    assert multi_run_audit(scores_in, scores_out, seed=0) == report  # seeded: the same split every time


@pytest.mark.parametrize(("epsilon", "confidence", "delta"), [(1.0, 0.95, 0.0), (2.0, 0.99, 0.0), (3.0, 0.95, 1e-5),
                                                             (0.3, 0.9, 0.0)])
def test_runs_needed_is_the_smallest_sufficient_count(epsilon, confidence, delta):
    def perfect_bound(n):  # no error on n counted runs per side
        upper = beta.ppf(1 - (1 - confidence) / 2, 1, n)
        return math.log((1 - delta - upper) / upper) if 1 - delta - upper > 0 else 0.0

    counted = next(n for n in range(1, 10**6) if perfect_bound(n) >= epsilon)
    assert runs_needed(epsilon, confidence=confidence, delta=delta, split=False) == 2 * counted
    assert runs_needed(epsilon, confidence=confidence, delta=delta) == 2 * max(2, 2 * counted - 1)


def test_runs_needed_suffice_for_a_perfect_test():
    total = runs_needed(2.0)
    side = total // 2
    report = multi_run_audit(np.ones(side), np.zeros(side))
    assert report["epsilon_lower"] >= 2.0
    assert multi_run_audit(np.ones(side - 1), np.zeros(side - 1))["epsilon_lower"] < 2.0
