"""train_runs with max_grad_norm="bound": each step clips at C_t = G(θ_t) from the compiled bound of
the current parameters (never the data), adds noise σ·C_t, and never clips a gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds.compiled import compiled_parameter_bound, compiled_tracked_bound
from dpqml.models.classical import MLP
from dpqml.models.paper import PaperQuantumModel
from dpqml.train.vectorized import RunSettings, train_runs

MODEL = PaperQuantumModel()
G = jax.jit(compiled_parameter_bound(MODEL, dtype=jnp.float32))
TRACK_INIT, TRACK_STEP = (jax.jit(f) for f in compiled_tracked_bound(MODEL, dtype=jnp.float32))
RELAXATIONS = ("sos", "pairings")


def _thresholds(relaxation, thetas):
    """C_t along the parameters ``thetas`` (θ_0, θ_1, ...), as the trainer computes it."""
    if relaxation == "pairings":
        return [float(G(t)[0]) for t in thetas]
    state, out = TRACK_INIT(thetas[0]), []
    for t in thetas:
        c, _, state = TRACK_STEP(t, state)
        out.append(float(c))
    return out


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 16)).astype(np.float32), rng.integers(0, 4, n).astype(np.int32)


def _train(x, y, c, epochs=1, noise_seed=7, sigma=1.0, relaxation="sos"):
    # B = N: every example joins every step (one step per epoch); no momentum, so θ1 = θ0 - lr g
    return train_runs(MODEL, [RunSettings(c, sigma, 0.05, seed=3, noise_seed=noise_seed)], x, y, batch_size=len(x),
                      epochs=epochs, delta=1e-5, momentum=0.0, randomness="seeded", bound_relaxation=relaxation)


@pytest.mark.parametrize("relaxation", RELAXATIONS)
def test_the_noise_is_sigma_times_the_bound_of_the_current_parameters(relaxation):
    x = np.zeros((32, 16), np.float32)  # no state to encode: every gradient is zero, the step is the noise
    y = np.zeros(32, np.int32)
    theta0 = MODEL.init(jax.random.PRNGKey(3))["theta"]
    c0 = _thresholds(relaxation, [theta0])[0]
    follow = _train(x, y, "bound", relaxation=relaxation)
    fixed = _train(x, y, c0)  # the same noise draw at the constant C = G(θ_0)
    np.testing.assert_allclose(follow.params, fixed.params, rtol=1e-6, atol=1e-7)
    assert not np.allclose(follow.params[0], np.asarray(theta0))  # the noise moved it
    assert follow.diagnostics["clip_threshold_mean"][0, 0] == pytest.approx(c0, rel=1e-6)


def test_the_tracked_relaxation_clips_lower_than_the_pairings():
    x, y = _data()
    sos = _train(x, y, "bound", epochs=2)
    pairs = _train(x, y, "bound", epochs=2, relaxation="pairings")
    assert np.all(sos.diagnostics["clip_threshold_max"] < 0.92 * pairs.diagnostics["clip_threshold_mean"])
    assert np.all(sos.diagnostics["clipped_fraction"] == 0.0)
    with pytest.raises(ValueError, match="bound_relaxation must be one of"):
        _train(x, y, "bound", relaxation="exact")


@pytest.mark.parametrize("relaxation", RELAXATIONS)
def test_the_threshold_is_the_bound_of_each_steps_parameters_and_never_of_the_data(relaxation):
    x, y = _data()
    x2, y2 = _data(seed=1)
    one = _train(x, y, "bound", epochs=1, relaxation=relaxation)
    two = _train(x, y, "bound", epochs=2, relaxation=relaxation)
    other = _train(x2, y2, "bound", epochs=1, relaxation=relaxation)
    theta0 = MODEL.init(jax.random.PRNGKey(3))["theta"]
    c1 = _thresholds(relaxation, [theta0, jnp.asarray(one.params[0])])[1]  # at θ_1, after the first step
    assert two.diagnostics["clip_threshold_mean"][0, 1] == pytest.approx(c1, rel=1e-5)
    # the first step's threshold is G(θ_0), whatever the data
    assert other.diagnostics["clip_threshold_mean"][0, 0] == one.diagnostics["clip_threshold_mean"][0, 0]
    assert np.all(two.diagnostics["clipped_fraction"] == 0.0)  # C_t bounds every gradient: nothing is clipped
    assert np.all(two.diagnostics["max_grad_norm_observed"] < two.diagnostics["clip_threshold_max"])
    assert np.isfinite(two.epsilon[0]) and two.steps_spent == [2]


def test_mixed_or_unsupported_runs_are_refused_in_words():
    x, y = _data()
    with pytest.raises(ValueError, match="every run has max_grad_norm='bound' or none"):
        train_runs(MODEL, [RunSettings("bound", 1.0, 0.1, 0), RunSettings(1.0, 1.0, 0.1, 1)], x, y, batch_size=8,
                   epochs=1, delta=1e-5)
    with pytest.raises(ValueError, match="max_grad_norm='bound'.*PaperQuantumModel"):
        train_runs(MLP(input_dim=16, hidden=(4,), n_classes=4), [RunSettings("bound", 1.0, 0.1, 0)], x, y,
                   batch_size=8, epochs=1, delta=1e-5)
