"""DP-SGD accounting: ε against dp-accounting's own references, calibration on the safe side,
monotonicity, edge cases and clear errors for bad input."""

import math
import warnings

import dp_accounting
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from dpqml.privacy import (
    ACCOUNTANTS,
    NEIGHBORING_RELATIONS,
    calibrate_noise_multiplier,
    check_delta,
    compute_delta,
    compute_epsilon,
    dp_sgd_event,
    make_accountant,
)
from dpqml.privacy.accounting import MAX_STEPS, check_accounting_limits, smallest_delta

NR = dp_accounting.NeighboringRelation
DELTA = 1e-5


def reference_event(q, sigma, steps):
    """The DP-SGD event, built here with dp_accounting alone (not with the code under test)."""
    step = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    return dp_accounting.SelfComposedDpEvent(step, steps)


def reference_pld_epsilon(q, sigma, steps, delta, interval, relation=NR.ADD_OR_REMOVE_ONE):
    acc = PLDAccountant(relation, value_discretization_interval=interval)
    return acc.compose(reference_event(q, sigma, steps)).get_epsilon(delta)


# (q, sigma, T, neighbouring, reference interval: at least 10x finer than ours)
PLD_CASES = [
    (0.01, 1.0, 10_000, "add-remove", 1e-4),  # a typical DP-SGD run
    (0.001, 4.0, 10_000, "add-remove", 2e-6),  # small q, large sigma: where a fixed 1e-4 is 1.4% off
    (0.01, 20.0, 10_000, "add-remove", 5e-6),
    (0.1, 2.0, 1_000, "add-remove", 1e-4),
    (1.0, 5.0, 100, "add-remove", 1e-4),
    (0.01, 2.0, 1_000, "replace-one", 1e-4),
]


@pytest.mark.parametrize("q,sigma,steps,neighboring,ref_interval", PLD_CASES)
def test_pld_epsilon_is_an_upper_bound_within_one_percent(q, sigma, steps, neighboring, ref_interval):
    eps = compute_epsilon(q, sigma, steps, DELTA, neighboring=neighboring)
    ref = reference_pld_epsilon(q, sigma, steps, DELTA, ref_interval, NEIGHBORING_RELATIONS[neighboring])
    assert ref <= eps <= 1.01 * ref


@pytest.mark.parametrize("sigma,steps", [(1.0, 1), (3.0, 100), (50.0, 1_000)])
def test_full_batch_matches_the_exact_gaussian_mechanism(sigma, steps):
    # q = 1: T Gaussian steps compose to one Gaussian with std sigma / sqrt(T) (exact, Balle & Wang 2018)
    exact = dp_accounting.get_epsilon_gaussian(sigma / math.sqrt(steps), DELTA)
    eps = compute_epsilon(1.0, sigma, steps, DELTA)
    assert exact * (1 - 1e-9) <= eps <= 1.01 * exact


@pytest.mark.parametrize("q,sigma,steps", [(0.01, 1.0, 1_000), (0.001, 2.0, 10_000), (0.1, 5.0, 100), (1.0, 2.0, 10)])
def test_rdp_is_conservative_and_no_worse_than_default_orders(q, sigma, steps):
    pld = compute_epsilon(q, sigma, steps, DELTA)
    rdp = compute_epsilon(q, sigma, steps, DELTA, accountant="rdp")
    default_orders = RdpAccountant().compose(reference_event(q, sigma, steps)).get_epsilon(DELTA)
    assert pld <= rdp <= default_orders * (1 + 1e-9)


def test_edge_cases():
    assert compute_epsilon(0.01, 0.0, 100, DELTA) == math.inf
    assert compute_epsilon(0.01, 0.0, 100, DELTA, accountant="rdp") == math.inf
    assert compute_epsilon(0.01, 1.0, 0, DELTA) == 0.0
    assert compute_epsilon(0.01, 0.0, 0, DELTA) == 0.0  # nothing released
    assert 0.0 <= compute_epsilon(0.01, 1e4, 1_000, DELTA) < 1e-3
    assert compute_delta(1.0, 0.01, 0.0, 100) == 1.0
    assert compute_delta(1.0, 0.01, 1.0, 0) == 0.0
    assert compute_epsilon(0.01, 1.0, 100.0, DELTA) == compute_epsilon(0.01, 1.0, 100, DELTA)  # integral float


@pytest.mark.parametrize("accountant", list(ACCOUNTANTS))
def test_compute_delta_inverts_compute_epsilon(accountant):
    eps = compute_epsilon(0.01, 1.5, 1_000, DELTA, accountant=accountant)
    delta = compute_delta(eps, 0.01, 1.5, 1_000, accountant=accountant)
    assert 0.5 * DELTA <= delta <= DELTA * 1.001
    assert compute_delta(eps / 2, 0.01, 1.5, 1_000, accountant=accountant) > delta


