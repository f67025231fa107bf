"""``--noise device:<name>``: the NISQ preset's parameters are the calibration snapshot's, per qubit."""

from __future__ import annotations

import math
import warnings

import pytest

pytest.importorskip("qiskit_ibm_runtime")

from dpqml.models import build_model  # noqa: E402
from dpqml.models.device_noise import device_names, device_snapshot  # noqa: E402
from dpqml.quantum import Circuit, Operation, Z  # noqa: E402


def _backend():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FakeManilaV2()


def _channels_after(circuit, index):
    out = {}
    for op in circuit.operations[index + 1:]:
        if not op.is_noise:
            break
        out.setdefault(op.wires[0], {})[op.name] = op.prob
    return out


def test_the_presets_parameters_equal_the_snapshots():
    target = _backend().target
    base = Circuit(3, [Operation("H", (1,)), Operation("CNOT", (0, 1)), Operation("CNOT", (0, 2))], [Z(0)])
    from dpqml.models import apply_noise

    noisy = apply_noise(base, "device:manila")
    ops = list(noisy.operations)
    qp = target.qubit_properties
    # the one-qubit gate on wire 1: relaxation over sx's duration with qubit 1's T1, T2; depolarizing 3r/2
    t, r = target["sx"][(1,)].duration, target["sx"][(1,)].error
    t1, t2 = qp[1].t1, min(qp[1].t2, 2 * qp[1].t1)
    after_h = _channels_after(noisy, ops.index(next(o for o in ops if o.name == "H")))
    assert after_h[1]["AmplitudeDamping"] == pytest.approx(1 - math.exp(-t / t1), rel=1e-9)
    assert after_h[1]["PhaseDamping"] == pytest.approx(1 - math.exp(-2 * t * (1 / t2 - 1 / (2 * t1))), rel=1e-9)
    assert after_h[1]["Depolarizing"] == pytest.approx(1.5 * r, rel=1e-12)
    # CNOT(0, 1), a coupled pair: its own duration and error, 3r/4 on each wire, each wire's own T1
    cx = target["cx"][(0, 1)]
    after_cx = _channels_after(noisy, ops.index(next(o for o in ops if o.name == "CNOT")))
    for w in (0, 1):
        assert after_cx[w]["Depolarizing"] == pytest.approx(0.75 * cx.error, rel=1e-12)
        assert after_cx[w]["AmplitudeDamping"] == pytest.approx(1 - math.exp(-cx.duration / qp[w].t1), rel=1e-9)
    # CNOT(0, 2) is not coupled on manila (a line): the mean over the coupled pairs
    pairs = [p for p in target["cx"].values()]
    after_far = _channels_after(noisy, max(i for i, o in enumerate(ops) if o.name == "CNOT"))
    mean_error = sum(p.error for p in pairs) / len(pairs)
    assert after_far[2]["Depolarizing"] == pytest.approx(0.75 * mean_error, rel=1e-12)
    readout = {op.wires[0]: op.prob for op in ops if op.is_readout}
    assert readout == {w: pytest.approx(target["measure"][(w,)].error, rel=1e-12) for w in range(3)}
    assert noisy.meta["device_snapshot"]["name"] == "fake_manila"


def test_names_sizes_and_unknown_devices():
    assert "manila" in device_names() and len(device_names()) > 20
    assert device_snapshot("fake_manila") is device_snapshot("fake_manila")
    assert device_snapshot("manila")["n_qubits"] == 5
    with pytest.raises(ValueError, match=r"unknown device 'atlantis'; the snapshots available are \[.*'manila'"):
        build_model(qubits=2, layers=1, noise="device:atlantis")
    with pytest.raises(ValueError, match="device needs a device name"):
        build_model(qubits=2, layers=1, noise="device")
    with pytest.raises(ValueError, match="device:manila has 5 qubits; the circuit has 6"):
        build_model(qubits=6, layers=1, noise="device:manila")
    model = build_model(qubits=2, layers=1, noise="device:manila")
    assert model.circuit.is_noisy and any(op.is_readout for op in model.circuit.operations)
