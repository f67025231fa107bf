"""The one-run audit of Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run"
(NeurIPS 2023, arXiv:2305.08846).

Setup: ``m`` canaries, each put into the training set independently with probability 1/2 (a fair
coin flipped before training). After training, the auditor scores every canary from the trained model
alone, guesses "in" for the ``k+`` highest scores and "out" for the ``k−`` lowest, and abstains on the
rest: ``r = k+ + k−`` guesses, ``v`` of them correct. If training is ε-DP, the number of correct
guesses is stochastically dominated by ``Binomial(r, e^ε/(1+e^ε))`` (their Theorem 3.1): the accuracy
of ε-DP randomized response. For (ε, δ)-DP their Theorem 5.2 / Corollary 5.4 bound the p-value of
observing at least ``v`` correct guesses by

    p(ε, δ) = β + 2·m·δ·α,   β = P[B ≥ v],   α = max_{1≤i≤v} P[v − i ≤ B < v] / i,   B ~ Binomial(r, q),

with ``q = e^ε/(1+e^ε)``. A claim "the training is (ε, δ)-DP" is refuted at confidence ``c`` when
``p(ε, δ) ≤ 1 − c``; the reported lower bound is an ε refuted that way (the paper's ``get_eps_audit``,
Appendix D). Every ε' below a refuted ε is refuted too (an (ε', δ)-DP algorithm is (ε, δ)-DP), so
the bound exceeds the true ε with probability at most ``1 − c``.
"""

from __future__ import annotations

import math

import numpy as np

from dpqml.audit._validation import check_labels, check_scores
from dpqml.validation import check_count, check_probability, check_scalar

# Guess fractions r/m that one_run_audit tries by default (k+ = k− = round(fraction · m / 2)).
DEFAULT_GUESS_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

_EXACT_WINDOW = 4096  # α's window sums computed term by term up to this length, bounded above beyond
_BISECTION_TOL = 1e-9
_MAX_CANARIES = 10**9


def _accuracy(epsilon: float) -> float:
    """``e^ε/(1+e^ε)``: the accuracy of ε-DP randomized response."""
    return 1.0 / (1.0 + math.exp(-epsilon))


def _alpha(v: int, r: int, q: float) -> float:
    """An upper bound on ``α = max_{1≤i≤v} S_i / i`` with ``S_i = P[v − i ≤ B ≤ v − 1]``, ``B ~ Bin(r, q)``.

    ``S_i`` grows with ``i``, which gives cheap upper bounds where the exact max would be costly:
    windows up to ``_EXACT_WINDOW`` long are summed term by term (exact to rounding); longer ones, up to
    the binomial's bulk, on a geometric grid ``i_j`` (ratio 1 + 2⁻¹²) with ``S_i / i ≤ S_{i_{j+1}} / i_j``
    for ``i_j < i ≤ i_{j+1}``; windows reaching below the bulk by ``P[B ≤ v − 1] / i``. Time and memory
    stay bounded for any ``r``, and each step can only raise α, so the p-value stays valid.
    """
    from scipy.stats import binom

    spread = math.sqrt(r * q * (1 - q))
    bulk_low = max(0, math.floor(r * q - 40 * spread - 40))  # 40 standard deviations below the mean
    reach = min(v, max(1, v - bulk_low))  # longer windows add (next to) nothing: bounded at the end
    exact = min(reach, _EXACT_WINDOW)
    window = np.cumsum(binom.pmf(np.arange(v - 1, v - 1 - exact, -1), r, q))
    alpha = float(np.max(window / np.arange(1, exact + 1)))
    if reach > exact:
        grid = np.geomspace(exact, reach, num=int(math.log(reach / exact) * 2**12) + 2).astype(np.int64)
        lengths = np.unique(np.concatenate([[exact], grid, [reach]]))  # both ends exactly
        # S_i from whichever tail keeps the difference accurate
        if v - 1 >= r * q:
            sums = binom.sf(v - 1 - lengths, r, q) - binom.sf(v - 1, r, q)
        else:
            sums = binom.cdf(v - 1, r, q) - binom.cdf(v - 1 - lengths, r, q)
        alpha = max(alpha, float(np.max(sums[1:] / lengths[:-1])))
    if reach < v:
        alpha = max(alpha, float(binom.cdf(v - 1, r, q)) / (reach + 1))
    return alpha


