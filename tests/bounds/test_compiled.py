"""The compiled G(θ) of the paper's model: never below parameter_bound's eigenvalue bound (itself
checked against ascent over the inputs), within a few per cent of it, above every gradient norm
on random inputs, certified (a wrong eigenvalue estimate falls back to the data-free bound, never
to a smaller value), the same batched as one by one, and refused for other models in words."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds import compiled as C
from dpqml.bounds.parametric import parameter_bound
from dpqml.models import build_model
from dpqml.models.paper import PaperQuantumModel

MODEL = PaperQuantumModel()


@pytest.fixture(scope="module")
def bound64():
    return jax.jit(C.compiled_parameter_bound(MODEL, dtype=jnp.float64))


@pytest.mark.parametrize("seed", [0, 3])
def test_at_least_the_eigenvalue_bound_and_within_two_percent(bound64, seed):
    params = MODEL.init(jax.random.PRNGKey(seed), dtype=jnp.float64)
    ref = parameter_bound(MODEL, params).total  # searched weights, full eigenvalue decompositions
    g, fallbacks = bound64(params["theta"])
    assert int(fallbacks) == 0
    assert ref * (1 - 1e-9) <= float(g) <= 1.02 * ref


def test_single_precision_stays_above_the_double_precision_bound():
    f32 = jax.jit(C.compiled_parameter_bound(MODEL, dtype=jnp.float32))
    for seed in (1, 2):
        params = MODEL.init(jax.random.PRNGKey(seed), dtype=jnp.float64)
        ref = parameter_bound(MODEL, params).total
        g = float(f32(params["theta"].astype(jnp.float32))[0])
        assert ref <= g <= 1.03 * ref


def test_no_random_input_or_label_exceeds_it(bound64):
    params = MODEL.init(jax.random.PRNGKey(5), dtype=jnp.float64)
    g = float(bound64(params["theta"])[0])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, MODEL.n_features))
    grad = jax.vmap(jax.grad(lambda p, xi, yi: MODEL.loss(p, xi, yi)), in_axes=(None, 0, 0))
    norms = [np.linalg.norm(np.asarray(grad(params, jnp.asarray(x), jnp.full(256, y))["theta"]), axis=1).max()
             for y in range(MODEL.n_classes)]
    assert max(norms) <= g
    assert max(norms) >= 0.2 * g  # random inputs reach a good part of it (ascent finds about 0.7)


def test_the_certificate_never_takes_an_estimate_below_the_top_eigenvalue():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 40, 40))
    m = jnp.asarray(m + np.swapaxes(m, 1, 2))
    top = np.linalg.eigvalsh(np.asarray(m))[:, -1]
    good, ok = C._certified_top(m, jnp.asarray(top))
    assert np.all(np.asarray(ok)) and np.all(np.asarray(good) >= top)
    assert np.all(np.asarray(good) <= top + 1e-3 * np.abs(top) + 1e-6)
    low, ok_low = C._certified_top(m, jnp.asarray(0.8 * top - 1.0))  # estimates far below: none certifies
    assert not np.any(np.asarray(ok_low)) and np.all(np.isinf(np.asarray(low)))


def test_an_uncertified_vertex_takes_the_data_free_bound(monkeypatch):
    monkeypatch.setattr(C, "_best_mixture", lambda m1, m2: (m1, jnp.full(m1.shape[:1], -1.0, m1.dtype)))
    g, fallbacks = jax.jit(C.compiled_parameter_bound(MODEL, dtype=jnp.float64))(
        MODEL.init(jax.random.PRNGKey(0), dtype=jnp.float64)["theta"])
    assert int(fallbacks) > 0
    assert float(g) == pytest.approx(MODEL.gradient_bound(), rel=1e-12)


def test_batched_runs_give_each_runs_own_bound(bound64):
    thetas = jnp.stack([MODEL.init(jax.random.PRNGKey(s), dtype=jnp.float64)["theta"] for s in range(3)])
    batched = jax.jit(jax.vmap(C.compiled_parameter_bound(MODEL, dtype=jnp.float64)))(thetas)[0]
    one_by_one = [float(bound64(t)[0]) for t in thetas]
    np.testing.assert_allclose(np.asarray(batched), one_by_one, rtol=1e-12)
    assert len(set(np.round(one_by_one, 6))) == 3


def test_other_models_are_refused_in_words():
    with pytest.raises(ValueError, match="PaperQuantumModel.*parameter_bound"):
        C.compiled_parameter_bound(build_model(qubits=2, layers=1))
