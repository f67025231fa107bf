"""The state-vector program's optimisations: single-qubit gates grouped into Kronecker steps,
payloads that do not depend on the features kept apart, and the scanned body (internal API:
update these tests if ``dpqml.quantum.program`` changes). Each is checked against the plain
lowering, which the PennyLane comparisons check in turn."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import ModelSpec, build_model
from dpqml.quantum import Angle, Circuit, Operation, Z, adjoint, expectations
from dpqml.quantum.core import (
    apply_step_pure,
    initial_state,
    payloads,
    product_prefix,
    product_state,
    run_pure,
    state_program,
    step_payloads,
)
from dpqml.quantum.program import group_single_qubit, lower

from .random_circuits import random_circuit, random_inputs, repeated_block_circuit


def standard(n: int, layers: int):
    return build_model(ModelSpec(qubits=n, layers=layers)).circuit


def final_state(program, circuit, theta, x):
    """The final state of ``program`` (payloads independent of x shared, as the simulator does)."""
    values = payloads(program, theta, x)
    return run_pure(program, values, initial_state(circuit, x, jnp.complex128)).reshape(-1)


def test_an_hea_layer_becomes_kronecker_groups_and_one_permutation():
    for n, groups in ((8, [(0, 1, 2, 3), (4, 5, 6, 7)]), (10, [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)])):
        program = state_program(standard(n, 4))
        kinds = [(kind, wires if kind == "kron" else None) for kind, wires, _ in program.steps]
        layer = [("kron", g) for g in groups] + [("perm", None)]
        assert kinds == layer * 4
        # the first layer carries the encoding RY(x); the other three are one scanned body
        assert program.feature_steps() == (True,) * len(groups) + (False,) * (len(kinds) - len(groups))
        assert program.repeat[1:] == (len(layer), 3)


def test_grouping_moves_a_gate_only_past_steps_on_other_wires():
    steps = [("u", (0,), 0), ("u", (1,), 1), ("cnot", (0, 1), None), ("u", (2,), 2),
             ("cnot", (1, 2), None), ("u", (0,), 3), ("u", (3,), 4)]
    out = group_single_qubit(steps, 4)
    # u2 joins the first block (wire 2 untouched before it); u0 after the CNOT on wire 0 cannot;
    # u3 joins the block u0 opened; wires 0 and 3 are not adjacent: two single-qubit steps.
    assert out == [("kron", (0, 1, 2), (0, 1, 2)), ("cnot", (0, 1), None), ("cnot", (1, 2), None),
                   ("u", (0,), 3), ("u", (3,), 4)]
    assert group_single_qubit(steps[:2], 1 + 1) == [("kron", (0, 1), (0, 1))]
    assert [st[0] for st in group_single_qubit([("u", (w,), w) for w in range(5)], 2)] == ["kron"] * 2 + ["u"]


@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("real_layout", [False, True])
@pytest.mark.parametrize("case", ["random", "repeated", "standard"])
def test_grouped_program_gives_the_same_state_and_gradients(case, real_layout, store, monkeypatch):
    """... with the adjoint's states in the complex or the real layout (the real one is used from
    ``REAL_LAYOUT_QUBITS`` qubits on; here forced on small circuits that use every gate kind), and
    its backward pass undoing every step on the state or reading the states the forward pass
    stored (``ADJOINT_STORE_BYTES``)."""
    monkeypatch.setattr(adjoint, "REAL_LAYOUT_QUBITS", 1 if real_layout else 10**6)
    monkeypatch.setattr(adjoint, "ADJOINT_STORE_BYTES", 2**40 if store else 0)
    circuit = {
        "random": lambda: random_circuit(3, 4, n_extra=8),
        "repeated": lambda: repeated_block_circuit(4, 5, reps=3, block_params=4, n_features=3),
        "standard": lambda: standard(6, 3),
    }[case]()
    theta, xs = random_inputs(5, circuit, batch=3)
    plain = lower(circuit, mixed=False)
    grouped = state_program(circuit)
    assert any(st[0] == "kron" for st in grouped.steps)
    states = jax.jit(jax.vmap(final_state, (None, None, None, 0)), static_argnums=(0, 1))
    np.testing.assert_allclose(states(grouped, circuit, theta, xs), states(plain, circuit, theta, xs), atol=1e-12)
    # per-example gradients of the adjoint and backprop methods run on the grouped program;
    # compare them with a Jacobian of the plain program's state
    def plain_out(t, x):
        return ref_expectation(circuit, final_state_traced(plain, circuit, t, x))

    ref = np.asarray(jax.jit(jax.vmap(jax.jacrev(plain_out), (None, 0)))(jnp.asarray(theta), jnp.asarray(xs)))
    # backprop reads neither setting: checked once per circuit
    for method in ("adjoint",) if real_layout or store else ("adjoint", "backprop"):
        g = jax.jit(jax.vmap(jax.jacrev(lambda t, x, m=method: expectations(circuit, t, x, method=m)), (None, 0)))
        np.testing.assert_allclose(np.asarray(g(jnp.asarray(theta), jnp.asarray(xs))), ref, atol=1e-10)


def _prefix_circuit(case: str) -> Circuit:
    """Circuits whose first steps leave |0...0> a product state, in the shapes the lowering makes."""
    if case == "standard-8":  # two Kronecker groups, then the CNOT ring's permutation
        return standard(8, 2)
    if case == "standard-5-deep":  # the prefix stops where the scanned body starts
        return standard(5, 4)
    ops = [Operation("RY", (0,), (Angle(feature=0),)), Operation("RX", (0,), (Angle(weight=0),)),
           Operation("H", (2,)), Operation("RZ", (2,), (Angle(weight=1, feature=1),))]
    if case == "apart":  # single-wire chains on wires that are not adjacent, then a CZ (no permutation)
        ops += [Operation("CZ", (0, 2)), Operation("RY", (1,), (Angle(weight=2),)), Operation("CNOT", (1, 0))]
    elif case == "no-entangler":  # the whole program is the product state
        ops += [Operation("RY", (1,), (Angle(weight=2),))]
    elif case == "swap-first":  # a permutation on some wires only is not folded in
        ops += [Operation("SWAP", (0, 1)), Operation("RY", (1,), (Angle(weight=2),)), Operation("CNOT", (1, 2))]
    return Circuit(3, ops, [Z(0), Z(1) @ Z(2)], n_params=3, n_features=2)


@pytest.mark.parametrize("case", ["standard-8", "standard-5-deep", "apart", "swap-first", "no-entangler"])
def test_the_adjoint_builds_its_leading_product_state_wire_by_wire(case):
    """The steps before the first entangling one (and a permutation of every wire right after them)
    become one product state; values and per-example Jacobians equal the plain program's."""
    circuit = _prefix_circuit(case)
    k, rest = product_prefix(circuit)
    program = state_program(circuit)
    assert k > 0 and rest.steps == program.steps[k:]
    if case == "standard-8":
        assert [st[0] for st in program.steps[:k]] == ["kron", "kron", "perm"]
    if case == "standard-5-deep":
        assert k == program.repeat[0] and rest.repeat == (0,) + program.repeat[1:]
    assert program.steps[k - 1][0] != "perm" or len(program.steps[k - 1][1]) == circuit.n_qubits
    theta, xs = random_inputs(3, circuit, batch=3)
    # the product state itself: every amplitude, against the plain program
    plain = lower(circuit, mixed=False)
    values = payloads(program, jnp.asarray(theta), jnp.asarray(xs[0]), kron_factors=True)
    prefix_state = product_state(circuit.n_qubits, program.steps[:k], values[:k], jnp.complex128).reshape(-1)
    psi = initial_state(circuit, xs[0], jnp.complex128)
    for step, value in zip(program.steps[:k], payloads(program, jnp.asarray(theta), jnp.asarray(xs[0]))[:k]):
        psi = apply_step_pure(psi, step, value)
    np.testing.assert_allclose(prefix_state, psi.reshape(-1), atol=1e-12)

    def plain_out(t, x):
        return ref_expectation(circuit, final_state_traced(plain, circuit, t, x))

    g = jax.jit(jax.vmap(jax.jacrev(lambda t, x: expectations(circuit, t, x, method="adjoint")), (None, 0)))
    ref = jax.jit(jax.vmap(jax.jacrev(plain_out), (None, 0)))
    np.testing.assert_allclose(np.asarray(g(jnp.asarray(theta), jnp.asarray(xs))),
                               np.asarray(ref(jnp.asarray(theta), jnp.asarray(xs))), atol=1e-10)


