"""Angles that multiply two features (IQP embeddings): every method, the shift rule and the bounds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds import circuit_bound
from dpqml.engine import parameter_shift_jacobian
from dpqml.models import apply_noise
from dpqml.quantum import Angle, Circuit, Operation, X, Z, expectations
from dpqml.quantum.methods import applicable


def _iqp(noise="none", trainable_product=False):
    ops = [Operation("H", (w,)) for w in range(3)]
    ops += [Operation("RZ", (w,), (Angle(feature=w),)) for w in range(3)]
    ops += [Operation("PauliRot", (0, 1), (Angle(feature=0, feature2=1, scale=0.7),), pauli="ZZ"),
            Operation("CRZ", (1, 2), (Angle(feature=1, feature2=2, offset=0.1),))]
    if trainable_product:
        ops.append(Operation("RY", (0,), (Angle(feature=2, feature2=0, feature_weight=3, weight=4),)))
    ops += [Operation("RY", (w,), (Angle(weight=w),)) for w in range(3)] + [Operation("CNOT", (0, 1)),
                                                                          Operation("CNOT", (1, 2))]
    circuit = Circuit(3, ops, [Z(0), X(1) @ Z(2)], n_params=5 if trainable_product else 3, n_features=3)
    return apply_noise(circuit, noise)


def _reference(circuit, theta, x):
    """The angles bound by hand (x_i x_j as constants): the product must mean exactly that."""
    xv = np.asarray(x)
    ops = []
    for op in circuit.operations:
        angles = []
        for a in op.angles:
            if a.feature2 is not None:
                value = a.scale * xv[a.feature] * xv[a.feature2] * (float(theta[a.feature_weight])
                                                                     if a.feature_weight is not None else 1.0)
                angles.append(Angle(offset=a.offset + value, weight=a.weight))
            else:
                angles.append(a)
        ops.append(Operation(op.name, op.wires, tuple(angles), pauli=op.pauli, matrix=op.matrix, prob=op.prob))
    return expectations(Circuit(3, ops, circuit.observables, n_params=circuit.n_params, n_features=3), theta, x,
                        method="backprop")


@pytest.mark.parametrize("noise", ["none", "depolarizing:0.05"])
def test_every_method_computes_the_product(noise):
    circuit = _iqp(noise)
    rng = np.random.default_rng(0)
    theta, x = jnp.asarray(rng.uniform(0, 6, 3)), jnp.asarray(rng.uniform(-1, 1, 3))
    reference = _reference(circuit, theta, x)
    methods = applicable(circuit)
    assert len(methods) >= 2
    for method in methods:
        np.testing.assert_allclose(expectations(circuit, theta, x, method=method), reference, atol=1e-10)
    # d/dx of a product x_0 x_1: the chain rule through both factors (against finite differences)
    jx = jax.jacobian(expectations, argnums=2)(circuit, theta, x)
    eps = 1e-6
    for j in range(3):
        dx = jnp.zeros(3).at[j].set(eps)
        fd = (expectations(circuit, theta, x + dx) - expectations(circuit, theta, x - dx)) / (2 * eps)
        np.testing.assert_allclose(jx[:, j], fd, atol=1e-6)


def test_the_shift_rule_and_the_bound_take_a_trainable_product():
    circuit = _iqp(trainable_product=True)
    rng = np.random.default_rng(1)
    theta, x = jnp.asarray(rng.uniform(0, 6, 5)), jnp.asarray(rng.uniform(-1, 1, 3))
    _, jac = parameter_shift_jacobian(circuit, theta, x, shots=None)
    exact = jax.jit(jax.jacobian(lambda t, xx: expectations(circuit, t, xx)))(theta, x)
    np.testing.assert_allclose(jac, exact, atol=1e-10)
    # |d angle / d theta_3| = |x_2 x_0| <= X^2: the bound holds over the box |x| <= 1.5
    b = circuit_bound(circuit, feature_bound=1.5)
    grads = jax.jit(jax.vmap(lambda t, xx: jax.jacobian(expectations, argnums=1)(circuit, t, xx)))(
        jnp.asarray(rng.uniform(0, 6, (64, 5))), jnp.asarray(rng.uniform(-1.5, 1.5, (64, 3))))
    assert np.all(np.linalg.norm(np.asarray(grads), axis=2) <= np.asarray(list(b.groups.values())) + 1e-9)
