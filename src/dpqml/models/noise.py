"""Device-noise presets applied to a circuit.

* ``none``: noiseless;
* ``depolarizing`` or ``depolarizing:p``: a depolarizing channel of strength ``p`` (default
  0.01) on every wire of every gate, after the gate;
* ``amplitude-damping:g`` and ``phase-damping:g``: likewise with damping ``g`` (default 0.01);
* ``readout:p``: a measurement bit flip with probability ``p`` (default 0.02) on every qubit.

Presets join with ``+``: ``depolarizing:0.005+readout:0.02``.
"""

from __future__ import annotations

from ..quantum import Circuit, Operation

_GATE_CHANNELS = {"depolarizing": "Depolarizing", "amplitude-damping": "AmplitudeDamping",
                  "phase-damping": "PhaseDamping"}
_DEFAULTS = {"depolarizing": 0.01, "amplitude-damping": 0.01, "phase-damping": 0.01, "readout": 0.02}
NOISE_PRESETS = ("none", *(f"{k}[:p]" for k in _DEFAULTS))


def parse_noise(spec: str) -> list[tuple[str, float]]:
    """``"depolarizing:0.01+readout"`` -> ``[("depolarizing", 0.01), ("readout", 0.02)]``."""
    if spec in ("none", "", None):
        return []
    out = []
    for part in spec.split("+"):
        name, _, value = part.partition(":")
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


def apply_noise(circuit: Circuit, spec: str) -> Circuit:
    """A copy of ``circuit`` with the noise preset ``spec`` inserted."""
    presets = parse_noise(spec)
    if not presets:
        return circuit
    ops = []
    for op in circuit.operations:
        ops.append(op)
        if op.is_noise or op.is_readout:
            continue
        for name, p in presets:
            if name in _GATE_CHANNELS:
                ops += [Operation(_GATE_CHANNELS[name], (w,), prob=p) for w in op.wires]
    for name, p in presets:
        if name == "readout":
            ops += [Operation("ReadoutError", (w,), prob=p) for w in range(circuit.n_qubits)]
    return circuit.with_operations(ops)
