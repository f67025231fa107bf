"""Readouts: the observables measured at the end of the circuit.

* ``z0``: ``<Z_0>``;
* ``z`` or ``z:0,2``: ``<Z_i>`` on every qubit, or on the listed ones (one value each);
* ``parity``: ``<Z_0 Z_1 ... Z_{n-1}>``;
* ``pauli:XZI...``: any Pauli string, one letter per qubit (``pauli:ZZ+XX`` sums strings).
"""

from __future__ import annotations

from ..quantum import Observable, Z, pauli

READOUTS = ("z0", "z", "z:<wires>", "parity", "pauli:<word>")


def readout(spec: str, n_qubits: int, n_outputs: int | None = None) -> list[Observable]:
    """Observables for the readout ``spec`` (see module docstring)."""
    if spec == "z0":
        return [Z(0)]
    if spec == "z":
        k = n_qubits if n_outputs is None else n_outputs
        if k > n_qubits:
            raise ValueError(f"readout 'z' with {k} outputs needs at least {k} qubits; got {n_qubits}")
        return [Z(i) for i in range(k)]
    if spec.startswith("z:"):
        try:
            wires = [int(w) for w in spec[2:].split(",")]
        except ValueError:
            raise ValueError(f"readout {spec!r}: expected 'z:' followed by comma-separated wires") from None
        bad = [w for w in wires if not 0 <= w < n_qubits]
        if bad:
            raise ValueError(f"readout {spec!r}: wires {bad} out of range 0..{n_qubits - 1}")
        return [Z(w) for w in wires]
    if spec == "parity":
        return [pauli("Z" * n_qubits, range(n_qubits))]
    if spec.startswith("pauli:"):
        total = None
        for word in spec[6:].split("+"):
            if len(word) != n_qubits:
                raise ValueError(f"readout {spec!r}: word {word!r} needs one letter per qubit ({n_qubits})")
            o = pauli(word, range(n_qubits))
            total = o if total is None else total + o
        return [total]
    raise ValueError(f"unknown readout {spec!r}; valid readouts are {list(READOUTS)}")