@pytest.mark.parametrize("accountant", list(ACCOUNTANTS))
def test_monotonicity(accountant):
    def eps(q=0.01, sigma=1.5, steps=500, delta=DELTA):
        return compute_epsilon(q, sigma, steps, delta, accountant=accountant)

    by_sigma = [eps(sigma=s) for s in (0.8, 1.0, 2.0, 5.0)]
    by_steps = [eps(steps=t) for t in (1, 10, 100, 1_000)]
    by_rate = [eps(q=q) for q in (0.001, 0.01, 0.1, 1.0)]
    by_delta = [eps(delta=d) for d in (1e-8, 1e-6, 1e-4)]
    assert by_sigma == sorted(by_sigma, reverse=True) and len(set(by_sigma)) == 4
    assert by_steps == sorted(by_steps) and len(set(by_steps)) == 4
    assert by_rate == sorted(by_rate) and len(set(by_rate)) == 4
    assert by_delta == sorted(by_delta, reverse=True) and len(set(by_delta)) == 3


def test_replace_one_doubles_the_sensitivity():
    # full batch: replacing one example moves the sum by up to 2C, a Gaussian of sensitivity 2
    exact = dp_accounting.get_epsilon_gaussian(3.0 / (2 * math.sqrt(50)), DELTA)
    eps = compute_epsilon(1.0, 3.0, 50, DELTA, neighboring="replace-one")
    assert exact * (1 - 1e-9) <= eps <= 1.01 * exact
    # subsampled: never weaker than add-remove
    assert compute_epsilon(0.01, 1.5, 500, DELTA, neighboring="replace-one") > compute_epsilon(0.01, 1.5, 500, DELTA)


@pytest.mark.parametrize(
    "target,q,steps,accountant",
    [(1.0, 0.01, 10_000, "pld"), (8.0, 0.004, 2_500, "pld"), (0.5, 0.1, 100, "pld"), (3.0, 0.02, 1_000, "rdp")],
)
def test_calibrate_returns_the_smallest_safe_noise_multiplier(target, q, steps, accountant):
    sigma = calibrate_noise_multiplier(target, DELTA, q, steps, accountant=accountant)
    assert compute_epsilon(q, sigma, steps, DELTA, accountant=accountant) <= target
    assert compute_epsilon(q, 0.99 * sigma, steps, DELTA, accountant=accountant) > target


def test_calibrate_full_batch_matches_the_exact_gaussian_sigma():
    steps, target = 100, 2.0
    exact = dp_accounting.get_sigma_gaussian(target, DELTA) * math.sqrt(steps)
    sigma = calibrate_noise_multiplier(target, DELTA, 1.0, steps)
    assert exact <= sigma <= 1.01 * exact


def test_calibrate_edge_cases():
    assert calibrate_noise_multiplier(1.0, DELTA, 0.01, 0) == 0.0
    with pytest.raises(ValueError, match=r"unreachable.*fewer steps.*sample rate.*larger target_epsilon"):
        calibrate_noise_multiplier(1e-4, DELTA, 1.0, 10_000)


def test_make_accountant_composes_like_compute_epsilon():
    for name in ACCOUNTANTS:
        acc = make_accountant(name, sample_rate=0.02, noise_multiplier=1.2)
        assert isinstance(acc, dp_accounting.PrivacyAccountant)
        eps = acc.compose(dp_sgd_event(0.02, 1.2, 300)).get_epsilon(DELTA)
        assert eps == pytest.approx(compute_epsilon(0.02, 1.2, 300, DELTA, accountant=name), rel=1e-12)


# --- limits: what would take minutes or run out of memory is refused at once, saying what to do ------
def test_steps_beyond_each_accountants_limit_are_refused():
    assert dict(MAX_STEPS) == {"pld": 10**6, "rdp": 10**9}
    with pytest.raises(ValueError, match=r"steps must be at most 1,000,000 with the pld accountant; got 1,000,001: "
                                         r".*use fewer steps, or accountant='rdp'"):
        compute_epsilon(0.01, 1.0, 10**6 + 1, DELTA)
    with pytest.raises(ValueError, match=r"steps must be at most 1,000,000,000 with the rdp accountant; got "
                                         r"1,000,000,000,000"):
        compute_delta(1.0, 0.01, 1.0, 10**12, accountant="rdp")
    with pytest.raises(ValueError, match=r"steps must be at most 1,000,000,000 with the rdp accountant"):
        calibrate_noise_multiplier(1.0, DELTA, 0.01, 10**9 + 1, accountant="rdp")
    # rdp costs the same at any T: 10^7 full-batch steps are one Gaussian mechanism of std sigma / sqrt(T)
    exact = dp_accounting.get_epsilon_gaussian(1e4 / math.sqrt(10**7), DELTA)
    assert exact <= compute_epsilon(1.0, 1e4, 10**7, DELTA, accountant="rdp") <= 1.2 * exact


