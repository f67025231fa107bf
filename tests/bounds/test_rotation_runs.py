"""Runs of one-wire rotations (``bounds.circuit.rotation_groups``): moved together, their
generators are single-qubit Paulis, and neighbours about different letters are orthogonal, so a
run's joint gradient is at most √λ half spreads (λ = pairs + singles). Checked on structure,
exactly on random circuits (noisy too), by gradient ascent, and on the model bound."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dpqml.bounds import gradient_bound
from dpqml.bounds.circuit import half_spread_bound, product_groups, rotation_groups
from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Z, expectations

from ..quantum.random_circuits import random_observables
from .helpers import random_wire_ops


def _ops(*spec):
    return [Operation(name, wires, tuple(Angle(weight=w) for w in ws)) for name, wires, ws in spec]


def test_runs_pairs_and_what_breaks_them():
    ops = [Operation("CNOT", (0, 1)),  # entangled first: no product-state layer takes these
           *_ops(("RY", (0,), (0,)), ("RZ", (0,), (1,)),  # a pair: λ = 1 for two angles
                 ("Rot", (1,), (2, 3, 4)))]  # Z, Y, Z: the pair (Y, Z) and a single, λ = 2
    ops += [Operation("CNOT", (0, 1)), *_ops(("RZ", (0,), (5,)), ("RZ", (0,), (6,)))]  # same letter: no gain
    ops += [Operation("CNOT", (0, 1)), *_ops(("RX", (1,), (7,))), Operation("RY", (1,), (Angle(feature=0),)),
            *_ops(("RZ", (1,), (8,)))]  # a fixed rotation between them: not neighbours
    ops += [Operation("CNOT", (0, 1)), *_ops(("RY", (0,), (9,)), ("RX", (0,), (9,)))]  # parameter used twice
    circuit = Circuit(2, ops, [Z(0) @ Z(1)], n_params=10, n_features=1)
    assert rotation_groups(circuit) == [((0, 1), 1.0), ((2, 3, 4), pytest.approx(np.sqrt(2)))]
    assert rotation_groups(circuit, exclude={0}) == [((2, 3, 4), pytest.approx(np.sqrt(2)))]
    # a channel on the wire ends the run; one on another wire does not
    noisy = _ops(("RY", (0,), (0,))) + [Operation("Depolarizing", (1,), prob=0.1)] + _ops(("RZ", (0,), (1,)))
    assert rotation_groups(Circuit(2, noisy, [Z(0)], n_params=2, n_features=0)) == [((0, 1), 1.0)]
    noisy[1] = Operation("Depolarizing", (0,), prob=0.1)
    assert rotation_groups(Circuit(2, noisy, [Z(0)], n_params=2, n_features=0)) == []


def _random_circuit(seed: int, n: int = 3, noisy: bool = False) -> Circuit:
    """Entangling gates, then runs of RX/RY/RZ/Rot per wire with fixed gates and (``noisy``)
    channels between them, twice."""
    rng = np.random.default_rng(seed)
    k = iter(range(1000))
    ops = [Operation("RX", (w,), (Angle(feature=w % 2),)) for w in range(n)]
    for _ in range(2):
        ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]
        ops += random_wire_ops(rng, n, 4 * n, k, noisy=noisy, rot_until=0.8, fixed_until=0.9)
    return Circuit(n, ops, random_observables(rng, n), n_params=next(k), n_features=2)


@pytest.mark.parametrize("seed, noisy", [(0, False), (1, False), (2, True)])
def test_a_run_never_exceeds_its_factor_times_the_half_spread(seed, noisy):
    circuit = _random_circuit(seed, noisy=noisy)
    groups = rotation_groups(circuit)
    assert len(groups) >= 3 and all(f < np.sqrt(len(g)) for g, f in groups)  # each gains on angle by angle
    spreads = np.array([half_spread_bound(circuit, k) for k in range(len(circuit.observables))])
    n_p = circuit.n_params
    jac = jax.jit(jax.jacobian(lambda t, x: expectations(circuit, t, x)))
    rng = np.random.default_rng(seed)
    for _ in range(24):  # random points
        j = np.asarray(jac(jnp.asarray(rng.uniform(-np.pi, np.pi, n_p)), jnp.asarray(rng.uniform(-np.pi, np.pi, 2))))
        for g, f in groups:
            assert np.all(np.linalg.norm(j[:, list(g)], axis=1) <= f * spreads * (1 + 1e-9))

    def neg(z, mask, weights):  # minus the squared norm of one group's gradient of one observable
        jj = jax.jacobian(lambda t: expectations(circuit, t, z[n_p:]))(z[:n_p])
        return -jnp.sum(weights[:, None] * mask[None, :] * jj**2)

    step = jax.jit(jax.value_and_grad(neg))
    opt = optax.adam(0.1)
    ratio = 0.0
    for g, f in groups:  # gradient ascent on each group's norm, first observable
        mask = jnp.zeros(n_p).at[jnp.asarray(g)].set(1.0)
        z = jnp.asarray(rng.uniform(-np.pi, np.pi, n_p + 2))
        state, best = opt.init(z), 0.0
        for _ in range(40):
            v, grad = step(z, mask, jnp.eye(len(spreads))[0])
            best = max(best, float(np.sqrt(-v)))
            updates, state = opt.update(grad, state)
            z = optax.apply_updates(z, updates)
        assert best <= f * spreads[0] * (1 + 1e-9)
        ratio = max(ratio, best / spreads[0])
    assert ratio > 1.0  # the search reaches past one half spread where λ = 2 allows it


def test_a_rot_gate_needs_its_factor():
    """One Rot on an encoded qubit, read out in X: its three angles together pass one half spread
    (so λ = 1 would be unsound) and stay under √2."""
    ops = [Operation("RY", (0,), (Angle(feature=0),)),
           Operation("Rot", (0,), (Angle(weight=0), Angle(weight=1), Angle(weight=2)))]
    circuit = Circuit(1, ops, [X(0)], n_params=3, n_features=1)
    (g, f), = rotation_groups(circuit)
    assert g == (0, 1, 2) and f == pytest.approx(np.sqrt(2))
    jac = jax.jit(jax.vmap(jax.jacobian(lambda t, x: expectations(circuit, t, x)[0])))
    t = np.random.default_rng(0).uniform(-np.pi, np.pi, (2000, 4))
    best = float(jnp.max(jnp.linalg.norm(jac(jnp.asarray(t[:, :3]), jnp.asarray(t[:, 3:])), axis=1)))
    assert 1.05 < best <= f + 1e-9


def test_the_model_bound_is_tighter_and_still_holds(monkeypatch):
    import dpqml.bounds.circuit as C
    from dpqml.bounds.search import largest_gradient_norm

    model = build_model(qubits=3, layers=3)
    layer = {p for g in product_groups(model.circuit) for p in g}
    runs = {p for g, _ in rotation_groups(model.circuit, layer) for p in g}
    assert runs and not layer & runs  # the groups are disjoint
    tight = gradient_bound(model).total
    monkeypatch.setattr(C, "rotation_groups", lambda circuit, exclude=(): [])
    loose = gradient_bound(model).total
    monkeypatch.undo()
    assert tight < 0.95 * loose
    found = largest_gradient_norm(model, starts=6, steps=80)
    assert found <= tight * (1 + 1e-9)
