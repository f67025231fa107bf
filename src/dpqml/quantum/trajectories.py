"""The trajectories method: a noisy circuit's expectation values as an average over sampled
state vectors (Monte Carlo wave functions), for registers too wide for a density matrix.

Every noise channel ``E(ρ) = Σ_i K_i ρ K_i†`` is *unravelled* with probabilities ``q_i`` fixed in
advance (they never depend on the state, so on neither the parameters nor the features): a
trajectory draws one index ``i`` per channel and applies ``K_i / sqrt(q_i)`` to its (unnormalised)
state vector. Then ``E[|ψ̃⟩⟨ψ̃|] = Σ_i q_i K_i ρ K_i† / q_i = E(ρ)`` channel by channel, so

* ``⟨ψ̃|P|ψ̃⟩`` is an **unbiased** estimate of the exact ``tr(P ρ_final)`` for every Pauli term, and
* its gradient in the parameters (JAX's reverse mode, the draws held fixed) is an unbiased
  estimate of the exact gradient: the sampling distribution does not depend on the parameters.
  (The usual quantum-jump unravelling draws with state-dependent probabilities: its estimates
  are unbiased, but differentiating them with the draws fixed is not.)

Which Kraus form, which ``q``: mixed-unitary channels use their unitary form, ``q_i = p_i`` and
``K_i / sqrt(q_i)`` a Pauli matrix (depolarizing, bit and phase flips; phase damping ``γ`` is the
phase flip ``p = (1 - sqrt(1 - γ)) / 2``), so every trajectory stays normalised. Other channels
(amplitude damping) take ``q_i ∝ ‖K_i‖²`` (operator norm), so ``‖K_i / sqrt(q_i)‖² = b`` with
``b = Σ_i ‖K_i‖²`` (``1 + γ`` for amplitude damping).

**The stated variance.** With ``B = Π_channels b`` (:func:`trajectory_bound`; exactly 1 for
Pauli and phase-damping noise), every trajectory's value of a Pauli term lies in ``[-B, B]``, so
the mean of ``M`` trajectories has variance at most ``B² / M`` per term, and an observable
``Σ_t c_t P_t`` at most ``(B Σ_t |c_t|)² / M`` (readout factors ``≤ 1`` only shrink it).
:func:`estimate` also returns the sample standard error of the mean.

A trajectory costs one state vector: ``2**n`` amplitudes instead of the ``4**n`` of a density
matrix, with the circuit's single-qubit gates and the drawn Kraus operators fused into the same
chains as a noiseless circuit's. The estimate is random, so ``method="auto"`` never picks this
method and :func:`expectations` (the registry's exact interface) refuses it: call
:func:`dpqml.quantum.trajectory_expectations` with a PRNG key and a number of trajectories, or
train with ``TrainConfig(method="trajectories", trajectories=M)``.

The method's interface (:mod:`.methods`): :func:`needs`, :func:`expectations`,
:func:`auto_seconds`, :func:`memory_bytes`, :func:`holds`.
"""

from __future__ import annotations

import math
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from . import core
from . import gates as G
from .circuit import Circuit
from .costs import GROUP_WIRES
from .program import Program, lower

_TABLES: WeakKeyDictionary = WeakKeyDictionary()

#: How :func:`expectations` refuses: the estimate needs randomness the exact interface has not.
ESTIMATE_ONLY = (
    "method='trajectories' estimates <O> from sampled state vectors (Monte Carlo, unbiased, not exact "
    "values): call dpqml.quantum.trajectory_expectations(circuit, theta, x, key=..., trajectories=M), or "
    "train with TrainConfig(method='trajectories', trajectories=M); for exact values use method='auto', "
    "'heisenberg' or 'backprop'"
)

_PAULI = {k: np.asarray(v, np.complex128) for k, v in G.PAULI_MATRICES.items()}


