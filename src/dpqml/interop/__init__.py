"""dpqml.interop: circuits from and to the tools users already have.

* :func:`from_pennylane`: a PennyLane QNode as a dpqml :class:`~dpqml.quantum.Circuit`
  (:mod:`.pennylane`), with :func:`flatten_weights` for its parameter vector;
* :func:`to_qasm3` / :func:`from_qasm3`: OpenQASM 3 text (:mod:`.export`);
* :func:`to_qiskit`, :func:`observables_to_qiskit`, :func:`from_qiskit`: Qiskit circuits and
  ``SparsePauliOp`` observables (:mod:`.qiskit`; ``pip install 'dpqml[qiskit]'``);
* :func:`save_model` / :func:`load_model`: a trained model and its parameters as one JSON file
  (:mod:`.saving`, which documents the format).
"""

from .export import from_qasm3, standard_gates, to_qasm3
from .pennylane import flatten_weights, from_pennylane
from .qiskit import from_qiskit, observables_to_qiskit, to_qiskit
from .saving import circuit_from_dict, circuit_to_dict, load_model, save_model

__all__ = ["circuit_from_dict", "circuit_to_dict", "flatten_weights", "from_pennylane", "from_qasm3", "from_qiskit",
           "load_model", "observables_to_qiskit", "save_model", "standard_gates", "to_qasm3", "to_qiskit"]
