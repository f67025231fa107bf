"""The Heisenberg-picture method equals the state-vector / density-matrix simulation exactly."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Z, expectations
from dpqml.quantum.heisenberg import (
    _compressed_jacobians,
    _kron_derivative,
    _parameter_colours,
    real_encoding,
    split_encoding,
)
from dpqml.quantum.kernels import kron_vectors, kron_wires
from dpqml.quantum.methods import auto_method

from .random_circuits import model_per_example_grads, per_example, random_circuit, random_inputs, random_observables


def _heisenberg(circuit) -> bool:
    return auto_method(circuit) == "heisenberg"


def encode_then_train(seed, n_qubits, *, noisy=False, readout=None, state_prep="zero"):
    """A random circuit (every gate, channels if ``noisy``) whose first half uses only features
    and whose second half uses only trainable angles: the structure of an encoding followed by an ansatz."""
    base = random_circuit(seed, n_qubits, noisy=noisy, readout=readout, state_prep=state_prep)
    rng = np.random.default_rng(seed)
    ops = list(base.operations)
    half = len(ops) // 2
    out = []
    for i, op in enumerate(ops):
        if not op.angles:
            out.append(op)
            continue
        if i < half:
            angles = tuple(Angle(feature=int(rng.integers(base.n_features)), scale=float(rng.uniform(0.5, 2)),
                                 offset=float(rng.uniform(-1, 1))) for _ in op.angles)
        else:
            angles = tuple(Angle(weight=int(rng.integers(base.n_params)), offset=float(rng.uniform(-1, 1)))
                           for _ in op.angles)
        out.append(dataclasses.replace(op, angles=angles))
    return Circuit(n_qubits, out, base.observables, n_params=base.n_params, n_features=base.n_features,
                   state_prep=state_prep)


@pytest.mark.parametrize(("seed", "noisy", "readout", "prep"), [
    (1, False, {0: 0.1, 2: 0.05}, "zero"),
    (3, True, {1: 0.2}, "zero"),
    (4, False, None, "amplitude"),
])
def test_equals_simulation_values_and_per_example_gradients(seed, noisy, readout, prep):
    circuit = encode_then_train(seed, 3, noisy=noisy, readout=readout, state_prep=prep)
    assert split_encoding(circuit) is not None
    theta, xs = random_inputs(seed, circuit, batch=4)
    if prep == "amplitude":
        xs = np.abs(xs) + 0.1
    ref = "backprop" if noisy else "adjoint"
    for got, want in zip(per_example(circuit, "heisenberg", theta, xs), per_example(circuit, ref, theta, xs)):
        np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("kw", [
    {"qubits": 4, "layers": 2},
    {"qubits": 3, "layers": 2, "ansatz": "strongly-entangling", "readout": "z", "n_classes": 3},
    {"qubits": 3, "layers": 2, "noise": "depolarizing:0.02+amplitude-damping+readout"},
    {"qubits": 2, "layers": 2, "pre": (3,), "input_dim": 5},
])
def test_model_per_example_gradients_match(kw):
    model = build_model(**kw)
    ref = "backprop" if model.circuit.is_noisy else "adjoint"
    np.testing.assert_allclose(model_per_example_grads(model, "heisenberg"), model_per_example_grads(model, ref),
                               atol=1e-10)


def test_auto_picks_it_for_small_encode_then_train_circuits_only():
    assert _heisenberg(build_model(qubits=4, layers=2).circuit)
    # Noisy circuits: in the Pauli basis while its shared rows fit the budget.
    assert _heisenberg(build_model(qubits=4, layers=2, noise="depolarizing").circuit)
    assert _heisenberg(build_model(qubits=10, layers=6, noise="nisq").circuit)
    assert not _heisenberg(build_model(qubits=12, layers=2, noise="depolarizing").circuit)
    noisy_reup = build_model(qubits=3, layers=2, ansatz="reuploading", noise="depolarizing").circuit
    assert not _heisenberg(noisy_reup)
    # Noiseless: measured slower with more parameters and on larger registers.
    assert _heisenberg(build_model(qubits=4, layers=6).circuit)
    assert _heisenberg(build_model(qubits=4, layers=30).circuit)  # 240 parameters
    assert not _heisenberg(build_model(qubits=4, layers=31).circuit)
    assert _heisenberg(build_model(qubits=4, layers=24, readout="z", n_classes=4).circuit)  # 4 x 192
    assert not _heisenberg(build_model(qubits=4, layers=25, readout="z", n_classes=4).circuit)
    assert _heisenberg(build_model(qubits=5, layers=20).circuit)  # 200 parameters
    assert _heisenberg(build_model(qubits=5, layers=6).circuit)  # 60 parameters
    assert not _heisenberg(build_model(qubits=5, layers=5).circuit)  # 50: a tie, the adjoint compiles faster
    assert not _heisenberg(build_model(qubits=5, layers=21).circuit)
    assert not _heisenberg(build_model(qubits=5, layers=2, readout="z", n_classes=3).circuit)
    assert not _heisenberg(build_model(qubits=6, layers=2).circuit)
    assert not _heisenberg(build_model(qubits=8, layers=2).circuit)
    # Re-uploading puts trainable angles between encodings: no split.
    reup = build_model(qubits=3, layers=2, ansatz="reuploading").circuit
    assert split_encoding(reup) is None and not _heisenberg(reup)
    with pytest.raises(ValueError, match="encodes the data first"):
        expectations(reup, jnp.zeros(reup.n_params), jnp.zeros(reup.n_features), method="heisenberg")


@pytest.mark.parametrize("shared", [False, True])
def test_kron_derivative_equals_forward_mode(shared):
    """Both ways of differentiating a Kronecker group (one θ per wire: a static gather; θ shared
    between wires: the sum over wires), from compressed tangents (one per colour), against forward
    mode through the product itself."""
    from dpqml.quantum.gates import ROTATIONS_1Q

    # θ index -> wires; θ 0 and 3 share wire 0 (two colours there), θ 4 is unused
    wires_of = {0: [0, 2], 1: [1], 2: [3], 3: [0]} if shared else {0: [0], 1: [1], 2: [3], 3: [0]}
    theta = jnp.asarray([0.3, -1.1, 0.7, 0.4, 2.0])

    def mats(t):
        out = [jnp.eye(2, dtype=jnp.complex128) for _ in range(4)]
        for p, ws in wires_of.items():
            for w in ws:
                out[w] = ROTATIONS_1Q["RY" if (w + p) % 2 else "RX"](t[p]).astype(jnp.complex128) @ out[w]
        return out

    wdeps = {w: {p for p, ws in wires_of.items() if w in ws} for w in range(4)}
    tangents, colour = _compressed_jacobians(lambda t: [dict(enumerate(mats(t)))], theta, [(set(wires_of), wdeps)])
    assert colour.max() + 1 == 2  # two θ's on wire 0: two passes, not five
    idx = np.asarray([0, 1, 2, 3], np.int32)
    got = _kron_derivative(mats(theta), tangents[0], idx, wdeps, colour)
    want = jnp.moveaxis(jax.jacfwd(lambda t: kron_wires(mats(t)))(theta), -1, 0)[idx]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_parameter_colours_separate_every_output_s_parameters():
    """θ's that share an output never share a colour, whatever the order they first appear in;
    θ's that never meet do (the colouring is what makes forward mode cheap)."""
    outputs = [{0, 1}, {2, 3}, {1, 2}, {0, 3, 4}, {5}]
    colour = _parameter_colours(outputs, 7)
    for deps in outputs:
        assert len({int(colour[p]) for p in deps}) == len(deps)
    assert colour.max() + 1 == 3  # {0, 3, 4} needs three; nothing needs more
    hea = [{2 * w, 2 * w + 1} for w in range(6)] + [{12 + 2 * w, 13 + 2 * w} for w in range(6)]
    assert _parameter_colours(hea, 24).max() + 1 == 2
    # no parameter at all: no colour to push, and forward mode still runs (once)
    assert _parameter_colours([], 0).size == 0
    tangents, colour = _compressed_jacobians(lambda t: [jnp.eye(2) * jnp.sum(t)], jnp.zeros(0), [(set(), None)])
    assert colour.size == 0 and tangents[0].shape == (1, 2, 2) and not np.any(tangents[0])


