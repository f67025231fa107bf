"""The tensor-network method: exact against the state vector, light cone, automatic choice."""


import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import build_model, standard_circuit
from dpqml.quantum import Angle, Circuit, Operation, Z, expectations
from dpqml.quantum.methods import auto_method, estimated_seconds
from dpqml.quantum.tensornet import network_for

from .random_circuits import model_per_example_grads, per_example, random_circuit, random_inputs


@pytest.mark.parametrize(("seed", "n_qubits", "readout"), [(11, 4, {1: 0.1}), (12, 5, None)])
def test_equals_the_state_vector_on_random_circuits_with_every_gate(seed, n_qubits, readout):
    """Every unitary gate, angle kind and observable (Pauli strings, sums with an identity term):
    values and per-example Jacobians in θ and x equal the adjoint state-vector method to 1e-10."""
    circuit = random_circuit(seed, n_qubits, readout=readout)
    theta, xs = random_inputs(seed, circuit, batch=3)
    got = per_example(circuit, "tensor-network", theta, xs)
    want = per_example(circuit, "adjoint", theta, xs)
    assert np.abs(want[1]).max() > 1e-3  # not vacuous
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-10)


def test_light_cone_leaves_out_gates_the_observable_never_sees():
    # Z0 after CNOT(0,1): the cone holds wires 0 and 1; the gates on wires 2..5 cancel
    ops = [Operation("RY", (w,), angles=(Angle(weight=w),)) for w in range(6)]
    ops += [Operation("CNOT", (0, 1)), Operation("CNOT", (2, 3)), Operation("RX", (4,), angles=(Angle(weight=0),))]
    circuit = Circuit(6, ops, [Z(0)], n_params=6)
    term = network_for(circuit).terms[0]
    assert term.kept_steps == 3  # RY on 0, RY on 1, CNOT(0,1)
    theta = jnp.linspace(0.1, 1.2, 6)
    want = np.cos(0.1)  # <Z0> = cos(theta_0): the CNOT's control is wire 0
    np.testing.assert_allclose(expectations(circuit, theta, method="tensor-network"), [want], atol=1e-12)
    np.testing.assert_allclose(expectations(circuit, theta, method="adjoint"), [want], atol=1e-12)


@pytest.mark.parametrize("kw", [
    {"qubits": 6, "layers": 2},
    {"qubits": 5, "layers": 2, "ansatz": "reuploading"},
    {"qubits": 4, "layers": 2, "ansatz": "strongly-entangling", "readout": "z", "n_classes": 3},
    {"qubits": 3, "layers": 1, "pre": (4,), "input_dim": 5},
])
def test_model_per_example_gradients_equal_adjoint(kw):
    model = build_model(**kw)
    np.testing.assert_allclose(model_per_example_grads(model, "tensor-network"),
                               model_per_example_grads(model, "adjoint"), atol=1e-10)


def test_refused_where_it_does_not_apply():
    noisy = build_model(qubits=3, layers=1, noise="depolarizing").circuit
    with pytest.raises(ValueError, match="tensor-network.*noiseless"):
        expectations(noisy, jnp.zeros(noisy.n_params), jnp.zeros(noisy.n_features), method="tensor-network")
    amp = Circuit(2, [Operation("RY", (0,), angles=(Angle(offset=0.0),))], [Z(0)], n_params=1, n_features=3,
                  state_prep="amplitude")
    with pytest.raises(ValueError, match="tensor-network.*amplitude"):
        expectations(amp, jnp.zeros(1), jnp.ones(3), method="tensor-network")
    assert network_for(noisy) is None and network_for(amp) is None


def test_auto_picks_the_network_for_shallow_wide_circuits_and_the_state_vector_for_deep_ones():
    assert auto_method(standard_circuit(4, 2)) == "heisenberg"  # small registers: measured faster
    for n in (10, 12, 16):
        shallow = standard_circuit(n, 2)
        assert auto_method(shallow) == "tensor-network", n
        cost = estimated_seconds(shallow)
        assert cost["tensor-network"] < cost["adjoint"]
    for n, layers in ((8, 2), (8, 6), (12, 6)):  # n=8, L=2: the grouped state vector measured 1.4x faster
        assert auto_method(standard_circuit(n, layers)) == "adjoint", (n, layers)
    # the network's cost grows with depth, the state vector's with width
    flops = [network_for(standard_circuit(10, L)).flops for L in (1, 2, 4)]
    assert flops[0] < flops[1] < flops[2]
    assert auto_method(build_model(qubits=4, layers=2, noise="depolarizing").circuit) == "heisenberg"
    reup = build_model(qubits=3, layers=2, ansatz="reuploading", noise="depolarizing").circuit
    assert auto_method(reup) == "backprop"


def test_shallow_circuits_beyond_state_vector_memory_are_estimated_small():
    from dpqml.quantum import estimate_memory_bytes

    wide = standard_circuit(40, 2)  # 2**40 amplitudes as a state vector: 8 TiB
    assert auto_method(wide) == "tensor-network"
    assert estimate_memory_bytes(wide, 16) < 2**30
    assert estimate_memory_bytes(wide, 16, method="adjoint") > 2**40
    assert auto_method(standard_circuit(40, 6)) == "adjoint"  # deep: the network is no cheaper
