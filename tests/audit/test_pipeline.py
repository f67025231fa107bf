"""audit_pipeline against the trainer: device noise is not privacy, DP-SGD at ε = 1 stays at or below its
claim, and a broken implementation is caught. Small settings (1,000 canaries), fixed seeds."""

import math

import numpy as np
import pytest

import dpqml.train.trainer as trainer_module
from dpqml.audit import AuditResult, audit_pipeline, canaries_needed, required_canaries, runs_needed
from dpqml.models import ModelSpec, build_model
from dpqml.privacy import PrivacyConfig

M = 1000  # canaries: enough to certify ε ≈ 4.5 at 95% with a perfect attack, fast (~1 s a game)


@pytest.fixture(scope="module")
def nisq_model():
    return build_model(ModelSpec(noise="nisq"))


def test_the_noisy_model_without_dpsgd_noise_gives_away_every_canary(nisq_model):
    """White-box on the NISQ-noisy model itself (no extra coordinates): σ = 0, every coin recovered."""
    result = audit_pipeline(nisq_model, mechanism="device-noise", canaries=100, steps=8, seed=0)
    assert result.threat_model == "white-box-model" and result.details["score"] == "least-squares"
    assert math.isinf(result.epsilon_claimed) and result.noise_multiplier == 0.0
    assert result.auroc == 1.0 and result.details["correct"] == result.details["guesses"]
    assert result.epsilon_lower > 2.0  # about all that 100 canaries can show at 95%
    assert "NO GUARANTEE" in result.verdict


def test_the_same_model_under_dpsgd_at_epsilon_one_stays_below_one(nisq_model):
    result = audit_pipeline(nisq_model, mechanism="dpsgd", threat_model="white-box-model", canaries=60, steps=8,
                            seed=0)
    assert result.epsilon_claimed <= 1.0 and result.epsilon_lower <= 1.0 and not result.broken


def test_white_box_model_game_needs_enough_observations(nisq_model):
    with pytest.raises(ValueError, match=r"use steps >= 4"):
        audit_pipeline(nisq_model, mechanism="device-noise", canaries=60, steps=2)
    with pytest.raises(ValueError, match="sample_rate=1"):
        audit_pipeline(nisq_model, mechanism="device-noise", canaries=60, steps=8, sample_rate=0.5)


def test_without_dpsgd_noise_the_lower_bound_is_far_above_any_budget():
    result = audit_pipeline(mechanism="none", canaries=M, seed=0)
    assert math.isinf(result.epsilon_claimed) and result.noise_multiplier == 0.0
    # Every guess right: the bound is what 1000 canaries can show at all (δ = 0 bound is 4.78).
    assert result.details["correct"] == result.details["guesses"]
    assert result.epsilon_lower > 4.0
    assert result.auroc == 1.0 and result.tpr_at_fpr["0.001"] == 1.0
    assert not result.broken  # nothing is claimed, so nothing is broken ...
    assert "NO GUARANTEE" in result.verdict and "limited only by the number of canaries" in result.verdict
    assert "not by anything in the mechanism" in result.verdict
    assert result.to_dict()["epsilon_claimed"] is None


def test_dpsgd_at_epsilon_one_stays_at_or_below_its_claim():
    result = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=0)
    # The claim is the accountant's ε for the (σ, q, T, δ) the trainer got.
    claim = PrivacyConfig(result.noise_multiplier, 1.0, result.sample_rate, result.steps, 1e-5, 10).epsilon()
    assert result.epsilon_claimed == pytest.approx(claim) and result.epsilon_claimed <= 1.0
    assert 0.0 <= result.epsilon_lower <= 1.0
    assert 0.5 < result.auroc < 0.7  # some signal: the attack is real, the noise hides most of it
    assert not result.broken and result.verdict.startswith("consistent")


