"""The Heisenberg-picture method equals the state-vector / density-matrix simulation exactly."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, expectations
from dpqml.quantum.heisenberg import split_encoding
from dpqml.quantum.simulate import use_heisenberg

from .random_circuits import model_per_example_grads, per_example, random_circuit, random_inputs


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
    assert use_heisenberg(build_model(qubits=4, layers=2).circuit)
    # Measured slower there: noisy circuits, more parameters, larger registers.
    assert not use_heisenberg(build_model(qubits=4, layers=2, noise="depolarizing").circuit)
    assert use_heisenberg(build_model(qubits=4, layers=6).circuit)
    assert not use_heisenberg(build_model(qubits=4, layers=7).circuit)
    assert not use_heisenberg(build_model(qubits=5, layers=2).circuit)
    assert not use_heisenberg(build_model(qubits=8, layers=2).circuit)
    # Re-uploading puts trainable angles between encodings: no split.
    reup = build_model(qubits=3, layers=2, ansatz="reuploading").circuit
    assert split_encoding(reup) is None and not use_heisenberg(reup)
    with pytest.raises(ValueError, match="encodes the data first"):
        expectations(reup, jnp.zeros(reup.n_params), jnp.zeros(reup.n_features), method="heisenberg")
