"""``expectations`` and friends under ``jax.jit``, ``jax.vmap`` and ``jax.grad``, and dtypes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.quantum import (
    Angle,
    Circuit,
    Operation,
    X,
    Y,
    Z,
    density_matrix,
    expectations,
    probabilities,
    statevector,
)

from .random_circuits import random_unitary

BATCH = 3


def small_circuit(noisy: bool = False) -> Circuit:
    """2 qubits (small: eager execution compiles every primitive once, and this suite runs on
    2-core machines); a trainable encoding, features, constants, a reused parameter, fused
    1-qubit chains, PauliRot, a controlled rotation, a fixed unitary; noise and readout."""
    ops = [
        Operation("RY", (0,), (Angle(feature=0),)),
        Operation("RX", (1,), (Angle(feature=1, feature_weight=0, weight=1, scale=0.7, offset=0.1),)),
        Operation("CNOT", (0, 1)),
        Operation("PauliRot", (0, 1), (Angle(weight=2),), pauli="XY"),
        Operation("CRZ", (1, 0), (Angle(weight=3),)),
        Operation("Rot", (0,), (Angle(weight=4), Angle(feature=0, scale=1.3), Angle(offset=-0.4))),
        Operation("Unitary", (1,), matrix=random_unitary(np.random.default_rng(0), 2)),
        Operation("RY", (1,), (Angle(weight=0),)),
    ]
    if noisy:
        ops.insert(3, Operation("Depolarizing", (1,), prob=0.1))
        ops.insert(6, Operation("AmplitudeDamping", (0,), prob=0.2))
        ops.append(Operation("ReadoutError", (0,), prob=0.05))
    observables = [Z(0), X(0) @ Y(1), 0.5 * Z(1) - 1.2 * Y(0)]
    return Circuit(2, ops, observables)


CIRCUITS = {"noiseless": small_circuit(), "noisy": small_circuit(noisy=True)}
#: (circuit, method) pairs: the default method of pure (adjoint) and noisy (backprop through the
#: density matrix) circuits. Pure-state backprop is compared with adjoint under jit(vmap(grad))
#: below, and per example against PennyLane in test_against_pennylane.
CONFIGS = [("noiseless", "adjoint"), ("noisy", "auto")]


def inputs(dtype=np.float64):
    rng = np.random.default_rng(42)
    theta = rng.uniform(-np.pi, np.pi, size=CIRCUITS["noiseless"].n_params)
    xs = rng.uniform(-1, 1, size=(BATCH, CIRCUITS["noiseless"].n_features))
    return jnp.asarray(theta, dtype), jnp.asarray(xs, dtype)


def loss_fn(circuit_name: str, method: str):
    circuit = CIRCUITS[circuit_name]
    w = np.array([0.3, -1.1, 0.8])  # weights of the scalar loss w . <O>

    def loss(theta, x):
        return jnp.dot(jnp.asarray(w, theta.dtype), expectations(circuit, theta, x, method=method))

    return loss


@functools.cache
def compiled(circuit_name: str, method: str):
    """``(single, batch)``: jitted value-and-gradient of one example, and its ``vmap`` over rows."""
    circuit = CIRCUITS[circuit_name]
    grad = jax.grad(loss_fn(circuit_name, method), argnums=(0, 1))

    def one(theta, x):
        return expectations(circuit, theta, x, method=method), grad(theta, x)

    return jax.jit(one), jax.jit(jax.vmap(one, in_axes=(None, 0)))


def jitted_batch(circuit_name: str, method: str):
    return compiled(circuit_name, method)[1]


def tiny_circuit(noisy: bool) -> Circuit:
    """For eager execution, which compiles every primitive on first use (seconds per gate kind on
    a small CPU): a trainable encoding, a CNOT, a PauliRot, a reused parameter; noise, readout."""
    ops = [
        Operation("RX", (0,), (Angle(feature=0, feature_weight=0, weight=1, scale=0.8),)),
        Operation("CNOT", (0, 1)),
        Operation("PauliRot", (0, 1), (Angle(weight=2),), pauli="ZY"),
        Operation("RY", (1,), (Angle(weight=0),)),
    ]
    if noisy:
        ops.insert(2, Operation("BitFlip", (1,), prob=0.1))
        ops.append(Operation("ReadoutError", (0,), prob=0.05))
    return Circuit(2, ops, [Z(0), X(0) @ Y(1)])


@pytest.mark.parametrize(("noisy", "method"), [(False, "adjoint"), (True, "auto")])
def test_jit_equals_eager(noisy, method):
    """Eager (op-by-op) against jit, for the default method of pure and noisy circuits."""
    circuit = tiny_circuit(noisy)
    w = jnp.array([0.3, -1.1])

    def loss(t, x):
        return w @ expectations(circuit, t, x, method=method)

    value_and_grad = jax.value_and_grad(loss, argnums=(0, 1))
    jitted = jax.jit(value_and_grad)
    theta = jnp.array([0.3, -0.8, 1.1])
    for x in (jnp.array([0.4]), jnp.array([-1.3])):
        value, (g_theta, g_x) = value_and_grad(theta, x)
        jit_value, (jit_g_theta, jit_g_x) = jitted(theta, x)
        np.testing.assert_allclose(jit_value, value, atol=1e-12, rtol=0)
        np.testing.assert_allclose(jit_g_theta, g_theta, atol=1e-12, rtol=0)
        np.testing.assert_allclose(jit_g_x, g_x, atol=1e-12, rtol=0)
        assert np.abs(g_theta).max() > 1e-3


@pytest.mark.parametrize(("circuit_name", "method"), CONFIGS)
def test_vmap_equals_python_loop_of_single_examples(circuit_name, method):
    circuit = CIRCUITS[circuit_name]
    theta, xs = inputs()
    single, batch = compiled(circuit_name, method)
    loop = [single(theta, x) for x in xs]  # one example per call
    loop_values = np.stack([v for v, _ in loop])
    values, (g_theta, g_x) = batch(theta, xs)
    assert values.shape == (BATCH, len(circuit.observables))
    assert g_theta.shape == (BATCH, circuit.n_params) and g_x.shape == xs.shape
    np.testing.assert_allclose(values, loop_values, atol=1e-10, rtol=0)
    np.testing.assert_allclose(g_theta, np.stack([g[0] for _, g in loop]), atol=1e-10, rtol=0)
    np.testing.assert_allclose(g_x, np.stack([g[1] for _, g in loop]), atol=1e-10, rtol=0)
    # the rows are different examples
    assert np.abs(loop_values[0] - loop_values[1]).max() > 1e-3
    assert np.abs(g_theta[0] - g_theta[1]).max() > 1e-3


def test_adjoint_and_backprop_agree_under_vmap_grad():
    theta, xs = inputs()
    _, (g_adj, gx_adj) = jitted_batch("noiseless", "adjoint")(theta, xs)
    _, (g_bp, gx_bp) = jitted_batch("noiseless", "backprop")(theta, xs)
    np.testing.assert_allclose(g_adj, g_bp, atol=1e-10, rtol=0)
    np.testing.assert_allclose(gx_adj, gx_bp, atol=1e-10, rtol=0)


@pytest.mark.parametrize(("circuit_name", "method"), CONFIGS)
def test_gradients_are_real_with_the_dtype_of_theta(circuit_name, method):
    theta, xs = inputs()
    for dtype in (jnp.float64, jnp.float32):
        _, (g_theta, g_x) = jitted_batch(circuit_name, method)(theta.astype(dtype), xs.astype(dtype))
        assert g_theta.dtype == dtype, (dtype, g_theta.dtype)
        assert g_x.dtype == dtype
        assert not jnp.iscomplexobj(g_theta)
        assert np.all(np.isfinite(g_theta))


@pytest.mark.parametrize(("circuit_name", "method"), CONFIGS)
def test_float32_matches_float64(circuit_name, method):
    theta, xs = inputs()
    v64, (g64, gx64) = jitted_batch(circuit_name, method)(theta, xs)
    v32, (g32, gx32) = jitted_batch(circuit_name, method)(theta.astype(jnp.float32), xs.astype(jnp.float32))
    assert v64.dtype == jnp.float64 and v32.dtype == jnp.float32
    np.testing.assert_allclose(v32, v64, atol=1e-5, rtol=0)
    np.testing.assert_allclose(g32, g64, atol=1e-5, rtol=0)
    np.testing.assert_allclose(gx32, gx64, atol=1e-5, rtol=0)
    # single precision really is single precision (not float64 computed and cast at the end)
    assert np.abs(np.asarray(v32, np.float64) - v64).max() > 1e-12


def test_output_dtypes_follow_theta():
    """dtypes and shapes of every entry point, traced (``jax.eval_shape``) without compiling."""
    circuit, noisy = CIRCUITS["noiseless"], CIRCUITS["noisy"]
    n_obs, dim = len(circuit.observables), 2**circuit.n_qubits
    for real, cplx in ((jnp.float32, jnp.complex64), (jnp.float64, jnp.complex128)):
        theta, xs = inputs(real)
        for method in ("adjoint", "backprop"):
            out = jax.eval_shape(functools.partial(expectations, circuit, method=method), theta, xs[0])
            assert (out.shape, out.dtype) == ((n_obs,), real)
        checks = [
            (expectations, noisy, (n_obs,), real),
            (statevector, circuit, (dim,), cplx),
            (probabilities, circuit, (dim,), real),
            (probabilities, noisy, (dim,), real),
            (density_matrix, noisy, (dim, dim), cplx),
        ]
        for fn, circ, shape, dtype in checks:
            out = jax.eval_shape(functools.partial(fn, circ), theta, xs[0])
            assert (out.shape, out.dtype) == (shape, dtype), (fn.__name__, out)


def test_jit_of_density_matrix_and_statevector_matches_eager():
    theta, x = jnp.array([0.3, -0.8, 1.1]), jnp.array([0.4])
    noisy, circuit = tiny_circuit(noisy=True), tiny_circuit(noisy=False)
    rho = density_matrix(noisy, theta, x)
    np.testing.assert_allclose(jax.jit(functools.partial(density_matrix, noisy))(theta, x), rho, atol=1e-12)
    psi = statevector(circuit, theta, x)
    np.testing.assert_allclose(jax.jit(functools.partial(statevector, circuit))(theta, x), psi, atol=1e-12)
    np.testing.assert_allclose(probabilities(circuit, theta, x), np.abs(psi) ** 2, atol=1e-12)
    np.testing.assert_allclose(probabilities(noisy, theta, x), np.real(np.diag(rho)), atol=1e-12)


def test_default_features_are_zero_and_integer_theta_is_promoted():
    ops = [Operation("RX", (0,), (Angle(weight=0, feature=0),)), Operation("CNOT", (0, 1))]
    circuit = Circuit(2, ops, [Z(1)])
    np.testing.assert_allclose(expectations(circuit, jnp.array([1.0])), [np.cos(1.0)], atol=1e-12)
    explicit = expectations(circuit, jnp.array([1.0]), jnp.zeros(1))
    np.testing.assert_allclose(explicit, [np.cos(1.0)], atol=1e-12)
    out = expectations(circuit, jnp.array([1]))  # integer theta: promoted to the default float
    assert jnp.issubdtype(out.dtype, jnp.floating)
    np.testing.assert_allclose(out, [np.cos(1.0)], atol=1e-12)
    grad = jax.grad(lambda t: expectations(circuit, t)[0])(jnp.array([1.0]))
    np.testing.assert_allclose(grad, [-np.sin(1.0)], atol=1e-12)