def unravelling(name: str, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``(q, ops)``: the probabilities ``q`` (shape ``(m,)``) with which a trajectory draws each
    operator, and the operators ``K_i / sqrt(q_i)`` it then applies (``(m, 2, 2)``; zero where
    ``q_i = 0``), so that ``Σ_i q_i ops_i ρ ops_i† = E(ρ)`` for the channel ``name`` of strength ``p``."""
    eye, x, y, z = (_PAULI[k] for k in "IXYZ")
    if name == "Depolarizing":
        return np.array([1 - p, p / 3, p / 3, p / 3]), np.stack([eye, x, y, z])
    if name == "BitFlip":
        return np.array([1 - p, p]), np.stack([eye, x])
    if name == "PhaseFlip":
        return np.array([1 - p, p]), np.stack([eye, z])
    if name == "PhaseDamping":  # coherences scale by sqrt(1 - γ): the phase flip with 1 - 2 p' = sqrt(1 - γ)
        flip = (1.0 - math.sqrt(1.0 - p)) / 2.0
        return np.array([1 - flip, flip]), np.stack([eye, z])
    kraus = [np.asarray(k, np.complex128) for k in G.kraus_operators(name, p)]
    norms = np.array([np.linalg.norm(k, 2) ** 2 for k in kraus])
    q = norms / norms.sum()
    ops = np.stack([k / math.sqrt(qi) if qi > 0 else np.zeros_like(k) for k, qi in zip(kraus, q)])
    return q, ops


def channel_bound(name: str, p: float) -> float:
    """``b = max_i ‖ops_i‖²`` of :func:`unravelling`: how much one channel can grow a trajectory's
    norm (1 for mixed-unitary channels, ``1 + γ`` for amplitude damping)."""
    q, ops = unravelling(name, p)
    return float(max(np.linalg.norm(o, 2) ** 2 for o, qi in zip(ops, q) if qi > 0))


def trajectory_bound(circuit: Circuit) -> float:
    """``B``: every trajectory's value of every Pauli term lies in ``[-B, B]`` (the product of
    :func:`channel_bound` over the circuit's channels), so ``M`` trajectories estimate each term
    with variance at most ``B² / M``."""
    return float(np.prod([channel_bound(op.name, op.prob) for op in circuit.operations if op.is_noise]))


def _tables(circuit: Circuit):
    """``(program, log q (C, m), ops (C, m, 2, 2))`` for the circuit's ``C`` channels (cached)."""
    if circuit not in _TABLES:
        program = lower(circuit, mixed=False, group=GROUP_WIRES, kraus=True)
        unr = [unravelling(op.name, op.prob) for op in circuit.operations if op.is_noise]
        m = max((len(q) for q, _ in unr), default=1)
        logq = np.full((len(unr), m), -np.inf)
        ops = np.zeros((len(unr), m, 2, 2), np.complex128)
        for c, (q, o) in enumerate(unr):
            with np.errstate(divide="ignore"):
                logq[c, : len(q)] = np.log(q)
            ops[c, : len(q)] = o
        _TABLES[circuit] = (program, logq, ops)
    return _TABLES[circuit]


def program_for(circuit: Circuit) -> Program:
    """The state-vector program whose chains take each channel's drawn operator (cached)."""
    return _tables(circuit)[0]


def draw(circuit: Circuit, key, dtype=jnp.complex64):
    """One trajectory's operators, ``(C, 2, 2)``: ``ops[c, i_c]`` with ``i_c ~ q_c`` independently."""
    _, logq, ops = _tables(circuit)
    if not len(ops):
        return jnp.zeros((0, 2, 2), dtype)
    idx = jax.random.categorical(key, jnp.asarray(logq), axis=-1)
    return jnp.asarray(ops, dtype)[jnp.arange(len(ops)), idx]


def term_values_given(circuit: Circuit, theta, x, kraus):
    """``⟨ψ̃|P_t|ψ̃⟩`` of every Pauli term for the trajectory that applies the operators ``kraus``
    (``(C, 2, 2)``, as :func:`draw` returns them); differentiable in ``theta`` and ``x``."""
    program = program_for(circuit)
    cdt = G.complex_dtype(theta.dtype)
    kraus = jnp.asarray(kraus).astype(cdt)
    psi = core.run_pure(program, core.payloads(program, theta, x, kraus), core.initial_state(circuit, x, cdt))
    return core.term_values_pure(circuit, psi)


def term_values(circuit: Circuit, theta, x, key):
    """One sampled trajectory's ``⟨ψ̃|P_t|ψ̃⟩`` (an unbiased estimate of the exact term values)."""
    return term_values_given(circuit, theta, x, draw(circuit, key, G.complex_dtype(theta.dtype)))


def estimate(circuit: Circuit, theta, x, key, trajectories: int):
    """``(mean, stderr)``, both ``(n_observables,)``: ``<O_k>`` averaged over ``trajectories``
    sampled trajectories (unbiased, readout errors applied exactly) and the sample standard error
    of that mean (0 for a single trajectory)."""
    keys = jax.random.split(key, trajectories)
    per = jax.vmap(lambda k: core.combine(circuit, term_values(circuit, theta, x, k)))(keys)
    mean = jnp.mean(per, axis=0).astype(theta.dtype)
    if trajectories < 2:
        return mean, jnp.zeros_like(mean)
    return mean, (jnp.std(per, axis=0, ddof=1) / math.sqrt(trajectories)).astype(theta.dtype)


# -- the method's interface (:mod:`.methods`) ---------------------------------------------------

def needs(circuit: Circuit) -> str | None:
    return None if circuit.is_noisy else "noise channels (a noiseless circuit has one trajectory: use an exact method)"


def holds(circuit: Circuit) -> str:
    return "trajectories"


def auto_seconds(circuit: Circuit) -> float | None:
    """Never chosen by ``auto``: it estimates, and ``auto`` promises exact values."""
    return None


def memory_bytes(circuit: Circuit, batch: int, itemsize: int, gradients: bool) -> int:
    """One state vector per fused step and trajectory while differentiating (reverse mode), 3
    otherwise; ``batch`` counts the trajectories held at once (examples times trajectories)."""
    live = len(program_for(circuit).steps) + 3 if gradients else 3
    return int(itemsize * 2**circuit.n_qubits * live * batch)


def expectations(circuit: Circuit, theta, x):
    raise ValueError(ESTIMATE_ONLY)
