"""Gate and channel catalogue: names, arities and matrices.

Conventions follow PennyLane and Qiskit's textbook definitions, so a circuit can be rebuilt
gate for gate elsewhere:

* ``RX(θ) = exp(-iθX/2)``, ``RY(θ) = exp(-iθY/2)``, ``RZ(θ) = exp(-iθZ/2)``;
* ``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)`` (PennyLane's ``qml.Rot``);
* ``CRX/CRY/CRZ(θ)`` act as ``RX/RY/RZ(θ)`` on the target when the control is ``|1>``;
* ``PauliRot(θ, P) = exp(-iθP/2)`` for a Pauli word ``P`` (PennyLane's ``qml.PauliRot``);
* wire 0 is the most significant bit of a basis-state index (``|q0 q1 ... q_{n-1}>``).

Matrices of parametrised gates are built with ``jax.numpy`` so that they are differentiable
in the angle; fixed matrices are NumPy constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

_SQ2 = 1.0 / np.sqrt(2.0)

#: Fixed single-qubit gate matrices.
FIXED_1Q: dict[str, np.ndarray] = {
    "I": np.eye(2, dtype=np.complex128),
    "H": np.array([[_SQ2, _SQ2], [_SQ2, -_SQ2]], dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
    "S": np.array([[1, 0], [0, 1j]], dtype=np.complex128),
    "T": np.array([[1, 0], [0, np.exp(1j * np.pi / 4)]], dtype=np.complex128),
}

PAULI_MATRICES = {k: FIXED_1Q[k] for k in ("I", "X", "Y", "Z")}

#: Fixed two-qubit gates with dedicated (permutation or sign) kernels.
FIXED_2Q = ("CNOT", "CZ", "SWAP")

#: Parametrised gates: name -> (number of wires, number of angles). ``PauliRot`` takes the
#: number of wires of its Pauli word.
PARAMETRISED: dict[str, tuple[int, int]] = {
    "RX": (1, 1),
    "RY": (1, 1),
    "RZ": (1, 1),
    "Rot": (1, 3),
    "CRX": (2, 1),
    "CRY": (2, 1),
    "CRZ": (2, 1),
    "PauliRot": (-1, 1),
}

#: Noise channels: name -> number of wires. Each takes one probability-like parameter.
CHANNELS = ("Depolarizing", "AmplitudeDamping", "PhaseDamping", "BitFlip", "PhaseFlip")

#: Measurement error: flips the measured bit of a wire with probability p.
READOUT = "ReadoutError"


@dataclass(frozen=True)
class GateInfo:
    name: str
    n_wires: int  # -1: any number (PauliRot, Unitary)
    n_angles: int
    kind: str  # "fixed" | "parametrised" | "unitary" | "channel" | "readout"


#: PennyLane's names of the operations dpqml simulates, accepted as aliases of dpqml's.
ALIASES: dict[str, str] = {
    "Identity": "I", "Hadamard": "H", "PauliX": "X", "PauliY": "Y", "PauliZ": "Z",
    "QubitUnitary": "Unitary", "DepolarizingChannel": "Depolarizing",
}


def canonical_name(name: str) -> str:
    """dpqml's name of an operation given by its name or a PennyLane alias (:data:`ALIASES`)."""
    return ALIASES.get(name, name)


def gate_info(name: str) -> GateInfo:
    """Look up a gate or channel by name (or a PennyLane alias, :data:`ALIASES`); raise
    ``ValueError`` listing the valid names."""
    name = canonical_name(name)
    if name in FIXED_1Q:
        return GateInfo(name, 1, 0, "fixed")
    if name in FIXED_2Q:
        return GateInfo(name, 2, 0, "fixed")
    if name in PARAMETRISED:
        nw, na = PARAMETRISED[name]
        return GateInfo(name, nw, na, "parametrised")
    if name == "Unitary":
        return GateInfo(name, -1, 0, "unitary")
    if name in CHANNELS:
        return GateInfo(name, 1, 0, "channel")
    if name == READOUT:
        return GateInfo(name, 1, 0, "readout")
    raise ValueError(f"unknown operation name {name!r}; valid names are {sorted(all_names())} (PennyLane's "
                     f"{sorted(ALIASES)} are accepted too)")