def test_pld_refuses_noise_too_small_to_account_and_rdp_bounds_it():
    # pld: 'Maximum allowed size exceeded' at sigma = 1e-9, a 3.8 GB allocation at 1e-3, minutes at 0.01
    with pytest.raises(ValueError, match=r"noise_multiplier must be at least 0.1 with the pld accountant; got 1e-09: "
                                         r".*use accountant='rdp'"):
        compute_epsilon(0.01, 1e-9, 1_000, DELTA)
    # rdp answers, an upper bound: one full-batch step at sigma = 0.01 is the Gaussian mechanism itself
    exact = dp_accounting.get_epsilon_gaussian(0.01, DELTA)
    assert exact <= compute_epsilon(1.0, 0.01, 1, DELTA, accountant="rdp") <= 1.2 * exact


def test_pld_refuses_a_run_whose_epsilon_is_astronomical():
    # q = 1: 10^5 steps at sigma = 1 are one Gaussian mechanism of std 1/sqrt(10^5): epsilon ~ 51,000, which
    # pld took 3-14 s and 0.7 GB to confirm (sigma = 0.6: over 30 s)
    exact = dp_accounting.get_epsilon_gaussian(1 / math.sqrt(100_000), DELTA)
    with pytest.raises(ValueError, match=r"noise_multiplier 1 is too small for the pld accountant .* bounds epsilon by "
                                         r"5\.5\d+e\+04 .*use accountant='rdp' for that bound"):
        compute_epsilon(1.0, 1.0, 100_000, DELTA)
    with pytest.raises(ValueError, match=r"too small for the pld accountant"):
        check_accounting_limits(1.0, 1.0, 100_000)
    assert exact <= compute_epsilon(1.0, 1.0, 100_000, DELTA, accountant="rdp") <= 1.1 * exact
    check_accounting_limits(1.0, 1.0, 100_000, accountant="rdp")  # no refusal: rdp is fast at any epsilon


def test_calibrate_passes_over_noise_levels_pld_refuses():
    # q = 1, T = 10^5: the search tries sigma = 1 and 4 (rdp bounds above 1000) on its way up
    steps, target = 100_000, 1.0
    exact = dp_accounting.get_sigma_gaussian(target, DELTA) * math.sqrt(steps)
    assert exact <= calibrate_noise_multiplier(target, DELTA, 1.0, steps) <= 1.01 * exact


def test_delta_below_what_pld_can_certify_gives_infinity_or_a_clear_refusal():
    # dp_accounting truncates tail mass 1e-15 at each self-composition and counts it as infinite loss
    floor = smallest_delta(0.01, 1.0, 1_000)
    assert 1e-15 <= floor < 2e-15
    assert compute_epsilon(0.01, 1.0, 1_000, 1e-300) == math.inf  # honest: no finite epsilon is certified
    assert math.isfinite(compute_epsilon(0.01, 1.0, 1_000, 2 * floor))
    assert smallest_delta(0.01, 1.0, 1_000, accountant="rdp") == 0.0
    assert compute_epsilon(0.01, 1.0, 1_000, 1e-300, accountant="rdp") > compute_epsilon(0.01, 1.0, 1_000, 2 * floor)
    with pytest.raises(ValueError, match=r"delta must be at least 1.5e-15 with the pld accountant; got 1e-300: .*"
                                         r"accountant='rdp'"):
        calibrate_noise_multiplier(1.0, 1e-300, 0.01, 1_000)
    with pytest.raises(ValueError, match=r"delta must be at least 1.5e-15"):
        check_accounting_limits(0.01, 1.0, 1_000, delta=1e-300)
    check_accounting_limits(0.01, 1.0, 1_000, delta=1e-300, accountant="rdp")


