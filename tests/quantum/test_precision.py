"""Every matrix product a simulation emits carries ``precision=HIGHEST`` (full float32 on a GPU,
where XLA's default is TensorFloat-32; :mod:`dpqml.quantum.precision`), forward and backward, for
every method, the paper's model and its compiled bounds; products the caller writes around a
simulation keep the caller's precision, and the global setting is left alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dpqml.quantum as q
from dpqml.bounds.compiled import compiled_parameter_bound, compiled_tracked_bound
from dpqml.models import build_model
from dpqml.models.paper import PaperQuantumModel
from dpqml.quantum.heisenberg import heisenberg_operators
from dpqml.quantum.methods import REGISTRY, applicable

FULL = "precision = [HIGHEST, HIGHEST]"


def _products(fn, *args) -> list[str]:
    """The ``dot_general`` lines of ``fn``'s lowered program (StableHLO text)."""
    text = jax.jit(fn).lower(*args).as_text()
    return [line.strip() for line in text.splitlines() if "stablehlo.dot_general" in line]


def _assert_full(lines: list[str]) -> None:
    assert lines, "the program has no matrix product: this check would pass whatever the precision"
    loose = [line for line in lines if FULL not in line]
    assert not loose, f"{len(loose)} of {len(lines)} products at the default precision, e.g. {loose[0]}"


CIRCUITS = {
    "noiseless": dict(qubits=3, layers=2),
    "wide": dict(qubits=8, layers=1),
    "amplitude": dict(qubits=2, layers=2, encoding="amplitude"),
    "reuploading": dict(qubits=2, layers=2, ansatz="reuploading"),
    "noisy": dict(qubits=3, layers=2, noise="depolarizing"),
    "noisy-reuploading": dict(qubits=2, layers=2, ansatz="reuploading", noise="depolarizing"),
}
EXACT = [name for name, m in REGISTRY.items() if m.exact]


def _inputs(circuit, batch=4):
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params), jnp.float32)
    x = jnp.asarray(rng.uniform(0, 1, (batch, circuit.n_features)), jnp.float32)
    return theta, x


@pytest.mark.parametrize("method", EXACT)
def test_every_product_of_every_method_is_at_full_precision_forward_and_backward(method):
    lines = []
    for kw in CIRCUITS.values():
        circuit = build_model(**kw).circuit
        if method not in applicable(circuit):
            continue
        theta, x = _inputs(circuit)

        def out(t, xi, circuit=circuit):
            return jnp.sum(q.expectations(circuit, t, xi, method=method))

        lines += _products(jax.vmap(out, in_axes=(None, 0)), theta, x)
        lines += _products(jax.vmap(jax.grad(out), in_axes=(None, 0)), theta, x)
    _assert_full(lines)  # some programs apply every gate elementwise: no product in them at all


def test_trajectories_states_and_shots_are_at_full_precision():
    noisy = build_model(qubits=3, layers=2, noise="depolarizing").circuit
    clean = build_model(qubits=3, layers=2, encoding="amplitude").circuit
    theta, x = _inputs(noisy, batch=1)
    key = jax.random.PRNGKey(0)
    lines = _products(jax.grad(lambda t: jnp.sum(q.trajectory_expectations(noisy, t, x[0], key=key,
                                                                          trajectories=3))), theta)
    lines += _products(lambda t: q.density_matrix(noisy, t, x[0]), theta)
    lines += _products(lambda t: q.sample_expectations(noisy, t, x[0], shots=10, key=key), theta)
    ct, cx = _inputs(clean, batch=1)
    lines += _products(lambda t: q.statevector(clean, t, cx[0]), ct)
    _assert_full(lines)


def test_the_paper_model_and_its_compiled_bounds_are_at_full_precision():
    model = PaperQuantumModel()
    params = model.init(jax.random.PRNGKey(0))
    xs = jax.random.uniform(jax.random.PRNGKey(1), (4, model.n_features))
    ys = jnp.arange(4) % model.n_classes
    _assert_full(_products(lambda p: model.per_example_grads(p, xs, ys), params))
    _assert_full(_products(lambda p: model.apply_batch(p, xs), params))
    _assert_full(_products(compiled_parameter_bound(model), params["theta"]))
    init, step = compiled_tracked_bound(model)
    state = init(params["theta"])
    _assert_full(_products(init, params["theta"]))
    _assert_full(_products(step, params["theta"], state))


def test_the_parametric_bounds_operators_are_at_full_precision_in_forward_mode():
    # dpqml.bounds.parametric differentiates these with jax.jacfwd: the tangents' products too
    paper = PaperQuantumModel()
    theta = paper.init(jax.random.PRNGKey(0))["theta"]
    lines = _products(jax.jacfwd(lambda t: paper.observable_matrices({"theta": t})), theta)
    circuit = build_model(qubits=3, layers=2).circuit
    ct, _ = _inputs(circuit)
    lines += _products(jax.jacfwd(lambda t: heisenberg_operators(circuit, t)), ct)
    _assert_full(lines)


def test_the_callers_products_and_global_setting_are_left_alone():
    circuit = build_model(qubits=3, layers=2, readout="z").circuit
    theta, x = _inputs(circuit, batch=1)
    w = jnp.ones((2, len(circuit.observables)), jnp.float32)
    before = jax.config.jax_default_matmul_precision
    lines = _products(jax.grad(lambda t: jnp.sum(w @ q.expectations(circuit, t, x[0], method="heisenberg"))),
                      theta)
    assert jax.config.jax_default_matmul_precision == before
    mine = [line for line in lines if FULL not in line]
    assert mine and len(mine) < len(lines)  # the head's product (and its transpose) at the default
    assert all("precision = [DEFAULT, DEFAULT]" in line for line in mine)
