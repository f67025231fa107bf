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
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.rdp import RdpAccountant
from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS
from scipy import optimize

from ..validation import check_choice, check_probability, check_scalar

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
#: Smallest noise multiplier calibration searches, and the smallest the ``"pld"`` accountant
#: accounts for. At σ = 0.1 one step's privacy-loss distribution has ~3·10⁵ points and takes 0.6–1 s
#: to build (whole runs up to 10⁶ steps that pass :data:`PLD_MAX_EPSILON`: at most 3 s); at σ = 0.03
#: it took 20–35 s, at σ = 0.01 over a minute, and at σ <= 1e-3 dp_accounting ran out of memory or
#: refused the array size. ε is large there anyway (one full-batch step at σ = 0.1: ε ≈ 92 at
#: δ = 1e-5); the ``"rdp"`` accountant bounds it at any σ > 0 in well under a second.
MIN_NOISE_MULTIPLIER = 0.1

#: Most steps T each accountant accounts for. Measured on a 2-core machine (times about 3× longer
#: when the machine is busy), δ = 1e-5, q in [1e-7, 1], σ in [0.1, 1e4], both neighbouring relations:
#:
#: * ``"pld"``: 10⁶. Every run within :data:`PLD_MAX_EPSILON` took at most 3 s and 0.4 GB at
#:   T <= 10⁶ (worst: q = 1, σ = 25, T = 10⁶, ε = 969, 2.7 s; 45 random runs: at most 1.8 s).
#:   The cost grows faster than T: dp_accounting decides whether a small one-step distribution stays
#:   sparse by computing ``size ** T`` as an exact integer (T·log₂ size bits: 0.1 s at 10⁵ steps,
#:   3–7 s at 10⁶, minutes at 10⁷, an allocation error at 10¹²), and otherwise convolves arrays whose
#:   length grows with T (q = 1, σ = 10: 0.6 GB at 10⁶ steps, 3.7 GB and 28 s at 10⁷, 7.6 GB refused
#:   at 10⁸).
#: * ``"rdp"``: 10⁹. RDP costs the same at any T (0.1–0.5 s); the cap only catches mistakes (10⁹
#:   DP-SGD steps is years of training).
MAX_STEPS: Mapping[str, int] = MappingProxyType({"pld": 10**6, "rdp": 10**9})

#: The ``"pld"`` accountant refuses a run whose ε at δ = min(δ, 1e-5), bounded by the (fast) ``"rdp"``
#: accountant, exceeds this. PLD's cost grows with the spread of the composed privacy loss, hence
#: with ε. Over 90 runs (q from 1e-4 to 1, σ from 0.1 to 1e4, T = 10⁵ and 10⁶) every run with an rdp
#: bound up to 2,500 took at most 3 s (7 s on a busy machine); above 10⁴ they took 10 s to minutes or
#: ran out of memory (q = 1, σ = 1, T = 10⁵: ε = 51,349 in 3–14 s; q = 1, σ = 0.6, T = 10⁵: over 30 s;
#: q = 0.1, σ = 0.1, T = 10⁵: out of memory at 8 GB). An ε this large promises nothing, and the rdp
#: accountant still bounds it.
PLD_MAX_EPSILON = 1000.0

#: Noise multipliers above this are accounted as this value. ε is non-increasing in σ, so the
#: reported ε stays an upper bound (at σ = 1e8 it is below 3e-6 even for 10⁶ full-batch steps at
#: δ = 1e-5); beyond it dp_accounting's RDP logs convergence failures, and its PLD overflows
#: (σ² > 1.8e308) from σ ≈ 1.3e154.
ACCOUNTED_NOISE_CEILING = 1e8

#: RDP orders: dp_accounting's defaults plus more large orders, which small ε needs
#: (ε ≈ rdp(α) + log(1/δ)/(α−1) wants α ≳ log(1/δ)/ε).
RDP_ORDERS: tuple[float, ...] = tuple(sorted(
    set(DEFAULT_RDP_ORDERS) | {96, 192, 384, 768, 1536, 2048, 4096}))