def all_names() -> list[str]:
    return [*FIXED_1Q, *FIXED_2Q, *PARAMETRISED, "Unitary", *CHANNELS, READOUT]


def complex_dtype(real_dtype):
    """complex64 for float32 (single precision), complex128 for float64 (double)."""
    return jnp.complex128 if jnp.dtype(real_dtype) == jnp.float64 else jnp.complex64


def _cs(theta):
    theta = jnp.asarray(theta)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.result_type(float))
    cdt = complex_dtype(theta.dtype)
    return jnp.cos(theta / 2).astype(cdt), jnp.sin(theta / 2).astype(cdt)


def rx(theta):
    c, s = _cs(theta)
    return jnp.array([[c, -1j * s], [-1j * s, c]])


def ry(theta):
    c, s = _cs(theta)
    return jnp.array([[c, -s], [s, c]])


def rz(theta):
    c, s = _cs(theta)
    zero = c * 0
    return jnp.array([[c - 1j * s, zero], [zero, c + 1j * s]])


def rot(phi, theta, omega):
    """PennyLane's ``Rot``: ``RZ(omega) @ RY(theta) @ RZ(phi)``."""
    return rz(omega) @ ry(theta) @ rz(phi)


ROTATIONS_1Q = {"RX": rx, "RY": ry, "RZ": rz}


def controlled(u):
    """4x4 matrix of a controlled ``u`` (control = first wire)."""
    z = jnp.zeros((2, 2), dtype=u.dtype)
    eye = jnp.eye(2, dtype=u.dtype)
    return jnp.block([[eye, z], [z, u]])


def pauli_word_matrix(word: str) -> np.ndarray:
    """Kronecker product of the Pauli matrices of ``word`` (first letter = first wire)."""
    m = np.ones((1, 1), dtype=np.complex128)
    for letter in word:
        m = np.kron(m, PAULI_MATRICES[letter])
    return m


def pauli_rotation(word: str, theta):
    """``exp(-i theta P / 2) = cos(theta/2) 1 - i sin(theta/2) P`` as a dense matrix, ``P`` the
    Kronecker product of ``word`` (first letter = first wire)."""
    c, s = _cs(theta)
    p = pauli_word_matrix(word)
    return c * jnp.asarray(np.eye(p.shape[0]), c.dtype) - 1j * s * jnp.asarray(p, c.dtype)


def kraus_operators(name: str, p) -> list:
    """Kraus operators of a single-qubit channel with parameter ``p`` (PennyLane conventions).

    * ``Depolarizing(p)``: ``sqrt(1-p) I, sqrt(p/3) X, sqrt(p/3) Y, sqrt(p/3) Z``;
    * ``AmplitudeDamping(γ)``: ``[[1,0],[0,sqrt(1-γ)]]``, ``[[0,sqrt γ],[0,0]]``;
    * ``PhaseDamping(γ)``: ``[[1,0],[0,sqrt(1-γ)]]``, ``[[0,0],[0,sqrt γ]]``;
    * ``BitFlip(p)``: ``sqrt(1-p) I, sqrt(p) X``; ``PhaseFlip(p)``: ``sqrt(1-p) I, sqrt(p) Z``.
    """
    eye, x, y, z = (PAULI_MATRICES[k] for k in "IXYZ")
    if name == "Depolarizing":
        return [np.sqrt(1 - p) * eye, np.sqrt(p / 3) * x, np.sqrt(p / 3) * y, np.sqrt(p / 3) * z]
    if name == "AmplitudeDamping":
        return [np.array([[1, 0], [0, np.sqrt(1 - p)]]), np.array([[0, np.sqrt(p)], [0, 0]])]
    if name == "PhaseDamping":
        return [np.array([[1, 0], [0, np.sqrt(1 - p)]]), np.array([[0, 0], [0, np.sqrt(p)]])]
    if name == "BitFlip":
        return [np.sqrt(1 - p) * eye, np.sqrt(p) * x]
    if name == "PhaseFlip":
        return [np.sqrt(1 - p) * eye, np.sqrt(p) * z]
    raise ValueError(f"unknown channel {name!r}; valid channels are {list(CHANNELS)}")
