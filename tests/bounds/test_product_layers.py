"""The product-state layer rule (``bounds.circuit.product_groups``): before the first gate on two
wires, one rotation per wire is bounded jointly by the observable's half spread. Checked exactly on
random circuits, by gradient ascent, and where the rule is attained."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dpqml.bounds import circuit_bound, gradient_bound
from dpqml.bounds.circuit import half_spread_bound, product_groups
from dpqml.bounds.search import largest_gradient_norm
from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, Z, expectations

from ..quantum.random_circuits import eigen_range, random_observables
from .helpers import random_wire_ops


def _prefix_circuit(seed: int, n: int = 3, noisy: bool = False) -> Circuit:
    """Feature encodings, then per wire a random run of one-wire rotations (RX/RY/RZ/Rot), fixed
    gates and (``noisy``) channels, then entangling gates with more rotations. Parameter 0 is used
    twice and parameter 1 as an encoding weight, so neither may join a group."""
    rng = np.random.default_rng(seed)
    k = iter(range(2, 1000))
    ops = [Operation("RX", (w,), (Angle(feature=w % 2),)) for w in range(n)]
    ops.append(Operation("RY", (0,), (Angle(weight=0),)))
    ops.append(Operation("RZ", (1,), (Angle(feature=0, feature_weight=1, weight=next(k)),)))
    ops += random_wire_ops(rng, n, 4 * n, k, noisy=noisy, rot_until=0.7, fixed_until=0.85)
    ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]
    ops += [Operation("RY", (w,), (Angle(weight=0 if w == 0 else next(k)),)) for w in range(n)]
    ops += [Operation("CZ", (0, n - 1)), Operation("RX", (1,), (Angle(weight=next(k)),))]
    return Circuit(n, ops, random_observables(rng, n), n_params=next(k), n_features=2)


@pytest.mark.parametrize("seed, noisy", [(0, False), (1, False), (2, True), (3, True)])
def test_a_product_layer_never_exceeds_the_half_spread(seed, noisy):
    circuit = _prefix_circuit(seed, noisy=noisy)
    groups = product_groups(circuit)
    assert groups and all(0 not in g and 1 not in g for g in groups)
    assert max(len(g) for g in groups) > 1
    spreads = np.array([half_spread_bound(circuit, k) for k in range(len(circuit.observables))])
    for k, obs in enumerate(circuit.observables):  # the bound is at least the true half spread
        assert spreads[k] >= eigen_range(obs, circuit.n_qubits) / 2 - 1e-9
    jac = jax.jit(jax.jacobian(lambda t, x: expectations(circuit, t, x)))
    rng = np.random.default_rng(seed)
    found = np.zeros((len(groups), len(spreads)))
    for _ in range(48):  # random points
        j = np.asarray(jac(jnp.asarray(rng.uniform(-np.pi, np.pi, circuit.n_params)),
                           jnp.asarray(rng.uniform(-np.pi, np.pi, 2))))
        for gi, g in enumerate(groups):
            found[gi] = np.maximum(found[gi], np.linalg.norm(j[:, list(g)], axis=1))
    n_p = circuit.n_params

    def neg(z, mask, weights):  # minus the squared norm of one group's gradient of one observable
        jj = jax.jacobian(lambda t: expectations(circuit, t, z[n_p:]))(z[:n_p])
        return -jnp.sum(weights[:, None] * mask[None, :] * jj**2)

    step = jax.jit(jax.value_and_grad(neg))  # compiled once for every group and observable
    opt = optax.adam(0.1)
    for gi, g in enumerate(groups):  # then gradient ascent on each group's norm, per observable
        mask = jnp.zeros(n_p).at[jnp.asarray(g)].set(1.0)
        for k in range(len(spreads)):
            z = jnp.asarray(rng.uniform(-np.pi, np.pi, n_p + 2))
            state = opt.init(z)
            for _ in range(40):
                v, grad = step(z, mask, jnp.eye(len(spreads))[k])
                found[gi, k] = max(found[gi, k], float(np.sqrt(-v)))
                updates, state = opt.update(grad, state)
                z = optax.apply_updates(z, updates)
    assert np.all(found <= spreads[None, :] * (1 + 1e-9)), (found, spreads)
    assert found.max() > 0.3 * spreads.max()  # the search is real


def test_the_rule_is_attained_and_beats_angle_by_angle():
    """f = <Z0 Z1> after RY(a) on 0 and RY(b) on 1: ‖∇f‖² = sin²a cos²b + cos²a sin²b, at most 1
    (a = π/2, b = 0); angle by angle gives √2."""
    ops = [Operation("RY", (0,), (Angle(weight=0),)), Operation("RY", (1,), (Angle(weight=1),))]
    circuit = Circuit(2, ops, [Z(0) @ Z(1)], n_params=2, n_features=0)
    assert product_groups(circuit) == [(0, 1)]
    assert circuit_bound(circuit).total == pytest.approx(1.0)
    assert circuit_bound(circuit, refine=False).total == pytest.approx(np.sqrt(2.0))
    j = np.asarray(jax.jacobian(lambda t: expectations(circuit, t, jnp.zeros(0)))(jnp.asarray([np.pi / 2, 0.0])))
    assert np.linalg.norm(j) == pytest.approx(1.0)


def test_no_group_where_the_rule_does_not_hold():
    assert product_groups(build_model(qubits=2, layers=1, encoding="amplitude").circuit) == []  # any state
    reup = build_model(qubits=2, layers=2, ansatz="reuploading").circuit  # encoding weights: θ·x
    weights = {a.feature_weight for op in reup.operations for a in op.angles if a.feature_weight is not None}
    assert not weights & {i for g in product_groups(reup) for i in g}
    ops = [Operation("CNOT", (0, 1)), Operation("RY", (0,), (Angle(weight=0),)),
           Operation("RY", (1,), (Angle(weight=1),))]
    assert product_groups(Circuit(2, ops, [Z(0)], n_params=2, n_features=0)) == []  # entangled first


@pytest.mark.parametrize("flags", [
    {"qubits": 3, "layers": 1},
    {"qubits": 3, "layers": 1, "ansatz": "strongly-entangling", "readout": "z", "n_classes": 3},
    {"qubits": 2, "layers": 1, "noise": "nisq"},
])
def test_adversarial_search_stays_below_the_tighter_model_bound(flags):
    model = build_model(**flags)
    g = gradient_bound(model).total
    assert g < gradient_bound(model, refine=False).total
    found = largest_gradient_norm(model, starts=6, steps=60)
    assert found <= g * (1 + 1e-9)
    assert found >= 0.5 * g  # tight within a factor of two here


def test_letter_sets_keep_a_commuting_rotation_at_zero_after_tracking_stops():
    """Z0 Z1 pulled back through RX on wire 0 is a sum of Z0 Z1 and Y0 Z1: wire 1 still carries only
    Z, so the earlier RZ on wire 1 has zero derivative (the light cone alone would charge it)."""
    from dpqml.bounds import slot_bounds

    ops = [Operation("H", (0,)), Operation("CNOT", (0, 1)), Operation("RY", (1,), (Angle(weight=0),)),
           Operation("RZ", (1,), (Angle(weight=1),)), Operation("RX", (0,), (Angle(weight=2),))]
    circuit = Circuit(2, ops, [Z(0) @ Z(1)], n_params=3, n_features=0)
    slots = slot_bounds(circuit)[0]
    assert (3, 0) not in slots and slots[(4, 0)] == 1.0 and slots[(2, 0)] == 1.0
    jac = jax.jit(jax.jacobian(lambda t: expectations(circuit, t, jnp.zeros(0))))
    for t in np.random.default_rng(0).uniform(-np.pi, np.pi, (8, 3)):
        j = np.asarray(jac(jnp.asarray(t)))[0]
        assert abs(j[1]) < 1e-12 and np.all(np.abs(j) <= 1.0 + 1e-12)


@pytest.mark.parametrize("qubits", [2, 3])
def test_trainable_encodings_join_with_their_factor(qubits):
    """Re-uploading encodes θ_w·x + θ_b: with |x| <= X both parameters join the first layer's group,
    whose gradient is then at most √(1 + X²) half spreads; gradient ascent over θ and x stays below."""
    from dpqml.bounds.circuit import group_factor

    circuit = build_model(qubits=qubits, layers=2, ansatz="reuploading", readout="z").circuit
    big = np.pi
    groups = product_groups(circuit, big)
    enc = {a.feature_weight for op in circuit.operations[:qubits] for a in op.angles}
    assert enc <= set(groups[0]) and group_factor(circuit, groups[0], big) == pytest.approx(np.hypot(1, big))
    spreads = np.array([half_spread_bound(circuit, k) for k in range(len(circuit.observables))])
    n_p = circuit.n_params

    def neg(z, mask, weights):
        x = big * jnp.tanh(z[n_p:])
        jj = jax.jacobian(lambda t: expectations(circuit, t, x))(z[:n_p])
        return -jnp.sum(weights[:, None] * mask[None, :] * jj**2)

    step = jax.jit(jax.value_and_grad(neg))
    opt = optax.adam(0.1)
    rng = np.random.default_rng(qubits)
    for g in groups:
        cap = spreads * group_factor(circuit, g, big)
        mask = jnp.zeros(n_p).at[jnp.asarray(g)].set(1.0)
        for k in range(len(spreads)):
            z = jnp.asarray(rng.uniform(-2, 2, n_p + circuit.n_features))
            state, best = opt.init(z), 0.0
            for _ in range(60):
                v, grad = step(z, mask, jnp.eye(len(spreads))[k])
                best = max(best, float(np.sqrt(-v)))
                updates, state = opt.update(grad, state)
                z = optax.apply_updates(z, updates)
            assert best <= cap[k] * (1 + 1e-9)
