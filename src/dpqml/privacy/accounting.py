"""Privacy accounting for DP-SGD: (ε, δ) of the Poisson-subsampled Gaussian mechanism.

At each of ``steps`` steps DP-SGD keeps every example independently with probability
``sample_rate`` (Poisson sampling, q), sums the clipped per-example gradients (clip norm C) and
adds Gaussian noise of standard deviation ``noise_multiplier``·C (σ·C). One step is the DpEvent
``PoissonSampledDpEvent(q, GaussianDpEvent(σ))``; training composes it ``steps`` times (T).
Google's ``dp_accounting`` turns that event into a guarantee:

* ``"pld"`` (default): privacy loss distributions (Koskela, Jälkö & Honkela 2020; Doroshenko et
  al. 2022, "Connect the dots"). The discretization rounds pessimistically, so the reported ε is
  an upper bound at any interval; :func:`pld_discretization` picks the interval so that it is
  also tight (measured ~0.1%, at most 0.4%, above a 10× finer reference) and fast.
* ``"rdp"``: Rényi DP (Mironov 2017; Mironov, Talwar & Zhang 2019) converted to (ε, δ) with
  dp_accounting's conversion: fast and always an upper bound, but typically 7–200% above PLD.

Never a Gaussian-DP / central-limit approximation: it can report *less* than the true ε.

Neighbouring datasets differ by adding or removing one example (``"add-remove"``, the default,
the relation Poisson sampling is usually analysed under) or by replacing one (``"replace-one"``:
PLD only, since dp_accounting's RDP accountant does not analyse Poisson sampling under it).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import dp_accounting
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant
from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS
from scipy import optimize

_NR = dp_accounting.NeighboringRelation

#: Accountant names, each with a one-line description.
ACCOUNTANTS: Mapping[str, str] = MappingProxyType({
    "pld": "privacy loss distributions, tight (within ~0.1%)",
    "rdp": "Renyi DP, fast and conservative (often well above pld)",
})

#: Neighbouring relations by name.
NEIGHBORING_RELATIONS: Mapping[str, dp_accounting.NeighboringRelation] = MappingProxyType({
    "add-remove": _NR.ADD_OR_REMOVE_ONE,
    "replace-one": _NR.REPLACE_ONE,
})

#: Largest noise multiplier :func:`calibrate_noise_multiplier` will return; noise this large
#: drowns any gradient signal, so a target that needs more is treated as unreachable.
MAX_NOISE_MULTIPLIER = 1e4
#: Smallest noise multiplier calibration searches (PLD below it is slow, and ε huge).
MIN_NOISE_MULTIPLIER = 0.1

#: RDP orders: dp_accounting's defaults plus more large orders, which small ε needs
#: (ε ≈ rdp(α) + log(1/δ)/(α−1) wants α ≳ log(1/δ)/ε).
RDP_ORDERS: tuple[float, ...] = tuple(sorted(
    set(DEFAULT_RDP_ORDERS) | {96, 192, 384, 768, 1536, 2048, 4096}))


# --- validation (scikit-learn style: name the parameter, the value and what is allowed) ----------
def _check_sample_rate(q) -> float:
    if not isinstance(q, numbers.Real) or not 0 < q <= 1:
        raise ValueError(f"sample_rate must be a number in (0, 1]; got {q!r}")
    return float(q)


def _check_noise_multiplier(sigma) -> float:
    if not isinstance(sigma, numbers.Real) or not 0 <= sigma < math.inf:
        raise ValueError(f"noise_multiplier must be a finite number >= 0; got {sigma!r}")
    return float(sigma)


def _check_steps(steps) -> int:
    ok = isinstance(steps, numbers.Integral) and not isinstance(steps, bool)
    if isinstance(steps, float) and steps.is_integer():
        ok, steps = True, int(steps)
    if not ok or steps < 0:
        raise ValueError(f"steps must be an integer >= 0; got {steps!r}")
    return int(steps)


def _check_delta(delta) -> float:
    if not isinstance(delta, numbers.Real) or not 0 < delta < 1:
        raise ValueError(f"delta must be a number in (0, 1); got {delta!r}")
    return float(delta)


def _check_epsilon(epsilon, name: str, *, zero_ok: bool) -> float:
    real = isinstance(epsilon, numbers.Real)
    if not real or not ((epsilon >= 0 if zero_ok else epsilon > 0) and epsilon < math.inf):
        allowed = "a finite number >= 0" if zero_ok else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}; got {epsilon!r}")
    return float(epsilon)


def _check_accountant(accountant: str, neighboring: str) -> _NR:
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {', '.join(map(repr, ACCOUNTANTS))}; got {accountant!r}")
    if neighboring not in NEIGHBORING_RELATIONS:
        raise ValueError(f"neighboring must be one of {', '.join(map(repr, NEIGHBORING_RELATIONS))}; "
                         f"got {neighboring!r}")
    if accountant == "rdp" and neighboring == "replace-one":
        raise ValueError("neighboring='replace-one' is not supported by the 'rdp' accountant "
                         "(dp_accounting's RDP analyses Poisson sampling under add-remove only); "
                         "use accountant='pld'")
    return NEIGHBORING_RELATIONS[neighboring]


def check_delta(delta: float, n_examples: int, *, allow_large: bool = False) -> None:
    """Refuse δ ≥ 1/N, a δ too weak to mean anything for a data set of N examples (with
    ``allow_large=True``: warn instead). δ ≥ 1 is always refused.

    A mechanism that publishes one randomly chosen example in full satisfies (0, 1/N)-DP, so
    δ must be well below 1/N (commonly δ ≤ 1/(10·N), or 1e-5 and below) to protect anyone.
    """
    delta = _check_delta(delta)
    if not isinstance(n_examples, numbers.Integral) or n_examples < 1:
        raise ValueError(f"n_examples must be an integer >= 1; got {n_examples!r}")
    if delta >= 1 / n_examples:
        msg = (f"delta={delta:g} >= 1/n_examples = 1/{n_examples}: a delta this large is too weak to mean "
               f"anything (publishing one random example in full is (0, 1/N)-DP); use delta well below "
               f"1/n_examples, e.g. {10 ** math.floor(math.log10(0.1 / n_examples)):g}")
        if not allow_large:
            raise ValueError(msg + " (allow_large_delta=True, --allow-large-delta on the command line, accepts it)")
        warnings.warn(msg, UserWarning, stacklevel=3)


# --- events and accountants --------------------------------------------------------------------------
def dp_sgd_event(sample_rate: float, noise_multiplier: float, steps: int) -> dp_accounting.DpEvent:
    """The DpEvent of ``steps`` DP-SGD steps: a Poisson-subsampled Gaussian, self-composed."""
    step = dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    return dp_accounting.SelfComposedDpEvent(step, steps)


def pld_discretization(sample_rate: float, noise_multiplier: float, neighboring: str = "add-remove") -> float:
    """The PLD ``value_discretization_interval`` used for one step of (q, σ).

    The error of the pessimistic discretization grows like (Δ/w)², where w is the spread of one
    step's privacy loss: w ≈ q·√(exp(1/σ²) − 1) for small q and 1/σ at q = 1 (add-remove), twice
    that for replace-one. Δ = w/10 measured ~0.1% (at most 0.4%, at ε ~ 1e-5) above a 10× finer
    interval over q ∈ [1e-4, 1], σ ∈ [0.6, 200], T ∈ {1, 100, 10⁴}, both relations.
    Δ is capped at 1e-3 (coarser loses accuracy) and kept at least 1e-7 (float precision) and
    1e-4·exp(−6(σ − 0.5)) (finer would cost seconds to minutes at small σ): where that floor
    binds, q < 1e-3 with σ < 1, ε can be a few percent high (about 9% at q = 1e-5, σ = 0.7),
    still an upper bound; pass an explicit interval to :func:`compute_epsilon` for more.
    """
    # replace-one: a removal and an addition at once, about twice the spread
    s = 2.0 if neighboring == "replace-one" else 1.0
    spread = s * min(sample_rate * math.sqrt(math.expm1(min(noise_multiplier ** -2, 700.0))), 1 / noise_multiplier)
    floor = max(1e-7, min(1e-3, 1e-4 * math.exp(-6.0 * (noise_multiplier - 0.5))))
    return min(1e-3, max(floor, spread / 10))


def make_accountant(
    accountant: str = "pld",
    *,
    sample_rate: float,
    noise_multiplier: float,
    neighboring: str = "add-remove",
    value_discretization_interval: float | None = None,
) -> dp_accounting.PrivacyAccountant:
    """A fresh dp_accounting accountant for DP-SGD with this (q, σ).

    q and σ only choose the PLD interval (:func:`pld_discretization`) unless
    ``value_discretization_interval`` is given; compose :func:`dp_sgd_event` into it.
    """
    relation = _check_accountant(accountant, neighboring)
    sample_rate, noise_multiplier = _check_sample_rate(sample_rate), _check_noise_multiplier(noise_multiplier)
    if accountant == "rdp":
        if value_discretization_interval is not None:
            raise ValueError("value_discretization_interval applies to accountant='pld' only")
        return RdpAccountant(RDP_ORDERS, neighboring_relation=relation)
    if value_discretization_interval is None:
        value_discretization_interval = pld_discretization(sample_rate, max(noise_multiplier, 1e-12), neighboring)
    elif not 0 < value_discretization_interval < math.inf:
        raise ValueError(f"value_discretization_interval must be > 0; got {value_discretization_interval!r}")
    return PLDAccountant(relation, value_discretization_interval=value_discretization_interval)


def _composed(accountant, neighboring, q, sigma, steps, interval):
    acc = make_accountant(accountant, sample_rate=q, noise_multiplier=sigma, neighboring=neighboring,
                          value_discretization_interval=interval)
    return acc.compose(dp_sgd_event(q, sigma, steps))


# --- public API -------------------------------------------------------------------------------------
def compute_epsilon(
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    delta: float,
    *,
    accountant: str = "pld",
    neighboring: str = "add-remove",
    value_discretization_interval: float | None = None,
) -> float:
    """ε of ``steps`` DP-SGD steps at the given δ (an upper bound: a guarantee).

    Args:
        sample_rate: Poisson sampling probability q of each example per step, in (0, 1].
        noise_multiplier: σ, noise standard deviation divided by the clip norm, >= 0.
        steps: number of noisy steps T, an integer >= 0.
        delta: δ in (0, 1).
        accountant: a name in :data:`ACCOUNTANTS`.
        neighboring: a name in :data:`NEIGHBORING_RELATIONS`.
        value_discretization_interval: override the PLD interval (see :func:`pld_discretization`).

    Returns:
        ε >= 0; ``0.0`` when ``steps == 0`` and ``inf`` when σ = 0 (no noise, no privacy).
    """
    q, sigma = _check_sample_rate(sample_rate), _check_noise_multiplier(noise_multiplier)
    steps, delta = _check_steps(steps), _check_delta(delta)
    _check_accountant(accountant, neighboring)
    if steps == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    return _epsilon(accountant, neighboring, q, sigma, steps, delta, value_discretization_interval)


@functools.lru_cache(maxsize=4096)  # pure in hashable floats; a sweep asks for the same curve often
def _epsilon(accountant, neighboring, q, sigma, steps, delta, interval=None) -> float:
    return max(0.0, float(_composed(accountant, neighboring, q, sigma, steps, interval).get_epsilon(delta)))


def compute_delta(
    epsilon: float,
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    *,
    accountant: str = "pld",
    neighboring: str = "add-remove",
    value_discretization_interval: float | None = None,
) -> float:
    """δ of ``steps`` DP-SGD steps at the given ε >= 0 (an upper bound); arguments as in
    :func:`compute_epsilon`. ``0.0`` when ``steps == 0``, ``1.0`` when σ = 0."""
    epsilon = _check_epsilon(epsilon, "epsilon", zero_ok=True)
    q, sigma = _check_sample_rate(sample_rate), _check_noise_multiplier(noise_multiplier)
    steps = _check_steps(steps)
    _check_accountant(accountant, neighboring)
    if steps == 0:
        return 0.0
    if sigma == 0:
        return 1.0
    acc = _composed(accountant, neighboring, q, sigma, steps, value_discretization_interval)
    return min(1.0, max(0.0, float(acc.get_delta(epsilon))))


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    *,
    accountant: str = "pld",
    neighboring: str = "add-remove",
    rtol: float = 1e-3,
) -> float:
    """The smallest noise multiplier σ whose ε (by :func:`compute_epsilon`) is <= ``target_epsilon``.

    Always on the safe side: ``compute_epsilon(σ) <= target_epsilon`` with the same accountant,
    and σ/(1 + rtol) misses the target (σ is within ``rtol`` of the smallest). Searches σ in
    [:data:`MIN_NOISE_MULTIPLIER`, :data:`MAX_NOISE_MULTIPLIER`]: Brent's method on log ε versus
    log σ, then bisection until the bracket is narrower than ``rtol``. (dp_accounting's
    ``calibrate_dp_mechanism`` takes an absolute tolerance and one accountant for every σ, while the
    PLD interval here depends on σ; hence this small search.)

    Returns ``0.0`` for ``steps == 0`` (nothing is released) and :data:`MIN_NOISE_MULTIPLIER` if
    even that meets the target. Raises ``ValueError`` if σ would have to exceed
    :data:`MAX_NOISE_MULTIPLIER`.
    """
    target = _check_epsilon(target_epsilon, "target_epsilon", zero_ok=False)
    delta, q, steps = _check_delta(delta), _check_sample_rate(sample_rate), _check_steps(steps)
    _check_accountant(accountant, neighboring)
    if not isinstance(rtol, numbers.Real) or not 0 < rtol <= 0.1:
        raise ValueError(f"rtol must be a number in (0, 0.1]; got {rtol!r}")
    if steps == 0:
        return 0.0

    seen: dict[float, float] = {}

    def eps(sigma: float) -> float:
        if sigma not in seen:
            seen[sigma] = _epsilon(accountant, neighboring, q, sigma, steps, delta)
        return seen[sigma]

    if eps(MAX_NOISE_MULTIPLIER) > target:
        raise ValueError(
            f"target_epsilon={target:g} is unreachable at delta={delta:g}: even noise_multiplier="
            f"{MAX_NOISE_MULTIPLIER:g} gives epsilon={eps(MAX_NOISE_MULTIPLIER):.3g}; use fewer steps, "
            f"a lower sample rate, a larger target_epsilon or a larger delta")
    # bracket the root: lo misses the target, hi meets it
    hi = 1.0
    if eps(hi) <= target:
        lo = hi / 2
        while eps(lo) <= target:
            if lo <= MIN_NOISE_MULTIPLIER:
                return MIN_NOISE_MULTIPLIER
            lo, hi = max(lo / 4, MIN_NOISE_MULTIPLIER), lo
    else:
        lo, hi = hi, min(4 * hi, MAX_NOISE_MULTIPLIER)
        while eps(hi) > target:
            lo, hi = hi, min(4 * hi, MAX_NOISE_MULTIPLIER)

    def gap(log_sigma: float) -> float:  # log ε is close to linear in log σ: Brent converges fast
        e = eps(math.exp(log_sigma))
        return math.log(min(max(e, 1e-300), 1e300)) - math.log(target)

    try:
        optimize.brentq(gap, math.log(lo), math.log(hi), xtol=math.log1p(rtol) / 4, maxiter=50)
    except (ValueError, RuntimeError):  # pragma: no cover - bisection below still finishes the job
        pass
    lo = max([s for s, e in seen.items() if e > target], default=lo)
    hi = min(s for s, e in seen.items() if e <= target)
    while hi > lo * (1 + rtol):
        mid = math.sqrt(lo * hi)
        if eps(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi
