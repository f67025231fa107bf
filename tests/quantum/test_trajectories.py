"""The trajectories method: sampled state vectors whose average (and its gradient) is unbiased for
the exact noisy expectation values, with the variance the module states."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dpqml.quantum as q
from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Y, Z, core, gates
from dpqml.quantum import trajectories as T
from dpqml.quantum.methods import REGISTRY, applicable, auto_method

from .random_circuits import CHANNELS
from .test_against_pennylane import ATOL, pl_expvals, pl_value_and_jacobians, single_channel_circuit


def _random_density_matrix(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("channel", gates.CHANNELS)
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_unravelling_reproduces_the_channel(channel, p):
    qs, ops = T.unravelling(channel, p)
    assert np.all(qs >= 0) and np.isclose(qs.sum(), 1.0)
    rho = _random_density_matrix(1)
    expected = sum(k @ rho @ k.conj().T for k in gates.kraus_operators(channel, p))
    drawn = sum(qi * o @ rho @ o.conj().T for qi, o in zip(qs, ops))
    np.testing.assert_allclose(drawn, expected, atol=1e-12)
    b = T.channel_bound(channel, p)
    if channel == "AmplitudeDamping":
        assert b == pytest.approx(1.0 + p)
    else:  # mixed-unitary forms: every drawn operator is unitary
        assert b == pytest.approx(1.0)
        for o, qi in zip(ops, qs):
            if qi > 0:
                np.testing.assert_allclose(o @ o.conj().T, np.eye(2), atol=1e-12)


def _every_draw_average(circuit, theta, x):
    """``E[estimate]`` by enumerating every combination of draws, weighted by its probability."""
    _, logq, ops = T._tables(circuit)
    qs = np.exp(logq)
    choices = np.array(list(itertools.product(*(np.flatnonzero(qc > 0) for qc in qs))))  # (combos, channels)
    rows = np.arange(len(ops))
    weights = jnp.asarray(np.prod(qs[rows, choices], axis=1))
    kraus = jnp.asarray(ops[rows, choices])  # every combination's drawn operators, evaluated at once

    def estimate(k):
        return core.combine(circuit, T.term_values_given(circuit, theta, x, k))

    return jnp.tensordot(weights, jax.vmap(estimate)(kraus), axes=1)


def _mixed_channels_circuit():
    ops = [
        Operation("RY", (0,), (Angle(feature=0),)),
        Operation("RX", (1,), (Angle(feature=1, scale=0.7),)),
        Operation("Rot", (0,), (Angle(weight=0), Angle(weight=1), Angle(weight=2))),
        Operation("AmplitudeDamping", (0,), prob=0.25),
        Operation("CNOT", (0, 1)),
        Operation("PhaseDamping", (1,), prob=0.4),
        Operation("RY", (1,), (Angle(weight=3),)),
        Operation("Depolarizing", (0,), prob=0.2),
        Operation("CRZ", (1, 0), (Angle(weight=4),)),
        Operation("AmplitudeDamping", (1,), prob=0.1),
        Operation("ReadoutError", (1,), prob=0.05),
    ]
    return Circuit(2, ops, [Z(0), 0.5 * X(0) @ Y(1) - Z(1), Y(1)])


def test_the_average_over_every_draw_and_its_gradient_are_the_exact_values():
    circuit = _mixed_channels_circuit()
    theta = jnp.asarray([0.4, -1.3, 2.2, 0.9, -0.6])
    x = jnp.asarray([0.3, -0.8])

    def exact(t, xx):
        return q.expectations(circuit, t, xx, method="backprop")

    def average(t, xx):
        return _every_draw_average(circuit, t, xx)

    np.testing.assert_allclose(jax.jit(average)(theta, x), exact(theta, x), atol=1e-12)
    for arg in (0, 1):  # unbiased gradients in the parameters and in the features
        ours = jax.jit(jax.jacobian(average, argnums=arg))(theta, x)
        ref = jax.jacobian(exact, argnums=arg)(theta, x)
        assert np.abs(ref).max() > 1e-2
        np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_average_over_every_draw_matches_pennylane_default_mixed(channel):
    # every channel in an entangling circuit, as tests/quantum/test_against_pennylane.py checks the
    # exact methods: value and Jacobian of the expected estimate against PennyLane's density matrix
    circuit = single_channel_circuit(channel)
    theta = np.array([0.4, -1.1, 0.8])
    value, j_theta, _ = pl_value_and_jacobians(pl_expvals(circuit, "default.mixed"), theta, [])
    x = jnp.zeros((0,))
    def average(t):
        return _every_draw_average(circuit, t, x)

    ours = jax.jit(average)(jnp.asarray(theta))
    jac = jax.jit(jax.jacobian(average))(jnp.asarray(theta))
    np.testing.assert_allclose(ours, value, atol=ATOL)
    np.testing.assert_allclose(jac, j_theta, atol=ATOL)


def test_the_sampled_mean_lies_within_the_stated_variance():
    circuit = build_model(qubits=3, layers=2, noise="nisq:t1=20,t2=15,p1=0.02,p2=0.05").circuit
    rng = np.random.default_rng(3)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params))
    x = jnp.asarray(rng.uniform(-1, 1, circuit.n_features))
    exact = q.expectations(circuit, theta, x, method="backprop")
    m = 3000
    mean, stderr = q.trajectory_expectations(circuit, theta, x, key=jax.random.PRNGKey(7), trajectories=m,
                                             return_stderr=True)
    bound = q.trajectory_bound(circuit)
    assert 1.0 < bound < 3.0  # amplitude damping grows trajectories a little; dephasing and depolarizing not
    assert np.all(stderr > 0) and np.all(stderr <= bound / np.sqrt(m) + 1e-12)
    assert np.all(np.abs(mean - exact) <= 5 * stderr)
    # another key, another estimate; the same key, the same estimate
    again = q.trajectory_expectations(circuit, theta, x, key=jax.random.PRNGKey(7), trajectories=m)
    other = q.trajectory_expectations(circuit, theta, x, key=jax.random.PRNGKey(8), trajectories=m)
    np.testing.assert_array_equal(again, mean)
    assert not np.allclose(other, mean, atol=1e-9)


def test_pauli_noise_trajectories_stay_normalised():
    circuit = build_model(qubits=3, layers=2, noise="depolarizing:0.2").circuit
    assert q.trajectory_bound(circuit) == 1.0
    theta = jnp.asarray(np.random.default_rng(0).uniform(0, 6, circuit.n_params))
    values = jax.vmap(lambda k: T.term_values(circuit, theta, jnp.full((3,), 0.4), k))(
        jax.random.split(jax.random.PRNGKey(0), 64))
    assert np.all(np.abs(values) <= 1 + 1e-9)
    assert len(np.unique(np.round(np.asarray(values), 9))) > 1  # the draws differ


def test_single_precision_batches_and_gradients_compose_with_jit_and_vmap():
    model = build_model(qubits=3, layers=2, noise="amplitude-damping:0.05")
    circuit = model.circuit
    theta = jnp.asarray(np.random.default_rng(0).uniform(0, 6, circuit.n_params), jnp.float32)
    xs = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (5, 3)), jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(0), 5)

    def f(t, x, k):
        return q.trajectory_expectations(circuit, t, x, key=k, trajectories=200)[0]

    grads = jax.jit(jax.vmap(jax.grad(f), (None, 0, 0)))(theta, xs, keys)
    assert grads.dtype == jnp.float32 and grads.shape == (5, circuit.n_params)
    exact = jax.vmap(jax.grad(lambda t, x: q.expectations(circuit, t, x, method="backprop")[0]), (None, 0))(theta, xs)
    bound = q.trajectory_bound(circuit)
    # each gradient entry is a mean of 200 bounded terms (|d<Z>/d angle| <= bound by the shift rule)
    assert np.abs(grads - exact).max() <= 6 * bound / np.sqrt(200)


def test_the_registry_lists_it_as_an_estimator_auto_never_picks():
    noisy = build_model(qubits=3, layers=2, noise="depolarizing").circuit
    clean = build_model(qubits=3, layers=2).circuit
    assert not REGISTRY["trajectories"].exact
    assert "trajectories" not in applicable(noisy) and "trajectories" in applicable(noisy, estimators=True)
    assert auto_method(noisy) != "trajectories"
    with pytest.raises(ValueError, match="estimates <O> from sampled state vectors.*trajectory_expectations"):
        q.expectations(noisy, jnp.zeros(noisy.n_params), method="trajectories")
    with pytest.raises(ValueError, match="method='trajectories' needs noise channels"):
        q.trajectory_expectations(clean, jnp.zeros(clean.n_params), key=jax.random.PRNGKey(0), trajectories=4)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_bad_trajectory_counts_are_refused_by_name(bad):
    circuit = build_model(qubits=2, layers=1, noise="depolarizing").circuit
    with pytest.raises(ValueError, match="trajectories must be an integer >= 1"):
        q.trajectory_expectations(circuit, jnp.zeros(circuit.n_params), key=jax.random.PRNGKey(0),
                                  trajectories=bad)


def test_the_memory_check_offers_trajectories_where_no_exact_method_fits():
    circuit = build_model(qubits=14, layers=2, noise="depolarizing").circuit
    need = q.estimate_memory_bytes(circuit, 8, method="trajectories")
    with pytest.raises(MemoryError, match="method .trajectories. would fit this batch .*Monte Carlo estimate"):
        q.check_memory(circuit, 8, limit_bytes=need + 1)