# --- validation (dpqml.validation: name the parameter, the value and what is allowed) -----------
def _check_steps(steps, accountant: str | None = None) -> int:
    """``steps`` as an int >= 0; with ``accountant``, also at most :data:`MAX_STEPS` of it."""
    ok = isinstance(steps, numbers.Integral) and not isinstance(steps, bool)
    if isinstance(steps, float) and steps.is_integer():
        ok, steps = True, int(steps)
    if not ok or steps < 0:
        raise ValueError(f"steps must be an integer >= 0; got {steps!r}")
    limit = MAX_STEPS.get(accountant)
    if limit is not None and steps > limit:
        raise ValueError(f"steps must be at most {limit:,} with the {accountant} accountant; got {steps:,}: "
                         + _STEPS_HINT[accountant])
    return int(steps)


_STEPS_HINT = {
    "pld": ("its time and memory grow faster than the number of steps (about 3 s at 10^6 steps, minutes at "
            "10^7, out of memory beyond); use fewer steps, or accountant='rdp' (up to 10^9 steps, a looser "
            "bound)"),
    "rdp": "no DP-SGD run takes that many steps; check the number of steps (epochs / sample rate)",
}


def check_accountant(accountant: str, neighboring: str) -> _NR:
    """The neighbouring relation of a valid ``(accountant, neighboring)`` pair, else a ``ValueError``
    naming the valid values (RDP analyses add-remove only)."""
    check_choice(accountant, "accountant", ACCOUNTANTS)
    check_choice(neighboring, "neighboring", NEIGHBORING_RELATIONS)
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
    delta = check_probability(delta, "delta", low_open=True, high_open=True)
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
    relation = check_accountant(accountant, neighboring)
    sample_rate = check_probability(sample_rate, "sample_rate", low_open=True)
    noise_multiplier = check_scalar(noise_multiplier, "noise_multiplier", low=0.0)
    if accountant == "rdp":
        if value_discretization_interval is not None:
            raise ValueError("value_discretization_interval applies to accountant='pld' only")
        return RdpAccountant(RDP_ORDERS, neighboring_relation=relation)
    interval = _pld_interval(sample_rate, noise_multiplier, neighboring, value_discretization_interval)
    return PLDAccountant(relation, value_discretization_interval=interval)


def _pld_interval(q, sigma, neighboring, interval) -> float:
    """The PLD interval for (q, σ): ``interval`` when given (checked), else :func:`pld_discretization`."""
    if interval is None:
        return pld_discretization(q, max(sigma, 1e-12), neighboring)
    if not 0 < interval < math.inf:
        raise ValueError(f"value_discretization_interval must be > 0; got {interval!r}")
    return interval


def _composed(accountant, neighboring, q, sigma, steps, interval):
    """The composition of ``steps`` DP-SGD steps: an object with ``get_epsilon(δ)`` and
    ``get_delta(ε)``. PLD (σ > 0): exactly what ``PLDAccountant.compose(dp_sgd_event(...))`` computes,
    with the one-step PLD cached (:func:`_one_step_pld`)."""
    sigma = min(sigma, ACCOUNTED_NOISE_CEILING)  # ε is non-increasing in σ: still an upper bound
    if accountant != "pld" or sigma == 0:
        acc = make_accountant(accountant, sample_rate=q, noise_multiplier=sigma, neighboring=neighboring,
                              value_discretization_interval=interval)
        return acc.compose(dp_sgd_event(q, sigma, steps))
    interval = _pld_interval(q, sigma, neighboring, interval)
    step = _one_step_pld(q, sigma, interval, check_accountant(accountant, neighboring))
    return _ComposedPLD(pld_lib.identity(value_discretization_interval=interval).compose(
        step.self_compose(steps)))