def _p_value(v: int, r: int, m: int, epsilon: float, delta: float) -> float:
    from scipy.stats import binom

    if v == 0:
        return 1.0
    q = _accuracy(epsilon)
    tail = float(binom.sf(v - 1, r, q))
    if delta == 0.0:
        return min(tail, 1.0)
    return min(tail + 2.0 * m * delta * _alpha(v, r, q), 1.0)


def _check_guess_counts(correct: int, guesses: int, canaries: int) -> tuple[int, int, int]:
    m = check_count(canaries, "canaries", minimum=1)
    r = check_count(guesses, "guesses")
    v = check_count(correct, "correct")
    if r > m:
        raise ValueError(f"guesses must be <= canaries ({m}); got {r}")
    if v > r:
        raise ValueError(f"correct must be <= guesses ({r}); got {v}")
    return v, r, m


def one_run_p_value(correct: int, guesses: int, canaries: int, epsilon: float, *, delta: float = 0.0) -> float:
    """An upper bound on the probability of ``correct`` or more correct guesses under (ε, δ)-DP.

    ``p = P[B ≥ v] + 2·m·δ·max_{1≤i≤v} P[v − i ≤ B < v]/i`` with ``B ~ Binomial(r, e^ε/(1+e^ε))``,
    capped at 1 (Steinke et al. 2023, Corollary 5.4; ``v = correct``, ``r = guesses``,
    ``m = canaries``). For ``δ = 0`` it is the binomial tail alone (their Theorem 3.1).
    """
    v, r, m = _check_guess_counts(correct, guesses, canaries)
    delta = check_probability(delta, "delta", high_open=True)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon >= 0:
        raise ValueError(f"epsilon must be a number >= 0; got {epsilon!r}")
    return _p_value(v, r, m, float(epsilon), delta)


def _epsilon_lower(v: int, r: int, m: int, delta: float, significance: float) -> float:
    from scipy.stats import beta

    if v == 0:
        return 0.0
    # δ = 0 in closed form: P[Bin(r, q) ≥ v] = I_q(v, r − v + 1) is increasing in q, so the refuted
    # accuracies are q ≤ the Clopper–Pearson lower bound on the guessing accuracy at level 1 − significance.
    q_low = float(beta.ppf(significance, v, r - v + 1))
    eps_zero = math.log(q_low) - math.log1p(-q_low) if 0.5 < q_low < 1 else (math.inf if q_low >= 1 else 0.0)
    if delta == 0.0 or eps_zero == 0.0:
        return max(eps_zero, 0.0)
    # δ > 0: p(ε, δ) ≥ p(ε, 0), so every ε the δ-bound refutes lies below eps_zero. Bisect, keeping
    # p(lo) ≤ significance (lo refuted) and p(hi) > significance, and report lo (Appendix D).
    if _p_value(v, r, m, 0.0, delta) > significance:
        return 0.0
    lo, hi = 0.0, eps_zero + 1e-6
    while _p_value(v, r, m, hi, delta) <= significance:  # only if rounding put eps_zero a hair low
        lo, hi = hi, hi + 1e-3
    while hi - lo > _BISECTION_TOL * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if _p_value(v, r, m, mid, delta) <= significance:
            lo = mid
        else:
            hi = mid
    return lo


