"""Export: a dpqml circuit as standard gates, as OpenQASM 3 text, and back from that text.

:func:`standard_gates` rewrites a circuit, its angles bound (or left symbolic), into the gates of
OpenQASM 3's ``stdgates.inc``: ``Rot(φ, θ, ω)`` as ``rz(φ) ry(θ) rz(ω)``, a Pauli rotation as a
change of basis, a CNOT ladder and one ``rz``, a fixed single-qubit ``Unitary`` as ``U(θ, φ, λ)``
(equal up to a global phase, which no expectation value sees). :func:`to_qasm3` prints them;
:func:`from_qasm3` reads that subset back (the round trip reproduces every expectation value).
What OpenQASM cannot express is refused by name: noise channels and readout errors (a device
brings its own noise; export ``circuit.noiseless()``), multi-qubit fixed unitaries, and the
amplitude state preparation (no standard gate prepares an arbitrary state; the Qiskit export,
:func:`dpqml.interop.to_qiskit`, uses Qiskit's ``StatePreparation``).

Wire ``w`` of dpqml is qubit ``q[w]``. The observables are written as comments
(``// dpqml observable k: ...``), which :func:`from_qasm3` reads back.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..quantum import Angle, Circuit, Observable, Operation
from ..quantum.observables import identity, pauli

_FIXED = {"H": "h", "X": "x", "Y": "y", "Z": "z", "S": "s", "T": "t", "I": "id"}
_ROT = {"RX": "rx", "RY": "ry", "RZ": "rz", "CRX": "crx", "CRY": "cry", "CRZ": "crz"}
_TWO = {"CNOT": "cx", "CZ": "cz", "SWAP": "swap"}


def angle_value(angle: Angle, theta, x):
    """The number an :class:`Angle` takes at ``theta`` and ``x`` (works on symbols too)."""
    value = angle.offset
    if angle.feature is not None:
        term = angle.scale * x[angle.feature]
        if angle.feature2 is not None:
            term = term * x[angle.feature2]
        if angle.feature_weight is not None:
            term = term * theta[angle.feature_weight]
        value = value + term
    if angle.weight is not None:
        value = value + theta[angle.weight]
    return value


def _zyz(u: np.ndarray) -> tuple[float, float, float]:
    """``(θ, φ, λ)`` with ``U(θ, φ, λ) = e^{iα} u`` (OpenQASM's ``U = RZ(φ) RY(θ) RZ(λ)`` up to phase)."""
    u = u / np.sqrt(np.linalg.det(u))
    theta = 2.0 * math.atan2(abs(u[1, 0]), abs(u[0, 0]))
    plus = 2.0 * np.angle(u[1, 1]) if abs(u[1, 1]) > 1e-12 else 0.0  # φ + λ
    minus = 2.0 * np.angle(u[1, 0]) if abs(u[1, 0]) > 1e-12 else 0.0  # φ - λ
    return theta, (plus + minus) / 2.0, (plus - minus) / 2.0


def standard_gates(circuit: Circuit, theta, x=None, *, what: str = "OpenQASM 3") -> list[tuple[str, tuple, tuple]]:
    """The circuit as ``(gate, parameters, qubits)`` of ``stdgates.inc`` (see the module docstring);
    ``theta`` and ``x`` may hold numbers or symbols (Qiskit parameters)."""
    if circuit.state_prep != "zero":
        raise ValueError(f"{what} has no standard gate for the amplitude state preparation (an arbitrary state "
                         "x/|x|); export to Qiskit (dpqml.interop.to_qiskit), which prepares it with StatePreparation")
    x = np.zeros(circuit.n_features) if x is None else x
    out = []
    for i, op in enumerate(circuit.operations):
        where = f"operation {i} ({op})"
        a = [angle_value(ang, theta, x) for ang in op.angles]
        w = op.wires
        if op.is_noise or op.is_readout:
            raise ValueError(f"{where}: {what} cannot express noise channels or readout errors (a device brings its "
                             "own noise): export the noiseless circuit, circuit.noiseless()")
        if op.name in _FIXED:
            out.append((_FIXED[op.name], (), w))
        elif op.name in _ROT:
            out.append((_ROT[op.name], (a[0],), w))
        elif op.name in _TWO:
            out.append((_TWO[op.name], (), w))
        elif op.name == "Rot":  # RZ(ω) RY(θ) RZ(φ): φ first
            out += [("rz", (a[0],), w), ("ry", (a[1],), w), ("rz", (a[2],), w)]
        elif op.name == "PauliRot":
            out += _pauli_rotation(op.pauli, w, a[0])
        elif op.name == "Unitary" and len(w) == 1:
            out.append(("U", _zyz(np.asarray(op.matrix)), w))
        else:
            raise ValueError(f"{where}: {what} has no standard gate for a {len(w)}-qubit {op.name}")
    return out


def _pauli_rotation(word: str, wires, angle) -> list:
    """``exp(-i a P / 2)``: each letter rotated to Z, a CNOT ladder onto the last, ``rz(a)``, undone."""
    active = [(w, p) for w, p in zip(wires, word) if p != "I"]
    if not active:
        return []  # a global phase
    pre, post = [], []
    for w, p in active:
        if p == "X":
            pre.append(("h", (), (w,)))
            post.append(("h", (), (w,)))
        elif p == "Y":
            pre.append(("rx", (math.pi / 2,), (w,)))
            post.append(("rx", (-math.pi / 2,), (w,)))
    ladder = [("cx", (), (active[j][0], active[j + 1][0])) for j in range(len(active) - 1)]
    return pre + ladder + [("rz", (angle,), (active[-1][0],))] + ladder[::-1] + post


def _observable_text(obs: Observable) -> str:
    return " + ".join(f"{c!r}*" + ("".join(f"{p}{w}" for w, p in ps.factors) or "I") for c, ps in obs.terms) or "0"


def to_qasm3(circuit: Circuit, theta, x=None) -> str:
    """OpenQASM 3 text of ``circuit`` with ``theta`` (and the features ``x``, if any) bound."""
    theta = np.asarray(theta, dtype=float).reshape(-1)
    if theta.shape != (circuit.n_params,):
        raise ValueError(f"theta must have shape ({circuit.n_params},); got {theta.shape}")
    if circuit.n_features and x is None:
        raise ValueError(f"the circuit takes {circuit.n_features} features: pass x (one example) to bind them")
    x = None if x is None else np.asarray(x, dtype=float).reshape(-1)
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', f"qubit[{circuit.n_qubits}] q;"]
    for k, obs in enumerate(circuit.observables):
        lines.append(f"// dpqml observable {k}: {_observable_text(obs)}")
    for gate, params, qubits in standard_gates(circuit, theta, x):
        args = f"({', '.join(repr(float(p)) for p in params)})" if params else ""
        lines.append(f"{gate}{args} {', '.join(f'q[{q}]' for q in qubits)};")
    return "\n".join(lines) + "\n"


_GATE = re.compile(r"^(\w+)(?:\(([^)]*)\))?\s+(.+);$")
_QUBIT = re.compile(r"^q\[(\d+)\]$")
#: dpqml's name of each standard gate (OpenQASM's and Qiskit's names): what the readers map back.
STANDARD_NAMES = {v: k for k, v in {**_FIXED, **_ROT, **_TWO}.items()}


def from_qasm3(text: str, observables=None) -> Circuit:
    """The circuit of OpenQASM 3 text in the subset :func:`to_qasm3` writes (``stdgates.inc`` gates
    with numeric angles, one register ``q``); ``observables`` default to the ``// dpqml
    observable`` comments. Anything else is refused with its line."""
    n_qubits, ops, comments = None, [], {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^// dpqml observable (\d+): (.*)$", line)
        if m:
            comments[int(m.group(1))] = _parse_observable(m.group(2), number)
            continue
        line = line.split("//", 1)[0].strip()
        if not line or line.startswith("OPENQASM") or line.startswith("include"):
            continue
        m = re.match(r"^qubit\[(\d+)\]\s+q;$", line)
        if m:
            n_qubits = int(m.group(1))
            continue
        m = _GATE.match(line)
        if not m or (m.group(1) not in STANDARD_NAMES and m.group(1) != "U"):
            raise ValueError(f"line {number}: {raw.strip()!r} is not a gate of the subset dpqml reads "
                             f"({sorted(STANDARD_NAMES)} and U)")
        name, params, targets = m.group(1), m.group(2), [t.strip() for t in m.group(3).split(",")]
        qubits = []
        for t in targets:
            qm = _QUBIT.match(t)
            if not qm:
                raise ValueError(f"line {number}: {t!r} is not a qubit q[i]")
            qubits.append(int(qm.group(1)))
        values = [float(v) for v in params.split(",")] if params else []
        if name == "U":
            th, ph, lam = values
            ops += [Operation("RZ", (qubits[0],), (Angle(offset=lam),)),
                    Operation("RY", (qubits[0],), (Angle(offset=th),)),
                    Operation("RZ", (qubits[0],), (Angle(offset=ph),))]
        else:
            ops.append(Operation(STANDARD_NAMES[name], tuple(qubits), tuple(Angle(offset=v) for v in values)))
    if n_qubits is None:
        raise ValueError("no 'qubit[n] q;' declaration")
    if observables is None:
        if not comments:
            raise ValueError("no '// dpqml observable' comments: pass observables=")
        observables = [comments[k] for k in sorted(comments)]
    return Circuit(n_qubits, ops, list(observables), n_params=0)


def _parse_observable(text: str, number: int) -> Observable:
    total = None
    for part in text.split(" + "):
        m = re.match(r"^(\S+)\*(\S+)$", part.strip())
        if not m:
            raise ValueError(f"line {number}: cannot read the observable term {part!r}")
        c, word = float(m.group(1)), m.group(2)
        if word == "I":
            term = c * identity()
        else:
            letters = re.findall(r"([XYZ])(\d+)", word)
            term = c * pauli("".join(p for p, _ in letters), [int(w) for _, w in letters])
        total = term if total is None else total + term
    return total if total is not None else 0.0 * identity()
