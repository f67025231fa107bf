"""Simulation of a :class:`Circuit` for one example: expectation values, states, shots.

All functions take ``theta`` (trainable angles, real, shape ``(n_params,)``) and ``x``
(features, shape ``(n_features,)``) for a *single* example and are pure JAX: wrap them in
``jax.vmap`` for a batch and ``jax.grad`` / ``jax.jit`` as usual. Precision follows
``theta``: float32 simulates in complex64, float64 (with ``jax_enable_x64``) in complex128.

:func:`expectations` runs one of the registered methods (:mod:`.methods`; each in its own
module on the shared core :mod:`.core`):

* ``"adjoint"`` (:mod:`.adjoint`): state vectors, walked backwards by a ``custom_vjp`` (a few
  states per example, whatever the depth);
* ``"backprop"`` (:mod:`.backprop`): the state vector, or the density matrix for noisy circuits,
  differentiated by JAX's reverse mode;
* ``"heisenberg"`` (:mod:`.heisenberg`, :mod:`.pauli_basis`): the observable evolved backwards once
  per batch, for circuits that encode first and train afterwards (noisy ones in the Pauli basis);
* ``"tensor-network"`` (:mod:`.tensornet`): each Pauli term contracted inside its light cone;
* ``"auto"`` (:func:`.methods.auto_method`): the cheapest applicable method by the cost rules of
  :mod:`.costs`.

:func:`trajectory_expectations` estimates instead (:mod:`.trajectories`): noisy circuits as an
average of sampled state vectors, unbiased, with a stated variance; never chosen by ``auto``.
"""

from __future__ import annotations

from functools import partial
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from ..validation import check_count
from . import backprop, core
from . import trajectories as traj
from .circuit import Circuit
from .core import program_for, state_program  # noqa: F401 - re-exported: the lowered programs
from .methods import (  # noqa: F401 - re-exported: the method choice
    METHODS,
    REGISTRY,
    auto_method,
    check_method,
    estimated_seconds,
    resolve_method,
    simulation_kind,
    why_not,
)
from .precision import exact_products
from .tensornet import network_for  # noqa: F401 - re-exported


def expectations(circuit: Circuit, theta, x=None, *, method: str = "auto"):
    """Exact expectation values ``<O_k>`` for one example, shape ``(n_observables,)``.

    ``method`` picks the simulation and differentiation strategy, one of :data:`.methods.METHODS`
    (``"auto"``: :func:`.methods.auto_method`, by an estimated cost: Heisenberg picture, tensor
    network or adjoint for noiseless circuits; the Heisenberg picture in the Pauli basis for noisy
    encode-then-train circuits, else backprop through the density matrix); a method that cannot
    run the circuit is refused with what it needs. Readout errors scale each Pauli term by
    ``prod_w (1 - 2 p_w)`` over its wires, the exact effect of independent measurement bit flips.
    """
    check_method(method)
    theta, x = core.as_inputs(circuit, theta, x)
    method = resolve_method(circuit, method)
    refusal = why_not(circuit, method)
    if refusal is not None:
        raise ValueError(refusal)
    return _compiled(circuit, method)(theta, x)


_COMPILED: WeakKeyDictionary = WeakKeyDictionary()


def _compiled(circuit: Circuit, method: str):
    """The method's expectation function on ``circuit``, compiled once per circuit and method: called
    eagerly (a Jacobian in a notebook, a loop over examples) it would otherwise dispatch every gate
    on its own; inside a caller's ``jit``, ``vmap`` or ``grad`` it composes as any jitted function."""
    cache = _COMPILED.setdefault(circuit, {})
    if method not in cache:
        cache[method] = jax.jit(partial(REGISTRY[method].expectations, circuit))
    return cache[method]


