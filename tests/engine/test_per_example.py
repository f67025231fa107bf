"""Per-example gradients: every method equals a per-example loop to 1e-10 (double precision)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.engine import flatten_per_example, make_per_example_grads, per_example_grads, validate_batch
from dpqml.models import build_model


def _reference(model, params, x, y):
    """Independent reference: one jax.value_and_grad call per example, no vmap; the losses and
    the flat gradients."""
    value_and_grad = jax.jit(jax.value_and_grad(model.loss))
    losses, rows = [], []
    for xi, yi in zip(x, y):
        loss, g = value_and_grad(params, jnp.asarray(xi), jnp.asarray(yi))
        losses.append(float(loss))
        rows.append(np.concatenate([np.ravel(v) for v in jax.tree_util.tree_leaves(g)]))
    return np.array(losses), np.stack(rows)


MODELS = [
    {"qubits": 3, "layers": 2},
    {"qubits": 3, "layers": 2, "pre": (4,), "input_dim": 5, "post": (3,), "readout": "z"},
    {"qubits": 3, "layers": 1, "n_classes": 3},
    {"qubits": 2, "layers": 2, "noise": "depolarizing+readout"},
]


@functools.cache
def _case(i):
    """Model, parameters, batch and the loop reference of ``MODELS[i]``: computed (and compiled)
    once, shared by the tests of both methods."""
    m = build_model(**MODELS[i])
    params = m.init(jax.random.PRNGKey(1), jnp.float64)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, (4, m.input_dim))
    y = rng.integers(0, m.n_classes, 4)
    return m, params, x, y, _reference(m, params, x, y)


@pytest.mark.parametrize("i", range(len(MODELS)), ids=[f"kw{i}" for i in range(len(MODELS))])
@pytest.mark.parametrize("method", ["vmap", "expand"])
def test_per_example_grads_equal_a_loop(i, method):
    m, params, x, y, (ref_losses, ref_grads) = _case(i)
    losses, grads = per_example_grads(m.loss, params, x, y, method=method)
    flat = np.asarray(flatten_per_example(grads))
    assert flat.shape == (4, m.n_params(params))
    np.testing.assert_allclose(flat, ref_grads, atol=1e-10, rtol=0)
    np.testing.assert_allclose(losses, ref_losses, atol=1e-12)


def test_gradients_differ_between_examples():
    """Per-example, not batch-summed: rows differ when inputs differ."""
    m = build_model(qubits=3, layers=2)
    params = m.init(jax.random.PRNGKey(0), jnp.float64)
    x = np.array([[0.1, 0.2, 0.3], [2.0, 1.0, 0.5]])
    _, g = per_example_grads(m.loss, params, x, np.array([0, 1]))
    flat = np.asarray(flatten_per_example(g))
    assert np.abs(flat[0] - flat[1]).max() > 1e-3


def test_loop_method_and_bad_method():
    m = build_model(qubits=2, layers=1)
    params = m.init(jax.random.PRNGKey(0), jnp.float64)
    x = np.zeros((2, 2))
    y = np.array([0, 1])
    l1, g1 = make_per_example_grads(m.loss, "loop")(params, x, y)
    l2, g2 = make_per_example_grads(m.loss, "vmap")(params, x, y)
    np.testing.assert_allclose(flatten_per_example(g1), flatten_per_example(g2), atol=1e-12)
    with pytest.raises(ValueError, match="method must be one of"):
        make_per_example_grads(m.loss, "magic")


def test_float32_per_example_grads_are_float32():
    m = build_model(qubits=3, layers=1)
    params = m.init(jax.random.PRNGKey(0), jnp.float32)
    x = np.ones((4, 3), np.float32)
    _, g = per_example_grads(m.loss, params, x, np.ones(4, np.float32))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(g))


def test_validate_batch_rejects_bad_features():
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        validate_batch(np.zeros((4, 2)), n_features=3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        validate_batch(np.array([[0.0, np.nan, 1.0]]), n_features=3)
    with pytest.raises(ValueError, match="labels must have shape"):
        validate_batch(np.zeros((4, 3)), np.zeros(3), n_features=3)


def test_per_example_grads_compiles_once_per_loss_in_a_loop():
    # Tracing runs the Python body; a loop of calls with the same loss must trace it once.
    traces = []

    class Model:
        def loss(self, params, x, y):
            traces.append(1)
            return jnp.sum((params["w"] * x - y) ** 2)

    model = Model()
    params = {"w": jnp.ones(3)}
    x, y = jnp.ones((4, 3)), jnp.zeros(4)
    first = per_example_grads(model.loss, params, x, y)
    for _ in range(3):
        again = per_example_grads(model.loss, params, x, y)
    np.testing.assert_allclose(first[1]["w"], again[1]["w"])
    assert len(traces) == 1
    per_example_grads(Model().loss, params, x, y)  # another model: its own compilation
    assert len(traces) == 2
