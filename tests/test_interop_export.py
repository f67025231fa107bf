"""OpenQASM 3 and Qiskit: export, import, round trips, and Qiskit's own simulators as the reference."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.stats import unitary_group

from dpqml.interop import from_qasm3, from_qiskit, observables_to_qiskit, to_qasm3, to_qiskit
from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Y, Z, expectations, identity


def _rich_circuit():
    base = build_model(qubits=3, layers=2, ansatz="reuploading").circuit
    ops = list(base.operations) + [
        Operation("PauliRot", (0, 1, 2), (Angle(weight=0),), pauli="XYZ"),
        Operation("PauliRot", (2, 0), (Angle(weight=1, offset=0.3),), pauli="YI"),
        Operation("Unitary", (1,), matrix=unitary_group.rvs(2, random_state=1)),
        Operation("CRY", (2, 0), (Angle(weight=1, offset=0.2),)),
        Operation("Rot", (1,), (Angle(weight=2), Angle(offset=0.4), Angle(feature=0, scale=0.5))),
        Operation("S", (0,)), Operation("T", (2,)), Operation("SWAP", (0, 2)), Operation("CZ", (1, 2)),
    ]
    return Circuit(3, ops, [Z(0), 0.5 * X(1) @ Y(2) - Z(2) + 0.25 * identity()], n_params=base.n_params,
                   n_features=base.n_features)


def _inputs(circuit, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2 * np.pi, circuit.n_params), rng.uniform(0.1, 1.0, circuit.n_features)


def test_openqasm3_round_trip_reproduces_every_expectation_value():
    circuit = _rich_circuit()
    theta, x = _inputs(circuit)
    text = to_qasm3(circuit, theta, x)
    assert text.startswith('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;')
    back = from_qasm3(text)
    assert back.n_params == 0 and len(back.observables) == 2
    np.testing.assert_allclose(expectations(back, np.zeros(0)), expectations(circuit, theta, x), atol=1e-10)


def test_what_openqasm_cannot_express_is_refused_by_name():
    noisy = build_model(qubits=2, layers=1, noise="depolarizing").circuit
    theta, x = _inputs(noisy)
    with pytest.raises(ValueError, match=r"Depolarizing.*cannot express noise channels.*circuit.noiseless\(\)"):
        to_qasm3(noisy, theta, x)
    clean = noisy.noiseless()
    assert not clean.is_noisy and len(clean.operations) < len(noisy.operations)
    np.testing.assert_allclose(expectations(from_qasm3(to_qasm3(clean, theta, x)), np.zeros(0)),
                               expectations(clean, theta, x), atol=1e-10)
    amp = build_model(qubits=2, layers=1, encoding="amplitude").circuit
    with pytest.raises(ValueError, match="no standard gate for the amplitude state preparation.*to_qiskit"):
        to_qasm3(amp, *_inputs(amp))
    two = Circuit(2, [Operation("Unitary", (0, 1), matrix=np.eye(4))], [Z(0)])
    with pytest.raises(ValueError, match="no standard gate for a 2-qubit Unitary"):
        to_qasm3(two, np.zeros(0))
    with pytest.raises(ValueError, match=r"line 4: 'ccx q\[0\], q\[1\], q\[2\];' is not a gate of the subset"):
        from_qasm3('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nccx q[0], q[1], q[2];\n', [Z(0)])


@pytest.mark.parametrize("kind", ["rich", "amplitude", "standard"])
def test_the_qiskit_export_matches_qiskits_statevector(kind):
    circuit = {"rich": _rich_circuit(), "amplitude": build_model(qubits=3, layers=2, encoding="amplitude").circuit,
               "standard": build_model(qubits=4, layers=2, readout="z").circuit}[kind]
    theta, x = _inputs(circuit, 3)
    state = Statevector(to_qiskit(circuit, theta, x))
    reference = [state.expectation_value(o).real for o in observables_to_qiskit(circuit)]
    np.testing.assert_allclose(expectations(circuit, theta, x), reference, atol=1e-10)


def test_a_parametrised_export_imports_back_to_the_same_circuit():
    circuit = _rich_circuit()
    exported = to_qiskit(circuit)  # θ and x left as parameters
    theta_p = sorted((p for p in exported.parameters if p.name.startswith("θ")), key=lambda p: p.index)
    x_p = sorted((p for p in exported.parameters if p.name.startswith("x")), key=lambda p: p.index)
    back = from_qiskit(exported, observables_to_qiskit(circuit), features=x_p, weights=theta_p)
    for seed in (0, 1):
        theta, x = _inputs(circuit, seed)
        np.testing.assert_allclose(expectations(back, theta, x), expectations(circuit, theta, x), atol=1e-10)


def test_a_users_qiskit_circuit_with_parameter_vectors_and_a_sparse_pauli_op():
    xs, ws = ParameterVector("x", 2), ParameterVector("w", 3)
    qc = QuantumCircuit(3)
    qc.ry(np.pi * xs[0], 0)
    qc.rx(2.0 * xs[1] + ws[0] + 0.1, 1)
    qc.rz(xs[0] * ws[1], 2)
    qc.sx(0)
    qc.sdg(1)
    qc.cx(0, 2)
    qc.crz(ws[2] - 0.5, 1, 0)
    qc.iswap(1, 2)
    qc.barrier()
    obs = SparsePauliOp.from_list([("ZIX", 0.5), ("IYI", -1.2), ("III", 0.3)])
    circuit = from_qiskit(qc, obs, features=xs, weights=[ws])
    assert (circuit.n_features, circuit.n_params) == (2, 3)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x, w = rng.uniform(-1, 1, 2), rng.uniform(0, 2 * np.pi, 3)
        bound = qc.assign_parameters({**dict(zip(xs, x)), **dict(zip(ws, w))})
        reference = Statevector(bound).expectation_value(obs).real
        np.testing.assert_allclose(expectations(circuit, w, x), [reference], atol=1e-10)


def test_what_cannot_be_imported_from_qiskit_is_refused_by_name():
    xs, ws = ParameterVector("x", 1), ParameterVector("w", 2)
    obs = SparsePauliOp.from_list([("Z", 1.0)])

    def circuit_with(build):
        qc = QuantumCircuit(1, 1)
        build(qc)
        return qc

    with pytest.raises(ValueError, match=r"parameters \['w\[1\]'\] are unbound and declared neither"):
        from_qiskit(circuit_with(lambda qc: qc.rx(ws[1], 0)), obs, features=xs, weights=ws[:1])
    with pytest.raises(ValueError, match="not affine"):
        from_qiskit(circuit_with(lambda qc: qc.rx(xs[0] * xs[0], 0)), obs, features=xs, weights=ws)
    with pytest.raises(ValueError, match="adds weights other than one with coefficient 1"):
        from_qiskit(circuit_with(lambda qc: qc.rx(2 * ws[0], 0)), obs, features=xs, weights=ws)
    with pytest.raises(ValueError, match="measurements, resets and classical control"):
        from_qiskit(circuit_with(lambda qc: qc.measure(0, 0)), obs, features=xs, weights=ws)
    with pytest.raises(ValueError, match="declared both as a feature and as a weight"):
        from_qiskit(circuit_with(lambda qc: qc.rx(xs[0], 0)), obs, features=xs, weights=xs)


def test_qiskit_aer_runs_the_export_and_agrees_within_shot_noise():
    aer = pytest.importorskip("qiskit_aer")
    circuit = build_model(qubits=3, layers=2).circuit
    theta, x = _inputs(circuit, 5)
    qc = to_qiskit(circuit, theta, x)
    qc.measure_all()
    shots = 20_000
    counts = aer.AerSimulator(seed_simulator=11).run(qc, shots=shots).result().get_counts()
    z0 = sum((1 if key[-1] == "0" else -1) * n for key, n in counts.items()) / shots  # qubit 0 is rightmost
    exact = float(expectations(circuit, theta, x)[0])
    assert abs(z0 - exact) <= 5 * np.sqrt((1 - exact**2) / shots) + 1e-9
