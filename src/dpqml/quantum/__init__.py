"""dpqml.quantum: a differentiable state-vector and density-matrix simulator in JAX.

Circuits are data (:class:`Circuit`, :class:`Operation`, :class:`Angle`); observables are
real-weighted Pauli sums (:class:`Observable`); :func:`expectations` evaluates one example
and composes with ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""

from .circuit import Angle, Circuit, Operation
from .gates import all_names
from .memory import check_memory, estimate_memory_bytes
from .observables import Observable, PauliString, X, Y, Z, identity, pauli
from .simulate import (
    METHODS,
    density_matrix,
    expectations,
    probabilities,
    sample_expectations,
    statevector,
    trajectory_bound,
    trajectory_expectations,
)

__all__ = [
    "METHODS",
    "Angle",
    "Circuit",
    "Observable",
    "Operation",
    "PauliString",
    "X",
    "Y",
    "Z",
    "all_names",
    "check_memory",
    "density_matrix",
    "estimate_memory_bytes",
    "expectations",
    "identity",
    "pauli",
    "probabilities",
    "sample_expectations",
    "statevector",
    "trajectory_bound",
    "trajectory_expectations",
]