def one_run_epsilon_lower_bound(correct: int, guesses: int, canaries: int, *, delta: float = 0.0,
                                confidence: float = 0.95) -> float:
    """The ε lower bound of the one-run audit (Steinke, Nasr & Jagielski 2023).

    ``correct`` of ``guesses`` membership guesses were right, among ``canaries`` canaries each included
    with probability 1/2. Returns an ε such that, with probability at least ``confidence`` over the
    canaries' coin flips and the training, the audited algorithm is not (ε', ``delta``)-DP for any
    ε' below it; 0.0 when the data do not refute ε = 0.

    ``delta = 0``: the ε with ``P[Binomial(r, e^ε/(1+e^ε)) ≥ v] = 1 − confidence`` in closed form,
    ``logit`` of the one-sided Clopper–Pearson lower bound on the accuracy ``v/r``.
    ``delta > 0``: the paper's δ term is kept in full (Corollary 5.4: ``+ 2·m·δ·α``, see
    :func:`one_run_p_value`), and the largest refuted ε is found by bisection to a relative 1e-9,
    reporting the refuted end (as Appendix D's ``get_eps_audit``). The only approximation is in the
    conservative direction: α is bounded from above for windows longer than 4096 (see ``_alpha``).
    The bound never exceeds the one for ``delta = 0``, and grows with ``correct``.
    """
    v, r, m = _check_guess_counts(correct, guesses, canaries)
    delta = check_probability(delta, "delta", high_open=True)
    confidence = check_probability(confidence, "confidence", low_open=True, high_open=True)
    return _epsilon_lower(v, r, m, delta, 1.0 - confidence)


def _default_grid(m: int) -> list[int]:
    ks = {max(1, round(f * m / 2)) for f in DEFAULT_GUESS_FRACTIONS}
    return sorted(k for k in ks if 2 * k <= m)


def _count_correct(order: np.ndarray, included: np.ndarray, k_pos: int, k_neg: int) -> int:
    m = order.size
    return int(np.sum(included[order[:k_pos]]) + np.sum(~included[order[m - k_neg:]]))


def one_run_audit(scores, included, *, delta: float = 0.0, confidence: float = 0.95, k_pos: int | None = None,
                  k_neg: int | None = None, grid=None) -> dict:
    """Guess membership from canary scores and report the one-run audit's ε lower bound.

    ``scores``: shape ``(m,)``, one finite score per canary, higher meaning "more likely trained on",
    computed from the trained model only. ``included``: shape ``(m,)``, booleans (or 0/1), the fair
    coin flips that put each canary into training. Guesses: "in" for the ``k_pos`` highest scores,
    "out" for the ``k_neg`` lowest (ties broken by position, which is independent of the coins).

    Choice of ``(k+, k−)``, kept honest:

    * ``k_pos`` and/or ``k_neg`` given: that one pair (a missing one is 0), tested at ``confidence``.
    * neither given: ``k+ = k− = k`` for every ``k`` in ``grid`` (default: ``round(f·m/2)`` for ``f`` in
      :data:`DEFAULT_GUESS_FRACTIONS`, at most 6 values), each tested at confidence
      ``1 − (1 − confidence)/G`` for ``G`` candidates (Bonferroni), and the largest bound reported. By
      the union bound, the reported bound exceeds the true ε with probability at most ``1 − confidence``.

    Returns ``{"epsilon_lower", "confidence", "canaries", "guesses", "correct", "k_pos", "k_neg",
    "candidates", "per_test_confidence"}`` for the reported pair (``candidates`` = G, 1 for a fixed pair).
    """
    scores = check_scores("scores", scores)
    m = scores.size
    included = check_labels("included", included, m, "scores")
    delta = check_probability(delta, "delta", high_open=True)
    confidence = check_probability(confidence, "confidence", low_open=True, high_open=True)
    if k_pos is not None or k_neg is not None:
        pairs = [(check_count(0 if k_pos is None else k_pos, "k_pos"),
                  check_count(0 if k_neg is None else k_neg, "k_neg"))]
        if pairs[0][0] + pairs[0][1] > m:
            raise ValueError(f"k_pos + k_neg must be <= the number of canaries ({m}); got {pairs[0][0]} + "
                             f"{pairs[0][1]}")
    else:
        ks = _default_grid(m) if grid is None else sorted({check_count(k, "grid entries", minimum=1) for k in grid})
        if not ks or 2 * ks[-1] > m:
            raise ValueError(f"grid must hold integers k >= 1 with 2k <= the number of canaries ({m}); got "
                             f"{list(ks) if grid is not None else 'none (fewer than 2 canaries)'}")
        pairs = [(k, k) for k in ks]
    significance = (1.0 - confidence) / len(pairs)
    order = np.argsort(-scores, kind="stable")
    best = None
    for kp, kn in pairs:
        v = _count_correct(order, included, kp, kn)
        eps = _epsilon_lower(v, kp + kn, m, delta, significance)
        if best is None or eps > best["epsilon_lower"]:
            best = {"epsilon_lower": eps, "guesses": kp + kn, "correct": v, "k_pos": kp, "k_neg": kn}
    return {"epsilon_lower": best["epsilon_lower"], "confidence": confidence, "canaries": m,
            "guesses": best["guesses"], "correct": best["correct"], "k_pos": best["k_pos"], "k_neg": best["k_neg"],
            "candidates": len(pairs), "per_test_confidence": 1.0 - significance}


