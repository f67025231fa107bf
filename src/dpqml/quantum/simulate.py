"""Simulation of a :class:`Circuit` for one example: states, expectation values, shots.

All functions take ``theta`` (trainable angles, real, shape ``(n_params,)``) and ``x``
(features, shape ``(n_features,)``) for a *single* example and are pure JAX: wrap them in
``jax.vmap`` for a batch and ``jax.grad`` / ``jax.jit`` as usual. Precision follows
``theta``: float32 simulates in complex64, float64 (with ``jax_enable_x64``) in complex128.

Differentiation methods for :func:`expectations` on noiseless circuits:

* ``"adjoint"``: a ``jax.custom_vjp`` that keeps only the final state and walks the circuit
  backwards (Jones & Gacon 2020, "Efficient calculation of gradients in classical
  simulations of variational quantum algorithms", arXiv:2009.02823). Memory: a few states
  per example, whatever the depth. The cotangent of each (fused) gate matrix is the 2x2
  (or 4x4) reduced outer product of the adjoint and forward states; JAX's own AD carries it
  to the angles.
* ``"backprop"``: ordinary reverse-mode AD through the kernels (stores one state per
  fused gate).
* ``"tensor-network"``: each Pauli term's ``<0|U† P U|0>`` contracted as a network of small
  tensors inside the observable's light cone (:mod:`.tensornet`), differentiated by AD; its
  cost grows with depth rather than ``2**n``, so it is the fast method for shallow circuits.
* ``"heisenberg"``: the observable evolved backwards once per batch (:mod:`.heisenberg`), for
  small registers that encode first and train afterwards.

Noisy circuits are simulated as density matrices with ``"backprop"``.
"""

from __future__ import annotations

from functools import partial
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from . import kernels as K
from .circuit import Circuit
from .gates import complex_dtype
from .heisenberg import auto_eligible as heisenberg_eligible
from .heisenberg import heisenberg_expectations, split_encoding
from .methods import REGISTRY, why_not
from .pauli import rows_bytes as pauli_rows_bytes
from .program import Program, lower
from .tensornet import Network, build_network, term_values

_PROGRAMS: WeakKeyDictionary = WeakKeyDictionary()
#: Single-qubit gates on up to this many adjacent wires are applied as one matrix (state vector;
#: measured at batch 64: groups of 3 and 4 wires are level, 6 is twice as slow, docs/engine.md).
GROUP_WIRES = 4

METHODS = ("auto", *REGISTRY)
_NETWORKS: WeakKeyDictionary = WeakKeyDictionary()


def program_for(circuit: Circuit, mixed: bool) -> Program:
    cache = _PROGRAMS.setdefault(circuit, {})
    if mixed not in cache:
        cache[mixed] = lower(circuit, mixed=mixed)
    return cache[mixed]


def state_program(circuit: Circuit) -> Program:
    """The state-vector program: :func:`program_for` with single-qubit runs grouped into
    Kronecker steps of up to :data:`GROUP_WIRES` wires (cached)."""
    cache = _PROGRAMS.setdefault(circuit, {})
    if "state" not in cache:
        cache["state"] = lower(circuit, mixed=False, group=GROUP_WIRES)
    return cache["state"]


def network_for(circuit: Circuit) -> Network | None:
    """The tensor networks of ``circuit``'s Pauli terms (cached), or None when the circuit is
    noisy, starts from an amplitude encoding, or is too large for a network."""
    if circuit not in _NETWORKS:
        net = None
        if not circuit.is_noisy and circuit.state_prep == "zero":
            program = lower(circuit, mixed=False, scan=False, permutations=False)
            net = build_network(program, [p for *_, p in _term_table(circuit)])
        _NETWORKS[circuit] = net
    return _NETWORKS[circuit]


