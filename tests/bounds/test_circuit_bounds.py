"""Per-angle bounds of dpqml.bounds.circuit: every derivative of every expectation value of
random circuits (every gate, channel, readout error and angle kind) stays below its bound,
and the refinements give zero exactly where the physics says so."""

import jax
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dpqml.bounds.circuit import feature_bounds, parameter_bounds, slot_bounds
from dpqml.quantum import Angle, Circuit, Operation, Z, expectations

from ..quantum.random_circuits import random_circuit

X_BOUND = 2.5
_JACOBIANS: dict = {}


def _jacobians(circ):
    """(∂⟨O_k⟩/∂θ, ∂⟨O_k⟩/∂x), compiled once per circuit."""
    if id(circ) not in _JACOBIANS:
        f = lambda t, x: expectations(circ, t, x)  # noqa: E731
        _JACOBIANS[id(circ)] = (circ, jax.jit(jax.jacobian(f, argnums=(0, 1))))
    return _JACOBIANS[id(circ)][1]


_CIRCUITS = {
    # each random circuit holds every gate (and, noisy, every channel) at least once
    (seed, noisy): random_circuit(seed, 3, noisy=noisy, readout={0: 0.1} if noisy else None)
    for seed, noisy in ((0, False), (1, True))
}


@given(st.sampled_from(sorted(_CIRCUITS)), st.integers(0, 2**31 - 1), st.booleans())
def test_every_derivative_is_below_its_bound(key, seed, refine):
    circ = _CIRCUITS[key]
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-4, 4, circ.n_params)
    x = rng.uniform(-X_BOUND, X_BOUND, circ.n_features)
    jt, jx = _jacobians(circ)(theta, x)
    slots = slot_bounds(circ, refine=refine)
    B = parameter_bounds(circ, slots, X_BOUND)
    D = feature_bounds(circ, slots, theta)
    assert np.all(np.abs(np.asarray(jt)) <= B + 1e-9)
    assert np.all(np.abs(np.asarray(jx)) <= D + 1e-9)


def _max_abs_grad(circ, n_trials=64, seed=0):
    rng = np.random.default_rng(seed)
    g = jax.jit(jax.grad(lambda t: expectations(circ, t)[0]))
    return np.max([np.abs(np.asarray(g(rng.uniform(0, 2 * np.pi, circ.n_params)))) for _ in range(n_trials)], 0)


def test_rz_before_z_readout_has_zero_gradient_and_zero_bound():
    ops = [Operation("RY", (0,), (Angle(weight=0),)), Operation("RZ", (0,), (Angle(weight=1),)),
           Operation("CNOT", (1, 0)), Operation("RX", (1,), (Angle(weight=2),))]
    circ = Circuit(2, ops, [Z(0)])
    B = parameter_bounds(circ, slot_bounds(circ), None)[0]
    # θ1: RZ commutes with Z_0 (CNOT(1,0) maps Z_0 to Z_0 Z_1, still diagonal): zero;
    # θ2: RX on wire 1 comes after the CNOT, outside Z_0's light cone: zero
    np.testing.assert_allclose(B, [1.0, 0.0, 0.0])
    assert np.all(_max_abs_grad(circ) <= B + 1e-12)


def test_depolarizing_contracts_by_one_minus_4p_over_3():
    p = 0.3
    ops = [Operation("RY", (0,), (Angle(weight=0),)), Operation("Depolarizing", (0,), prob=p)]
    circ = Circuit(1, ops, [Z(0)])
    B = parameter_bounds(circ, slot_bounds(circ), None)[0, 0]
    assert abs(B - (1 - 4 * p / 3)) < 1e-12
    # d/dθ (1-4p/3) cos θ attains it at θ = π/2: the contracted bound is exact
    g = jax.jit(jax.grad(lambda t: expectations(circ, t)[0]))(np.array([np.pi / 2]))  # compiled once, not op by op
    assert abs(abs(float(g[0])) - B) < 1e-9


def test_readout_error_contracts_by_one_minus_2p():
    ops = [Operation("RY", (0,), (Angle(weight=0),)), Operation("ReadoutError", (0,), prob=0.1)]
    circ = Circuit(1, ops, [Z(0)])
    assert abs(parameter_bounds(circ, slot_bounds(circ), None)[0, 0] - 0.8) < 1e-12


def test_shared_parameter_sums_its_uses_and_is_attained():
    # RY(θ0) three times on one qubit: f = cos 3θ, |f'| reaches 3 (the √p·‖O‖ worst case)
    ops = [Operation("RY", (0,), (Angle(weight=0),)) for _ in range(3)]
    circ = Circuit(1, ops, [Z(0)])
    assert parameter_bounds(circ, slot_bounds(circ), None)[0, 0] == 3.0
    g = jax.jit(jax.grad(lambda t: expectations(circ, t)[0]))(np.array([np.pi / 6]))  # compiled once, not op by op
    assert abs(abs(float(g[0])) - 3.0) < 1e-9
