"""The tracked sum-of-squares G(θ) of the paper's model (compiled_tracked_bound): its search carried
from step to step. Sound whatever the state (certified above the exact eigenvalue at the state's
matrix), above what ascent over the inputs finds, below the pairings' bound, near parameter_bound's
sos relaxation, and the same batched as one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds import compiled as C
from dpqml.bounds.parametric import _null, _null_maps, parameter_bound
from dpqml.models.paper import PaperQuantumModel

MODEL = PaperQuantumModel()


@pytest.fixture(scope="module")
def tracked():
    init, step = C.compiled_tracked_bound(MODEL, dtype=jnp.float32)
    return jax.jit(init), jax.jit(step)


@pytest.fixture(scope="module")
def pairings():
    return jax.jit(C.compiled_parameter_bound(MODEL, dtype=jnp.float32))


def _theta(seed):
    return MODEL.init(jax.random.PRNGKey(seed), dtype=jnp.float32)["theta"]


def test_at_the_first_parameters_it_is_the_sos_relaxation_below_the_pairings(tracked, pairings):
    init, step = tracked
    theta = _theta(0)
    g, fallbacks, _ = step(theta, init(theta))
    ref = parameter_bound(MODEL, MODEL.init(jax.random.PRNGKey(0), dtype=jnp.float64), relaxation="sos").total
    assert int(fallbacks) == 0
    assert float(g) <= 0.9 * float(pairings(theta)[0])  # 4.56 against 5.24
    assert float(g) == pytest.approx(ref, rel=0.02)  # two searches of the same relaxation


def test_along_a_walk_it_follows_the_parameters_and_stays_below_the_pairings(tracked, pairings):
    init, step = tracked
    rng = np.random.default_rng(0)
    theta = _theta(1)
    state = init(theta)
    for _ in range(30):
        theta = theta + jnp.asarray(rng.normal(size=theta.shape), jnp.float32) * 5e-3
        g, fallbacks, state = step(theta, state)
        assert int(fallbacks) == 0 and float(g) <= 0.92 * float(pairings(theta)[0])
    from dpqml.bounds.search import largest_gradient_norm_at

    params = {"theta": theta.astype(jnp.float64)}
    found = largest_gradient_norm_at(MODEL, params, seed=0)
    assert 0.6 * float(g) <= found <= float(g)  # sound, and not loose


def test_any_state_gives_a_certified_bound_above_the_exact_eigenvalue(tracked):
    """The state is searched, never trusted: a random one gives a larger but still sound bound."""
    init, step = tracked
    theta = _theta(2)
    y, opt_state, scale = init(theta)
    wild = jnp.asarray(np.random.default_rng(1).normal(size=y.shape), jnp.float32) * 0.05
    g, fallbacks, _ = step(theta, (wild, opt_state, scale))
    m1 = np.asarray(C._pairing_bases(MODEL, jnp.float64)(theta.astype(jnp.float64))[0])
    exact = np.linalg.eigvalsh(m1 + float(scale) * _null(np.asarray(wild, np.float64), _null_maps(16)))[:, -1]
    assert int(fallbacks) == 0
    assert float(g) >= np.sqrt(exact.max())
    assert float(g) > float(step(theta, init(theta))[0])  # the searched state is better


def test_batched_runs_give_each_runs_own_bound(tracked):
    init, step = tracked
    thetas = jnp.stack([_theta(s) for s in (0, 5)])
    states = jax.jit(jax.vmap(C.compiled_tracked_bound(MODEL)[0]))(thetas)
    batched = jax.jit(jax.vmap(C.compiled_tracked_bound(MODEL)[1]))(thetas, states)[0]
    one = [float(step(t, init(t))[0]) for t in thetas]
    np.testing.assert_allclose(np.asarray(batched), one, rtol=1e-5)


def test_other_models_are_refused_in_words():
    from dpqml.models import build_model

    with pytest.raises(ValueError, match="compiled_tracked_bound covers the paper's PaperQuantumModel"):
        C.compiled_tracked_bound(build_model(qubits=2, layers=1))