def _as_inputs(circuit: Circuit, theta, x):
    theta = jnp.asarray(theta)
    if jnp.iscomplexobj(theta):
        raise ValueError("theta must be real: trainable parameters are real (complex numbers live only "
                         "inside the simulator)")
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.result_type(float))
    if theta.shape != (circuit.n_params,):
        raise ValueError(f"theta must have shape ({circuit.n_params},); got {theta.shape}")
    if x is None:
        x = jnp.zeros((circuit.n_features,), theta.dtype)
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        raise ValueError("x must be real: features are real numbers")
    if x.shape != (circuit.n_features,):
        raise ValueError(f"x must have shape ({circuit.n_features},) for one example; got {x.shape}")
    return theta, x.astype(theta.dtype)


def _initial_state(circuit: Circuit, x, cdt):
    n = circuit.n_qubits
    if circuit.state_prep == "amplitude":
        amp = jnp.zeros((2**n,), cdt).at[: x.shape[0]].set(x.astype(cdt))
        norm = jnp.sqrt(jnp.sum(jnp.abs(amp) ** 2))
        return (amp / norm).reshape((2,) * n)
    return jnp.zeros((2,) * n, cdt).at[(0,) * n].set(1.0)


# ---------------------------------------------------------------------------------------
# forward passes
def _step_payloads(program: Program, angles):
    """Per-step numeric payloads: a matrix for "u", an angle for "pauli", None otherwise."""
    fused = program.fused_matrices(angles) if program.n_chains else []
    out = []
    for kind, _, payload in program.steps:
        if kind in ("u", "sop"):
            out.append(fused[payload] if isinstance(payload, int) else payload(angles))
        elif kind == "kron":
            out.append(K.kron_wires([fused[c] for c in payload]))
        elif kind == "pauli":
            out.append(angles[payload[1]])
        else:
            out.append(None)
    return tuple(out)


def _payloads(program: Program, theta, x):
    """Step payloads for ``(theta, x)``; those that do not depend on ``x`` are computed from
    ``theta`` alone. Under ``vmap`` over examples they then stay unbatched: one matrix shared by
    the batch, so a gate is one matrix product over every example's state (and a tensor
    network contracts its θ-only part once per batch)."""
    values = _step_payloads(program, program.angles(theta, x))
    uses_x = program.feature_steps()
    if all(uses_x):
        return values
    shared = _step_payloads(program, program.angles(theta, jnp.zeros((program.n_features,), theta.dtype)))
    return tuple(v if d else s for v, s, d in zip(values, shared, uses_x))


def _apply_step_pure(psi, step, value, inverse=False):
    kind, wires, payload = step
    if kind in ("u", "kron"):
        m = jnp.conj(value).T if inverse else value
        return K.apply_matrix(psi, m.astype(psi.dtype), wires)
    if kind == "pauli":
        return K.apply_pauli_rotation(psi, -value if inverse else value, payload[0])
    if kind == "cnot":
        return K.apply_cnot(psi, *wires)
    if kind == "perm":
        return K.apply_permutation(psi, jnp.asarray(payload[1] if inverse else payload[0]))
    if kind == "cz":
        return K.apply_cz(psi, *wires)
    if kind == "swap":
        return K.apply_swap(psi, *wires)
    raise AssertionError(kind)


def _apply_step_real(r, step, value, inverse=False):
    """One step on a state in the real layout (:func:`kernels.to_real`). Matrices on adjacent
    wires are real matrix products; permutations and signs act on the qubit axes alone; the
    rest (single-wire gates, Pauli rotations) runs the complex kernel, whose conversions XLA
    fuses into it."""
    kind, wires, payload = step
    if kind in ("u", "kron") and len(wires) > 1 and K.contiguous(wires):
        m = jnp.conj(value).T if inverse else value
        return K.apply_matrix_real(r, K.real_form(m.astype(complex_dtype(r.dtype))), wires)
    if kind in ("cnot", "cz", "swap"):
        return _apply_step_pure(r, step, value, inverse)
    if kind == "perm":
        perm = jnp.asarray(payload[1] if inverse else payload[0])
        return K.apply_permutation(r, perm, tuple(range(r.ndim - 1)))  # the qubit axes; re/im stays
    return K.to_real(_apply_step_pure(K.to_complex(r), step, value, inverse))


