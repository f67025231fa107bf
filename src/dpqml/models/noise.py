"""Device-noise presets applied to a circuit.

* ``none`` (or ``ideal``): noiseless;
* ``depolarizing`` or ``depolarizing:p``: a depolarizing channel of strength ``p`` (default
  0.01) on every wire of every gate, after the gate;
* ``amplitude-damping:g`` and ``phase-damping:g``: likewise with damping ``g`` (default 0.01);
* ``readout:p``: a measurement bit flip with probability ``p`` (default 0.02) on every qubit;
* ``nisq`` or ``nisq:key=value,...``: a NISQ-like device (below);
* ``device:<name>``: the NISQ preset with a real device's calibration snapshot, per qubit
  (:mod:`.device_noise`; ``pip install 'dpqml[qiskit]'``).

Presets join with ``+``: ``depolarizing:0.005+readout:0.02``.

**The NISQ preset.** After every gate, on each of its wires: thermal relaxation for the gate's
duration ``t`` (``t1q`` for one-qubit gates, ``t2q`` for two-qubit gates) as amplitude damping
``γ = 1 − exp(−t/T1)`` followed by phase damping ``λ = 1 − exp(−2t/Tφ)`` with the pure-dephasing
time ``1/Tφ = 1/T2 − 1/(2 T1)`` (so coherences decay as ``exp(−t/T2)``; physical only for
``T2 ≤ 2 T1``), then a depolarizing gate error ``p1`` (one-qubit gates) or ``p2`` (two-qubit
gates, on each wire); a readout bit flip ``readout`` on every qubit at the end. Times are in
microseconds. Defaults (``nisq`` alone): ``t1=100, t2=80, t1q=0.05, t2q=0.3, p1=0.001,
p2=0.01, readout=0.02``, typical of current superconducting devices.
"""

from __future__ import annotations

import math

from ..quantum import Circuit, Operation

_GATE_CHANNELS = {"depolarizing": "Depolarizing", "amplitude-damping": "AmplitudeDamping",
                  "phase-damping": "PhaseDamping"}
_DEFAULTS = {"depolarizing": 0.01, "amplitude-damping": 0.01, "phase-damping": 0.01, "readout": 0.02}
#: The NISQ preset's parameters and defaults (times in microseconds, errors as probabilities).
NISQ_DEFAULTS = {"t1": 100.0, "t2": 80.0, "t1q": 0.05, "t2q": 0.3, "p1": 0.001, "p2": 0.01, "readout": 0.02}
NOISE_PRESETS = ("none", *(f"{k}[:p]" for k in _DEFAULTS), "nisq[:t1=..,t2=..,t1q=..,t2q=..,p1=..,p2=..,readout=..]",
                 "device:<name>")


def parse_noise(spec: str) -> list[tuple[str, float | dict]]:
    """``"depolarizing:0.01+readout"`` -> ``[("depolarizing", 0.01), ("readout", 0.02)]``;
    ``"nisq:t1=50"`` -> ``[("nisq", {...all NISQ parameters...})]``."""
    if spec in ("none", "ideal", "", None):
        return []
    if not isinstance(spec, str):
        raise ValueError(f"noise must be a preset string; got {spec!r}")
    out = []
    for part in spec.split("+"):
        name, _, value = part.partition(":")
        if name == "nisq":
            out.append((name, nisq_parameters(value)))
            continue
        if name == "device":
            if not value:
                raise ValueError("noise preset device needs a device name, device:<name> (for example device:manila)")
            from .device_noise import device_snapshot

            out.append((name, device_snapshot(value)))
            continue
        if name not in _DEFAULTS:
            raise ValueError(f"unknown noise preset {name!r}; valid presets are {list(NOISE_PRESETS)}")
        try:
            p = float(value) if value else _DEFAULTS[name]
        except ValueError:
            raise ValueError(f"noise preset {part!r}: strength must be a number in [0, 1]") from None
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"noise preset {part!r}: strength must be a probability in [0, 1]; got {p}")
        out.append((name, p))
    return out