@functools.lru_cache(maxsize=16)  # about 0.5-1 MB each (a dense PMF of ~10^5 values)
def _one_step_pld(q, sigma, interval, relation) -> pld_lib.PrivacyLossDistribution:
    """The PLD of one Poisson-subsampled Gaussian step, built as dp_accounting's ``PLDAccountant``
    builds it. Building it costs about as much as composing it, and an ε curve over many step
    counts at the same (q, σ), such as a training history's one value per epoch, needs it once.
    dp_accounting's compositions return new objects, so the cached one is never changed."""
    return pld_lib.from_gaussian_mechanism(
        standard_deviation=sigma, value_discretization_interval=interval, sampling_prob=q,
        neighboring_relation=relation)


class _ComposedPLD:
    """A composed PLD behind the two queries of a dp_accounting accountant."""

    def __init__(self, pld: pld_lib.PrivacyLossDistribution):
        self._pld = pld

    def get_epsilon(self, target_delta: float) -> float:
        return self._pld.get_epsilon_for_delta(target_delta)

    def get_delta(self, target_epsilon: float) -> float:
        return self._pld.get_delta_for_epsilon(target_epsilon)


# --- limits: what the accountants can account for in seconds ---------------------------------------
#: Integer RDP orders for the quick size check of :func:`_pld_refusal` (about 3 ms, against 0.1–0.5 s
#: for :data:`RDP_ORDERS`); fewer orders give a larger ε, so a run that passes with them passes.
_QUICK_RDP_ORDERS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 128, 256)


@functools.lru_cache(maxsize=4096)
def _rdp_bound(q, sigma, steps, delta, neighboring, quick=False) -> float:
    """ε by the rdp accountant (``quick``: with :data:`_QUICK_RDP_ORDERS`). dp_accounting's RDP does
    not analyse Poisson sampling under replace-one; there an add-remove run at twice the sensitivity
    (σ/2) stands in: this sizes the pld computation, it is not a guarantee."""
    if neighboring == "replace-one":
        sigma = sigma / 2
    if not quick:
        return _epsilon("rdp", "add-remove", q, sigma, steps, delta)
    acc = RdpAccountant(_QUICK_RDP_ORDERS, neighboring_relation=_NR.ADD_OR_REMOVE_ONE)
    return max(0.0, float(acc.compose(dp_sgd_event(q, sigma, steps)).get_epsilon(delta)))


def _pld_refusal(q, sigma, steps, delta, neighboring) -> str | None:
    """Why the pld accountant refuses this run (σ > 0, steps within :data:`MAX_STEPS`), or None."""
    d = 1e-5 if delta is None else min(delta, 1e-5)
    if neighboring == "replace-one":
        bound_is, other = "for add-remove at twice the sensitivity ", "more noise (rdp does not support replace-one)"
    else:
        bound_is, other = "", "accountant='rdp'"
    if sigma < MIN_NOISE_MULTIPLIER:
        return (f"noise_multiplier must be at least {MIN_NOISE_MULTIPLIER:g} with the pld accountant; got "
                f"{sigma:g}: below it pld needs minutes or runs out of memory (the rdp accountant bounds epsilon "
                f"{bound_is}by {_rdp_bound(q, sigma, steps, d, neighboring):.4g} at delta = {d:g}); use {other}"
                + (", or more noise" if neighboring != "replace-one" else ""))
    if _rdp_bound(q, sigma, steps, d, neighboring, quick=True) <= PLD_MAX_EPSILON:
        return None
    bound = _rdp_bound(q, sigma, steps, d, neighboring)
    if bound <= PLD_MAX_EPSILON:
        return None
    return (f"noise_multiplier {sigma:g} is too small for the pld accountant with this sample rate ({q:g}) and "
            f"number of steps ({steps:,}): the rdp accountant bounds epsilon {bound_is}by {bound:.4g} at delta = "
            f"{d:g}, far beyond any meaningful guarantee, and there pld needs minutes and gigabytes (it refuses "
            f"runs whose rdp bound exceeds {PLD_MAX_EPSILON:g}); use "
            + ("accountant='rdp' for that bound, or more noise" if neighboring != "replace-one" else "more noise")
            + ", fewer steps or a lower sample rate")