def _split(program: Program, values):
    """``(prefix, body, repeats, suffix)``: step ranges of the program, the body's values stacked.

    Each of prefix/suffix is a list of ``(step, value)``; body is ``(steps, stacked values)``
    with values stacked along a new leading axis of length ``repeats`` (``None`` stays None).
    """
    steps = program.steps
    if program.repeat is None:
        return list(zip(steps, values)), None, 0, []
    s, p, r = program.repeat
    body_steps = steps[s : s + p]
    stacked = tuple(
        None if values[s + j] is None else jnp.stack([values[s + k * p + j] for k in range(r)])
        for j in range(p)
    )
    end = s + p * r
    return list(zip(steps[:s], values[:s])), (body_steps, stacked), r, list(zip(steps[end:], values[end:]))


def _run_steps(apply, state, prefix, body, suffix):
    for step, value in prefix:
        state = apply(state, step, value)
    if body is not None:
        body_steps, stacked = body

        def one_block(st, vals):
            for step, value in zip(body_steps, vals):
                st = apply(st, step, value)
            return st, None

        state, _ = jax.lax.scan(one_block, state, stacked)
    for step, value in suffix:
        state = apply(state, step, value)
    return state


def _run_pure(program: Program, values, psi):
    prefix, body, _, suffix = _split(program, values)
    return _run_steps(_apply_step_pure, psi, prefix, body, suffix)


def _run_mixed(program: Program, values, rho):
    prefix, body, _, suffix = _split(program, values)
    return _run_steps(partial(_apply_step_mixed, program.n_qubits), rho, prefix, body, suffix)


def _apply_step_mixed(n, rho, step, value):
    """One density-matrix step: unitaries act on rows and (conjugated) columns."""
    kind, wires, payload = step
    cols = tuple(w + n for w in wires)
    if kind == "u":
        m = value.astype(rho.dtype)
        rho = K.apply_matrix(K.apply_matrix(rho, m, wires), jnp.conj(m), cols)
    elif kind == "sop":
        rho = K.apply_matrix(rho, value.astype(rho.dtype), (wires[0], cols[0]))
    elif kind == "cnot":
        rho = K.apply_cnot(K.apply_cnot(rho, *wires), *cols)
    elif kind == "perm":
        perm = jnp.asarray(payload[0])
        rho = K.apply_permutation(K.apply_permutation(rho, perm, tuple(range(n))), perm, tuple(range(n, 2 * n)))
    elif kind == "cz":
        rho = K.apply_cz(K.apply_cz(rho, *wires), *cols)
    elif kind == "swap":
        rho = K.apply_swap(K.apply_swap(rho, *wires), *cols)
    else:  # pragma: no cover - lower(mixed=True) emits no other kinds
        raise AssertionError(kind)
    return rho


# ---------------------------------------------------------------------------------------
# measurement
def _term_table(circuit: Circuit):
    """Flattened observable terms: ``(observable index, coefficient, readout factor, PauliString)``.

    Independent measurement bit flips with probabilities ``p_w`` scale ``<P>`` by
    ``prod_w (1 - 2 p_w)`` over the wires of ``P`` (the readout factor).
    """
    ro = circuit.readout_errors
    table = []
    for k, obs in enumerate(circuit.observables):
        for c, p in obs.terms:
            factor = float(np.prod([1.0 - 2.0 * ro.get(w, 0.0) for w in p.wires]))
            table.append((k, c, factor, p))
    return table