def test_huge_noise_multiplier_is_accounted_without_overflow():
    # sigma = 1e300 overflowed dp_accounting (sigma ** 2). The whole run's total variation distance is
    # below q * T / (sigma * sqrt(2 pi)) << delta, so it is (0, delta)-DP: epsilon = 0 is exact
    for name in ACCOUNTANTS:
        assert compute_epsilon(0.01, 1e300, 1_000, DELTA, accountant=name) == 0.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sample_rate": 0.0}, r"sample_rate must be a number in \(0, 1\]; got 0.0"),
        ({"sample_rate": 1.5}, r"sample_rate .* got 1.5"),
        ({"sample_rate": float("nan")}, r"sample_rate .* got nan"),
        ({"noise_multiplier": -1.0}, r"noise_multiplier must be a finite number >= 0; got -1.0"),
        ({"noise_multiplier": math.inf}, r"noise_multiplier .* got inf"),
        ({"steps": -1}, r"steps must be an integer >= 0; got -1"),
        ({"steps": 2.5}, r"steps must be an integer >= 0; got 2.5"),
        ({"steps": "10"}, r"steps must be an integer >= 0; got '10'"),
        ({"delta": 0.0}, r"delta must be a number in \(0, 1\); got 0.0"),
        ({"delta": 1.0}, r"delta .* got 1.0"),
        ({"accountant": "gdp"}, r"accountant must be one of \['pld', 'rdp'\]; got 'gdp'"),
        ({"neighboring": "swap"}, r"neighboring must be one of \['add-remove', 'replace-one'\]; got 'swap'"),
        ({"accountant": "rdp", "neighboring": "replace-one"}, r"not supported by the 'rdp'.*use accountant='pld'"),
    ],
)
def test_compute_epsilon_bad_input_names_the_parameter(kwargs, match):
    args = {"sample_rate": 0.01, "noise_multiplier": 1.0, "steps": 100, "delta": DELTA, **kwargs}
    with pytest.raises(ValueError, match=match):
        compute_epsilon(**args)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"target_epsilon": 0.0}, r"target_epsilon must be a finite number > 0; got 0.0"),
        ({"target_epsilon": -1.0}, r"target_epsilon .* got -1.0"),
        ({"target_epsilon": math.inf}, r"target_epsilon .* got inf"),
        ({"delta": 1.5}, r"delta .* got 1.5"),
        ({"sample_rate": -0.1}, r"sample_rate .* got -0.1"),
        ({"steps": -5}, r"steps .* got -5"),
        ({"accountant": "prv"}, r"accountant must be one of"),
        ({"rtol": 0.0}, r"rtol must be"),
    ],
)
def test_calibrate_bad_input_names_the_parameter(kwargs, match):
    args = {"target_epsilon": 1.0, "delta": DELTA, "sample_rate": 0.01, "steps": 100, **kwargs}
    with pytest.raises(ValueError, match=match):
        calibrate_noise_multiplier(**args)


def test_compute_delta_bad_epsilon():
    with pytest.raises(ValueError, match=r"epsilon must be a finite number >= 0; got -1"):
        compute_delta(-1, 0.01, 1.0, 100)


def test_check_delta_refuses_a_delta_too_weak_unless_allowed():
    with pytest.raises(ValueError, match=r"delta=0.001 >= 1/n_examples = 1/1000: .*too weak to mean anything"):
        check_delta(1e-3, 1_000)
    with pytest.warns(UserWarning, match=r"delta=0.001 >= 1/n_examples = 1/1000: .*too weak to mean anything"):
        check_delta(1e-3, 1_000, allow_large=True)
    with pytest.raises(ValueError, match="delta must be"):
        check_delta(1.0, 100, allow_large=True)  # never
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_delta(1e-5, 1_000)  # no warning
    with pytest.raises(ValueError, match="n_examples must be an integer >= 1; got 0"):
        check_delta(1e-5, 0)
    with pytest.raises(ValueError, match="delta must be"):
        check_delta(2.0, 100)


@pytest.mark.parametrize("neighboring", ["add-remove", "replace-one"])
def test_the_cached_one_step_pld_gives_exactly_what_a_fresh_pld_accountant_gives(neighboring):
    """ε and δ come from a cached one-step PLD (an epoch-by-epoch history builds it once); they
    must equal, bit for bit, a fresh dp_accounting accountant composing the same event, at every
    step count asked in any order (the cached object is never changed by a composition)."""
    from dpqml.privacy import accounting as acc_mod
    from dpqml.privacy.accounting import compute_delta, dp_sgd_event, make_accountant

    q, sigma, delta = 0.05, 1.3, 1e-5
    acc_mod._epsilon.cache_clear()
    acc_mod._one_step_pld.cache_clear()
    for steps in (40, 7, 40, 120, 1):
        fresh = make_accountant("pld", sample_rate=q, noise_multiplier=sigma, neighboring=neighboring)
        assert isinstance(fresh, PLDAccountant)
        fresh.compose(dp_sgd_event(q, sigma, steps))
        assert compute_epsilon(q, sigma, steps, delta, neighboring=neighboring) == max(0.0, fresh.get_epsilon(delta))
        assert compute_delta(1.0, q, sigma, steps, neighboring=neighboring) == min(1.0, fresh.get_delta(1.0))
        acc_mod._epsilon.cache_clear()  # the next call composes again from the cached step
    assert acc_mod._one_step_pld.cache_info().hits >= 4