def _check_cost(accountant, neighboring, q, sigma, steps, delta) -> None:
    """Refuse (ValueError) what ``accountant`` cannot account for in seconds; steps >= 1, σ > 0."""
    _check_steps(steps, accountant)
    if accountant == "pld":
        reason = _pld_refusal(q, min(sigma, ACCOUNTED_NOISE_CEILING), steps, delta, neighboring)
        if reason:
            raise ValueError(reason)


def _ceil_sig(x: float, digits: int = 2) -> float:
    """``x`` rounded *up* to ``digits`` significant digits (a printed limit must not be too small)."""
    if x <= 0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale) / scale


def check_accounting_limits(
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    *,
    delta: float | None = None,
    accountant: str = "pld",
    neighboring: str = "add-remove",
) -> None:
    """Refuse, before any long work, a run the accountant cannot account for in seconds.

    Raises ``ValueError`` naming the parameter, the limit and what to do when

    * ``steps`` exceeds :data:`MAX_STEPS` of the accountant;
    * (``"pld"``) σ is below :data:`MIN_NOISE_MULTIPLIER`, or the ``"rdp"`` accountant bounds ε
      above :data:`PLD_MAX_EPSILON` (the cost of PLD grows with ε; see there);
    * with ``delta``: δ is at most :func:`smallest_delta`, so ε would be ``inf`` (checked only for
      δ < 1e-14 with ``"pld"``, the only place it binds).

    :func:`compute_epsilon`, :func:`compute_delta` and :func:`calibrate_noise_multiplier` apply the
    same limits; call this first where ε is needed only after long work (e.g. after training).
    Costs at most one RDP evaluation (milliseconds) unless δ < 1e-14.
    """
    q = check_probability(sample_rate, "sample_rate", low_open=True)
    sigma = check_scalar(noise_multiplier, "noise_multiplier", low=0.0)
    steps = _check_steps(steps)
    if delta is not None:
        delta = check_probability(delta, "delta", low_open=True, high_open=True)
    check_accountant(accountant, neighboring)
    if steps == 0 or sigma == 0:
        return
    _check_cost(accountant, neighboring, q, sigma, steps, delta)
    if delta is not None and accountant == "pld" and delta < 1e-14:
        floor = smallest_delta(q, sigma, steps, accountant=accountant, neighboring=neighboring)
        if delta <= floor:
            raise ValueError(_delta_floor_message(delta, floor, accountant))