def nisq_parameters(text: str = "") -> dict:
    """The NISQ preset's parameters from ``"t1=50,t2=40"`` (the rest default), validated."""
    params = dict(NISQ_DEFAULTS)
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in NISQ_DEFAULTS:
            raise ValueError(f"noise preset nisq: {item!r} is not key=value with a key in {list(NISQ_DEFAULTS)}")
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"noise preset nisq: {key} must be a number; got {value!r}") from None
    for key in ("t1", "t2"):
        if not math.isfinite(params[key]) or params[key] <= 0:
            raise ValueError(f"noise preset nisq: {key} must be a time > 0 (microseconds); got {params[key]}")
    for key in ("t1q", "t2q"):
        if not math.isfinite(params[key]) or params[key] < 0:
            raise ValueError(f"noise preset nisq: {key} must be a gate time >= 0 (microseconds); got {params[key]}")
    for key in ("p1", "p2", "readout"):
        if not 0.0 <= params[key] <= 1.0:
            raise ValueError(f"noise preset nisq: {key} must be a probability in [0, 1]; got {params[key]}")
    if params["t2"] > 2 * params["t1"]:
        raise ValueError(f"noise preset nisq: T2 must be <= 2*T1 (physical relaxation); got t2={params['t2']}, "
                         f"t1={params['t1']}")
    return params


def relaxation(t: float, t1: float, t2: float) -> tuple[float, float]:
    """``(γ, λ)``: amplitude and phase damping over time ``t`` with relaxation times T1, T2 (same
    units), so that populations relax as ``exp(−t/T1)`` and coherences as ``exp(−t/T2)``."""
    gamma = 1.0 - math.exp(-t / t1)
    dephasing_rate = 1.0 / t2 - 1.0 / (2.0 * t1)  # 1/Tφ >= 0 when T2 <= 2 T1
    lam = 1.0 - math.exp(-2.0 * t * dephasing_rate)
    return gamma, lam


def _nisq_channels(op: Operation, p: dict) -> list[Operation]:
    two = len(op.wires) >= 2
    gamma, lam = relaxation(p["t2q"] if two else p["t1q"], p["t1"], p["t2"])
    err = p["p2"] if two else p["p1"]
    return [ch for w in op.wires for ch in _wire_noise(w, gamma, lam, err)]


def _wire_noise(w: int, gamma: float, lam: float, p: float) -> list[Operation]:
    """Relaxation (amplitude then phase damping) and a depolarizing error on wire ``w``, each if > 0."""
    return [Operation(name, (w,), prob=v) for name, v in
            (("AmplitudeDamping", gamma), ("PhaseDamping", lam), ("Depolarizing", p)) if v > 0]


def _device_channels(op: Operation, snap: dict) -> list[Operation]:
    from .device_noise import pair_calibration

    if len(op.wires) >= 2:
        time, error = pair_calibration(snap, op.wires[0], op.wires[1])
        p = min(0.75 * error, 1.0)
        per_wire = {w: (time, p) for w in op.wires}
    else:
        w = op.wires[0]
        per_wire = {w: (snap["time_1q"][w], min(1.5 * snap["error_1q"][w], 1.0))}
    return [ch for w, (time, p) in per_wire.items()
            for ch in _wire_noise(w, *relaxation(time, snap["t1"][w], snap["t2"][w]), p)]


def apply_noise(circuit: Circuit, spec: str) -> Circuit:
    """A copy of ``circuit`` with the noise preset ``spec`` inserted."""
    presets = parse_noise(spec)
    if not presets:
        return circuit
    for name, p in presets:
        if name == "device" and circuit.n_qubits > p["n_qubits"]:
            raise ValueError(f"noise preset device:{p['name'].removeprefix('fake_')} has {p['n_qubits']} qubits; the "
                             f"circuit has {circuit.n_qubits}")
    ops = []
    for op in circuit.operations:
        ops.append(op)
        if op.is_noise or op.is_readout:
            continue
        for name, p in presets:
            if name in _GATE_CHANNELS:
                ops += [Operation(_GATE_CHANNELS[name], (w,), prob=p) for w in op.wires]
            elif name == "nisq":
                ops += _nisq_channels(op, p)
            elif name == "device":
                ops += _device_channels(op, p)
    for name, p in presets:
        for w in range(circuit.n_qubits):
            readout_p = (p if name == "readout" else p["readout"] if name == "nisq"
                         else p["readout"][w] if name == "device" else 0.0)
            if readout_p > 0:
                ops.append(Operation("ReadoutError", (w,), prob=readout_p))
    out = circuit.with_operations(ops)
    for name, p in presets:
        if name == "device":  # which calibration: results and reports name it
            out.meta["device_snapshot"] = {k: p[k] for k in ("name", "backend_version", "last_update")}
    return out
