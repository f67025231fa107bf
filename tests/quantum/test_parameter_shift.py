"""Gradients against the parameter-shift rule, computed from dpqml's own forward values.

When every trainable parameter ``theta_k`` enters exactly one gate ``exp(-i a P / 2)`` (RX, RY,
RZ, PauliRot) through an angle ``a = theta_k + c`` (``c`` a constant or a feature term), then for
any observable, with or without noise channels and readout errors,

    df/dtheta_k = [f(theta + pi/2 e_k) - f(theta - pi/2 e_k)] / 2,

and since both shifted values lie in ``[lambda_min, lambda_max]`` of the (effective) observable,
``|df/dtheta_k| <= (lambda_max - lambda_min) / 2``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dpqml.quantum import Angle, Circuit, Observable, Operation, Z, expectations

from .random_circuits import CHANNELS, eigen_range, random_gate, random_observables

SHIFT_GATES = ("RX", "RY", "RZ", "PauliRot")
#: Gates without trainable parameters between the trainable rotations (angles: constants/features).
OTHER_GATES = ("H", "S", "T", "X", "CNOT", "CZ", "SWAP", "Unitary", "Rot", "CRY")

N_FEATURES = 2
CASES = {
    "noiseless-4q": dict(seed=1, n_qubits=4, n_params=6, noisy=False),
    "noisy-readout-3q": dict(seed=2, n_qubits=3, n_params=5, noisy=True),
}


def shift_circuit(seed: int, n_qubits: int, n_params: int, noisy: bool) -> Circuit:
    """Each theta_k used once, by a Pauli rotation with angle ``theta_k + const`` or
    ``theta_k + s * x_j + const``; random fixed gates, channels and readout errors around them."""
    rng = np.random.default_rng(seed)

    def untrainable_angle():
        if rng.random() < 0.5:
            return Angle(offset=float(rng.uniform(-np.pi, np.pi)))
        return Angle(feature=int(rng.integers(N_FEATURES)), scale=float(rng.uniform(0.5, 2)))

    ops = []
    kinds = rng.permutation([SHIFT_GATES[i % len(SHIFT_GATES)] for i in range(n_params)])  # each kind
    for k, name in zip(rng.permutation(n_params), kinds, strict=True):
        for _ in range(int(rng.integers(1, 3))):
            ops.append(random_gate(rng, str(rng.choice(OTHER_GATES)), n_qubits, untrainable_angle))
        if rng.random() < 0.5:
            angle = Angle(weight=int(k), offset=float(rng.uniform(-np.pi, np.pi)))
        else:
            j = int(rng.integers(N_FEATURES))
            angle = Angle(weight=int(k), feature=j, scale=float(rng.uniform(0.5, 2)))
        if name == "PauliRot":
            size = int(rng.integers(1, min(3, n_qubits) + 1))
            wires = tuple(int(w) for w in rng.choice(n_qubits, size=size, replace=False))
            word = "".join(rng.choice(list("XYZ"), size=size))
            ops.append(Operation("PauliRot", wires, (angle,), pauli=word))
        else:
            ops.append(Operation(str(name), (int(rng.integers(n_qubits)),), (angle,)))
    if noisy:
        for ch in CHANNELS:
            op = Operation(ch, (int(rng.integers(n_qubits)),), prob=float(rng.uniform(0.02, 0.3)))
            ops.insert(int(rng.integers(len(ops) + 1)), op)
        ops.append(Operation("ReadoutError", (0,), prob=0.1))
        ops.append(Operation("ReadoutError", (n_qubits - 1,), prob=0.05))
    return Circuit(n_qubits, ops, random_observables(rng, n_qubits), n_params=n_params, n_features=N_FEATURES)


def effective_observable(circuit: Circuit, obs: Observable) -> Observable:
    """The observable actually measured: each Pauli term scaled by prod_w (1 - 2 p_w) (readout)."""
    ro = circuit.readout_errors

    def factor(p):
        return float(np.prod([1 - 2 * ro.get(w, 0.0) for w in p.wires]))

    return Observable(tuple((c * factor(p), p) for c, p in obs.terms))


@functools.cache
def case(name: str):
    """The circuit and one jitted function ``(theta, x) -> (parameter-shift, {method: Jacobian})``."""
    circuit = shift_circuit(**CASES[name])
    methods = ("auto",)  # the default: adjoint (pure) or backprop (noisy); they agree elsewhere
    p = circuit.n_params

    def bundle(theta, x):
        shifts = jnp.concatenate([theta + np.pi / 2 * jnp.eye(p), theta - np.pi / 2 * jnp.eye(p)])
        fs = jax.vmap(lambda t: expectations(circuit, t, x))(shifts)  # (2p, n_obs)
        shift_rule = 0.5 * (fs[:p] - fs[p:]).T  # (n_obs, p)
        jacs = {m: jax.jacobian(lambda t, m=m: expectations(circuit, t, x, method=m))(theta) for m in methods}
        return shift_rule, jacs

    half_ranges = np.array(
        [eigen_range(effective_observable(circuit, o), circuit.n_qubits) / 2 for o in circuit.observables]
    )
    return circuit, jax.jit(bundle), half_ranges


def test_shift_circuits_have_the_assumed_structure():
    for name in CASES:
        circuit = case(name)[0]
        uses = circuit.angle_uses()
        assert sorted(uses) == list(range(circuit.n_params))
        assert all(n == 1 for n in uses.values())
        for op in circuit.operations:
            if any(a.weights for a in op.angles):
                assert op.name in SHIFT_GATES
                (a,) = op.angles
                assert a.feature_weight is None and a.weight is not None
        assert set(SHIFT_GATES) <= set(circuit.count_ops())
        assert circuit.is_noisy == CASES[name]["noisy"]


@pytest.mark.parametrize("name", CASES)
def test_gradient_equals_parameter_shift_rule(name):
    circuit, fn, half_ranges = case(name)
    rng = np.random.default_rng(123)
    theta = rng.uniform(-np.pi, np.pi, size=circuit.n_params)
    x = rng.uniform(-1, 1, size=N_FEATURES)
    shift_rule, jacs = fn(theta, x)
    assert np.abs(shift_rule).max() > 1e-2  # not vacuous
    for method, jac in jacs.items():
        np.testing.assert_allclose(jac, shift_rule, atol=1e-10, err_msg=method)
        assert np.all(np.abs(jac) <= half_ranges[:, None] + 1e-10), method


@pytest.mark.parametrize("name", CASES)
@given(data=st.data())
def test_parameter_shift_and_gradient_bound_hold_everywhere(name, data):
    circuit, fn, half_ranges = case(name)
    theta = data.draw(arrays(np.float64, circuit.n_params, elements=st.floats(-4.0, 4.0)), label="theta")
    x = data.draw(arrays(np.float64, N_FEATURES, elements=st.floats(-2.0, 2.0)), label="x")
    shift_rule, jacs = fn(theta, x)
    for method, jac in jacs.items():
        np.testing.assert_allclose(jac, shift_rule, atol=1e-10, err_msg=method)
        assert np.all(np.abs(jac) <= half_ranges[:, None] + 1e-10), method


def test_shift_rule_detects_a_wrong_gradient():
    """Sanity check of the check itself: with theta_k entering twice the two-term rule fails."""
    ops = [Operation("RX", (0,), (Angle(weight=0),)), Operation("RY", (0,), (Angle(weight=0),))]
    circuit = Circuit(1, ops, [Z(0)])

    def grad_and_shift(theta):
        grad = jax.grad(lambda t: expectations(circuit, t)[0])(theta)
        plus, minus = expectations(circuit, theta + np.pi / 2), expectations(circuit, theta - np.pi / 2)
        shift = 0.5 * (plus[0] - minus[0])
        return grad[0], shift

    grad, shift = jax.jit(grad_and_shift)(jnp.array([0.7]))
    # f = cos(t)^2, so df/dt = -sin(2t); the one-use rule gives 0 instead
    np.testing.assert_allclose(grad, -np.sin(2 * 0.7), atol=1e-12)
    np.testing.assert_allclose(shift, 0.0, atol=1e-12)