@pytest.mark.parametrize("seed", [0, 1])
def test_disabled_clipping_is_caught_as_a_broken_guarantee(seed):
    correct = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=seed)
    broken = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=seed, fault="no-clip")
    assert broken.epsilon_claimed == correct.epsilon_claimed  # the original claim is kept
    assert correct.epsilon_lower <= correct.epsilon_claimed
    assert broken.epsilon_lower > broken.epsilon_claimed
    assert broken.broken and broken.verdict.startswith("BROKEN GUARANTEE")


def test_a_bug_inside_the_trainer_is_caught(monkeypatch):
    """The game runs the trainer itself: a trainer whose clipping stage does nothing is caught."""

    def no_clip(grads, max_grad_norm, mask=None):
        import jax.numpy as jnp

        from dpqml.privacy import flatten_per_example

        _, stats = real_clip_and_sum(grads, max_grad_norm, mask)
        flat = flatten_per_example(grads)
        keep = jnp.ones(flat.shape[0]) if mask is None else jnp.asarray(mask, flat.dtype)
        return (flat * keep[:, None]).sum(axis=0), stats

    real_clip_and_sum = trainer_module.clip_and_sum
    monkeypatch.setattr(trainer_module, "clip_and_sum", no_clip)
    result = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=0)
    assert result.broken and result.epsilon_lower > 1.0


def test_halved_noise_raises_the_lower_bound():
    correct = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=0)
    halved = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=0, fault="half-noise")
    assert halved.epsilon_lower > correct.epsilon_lower + 0.2
    assert halved.noise_multiplier == correct.noise_multiplier  # reported σ is the claimed one


def test_multi_run_clopper_pearson_over_the_canaries_games():
    none = audit_pipeline(mechanism="none", canaries=M, seed=0, method="multi-run")
    dpsgd = audit_pipeline(mechanism="dpsgd", canaries=M, seed=0, method="multi-run")
    assert none.method == "multi-run" and none.details["selection"] == "split"
    assert none.details["fp"] == 0 and none.details["fn"] == 0 and none.epsilon_lower > 4.0
    assert dpsgd.epsilon_lower <= 1.0


def test_subsampled_run_uses_the_likelihood_ratio_and_stays_below_the_claim():
    result = audit_pipeline(mechanism="dpsgd", epsilon=1.0, canaries=M, seed=0, sample_rate=0.5, steps=4)
    assert result.sample_rate == 0.5 and result.epsilon_lower <= result.epsilon_claimed


def test_black_box_game_trains_the_users_noisy_model():
    model = build_model(ModelSpec(qubits=2, layers=1, noise="depolarizing:0.02"))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, (40, 2))
    data = (x, (x[:, 0] > x[:, 1]).astype(int))
    result = audit_pipeline(model, mechanism="device-noise", threat_model="black-box", canaries=20, steps=3,
                            sample_rate=1.0, data=data, seed=0)
    assert isinstance(result, AuditResult) and result.threat_model == "black-box"
    assert math.isinf(result.epsilon_claimed) and result.epsilon_lower >= 0.0
    assert 0.0 <= result.auroc <= 1.0 and result.details["score"] == "loss"
    assert "not evidence of privacy" in result.verdict


def test_same_seed_same_result():
    a = audit_pipeline(mechanism="dpsgd", canaries=200, seed=3)
    b = audit_pipeline(mechanism="dpsgd", canaries=200, seed=3)
    assert a.epsilon_lower == b.epsilon_lower and a.auroc == b.auroc