@exact_products
def statevector(circuit: Circuit, theta, x=None):
    """Final state of a noiseless circuit, shape ``(2**n_qubits,)``, complex."""
    if circuit.is_noisy:
        raise ValueError("statevector() needs a noiseless circuit; use density_matrix() for noisy ones")
    theta, x = core.as_inputs(circuit, theta, x)
    return backprop.final_state(circuit, theta, x).reshape(-1)


@exact_products
def density_matrix(circuit: Circuit, theta, x=None):
    """Final density matrix, shape ``(2**n, 2**n)`` (noise channels applied as Kraus maps)."""
    theta, x = core.as_inputs(circuit, theta, x)
    d = 2**circuit.n_qubits
    return backprop.final_density_matrix(circuit, theta, x).reshape(d, d)


def probabilities(circuit: Circuit, theta, x=None):
    """Computational-basis probabilities of the final state, shape ``(2**n_qubits,)``."""
    if circuit.is_noisy:
        return jnp.real(jnp.diagonal(density_matrix(circuit, theta, x)))
    psi = statevector(circuit, theta, x)
    return jnp.real(psi * jnp.conj(psi))


@exact_products
def sample_expectations(circuit: Circuit, theta, x=None, *, shots: int, key):
    """Finite-shot estimates of ``<O_k>``, shape ``(n_observables,)``.

    Each Pauli term is measured ``shots`` times in its eigenbasis: the number of ``+1``
    outcomes is drawn as ``Binomial(shots, (1 + <P>)/2)`` (the exact outcome distribution of
    a single-term measurement, readout error included) and the estimate is
    ``2 k / shots - 1``. Terms are estimated independently. Pass an explicit
    ``jax.random`` key; the estimate is not differentiable (use the parameter-shift rule).
    """
    if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
        raise ValueError(f"shots must be a positive integer; got {shots!r}")
    theta, x = core.as_inputs(circuit, theta, x)
    table = core.term_table(circuit)
    vals = jax.lax.stop_gradient(backprop.term_values(circuit, theta, x))
    factors = jnp.asarray([f for _, _, f, _ in table], vals.dtype)
    p_plus = jnp.clip((1.0 + factors * vals) / 2.0, 0.0, 1.0)
    counts = jax.random.binomial(key, shots, p_plus, dtype=vals.dtype)
    return core.combine(circuit, 2.0 * counts / shots - 1.0, readout=False)


def check_trajectories(trajectories) -> int:
    """``trajectories`` as an int, or ``ValueError`` naming the valid range."""
    return check_count(trajectories, "trajectories", minimum=1, what="sampled trajectories per example")


@exact_products
def trajectory_expectations(circuit: Circuit, theta, x=None, *, key, trajectories: int,
                            return_stderr: bool = False):
    """Monte Carlo estimates of ``<O_k>`` for one example, shape ``(n_observables,)``: the mean
    over ``trajectories`` state vectors, each with every noise channel replaced by one Kraus
    operator drawn with state-independent probabilities (:mod:`.trajectories`).

    The estimate and its gradient in ``theta`` (JAX's reverse mode; the draws do not depend on
    ``theta``) are unbiased. Each Pauli term's estimate has variance at most ``B**2 / trajectories``,
    ``B = trajectory_bound(circuit)`` (1 for Pauli and phase-damping noise, ``prod (1 + γ)`` over
    amplitude-damping channels). ``return_stderr=True`` also returns the sample standard error of
    the mean. ``key`` is a ``jax.random`` key; pass a fresh one for independent estimates.
    Composes with ``jax.jit``, ``jax.vmap`` (over examples and keys) and ``jax.grad``.
    """
    trajectories = check_trajectories(trajectories)
    refusal = why_not(circuit, "trajectories")
    if refusal is not None:
        raise ValueError(refusal)
    theta, x = core.as_inputs(circuit, theta, x)
    mean, stderr = traj.estimate(circuit, theta, x, key, trajectories)
    return (mean, stderr) if return_stderr else mean


trajectory_bound = traj.trajectory_bound