def canaries_needed(epsilon: float, *, confidence: float = 0.95, delta: float = 0.0,
                    guess_fraction: float = 1.0) -> int:
    """The fewest canaries ``m`` with which a perfect attacker could certify ``ε_lower ≥ epsilon``.

    The attacker makes ``r = max(1, ⌊guess_fraction · m⌋)`` guesses, all correct, and the claim
    (``epsilon``, ``delta``)-DP must be refuted at ``confidence`` (``one_run_p_value ≤ 1 − confidence``).
    Fewer canaries cannot certify ``epsilon`` whatever the attack, so an audit with fewer is futile.
    ``guess_fraction = 1`` (the default) gives the absolute minimum. For :func:`one_run_audit`'s default
    grid of G candidates, pass ``confidence = 1 − (1 − c)/G`` (its ``per_test_confidence``).

    ``delta = 0``: ``r ≥ log(1 − c)/log(e^ε/(1+e^ε))`` in closed form. ``delta > 0``: the 2·m·δ term grows
    with ``m`` and the p-value is not monotone in ``m``; a geometric scan (×1.25) from the ``delta = 0``
    answer, then bisection, returns an ``m`` that certifies while ``m − 1`` does not (the smallest such,
    except perhaps within a hair of the largest ε that ``delta`` allows). Raises ``ValueError`` when no
    ``m`` up to 10⁹ certifies ``epsilon`` (δ too large for that ε; as ``m`` grows the perfect attacker's
    p-value climbs back towards about ``2δ(1 + e^ε)``; above ``1 − confidence`` only moderate ``m`` may work).
    """
    epsilon = check_scalar(epsilon, "epsilon", low=0.0, low_open=True)
    significance = 1.0 - check_probability(confidence, "confidence", low_open=True, high_open=True)
    delta = check_probability(delta, "delta", high_open=True)
    if isinstance(guess_fraction, bool) or not isinstance(guess_fraction, (int, float)) or \
            not 0 < guess_fraction <= 1:
        raise ValueError(f"guess_fraction must be a number in (0, 1]; got {guess_fraction!r}")

    def guesses(m: int) -> int:
        return max(1, math.floor(guess_fraction * m))

    def certifies(m: int) -> bool:
        r = guesses(m)
        return _p_value(r, r, m, epsilon, delta) <= significance

    r_min = max(1, math.ceil(math.log(significance) / math.log(_accuracy(epsilon))))
    m = max(1, math.ceil(r_min / guess_fraction))
    while guesses(m) < r_min:  # rounding of r_min / guess_fraction
        m += 1
    while m > 1 and guesses(m - 1) >= r_min:
        m -= 1
    if certifies(m):
        return m
    # p(m) falls as the binomial tail vanishes, then creeps up to a limit set by the 2·m·δ term: scan
    # geometrically (×1.25, fine enough not to step over the dip), then bisect the first step that certifies.
    lo, hi = m, math.ceil(1.25 * m)  # lo does not certify
    while not certifies(hi):
        if hi > _MAX_CANARIES:
            raise ValueError(f"no number of canaries up to {_MAX_CANARIES:.0e} certifies epsilon={epsilon} with "
                             f"delta={delta} at confidence {1 - significance}: the one-run bound's 2·m·δ term is "
                             f"too large; lower delta or epsilon")
        lo, hi = hi, math.ceil(1.25 * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if certifies(mid) else (mid, hi)
    return hi
