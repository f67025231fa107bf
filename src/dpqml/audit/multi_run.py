"""The multi-run audit: many training runs with and without a target, a threshold test, Clopper–Pearson.

Jagielski, Ullman & Oprea, "Auditing Differentially Private Machine Learning: How Private is Private
SGD?" (NeurIPS 2020); Nasr, Song, Thakurta, Papernot & Carlini, "Adversary Instantiation: Lower
Bounds for Differentially Private Machine Learning" (IEEE S&P 2021).

Any test that guesses "the target was in" from a training run's output has false-positive rate FPR
and false-negative rate FNR. Under (ε, δ)-DP both ``FPR + e^ε·FNR ≥ 1 − δ`` and ``FNR + e^ε·FPR ≥ 1 − δ``
(Kairouz, Oh & Viswanath 2015), hence ``ε ≥ log((1 − δ − FNR)/FPR)`` and ``ε ≥ log((1 − δ − FPR)/FNR)``.
The rates are only estimated from finitely many runs, so they are replaced by one-sided
Clopper–Pearson upper bounds, each at level ``1 − β/2`` with ``β = 1 − confidence``; with probability
at least ``1 − β`` both bounds hold (union bound) and so does the ε lower bound.
"""

from __future__ import annotations

import math

import numpy as np

from dpqml.audit._validation import check_scores
from dpqml.validation import check_count, check_probability, check_scalar


def clopper_pearson_upper(successes, trials, significance: float):
    """One-sided Clopper–Pearson upper bound on a binomial rate: ``p̄`` with ``P[Bin(n, p̄) ≤ k] = significance``.

    ``successes`` (k, scalar or array) out of ``trials`` (n ≥ 1); 1 where ``k = n``. Holds with
    probability at least ``1 − significance``.
    """
    from scipy.stats import beta

    k = np.asarray(successes)
    upper = np.where(k < trials, beta.ppf(1.0 - significance, k + 1, np.maximum(trials - k, 1)), 1.0)
    return upper if upper.ndim else float(upper)