def test_no_product_prefix_for_amplitude_encoding_nor_a_leading_entangler():
    from dpqml.models.paper import PaperQuantumModel

    paper = PaperQuantumModel(n_qubits=4, n_features=16, n_classes=4, layers=2)
    assert product_prefix(paper.circuit) == (0, None)
    entangled_first = Circuit(2, [Operation("CNOT", (0, 1)), Operation("RY", (0,), (Angle(weight=0),))], [Z(0)],
                              n_params=1, n_features=0)
    assert product_prefix(entangled_first) == (0, None)


def final_state_traced(program, circuit, theta, x):
    values = step_payloads(program, program.angles(theta, x))
    return run_pure(program, values, initial_state(circuit, x, jnp.complex128)).reshape(-1)


def ref_expectation(circuit, psi):
    """``<O_k>`` from a dense state and dense observables (no simulator kernels)."""
    from dpqml.quantum.heisenberg import observable_matrices

    obs = jnp.asarray(observable_matrices(circuit))
    return jnp.real(jnp.einsum("a,kab,b->k", jnp.conj(psi), obs, psi))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feature_steps_flags_every_payload_that_changes_with_x(seed):
    """A step flagged independent of x must give the same payload for any x (else the shared,
    unbatched payload would be wrong); and the flags are not all set."""
    circuit = random_circuit(seed, 4, n_extra=10)
    program = state_program(circuit)
    theta, xs = random_inputs(seed, circuit, batch=2)
    flags = program.feature_steps()
    a = step_payloads(program, program.angles(jnp.asarray(theta), jnp.asarray(xs[0])))
    b = step_payloads(program, program.angles(jnp.asarray(theta), jnp.asarray(xs[1])))
    changed = [va is not None and not np.allclose(va, vb) for va, vb in zip(a, b)]
    assert any(changed) and not all(flags)
    assert all(f for f, c in zip(flags, changed) if c)


def test_the_adjoint_stores_its_states_only_when_they_are_small_and_counts_them():
    """Small registers keep every step's entering state (the memory estimate counts one state per
    step more); from 10 qubits at 6 layers they are undone instead."""
    for n, layers, stored in ((8, 2, True), (8, 6, True), (10, 6, False), (12, 6, False)):
        circuit = standard(n, layers)
        assert adjoint.stores_states(circuit) is stored
        steps = len(product_prefix(circuit)[1].steps)
        extra = steps if stored else 0
        assert adjoint.memory_bytes(circuit, 4, 8, True) == 8 * 2**n * (adjoint.ADJOINT_LIVE_STATES + extra) * 4
        assert adjoint.memory_bytes(circuit, 4, 8, False) == 8 * 2**n * 3 * 4
