"""The backprop method: the state vector, or for noisy circuits the density matrix, run forward
and differentiated by JAX's reverse mode (one stored state per fused step).

For noisy circuits it is the method that runs everything: ``auto`` falls back on it where the
Pauli basis (:mod:`.pauli_basis`) cannot (a feature after a trainable angle, as in re-uploading, or
rows too large). Noise channels act as fused superoperators on (row, column) axis pairs.

The method's interface (:mod:`.methods`): :func:`needs`, :func:`expectations`,
:func:`auto_seconds`, :func:`memory_bytes`, :func:`holds`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from . import core
from .circuit import Circuit
from .gates import complex_dtype


def needs(circuit: Circuit) -> str | None:
    return None


def holds(circuit: Circuit) -> str:
    return "density-matrix" if circuit.is_noisy else "state-vector"


def auto_seconds(circuit: Circuit) -> float | None:
    """Noiseless: never chosen (the adjoint method is measured faster everywhere). Noisy: the
    fallback (``inf``), chosen only where nothing else runs the circuit."""
    return math.inf if circuit.is_noisy else None


def memory_bytes(circuit: Circuit, batch: int, itemsize: int, gradients: bool) -> int:
    """One state (``2**n`` amplitudes, ``4**n`` for a density matrix) per fused step and example
    while differentiating, 3 otherwise."""
    noisy = circuit.is_noisy
    per_state = itemsize * (4**circuit.n_qubits if noisy else 2**circuit.n_qubits)
    live = len(core.program_for(circuit, mixed=noisy).steps) + 3 if gradients else 3
    return int(per_state * live * batch)


def final_state(circuit: Circuit, theta, x):
    """The final state vector, shape ``(2,) * n`` (noiseless circuits)."""
    program = core.state_program(circuit)
    values = core.payloads(program, theta, x)
    return core.run_pure(program, values, core.initial_state(circuit, x, complex_dtype(theta.dtype)))


def final_density_matrix(circuit: Circuit, theta, x):
    """The final density matrix, shape ``(2,) * 2n`` (row axes, then column axes)."""
    n = circuit.n_qubits
    psi0 = core.initial_state(circuit, x, complex_dtype(theta.dtype))
    rho0 = (psi0.reshape(-1, 1) * jnp.conj(psi0.reshape(1, -1))).reshape((2,) * (2 * n))
    program = core.program_for(circuit, mixed=True)
    return core.run_mixed(program, core.payloads(program, theta, x), rho0)


def term_values(circuit: Circuit, theta, x):
    """Exact ``<P_t>`` of every Pauli term of the observables (no coefficients, no readout)."""
    if circuit.is_noisy:
        return core.term_values_mixed(circuit, final_density_matrix(circuit, theta, x))
    return core.term_values_pure(circuit, final_state(circuit, theta, x))


def expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one validated example."""
    return core.combine(circuit, term_values(circuit, theta, x)).astype(theta.dtype)
