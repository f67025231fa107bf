"""The standard model used in benchmarks.

``n`` features angle-encoded by ``RY(x_i)`` on qubit ``i``, then ``L`` ``hea`` layers (see
:mod:`dpqml.models.ansatze`), measured by ``<Z_0>``. Trainable angles: ``2 n L``, laid out as
``theta[2*(l*n + i)]`` (RY of layer ``l`` on qubit ``i``) and ``theta[2*(l*n + i) + 1]`` (RZ).
"""

from __future__ import annotations

from ..quantum import Angle, Circuit, Operation, Z
from .ansatze import ansatz


def standard_circuit(n_qubits: int, n_layers: int) -> Circuit:
    """The benchmark circuit: RY(x) encoding, ``n_layers`` ``hea`` layers, readout ``<Z_0>``."""
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise ValueError(f"n_qubits must be an integer >= 1; got {n_qubits!r}")
    if not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1; got {n_layers!r}")
    ops = [Operation("RY", (i,), (Angle(feature=i),)) for i in range(n_qubits)]
    layer_ops, p = ansatz("hea", n_qubits, n_layers)
    return Circuit(n_qubits, ops + layer_ops, [Z(0)], n_params=p, n_features=n_qubits,
                   meta={"name": "standard", "n_layers": n_layers})