def _epsilon_from_rate_bounds(fpr_upper, fnr_upper, delta: float):
    """``max(log((1 − δ − FNR̄)/FPR̄), log((1 − δ − FPR̄)/FNR̄), 0)``; a term with a numerator ≤ 0 is dropped."""
    fpr_upper, fnr_upper = np.asarray(fpr_upper, dtype=float), np.asarray(fnr_upper, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(1 - delta - fnr_upper > 0, np.log(1 - delta - fnr_upper) - np.log(fpr_upper), 0.0)
        second = np.where(1 - delta - fpr_upper > 0, np.log(1 - delta - fpr_upper) - np.log(fnr_upper), 0.0)
    return np.maximum(np.maximum(first, second), 0.0)


def _rate_bounds(tp, fn, fp, tn, significance: float):
    fpr_upper = clopper_pearson_upper(fp, fp + tn, significance / 2)
    fnr_upper = clopper_pearson_upper(fn, fn + tp, significance / 2)
    return fpr_upper, fnr_upper


def clopper_pearson_epsilon_lower_bound(tp: int, fn: int, fp: int, tn: int, *, delta: float = 0.0,
                                        confidence: float = 0.95) -> float:
    """The ε lower bound of a threshold test's counts over independent training runs.

    ``tp``/``fn``: runs with the target guessed in/out; ``fp``/``tn``: runs without the target guessed
    in/out. With ``β = 1 − confidence``, ``FPR̄`` and ``FNR̄`` are one-sided Clopper–Pearson upper
    bounds at level ``1 − β/2`` each, and the result is
    ``max(log((1 − δ − FNR̄)/FPR̄), log((1 − δ − FPR̄)/FNR̄), 0)``: with probability at least
    ``confidence`` the audited algorithm is not (ε', ``delta``)-DP for any ε' below it. The test must
    have been fixed before these runs were counted (see :func:`multi_run_audit`).
    """
    tp, fn, fp, tn = (check_count(value, name) for name, value in (("tp", tp), ("fn", fn), ("fp", fp), ("tn", tn)))
    if tp + fn == 0:
        raise ValueError("tp + fn (runs with the target) must be >= 1; got 0")
    if fp + tn == 0:
        raise ValueError("fp + tn (runs without the target) must be >= 1; got 0")
    delta = check_probability(delta, "delta", high_open=True)
    significance = 1.0 - check_probability(confidence, "confidence", low_open=True, high_open=True)
    return float(_epsilon_from_rate_bounds(*_rate_bounds(tp, fn, fp, tn, significance), delta))


def _counts(scores_in: np.ndarray, scores_out: np.ndarray, thresholds):
    """``(tp, fn, fp, tn)`` of the test "in iff score ≥ t" for each threshold ``t``."""
    tp = scores_in.size - np.searchsorted(np.sort(scores_in), thresholds, side="left")
    fp = scores_out.size - np.searchsorted(np.sort(scores_out), thresholds, side="left")
    return tp, scores_in.size - tp, fp, scores_out.size - fp


def _choose_threshold(scores_in: np.ndarray, scores_out: np.ndarray, delta: float, significance: float) -> float:
    """The threshold whose Clopper–Pearson bound is largest on these runs (ties: the larger |TPR − FPR|)."""
    thresholds = np.unique(np.concatenate([scores_in, scores_out]))
    tp, fn, fp, tn = _counts(scores_in, scores_out, thresholds)
    eps = _epsilon_from_rate_bounds(*_rate_bounds(tp, fn, fp, tn, significance), delta)
    youden = np.abs(tp / scores_in.size - fp / scores_out.size)
    return float(thresholds[np.lexsort((youden, eps))[-1]])


def multi_run_audit(scores_in, scores_out, *, delta: float = 0.0, confidence: float = 0.95,
                    threshold: float | None = None, seed: int = 0) -> dict:
    """The ε lower bound from the target's scores over independent training runs.

    ``scores_in``: shape ``(n_in,)``, one score per run trained with the target; ``scores_out``: shape
    ``(n_out,)``, one per run without it; higher means "more likely in". The test guesses "in" iff
    ``score ≥ threshold``.

    Choice of the threshold, kept honest:

    * ``threshold`` given: every run is counted at that threshold.
    * ``threshold=None``: each array is shuffled (NumPy generator seeded with ``seed``, so the split does
      not depend on the order the caller supplies) and split; the first ``⌊n/2⌋`` runs of each choose
      the threshold (the one with the largest Clopper–Pearson bound on them), the remaining ``⌈n/2⌉``
      are counted. The counted runs are independent of the choice, so the bound keeps its confidence.

    Returns ``{"epsilon_lower", "confidence", "threshold", "tp", "fn", "fp", "tn", "fpr_upper",
    "fnr_upper", "runs_in", "runs_out", "selection"}`` with the counts of the counted runs and
    ``selection`` ``"fixed"`` or ``"split"``.
    """
    minimum = 1 if threshold is not None else 2
    scores_in = check_scores("scores_in", scores_in, minimum=minimum)
    scores_out = check_scores("scores_out", scores_out, minimum=minimum)
    delta = check_probability(delta, "delta", high_open=True)
    confidence = check_probability(confidence, "confidence", low_open=True, high_open=True)
    significance = 1.0 - confidence
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
            raise ValueError(f"threshold must be a real number or None; got {threshold!r}")
        counted_in, counted_out, selection = scores_in, scores_out, "fixed"
    else:
        rng = np.random.default_rng(check_count(seed, "seed"))
        shuffled_in, shuffled_out = rng.permutation(scores_in), rng.permutation(scores_out)
        half_in, half_out = scores_in.size // 2, scores_out.size // 2
        threshold = _choose_threshold(shuffled_in[:half_in], shuffled_out[:half_out], delta, significance)
        counted_in, counted_out, selection = shuffled_in[half_in:], shuffled_out[half_out:], "split"
    tp, fn, fp, tn = (int(c) for c in _counts(counted_in, counted_out, float(threshold)))
    fpr_upper, fnr_upper = _rate_bounds(tp, fn, fp, tn, significance)
    return {"epsilon_lower": float(_epsilon_from_rate_bounds(fpr_upper, fnr_upper, delta)), "confidence": confidence,
            "threshold": float(threshold), "tp": tp, "fn": fn, "fp": fp, "tn": tn, "fpr_upper": fpr_upper,
            "fnr_upper": fnr_upper, "runs_in": scores_in.size, "runs_out": scores_out.size, "selection": selection}


def runs_needed(epsilon: float, *, confidence: float = 0.95, delta: float = 0.0, split: bool = True) -> int:
    """The fewest training runs (half with the target, half without) that could certify ``ε_lower ≥ epsilon``.

    A perfect test (no false positive or negative on ``n`` counted runs per side) gives
    ``FPR̄ = FNR̄ = 1 − (β/2)^{1/n}`` and so certifies ``epsilon`` iff ``(β/2)^{1/n} ≥ (e^ε + δ)/(1 + e^ε)``,
    i.e. ``n ≥ log(β/2) / log((e^ε + δ)/(1 + e^ε))`` with ``β = 1 − confidence``. ``split=True`` (as
    :func:`multi_run_audit` without a threshold) counts only ``⌈n_side/2⌉`` of each side's runs, so
    ``n_side = max(2n − 1, 2)``; ``split=False`` (a fixed threshold) counts all, ``n_side = n``. Returns ``2·n_side``.
    """
    epsilon = check_scalar(epsilon, "epsilon", low=0.0, low_open=True)
    confidence = check_probability(confidence, "confidence", low_open=True, high_open=True)
    delta = check_probability(delta, "delta", high_open=True)
    ratio = (math.exp(epsilon) + delta) / (1.0 + math.exp(epsilon))
    counted = max(1, math.ceil(math.log((1.0 - confidence) / 2) / math.log(ratio)))

    def certifies(n: int) -> bool:
        return clopper_pearson_epsilon_lower_bound(n, 0, 0, n, delta=delta, confidence=confidence) >= epsilon

    # the closed form can be off by one in floating point: settle it with the bound itself
    while counted > 1 and certifies(counted - 1):
        counted -= 1
    while not certifies(counted):
        counted += 1
    per_side = max(2, 2 * counted - 1) if split else counted
    return 2 * per_side