def test_product_state_encodings_shared_and_unused_parameters():
    """A complex product-state encoding (RX, H·RZ, RY), θ shared between wires of one group and
    between layers, one θ unused: values and per-example Jacobians in θ and x equal the adjoint."""
    n = 3

    def op(name, w, **angle):
        return Operation(name, (w,), angles=(Angle(**angle),)) if angle else Operation(name, (w,))

    ops = [op("RX", 0, feature=0, scale=0.7), op("H", 1), op("RZ", 1, feature=1), op("RY", 2, feature=2, offset=0.3),
           op("RY", 0, weight=0), op("RY", 1, weight=0), op("RZ", 2, weight=1),
           Operation("CNOT", (0, 1)), Operation("CNOT", (1, 2)),
           op("RX", 0, weight=1), op("RZ", 1, weight=2), Operation("CRY", (1, 2), angles=(Angle(weight=2),)),
           op("RY", 2, weight=4, offset=-0.4)]
    circuit = Circuit(n, ops, random_observables(np.random.default_rng(5), n), n_params=5, n_features=3)
    assert not real_encoding(split_encoding(circuit)[0])
    assert _heisenberg(circuit)
    theta, xs = random_inputs(7, circuit, batch=4)
    for got, want in zip(per_example(circuit, "heisenberg", theta, xs), per_example(circuit, "adjoint", theta, xs)):
        np.testing.assert_allclose(got, want, atol=1e-10)
    assert np.all(per_example(circuit, "heisenberg", theta, xs)[1][:, :, 3] == 0)  # θ_3 unused