def test_required_canaries_match_the_estimators():
    assert required_canaries(1.0) == canaries_needed(1.0, confidence=1 - 0.05 / 6, delta=1e-5)
    assert required_canaries(1.0, method="multi-run") == runs_needed(1.0, delta=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"canaries": 5}, r"canaries=5 are too few.*canaries_needed = 16"),
    ({"canaries": 20, "method": "multi-run"}, r"canaries=20 are too few.*runs_needed = 46"),
    ({"canaries": 100, "epsilon": 4.0}, r"canaries_needed = \d+"),
    ({"confidence": 1.0}, r"confidence .*\(0, 1\)"),
    ({"confidence": 0.0}, r"confidence .*\(0, 1\)"),
    ({"epsilon": -1.0}, r"epsilon must be a finite number > 0"),
    ({"mechanism": "magic"}, r"mechanism must be one of"),
    ({"fault": "typo"}, r"fault must be one of"),
    ({"delta": 0.0}, r"delta must be > 0"),
    ({"sample_rate": 1.5}, r"sample_rate must be a number in \(0, 1\]"),
    ({"threat_model": "black-box"}, r"pass model="),
    ({"mechanism": "device-noise"}, r"'white-box-model' trains the model: pass model="),
    ({"mechanism": "device-noise", "model": build_model(ModelSpec())}, r"device-noise preset"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        audit_pipeline(**{"canaries": M, **kwargs})


def test_shots_mechanism_has_no_guarantee():
    result = audit_pipeline(mechanism="shots", threat_model="white-box", canaries=M, seed=0)
    assert math.isinf(result.epsilon_claimed) and result.epsilon_lower > 4.0
    with pytest.raises(ValueError, match="shots must be an integer >= 1"):
        audit_pipeline(mechanism="shots", threat_model="white-box", canaries=M, shots=0)


def test_coins_are_fair_and_fixed_before_training():
    r = audit_pipeline(mechanism="none", canaries=M, seed=0)
    assert abs(r.details["included"] - M / 2) < 4 * np.sqrt(M / 4)


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    """The q < 1 white-box game reads step t's update as θ_{t-1} − θ_t from runs of t−1 and t steps with one
    noise seed: valid only if the trainer's reproducible sampling and noise are pure functions of
    (noise_seed, step). With σ = 0 and Dirac canaries every such difference is 0 or exactly one clipped
    canary gradient (C/(qN))."""
    import jax.numpy as jnp

    from dpqml.train import FunctionModel, TrainConfig, train

    m = 50
    x = np.eye(m, dtype=np.float32) * 4.0  # gradient 4C, clipped to C = 1
    model = FunctionModel(loss_fn=lambda p, xi, yi: jnp.dot(p, xi), params=jnp.zeros(m, jnp.float32), input_dim=m)
    config = TrainConfig(learning_rate=1.0, optimizer="sgd", seed=7, noise_seed=7)  # reproducible: replayed
    thetas = [np.zeros(m)] + [np.asarray(train(model, x, np.zeros(m, int), PrivacyConfig(0.0, 1.0, 0.3, t, 1e-5, m),
                                               config).params, np.float64) for t in (1, 2, 3, 4)]
    steps = -np.diff(np.stack(thetas), axis=0) * (0.3 * m)  # in units of C
    assert np.allclose(steps * (1 - steps), 0.0, atol=1e-5)  # each entry 0 or 1: a prefix, step by step
    assert 0 < steps.sum() < steps.size


def test_check_audit_memory_sizes_the_game_that_audit_pipeline_plays():
    from dpqml.audit.pipeline import check_audit_memory

    wide = build_model(ModelSpec(qubits=40, layers=1, noise="depolarizing:0.01"))
    # device-noise: the model game trains on up to its 500 default canaries, physical batches of 256
    with pytest.raises(MemoryError, match=r"40 qubits \(density matrices\) for a batch of 256 .*GiB"):
        check_audit_memory(wide, mechanism="device-noise")
    with pytest.raises(MemoryError, match=r"for a batch of 16 .*GiB"):
        check_audit_memory(wide, mechanism="device-noise", canaries=10)
    check_audit_memory(wide, mechanism="dpsgd")  # white-box: the adversary's gradients, no circuit
    check_audit_memory(build_model(ModelSpec(qubits=2, layers=1, noise="depolarizing:0.01")), mechanism="device-noise")