def _delta_floor_message(delta: float, floor: float, accountant: str) -> str:
    return (f"delta must be at least {_ceil_sig(floor):.2g} with the {accountant} accountant; got {delta:g}: "
            f"below it no finite epsilon can be certified (the accountant's discretization treats privacy-loss "
            f"mass {floor:.2g}, its truncated tail, as infinite loss, and that exceeds delta); use a larger "
            f"delta, or accountant='rdp' (a finite, looser epsilon at any delta > 0)")


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
        ε >= 0; ``0.0`` when ``steps == 0``; ``inf`` when σ = 0 (no noise, no privacy) or when δ is
        at most :func:`smallest_delta` (about 1.5e-15 for ``"pld"``: no finite ε can be certified).

    Raises:
        ValueError: for bad input, and for runs beyond the accountant's limits (see
            :func:`check_accounting_limits`: :data:`MAX_STEPS`, and for ``"pld"``
            :data:`MIN_NOISE_MULTIPLIER` and :data:`PLD_MAX_EPSILON`), which would take minutes or
            run out of memory. σ above :data:`ACCOUNTED_NOISE_CEILING` is accounted as that value.
    """
    q = check_probability(sample_rate, "sample_rate", low_open=True)
    sigma = check_scalar(noise_multiplier, "noise_multiplier", low=0.0)
    steps, delta = _check_steps(steps), check_probability(delta, "delta", low_open=True, high_open=True)
    check_accountant(accountant, neighboring)
    if steps == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    _check_cost(accountant, neighboring, q, sigma, steps, delta)
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
    """δ of ``steps`` DP-SGD steps at the given ε >= 0 (an upper bound); arguments, limits and
    errors as in :func:`compute_epsilon`. ``0.0`` when ``steps == 0``, ``1.0`` when σ = 0."""
    epsilon = check_scalar(epsilon, "epsilon", low=0.0)
    return _delta(epsilon, sample_rate, noise_multiplier, steps, accountant, neighboring,
                  value_discretization_interval)


def smallest_delta(
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    *,
    accountant: str = "pld",
    neighboring: str = "add-remove",
    value_discretization_interval: float | None = None,
) -> float:
    """The δ below which the accountant reports ε = ``inf`` for this run: its δ at ε = ∞.

    For ``"pld"`` this is the probability mass the privacy-loss distribution puts at infinite loss:
    the tails dp_accounting truncates (1e-15 at each self-composition, plus each step's own truncated
    tail), about 1.5e-15 for DP-SGD; no smaller δ can be certified with it. For ``"rdp"`` it is 0
    (any δ > 0 gives a finite ε when σ > 0). ``1.0`` when σ = 0, ``0.0`` when ``steps == 0``.
    Arguments, limits and errors as in :func:`compute_epsilon`; costs one composition.
    """
    return _delta(math.inf, sample_rate, noise_multiplier, steps, accountant, neighboring,
                  value_discretization_interval)


def _delta(epsilon, sample_rate, noise_multiplier, steps, accountant, neighboring, interval) -> float:
    """δ at ``epsilon`` (``inf`` allowed: the mass at infinite privacy loss), in [0, 1]."""
    q = check_probability(sample_rate, "sample_rate", low_open=True)
    sigma = check_scalar(noise_multiplier, "noise_multiplier", low=0.0)
    steps = _check_steps(steps)
    check_accountant(accountant, neighboring)
    if steps == 0:
        return 0.0
    if sigma == 0:
        return 1.0
    _check_cost(accountant, neighboring, q, sigma, steps, None)
    acc = _composed(accountant, neighboring, q, sigma, steps, interval)
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
    :data:`MAX_NOISE_MULTIPLIER`, if ``steps`` exceeds :data:`MAX_STEPS` of the accountant, or if δ
    is at most :func:`smallest_delta` (no finite ε at all). With ``"pld"``, a σ whose ε the
    ``"rdp"`` accountant bounds above :data:`PLD_MAX_EPSILON` counts as missing the target (its PLD
    would take minutes); a target above that bound may therefore get a larger σ than needed.
    """
    target = check_scalar(target_epsilon, "target_epsilon", low=0.0, low_open=True)
    delta = check_probability(delta, "delta", low_open=True, high_open=True)
    q = check_probability(sample_rate, "sample_rate", low_open=True)
    steps = _check_steps(steps)
    check_accountant(accountant, neighboring)
    if not isinstance(rtol, numbers.Real) or not 0 < rtol <= 0.1:
        raise ValueError(f"rtol must be a number in (0, 0.1]; got {rtol!r}")
    if steps == 0:
        return 0.0
    _check_steps(steps, accountant)  # before the search, which composes T steps up to ~20 times

    seen: dict[float, float] = {}

    def eps(sigma: float) -> float:
        if sigma not in seen:
            too_costly = accountant == "pld" and _pld_refusal(q, sigma, steps, delta, neighboring)
            seen[sigma] = math.inf if too_costly else _epsilon(accountant, neighboring, q, sigma, steps, delta)
        return seen[sigma]

    if math.isinf(eps(MAX_NOISE_MULTIPLIER)):
        floor = smallest_delta(q, MAX_NOISE_MULTIPLIER, steps, accountant=accountant, neighboring=neighboring)
        if delta <= floor:
            raise ValueError(_delta_floor_message(delta, floor, accountant))
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