def test_real_product_encodings_contract_the_pair_moments_exactly():
    """A real product-state encoding (RY, H, X; one wire left at |0>) takes the 3**n pair-moment
    contraction (heisenberg._pair_sums, _moment_contraction): values and per-example Jacobians in θ
    and x equal the adjoint for five observables, one θ shared and one unused; second derivatives
    through the backward pass (ascent over the inputs on a gradient norm, per example, and forward
    over reverse) equal those of simulation."""
    n = 4

    def op(name, w, **angle):
        return Operation(name, (w,), angles=(Angle(**angle),)) if angle else Operation(name, (w,))

    ops = [op("RY", 0, feature=0, scale=0.7), op("H", 1), op("RY", 1, feature=1), op("X", 2),
           op("RY", 2, feature=2, offset=0.3), op("RY", 0, weight=0), op("RY", 1, weight=0), op("RZ", 2, weight=1),
           Operation("CNOT", (0, 1)), Operation("CNOT", (2, 3)), op("RX", 3, weight=2), op("RY", 0, weight=4),
           Operation("CRY", (1, 2), angles=(Angle(weight=2),))]
    circuit = Circuit(n, ops, random_observables(np.random.default_rng(8), n), n_params=5, n_features=3)
    assert real_encoding(split_encoding(circuit)[0]) and _heisenberg(circuit)
    theta, xs = random_inputs(9, circuit, batch=5)
    got, want = per_example(circuit, "heisenberg", theta, xs), per_example(circuit, "adjoint", theta, xs)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-10)
    assert np.all(got[1][:, :, 3] == 0)  # θ_3 unused

    def norm_ascent(method):
        def sq_norm(x):
            g = jax.grad(lambda t: jnp.sum(jnp.sin(expectations(circuit, t, x, method=method))))(theta)
            return jnp.sum(g**2)
        return jax.jit(jax.vmap(jax.grad(sq_norm)))(xs)

    np.testing.assert_allclose(norm_ascent("heisenberg"), norm_ascent("backprop"), atol=1e-10)

    def hess(method):
        return jax.jacfwd(jax.grad(lambda t: expectations(circuit, t, xs[0], method=method)[4]))(theta)

    np.testing.assert_allclose(hess("heisenberg"), hess("backprop"), atol=1e-10)


def testreal_encodings_are_recognised():
    assert real_encoding(split_encoding(build_model(qubits=3, layers=1).circuit)[0])  # RY(x)
    assert not real_encoding(split_encoding(build_model(qubits=3, layers=1, encoding="angle-x").circuit)[0])


def test_circuit_without_encoding_gates():
    """Trainable gates from the first operation on (the encoding part is empty): |0…0> in."""
    ops = [Operation("RY", (0,), angles=(Angle(weight=0),)), Operation("CNOT", (0, 1)),
           Operation("RX", (1,), angles=(Angle(weight=1),))]
    circuit = Circuit(2, ops, [Z(1), X(0)], n_params=2, n_features=1)
    theta, xs = random_inputs(3, circuit, batch=2)
    for got, want in zip(per_example(circuit, "heisenberg", theta, xs), per_example(circuit, "adjoint", theta, xs)):
        np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("gate", ["RY", "RX"])
def test_circuit_without_trainable_angles(gate):
    """Only an encoding (a real one, RY, and a complex one, RX), then fixed gates: values and
    gradients in the features equal the adjoint's (the plain form, nothing to differentiate in θ)."""
    ops = [Operation(gate, (0,), angles=(Angle(feature=0),)), Operation("RY", (1,), angles=(Angle(feature=1),)),
           Operation("CNOT", (0, 1)), Operation("H", (1,))]
    circuit = Circuit(2, ops, [Z(1), X(0)], n_params=0, n_features=2)
    theta, xs = random_inputs(4, circuit, batch=3)
    got = per_example(circuit, "heisenberg", theta, xs)
    want = per_example(circuit, "adjoint", theta, xs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-10)
    assert np.abs(got[2]).max() > 0.1  # the features' gradients are not trivially zero


def test_kron_vectors_is_numpys_kron_and_carries_a_trailing_batch():
    rng = np.random.default_rng(3)
    vecs = [rng.normal(size=(k, 5)) for k in (2, 3, 2)]
    got = np.asarray(kron_vectors([jnp.asarray(v) for v in vecs]))
    assert got.shape == (12, 5)
    for b in range(5):
        np.testing.assert_allclose(got[:, b], np.kron(np.kron(vecs[0][:, b], vecs[1][:, b]), vecs[2][:, b]),
                                   rtol=1e-12)
    flat = np.asarray(kron_vectors([jnp.asarray(v[:, 0]) for v in vecs]))
    np.testing.assert_allclose(flat, got[:, 0], rtol=1e-12)
