"""Ansätze: trainable circuit layers, as lists of :class:`~dpqml.quantum.Operation`.

Every builder takes the wires it acts on and the index of its first trainable parameter,
and returns ``(operations, n_params_used)``, so layers compose into one parameter vector
``theta``. The gate order below is exact: rebuild it gate for gate in PennyLane or Qiskit.

``hea`` (hardware-efficient), per layer ``l`` on ``n`` qubits::

    for i in 0..n-1:  RY(theta[o + 2*(l*n + i)]) on i, then RZ(theta[o + 2*(l*n + i) + 1]) on i
    for i in 0..n-1:  CNOT(i, (i + 1) mod n)          # no CNOT for n = 1; n = 2 gives 0→1, 1→0

``strongly_entangling``, per layer ``l`` (PennyLane's ``StronglyEntanglingLayers`` with the
default ranges ``r = l mod (n - 1) + 1``)::

    for i in 0..n-1:  Rot(theta[o+3(l n+i)], theta[o+3(l n+i)+1], theta[o+3(l n+i)+2]) on i
                      # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)
    for i in 0..n-1:  CNOT(i, (i + r) mod n)          # only for n > 1
"""

from __future__ import annotations

from ..quantum import Angle, Operation

ANSATZE = ("hea", "strongly-entangling")


def hea_layer(n_qubits: int, layer: int, offset: int = 0) -> tuple[list[Operation], int]:
    """One hardware-efficient layer: RY·RZ on every qubit, then a CNOT ring."""
    ops: list[Operation] = []
    base = offset + 2 * layer * n_qubits
    for i in range(n_qubits):
        ops.append(Operation("RY", (i,), (Angle(weight=base + 2 * i),)))
        ops.append(Operation("RZ", (i,), (Angle(weight=base + 2 * i + 1),)))
    if n_qubits > 1:
        ops += [Operation("CNOT", (i, (i + 1) % n_qubits)) for i in range(n_qubits)]
    return ops, 2 * n_qubits


def strongly_entangling_layer(n_qubits: int, layer: int, offset: int = 0) -> tuple[list[Operation], int]:
    """One strongly entangling layer (PennyLane's ``StronglyEntanglingLayers`` convention)."""
    ops: list[Operation] = []
    base = offset + 3 * layer * n_qubits
    for i in range(n_qubits):
        k = base + 3 * i
        ops.append(Operation("Rot", (i,), (Angle(weight=k), Angle(weight=k + 1), Angle(weight=k + 2))))
    if n_qubits > 1:
        r = layer % (n_qubits - 1) + 1
        ops += [Operation("CNOT", (i, (i + r) % n_qubits)) for i in range(n_qubits)]
    return ops, 3 * n_qubits


LAYERS = {"hea": hea_layer, "strongly-entangling": strongly_entangling_layer}


def ansatz(name: str, n_qubits: int, n_layers: int, offset: int = 0) -> tuple[list[Operation], int]:
    """``n_layers`` layers of ansatz ``name``; returns ``(operations, n_params_used)``."""
    if name not in LAYERS:
        raise ValueError(f"unknown ansatz {name!r}; valid ansätze are {list(LAYERS)}")
    ops: list[Operation] = []
    used = 0
    for layer in range(n_layers):
        layer_ops, k = LAYERS[name](n_qubits, layer, offset)
        ops += layer_ops
        used += k
    return ops, used