def _term_values_pure(circuit: Circuit, psi):
    """Exact ``<psi|P_t|psi>`` for every Pauli term (without coefficients)."""
    probs = None
    vals = []
    for *_, p in _term_table(circuit):
        if p.is_diagonal:
            if probs is None:
                probs = jnp.real(psi * jnp.conj(psi))
            vals.append(jnp.sum(probs * K.z_signs(p.wires, psi.ndim, probs.dtype)))
        else:
            vals.append(jnp.real(jnp.vdot(psi, K.apply_pauli_string(psi, p.factors))))
    return jnp.stack(vals) if vals else jnp.zeros((0,), jnp.real(psi).dtype)


def _term_values_mixed(circuit: Circuit, rho):
    n = circuit.n_qubits
    dim = 2**n
    diag = None
    vals = []
    for *_, p in _term_table(circuit):
        if p.is_diagonal:
            if diag is None:
                diag = jnp.real(jnp.diagonal(rho.reshape(dim, dim))).reshape((2,) * n)
            vals.append(jnp.sum(diag * K.z_signs(p.wires, n, diag.dtype)))
        else:
            prho = K.apply_pauli_string(rho, p.factors)
            vals.append(jnp.real(jnp.trace(prho.reshape(dim, dim))))
    return jnp.stack(vals) if vals else jnp.zeros((0,), jnp.real(rho).dtype)


def _combine(circuit: Circuit, term_values, *, readout: bool = True):
    """``<O_k> = sum_t c_t f_t <P_t>`` (``f_t`` the readout factor unless ``readout=False``)."""
    table = _term_table(circuit)
    if not table:  # every observable cancelled to zero terms
        return jnp.zeros((len(circuit.observables),), term_values.dtype)
    idx = np.asarray([k for k, *_ in table], np.int32)
    coef = jnp.asarray([c * (f if readout else 1.0) for _, c, f, _ in table], term_values.dtype)
    return jax.ops.segment_sum(coef * term_values, idx, num_segments=len(circuit.observables))


# ---------------------------------------------------------------------------------------
# adjoint differentiation
def _identity(state):
    return state


#: From this many qubits the adjoint method keeps its states in the real layout
#: (:func:`kernels.to_real`), where grouped gates are real matrix products (measured at batch 64:
#: n = 12, L = 6: 600-670 -> 863 ex/s; n = 16, L = 6: 32 -> 52; but n = 8 slower, 7,200 -> 5,300,
#: where the conversions cost more than the products save).
REAL_LAYOUT_QUBITS = 10


