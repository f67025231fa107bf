"""The Pauli-basis Heisenberg method for noisy circuits: its pieces, and its results against the
density matrix (values and per-example gradients, exactly)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import apply_noise, build_model, standard_circuit
from dpqml.quantum import expectations
from dpqml.quantum.gates import ROTATIONS_1Q, kraus_operators
from dpqml.quantum.heisenberg import split_encoding
from dpqml.quantum.pauli_basis import (
    _ROTATION_PARTS,
    _word_matrices,
    density_to_pauli,
    plan_for,
    rows_bytes,
    transfer_matrix,
)

from .random_circuits import model_per_example_grads, per_example, random_inputs
from .test_heisenberg import encode_then_train


def _channel_ptm(name, p):
    sop = sum(np.kron(k, np.conj(k)) for k in kraus_operators(name, p))
    return np.asarray(transfer_matrix(jnp.asarray(sop, jnp.complex128), 1))


def test_transfer_matrices_of_known_channels():
    # Depolarizing(p) shrinks X, Y, Z by 1 - 4p/3 and keeps I; amplitude damping(γ) is not unital:
    # Z -> (1-γ) Z and I -> I + γ Z, X and Y shrink by sqrt(1-γ).
    p, g = 0.3, 0.2
    f = 1 - 4 * p / 3
    np.testing.assert_allclose(_channel_ptm("Depolarizing", p), np.diag([1, f, f, f]), atol=1e-12)
    want = np.diag([1, np.sqrt(1 - g), np.sqrt(1 - g), 1 - g])
    want[3, 0] = g
    np.testing.assert_allclose(_channel_ptm("AmplitudeDamping", g), want, atol=1e-12)


@pytest.mark.parametrize("name", ["RX", "RY", "RZ"])
def test_rotation_closed_form_equals_the_transfer_matrix_of_the_gate(name):
    pc, a, b = _ROTATION_PARTS[name]
    for angle in np.random.default_rng(0).uniform(-7, 7, size=5):
        u = np.asarray(ROTATIONS_1Q[name](angle), np.complex128)
        want = np.asarray(transfer_matrix(jnp.asarray(np.kron(u, u.conj())), 1))
        np.testing.assert_allclose(pc + np.cos(angle) * a + np.sin(angle) * b, want, atol=1e-12)


def test_density_to_pauli_inverts_the_pauli_expansion():
    n = 3
    rng = np.random.default_rng(1)
    m = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    rho = m @ m.conj().T
    rho /= np.trace(rho)
    c = np.asarray(density_to_pauli(jnp.asarray(rho.reshape((2,) * 6)), n))
    words = _word_matrices(n)
    np.testing.assert_allclose(np.einsum("p,pab->ab", c, words) / 2**n, rho, atol=1e-12)
    np.testing.assert_allclose(c, np.real(np.einsum("pab,ba->p", words, rho)), atol=1e-12)


def test_a_noisy_hea_layer_is_one_block_per_cnot():
    circuit = apply_noise(standard_circuit(5, 3), "depolarizing:0.01")
    _, trainable = split_encoding(circuit)
    plan = plan_for(trainable)
    steps = plan.program.steps
    assert sorted(i for _, items in plan.blocks for i in items) == list(range(len(steps)))
    assert len(plan.blocks) == sum(kind == "cnot" for kind, _, _ in steps) == 15


@pytest.mark.parametrize(("noise", "kw"), [
    ("nisq", {"qubits": 4, "layers": 2}),
    ("depolarizing:0.05+amplitude-damping:0.1+readout:0.02", {"qubits": 3, "layers": 3, "readout": "z",
                                                             "n_classes": 3}),
    ("phase-damping:0.1", {"qubits": 3, "layers": 2, "ansatz": "strongly-entangling"}),
])
def test_models_equal_the_density_matrix(noise, kw):
    model = build_model(noise=noise, **kw)
    np.testing.assert_allclose(model_per_example_grads(model, "heisenberg"),
                               model_per_example_grads(model, "backprop"), atol=1e-10)


@pytest.mark.parametrize("seed", [5, 6])
def test_random_noisy_circuits_equal_the_density_matrix(seed):
    # every gate and channel, general (entangling, amplitude) encodings included
    circuit = encode_then_train(seed, 3, noisy=True, readout={0: 0.05},
                                state_prep="amplitude" if seed == 6 else "zero")
    theta, xs = random_inputs(seed, circuit, batch=3)
    if seed == 6:
        xs = np.abs(xs) + 0.1
    for got, want in zip(per_example(circuit, "heisenberg", theta, xs), per_example(circuit, "backprop", theta, xs)):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_feature_gradients_flow_through_the_encoding():
    circuit = apply_noise(standard_circuit(3, 2), "amplitude-damping:0.1")
    theta = jnp.asarray(np.random.default_rng(2).normal(size=circuit.n_params))
    x = jnp.asarray([0.3, -1.1, 2.0])
    got = jax.grad(lambda x: expectations(circuit, theta, x, method="heisenberg")[0])(x)
    want = jax.grad(lambda x: expectations(circuit, theta, x, method="backprop")[0])(x)
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_rows_bytes_counts_observables_angles_and_register():
    circuit = apply_noise(standard_circuit(4, 2), "depolarizing")
    assert rows_bytes(circuit) == 1 * (16 + 1) * 4**4 * 4
    assert rows_bytes(circuit, double=True) == 2 * rows_bytes(circuit)