def _adjoint_expectations(circuit: Circuit, program: Program, values, psi0):
    """Adjoint differentiation; from :data:`REAL_LAYOUT_QUBITS` qubits on, in the real layout."""
    table = _term_table(circuit)
    real = circuit.n_qubits >= REAL_LAYOUT_QUBITS
    apply = _apply_step_real if real else _apply_step_pure
    enter, leave = (K.to_real, K.to_complex) if real else (_identity, _identity)

    def final_state(values, psi0):
        prefix, body, _, suffix = _split(program, values)
        return _run_steps(apply, enter(psi0), prefix, body, suffix)

    @jax.custom_vjp
    def run(values, psi0):
        return _combine(circuit, _term_values_pure(circuit, leave(final_state(values, psi0))))

    def fwd(values, psi0):
        r = final_state(values, psi0)
        return _combine(circuit, _term_values_pure(circuit, leave(r))), (values, r)

    def reduce(mu, psi, wires):
        if real and len(wires) > 1 and K.contiguous(wires):
            return K.reduce_outer_real(mu, psi, wires)
        return K.reduce_outer(leave(mu), leave(psi), wires)

    def bwd(res, g):
        values, r = res
        psi = leave(r)
        # lam = O_eff psi with O_eff = sum_k g_k O_k
        lam = jnp.zeros_like(psi)
        for k, c, f, p in table:
            lam = lam + (g[k] * c * f).astype(psi.dtype) * K.apply_pauli_string(psi, p.factors)
        prefix, body, reps, suffix = _split(program, values)

        def back(carry, step, value):
            """Undo one step on (psi, mu), mu = conj(lam); return the step's cotangent."""
            psi, mu = carry
            kind, wires, payload = step
            ct = None
            if kind in ("u", "kron"):
                psi = apply(psi, step, value, inverse=True)
                # d<O>/dM = 2 M_ab with M_ab = sum conj(lam_a) psi_in_b (JAX's complex cotangent)
                ct = (2.0 * reduce(mu, psi, wires)).astype(value.dtype)
                # conj(U^dagger lam) = U^T mu
                mu = apply(mu, step, jnp.conj(value), inverse=True)
                return (psi, mu), ct
            if kind == "pauli":
                # d<O>/dphi = Im <lam| P |psi_out>
                ct = jnp.imag(jnp.sum(leave(mu) * K.apply_pauli_string(leave(psi), payload[0]))).astype(value.dtype)
                psi = apply(psi, step, value, inverse=True)
                # elementwise: XLA fuses the conjugations (and conversions) into the kernel
                mu = enter(jnp.conj(_apply_step_pure(jnp.conj(leave(mu)), step, value, inverse=True)))
                return (psi, mu), ct
            # CZ, CNOT, SWAP and permutations are real: they act on mu as on lam
            psi = apply(psi, step, value, inverse=True)
            mu = apply(mu, step, value, inverse=True)
            return (psi, mu), ct

        carry = (r, enter(jnp.conj(lam)))
        suffix_cts = []
        for step, value in reversed(suffix):
            carry, ct = back(carry, step, value)
            suffix_cts.append(ct)
        body_cts = []
        if body is not None:
            body_steps, stacked = body

            def one_block(c, vals):
                cts = [None] * len(body_steps)
                for j in range(len(body_steps) - 1, -1, -1):
                    c, cts[j] = back(c, body_steps[j], vals[j])
                return c, tuple(cts)

            carry, stacked_cts = jax.lax.scan(one_block, carry, stacked, reverse=True)
            for k in range(reps):
                body_cts += [None if c is None else c[k] for c in stacked_cts]
        prefix_cts = []
        for step, value in reversed(prefix):
            carry, ct = back(carry, step, value)
            prefix_cts.append(ct)
        _, mu = carry
        cts = prefix_cts[::-1] + body_cts + suffix_cts[::-1]
        return tuple(cts), 2.0 * leave(mu)

    run.defvjp(fwd, bwd)
    return run(values, psi0)


# ---------------------------------------------------------------------------------------
# public API
def use_heisenberg(circuit: Circuit) -> bool:
    """Whether ``method="auto"`` picks the Heisenberg-picture method (:mod:`.heisenberg`) for a
    circuit that encodes the data first and trains afterwards:

    * noiseless: small registers, in the region where it was measured faster than the adjoint
      (:func:`.heisenberg.auto_eligible`; ``docs/engine.md``: n <= 4 with observables x parameters
      <= 192, n = 5 with one observable and at most 100 parameters; n = 6 loses);
    * noisy: in the Pauli basis (:mod:`.pauli`) whenever its shared rows fit in
      :data:`PAULI_MAX_ROWS_BYTES` (measured faster than the density matrix at every point of the
      noisy benchmark grid, ``docs/engine.md``).
    """
    if split_encoding(circuit) is None:
        return False
    if circuit.is_noisy:
        return pauli_rows_bytes(circuit) <= PAULI_MAX_ROWS_BYTES
    return heisenberg_eligible(circuit.n_qubits, len(circuit.observables), circuit.n_params)


#: The largest shared sweep (``K·(A + 1)`` rows of ``4**n`` reals, :func:`.pauli.rows_bytes`) that
#: ``auto`` runs in the Pauli basis; past it noisy circuits use the density matrix (backprop).
#: 1 GiB: n = 10 with up to about 250 trainable angles per observable.
PAULI_MAX_ROWS_BYTES = 2**30


#: Cost model of the automatic choice between the tensor network and the state vector (adjoint):
#: seconds per example at batch 64 on this project's 2-core CPU, fitted to per-example-gradient
#: timings of the standard model (n = 4..16, L = 1..6; ``benchmarks/method_costs.py``, whose output
#: is kept in ``benchmarks/results-method-costs.json``) and checked on the re-uploading and strongly
#: entangling ansaetze (``docs/engine.md``). Only the ratio matters. The state vector's cost counts
#: the steps of :func:`state_program` (a Kronecker group of single-qubit gates is one step).
TN_SECONDS_PER_TENSOR = 1.1e-6
TN_SECONDS_PER_FLOP = 0.8e-9
SV_SECONDS = 1.4e-5
SV_SECONDS_PER_STEP = 1.7e-6
SV_SECONDS_PER_AMPLITUDE_STEP = 1.6e-8


def estimated_seconds(circuit: Circuit) -> dict[str, float]:
    """Estimated seconds per example of a per-example gradient, for the methods ``auto`` chooses
    among on a noiseless circuit: ``"adjoint"`` (state vector) and, where a network can be built,
    ``"tensor-network"``."""
    n_steps = len(state_program(circuit).steps)
    per_step = SV_SECONDS_PER_STEP + SV_SECONDS_PER_AMPLITUDE_STEP * 2**circuit.n_qubits
    out = {"adjoint": SV_SECONDS + n_steps * per_step}
    net = network_for(circuit)
    if net is not None:
        out["tensor-network"] = net.n_tensors * TN_SECONDS_PER_TENSOR + net.flops * TN_SECONDS_PER_FLOP
    return out


def use_tensor_network(circuit: Circuit) -> bool:
    """Whether ``method="auto"`` contracts ``circuit`` as a tensor network (:mod:`.tensornet`):
    noiseless, started in ``|0...0>``, and estimated faster than the state vector
    (:func:`estimated_seconds`)."""
    if circuit.is_noisy or circuit.state_prep != "zero":
        return False
    cost = estimated_seconds(circuit)
    return "tensor-network" in cost and cost["tensor-network"] < cost["adjoint"]


def auto_method(circuit: Circuit) -> str:
    """The method ``method="auto"`` uses for ``circuit``: ``"heisenberg"``, ``"tensor-network"``,
    ``"adjoint"`` (noiseless) or ``"backprop"`` (noisy, density matrix)."""
    if use_heisenberg(circuit):
        return "heisenberg"
    if circuit.is_noisy:
        return "backprop"
    if use_tensor_network(circuit):
        return "tensor-network"
    return "adjoint"


def resolve_method(circuit: Circuit, method: str = "auto") -> str:
    """The method :func:`expectations` runs for ``method`` (``"auto"``: :func:`auto_method`)."""
    return auto_method(circuit) if method == "auto" else method


def simulation_kind(circuit: Circuit, method: str = "auto") -> str:
    """What the simulation holds: ``"pauli-basis"`` (noisy, Heisenberg picture),
    ``"density-matrix"``, ``"tensor-network"`` or ``"state-vector"``."""
    resolved = resolve_method(circuit, method)
    if circuit.is_noisy:
        return "pauli-basis" if resolved == "heisenberg" else "density-matrix"
    return "tensor-network" if resolved == "tensor-network" else "state-vector"


def expectations(circuit: Circuit, theta, x=None, *, method: str = "auto"):
    """Exact expectation values ``<O_k>`` for one example, shape ``(n_observables,)``.

    ``method`` picks the differentiation strategy, one of :data:`.methods.REGISTRY` (``"auto"``:
    :func:`auto_method`, by an estimated cost: Heisenberg picture, tensor network or adjoint for
    noiseless circuits; the Heisenberg picture in the Pauli basis for noisy encode-then-train
    circuits, else backprop through the density matrix); a method that cannot run the circuit is
    refused with what it needs. Readout errors scale
    each Pauli term by ``prod_w (1 - 2 p_w)`` over its wires, the exact effect of independent
    measurement bit flips.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    theta, x = _as_inputs(circuit, theta, x)
    cdt = complex_dtype(theta.dtype)
    method = resolve_method(circuit, method)
    refusal = why_not(circuit, method)
    if refusal is not None:
        raise ValueError(refusal)
    if method == "heisenberg":
        return heisenberg_expectations(circuit, theta, x)
    if method == "tensor-network":
        net = network_for(circuit)
        values = _payloads(net.program, theta, x)
        return _combine(circuit, term_values(net, values, cdt)).astype(theta.dtype)
    if circuit.is_noisy:
        rho = density_matrix(circuit, theta, x, _reshape=False)
        return _combine(circuit, _term_values_mixed(circuit, rho)).astype(theta.dtype)
    program = state_program(circuit)
    values = _payloads(program, theta, x)
    psi0 = _initial_state(circuit, x, cdt)
    if method == "backprop":
        psi = _run_pure(program, values, psi0)
        out = _combine(circuit, _term_values_pure(circuit, psi))
    else:
        out = _adjoint_expectations(circuit, program, values, psi0)
    return out.astype(theta.dtype)


def statevector(circuit: Circuit, theta, x=None):
    """Final state of a noiseless circuit, shape ``(2**n_qubits,)``, complex."""
    if circuit.is_noisy:
        raise ValueError("statevector() needs a noiseless circuit; use density_matrix() for noisy ones")
    theta, x = _as_inputs(circuit, theta, x)
    program = state_program(circuit)
    values = _payloads(program, theta, x)
    psi = _run_pure(program, values, _initial_state(circuit, x, complex_dtype(theta.dtype)))
    return psi.reshape(-1)


def density_matrix(circuit: Circuit, theta, x=None, *, _reshape: bool = True):
    """Final density matrix, shape ``(2**n, 2**n)`` (noise channels applied as Kraus maps)."""
    theta, x = _as_inputs(circuit, theta, x)
    n = circuit.n_qubits
    psi0 = _initial_state(circuit, x, complex_dtype(theta.dtype))
    rho0 = (psi0.reshape(-1, 1) * jnp.conj(psi0.reshape(1, -1))).reshape((2,) * (2 * n))
    program = program_for(circuit, mixed=True)
    values = _payloads(program, theta, x)
    rho = _run_mixed(program, values, rho0)
    return rho.reshape(2**n, 2**n) if _reshape else rho


def probabilities(circuit: Circuit, theta, x=None):
    """Computational-basis probabilities of the final state, shape ``(2**n_qubits,)``."""
    if circuit.is_noisy:
        return jnp.real(jnp.diagonal(density_matrix(circuit, theta, x)))
    psi = statevector(circuit, theta, x)
    return jnp.real(psi * jnp.conj(psi))


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
    theta, x = _as_inputs(circuit, theta, x)
    table = _term_table(circuit)
    if circuit.is_noisy:
        rho = density_matrix(circuit, theta, x, _reshape=False)
        vals = _term_values_mixed(circuit, rho)
    else:
        program = state_program(circuit)
        values = _payloads(program, theta, x)
        psi = _run_pure(program, values, _initial_state(circuit, x, complex_dtype(theta.dtype)))
        vals = _term_values_pure(circuit, psi)
    vals = jax.lax.stop_gradient(vals)
    factors = jnp.asarray([f for _, _, f, _ in table], vals.dtype)
    p_plus = jnp.clip((1.0 + factors * vals) / 2.0, 0.0, 1.0)
    counts = jax.random.binomial(key, shots, p_plus, dtype=vals.dtype)
    return _combine(circuit, 2.0 * counts / shots - 1.0, readout=False)
