"""Heisenberg-picture simulation: the trainable part of a circuit computed once per batch.

Most models encode the data first and train afterwards: ``circuit = encoding(x) ; V(θ)``,
where the encoding uses no trainable angle and ``V`` (gates and noise channels) uses no
feature. Then for every example

    <O_k> = Tr[O_k V(ρ_x)] = Σ_ab W_k[a, b] ρ_x[a, b],    W_k(θ) = the observable O_k evolved
                                                           backwards through V (Heisenberg picture),

and ``W_k`` and its Jacobian ``∂W_k/∂θ`` depend on θ alone: under ``vmap`` over a batch they
are computed **once** (JAX leaves values that do not depend on the mapped inputs unbatched),
and each example costs only ``ρ_x`` (the cheap encoding) and contractions of ``d²`` numbers
(``d = 2**n``). Per-example gradients come from a ``custom_vjp`` whose backward pass contracts
the example's cotangent with the stored Jacobian: ``P·K·d²`` operations per example instead of
one simulation per example. The price is a fixed cost per batch: the Jacobian costs about
``n_params · d³`` (the product rule over a few dense factors of ``U``), and for noisy circuits
``n_params · d²`` density-matrix runs. Measured (docs/engine.md), it beats adjoint
differentiation only on small noiseless registers with few parameters and large batches, so
``auto`` uses it only there (:data:`MAX_QUBITS`, :data:`MAX_PARAMS`); ``method="heisenberg"``
forces it.

``W_k`` is built exactly: noiseless ``V`` as the unitary ``U`` (``W_k = (U† O_k U)^T``, ``U``
from the state-vector program run on the ``d`` basis states), noisy ``V`` as the superoperator
from the density-matrix program run on the ``d²`` basis matrices. Readout errors are folded
into ``O_k`` (each Pauli term scaled by ``Π(1 − 2p_w)``), as in the other methods.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import Circuit
from .gates import complex_dtype, pauli_word_matrix

# ``method="auto"`` uses this method for noiseless circuits up to these sizes (measured: docs/engine.md).
MAX_QUBITS = 4
MAX_PARAMS = 48
_SPLITS: WeakKeyDictionary = WeakKeyDictionary()
_OBSERVABLE_FNS: WeakKeyDictionary = WeakKeyDictionary()


def split_encoding(circuit: Circuit):
    """``(encoding, trainable)`` circuits if ``circuit`` = (θ-free ops) then (x-free ops), else ``None``.

    The encoding part is every operation up to the first one whose angle uses θ (readout
    errors are left out of both: they act at measurement). The rest must use no feature.
    """
    if circuit in _SPLITS:
        return _SPLITS[circuit]
    ops = [op for op in circuit.operations if not op.is_readout]
    cut = next((i for i, op in enumerate(ops) if any(a.weights for a in op.angles)), len(ops))
    rest = ops[cut:]
    result = None
    if not any(a.feature is not None for op in rest for a in op.angles):
        result = (circuit.with_operations(ops[:cut]), circuit.with_operations(rest))
    _SPLITS[circuit] = result
    return result


def observable_matrices(circuit: Circuit) -> np.ndarray:
    """``(K, d, d)`` dense observables with readout-error factors folded in."""
    from .simulate import _term_table

    n = circuit.n_qubits
    out = np.zeros((len(circuit.observables), 2**n, 2**n), np.complex128)
    for k, c, f, p in _term_table(circuit):
        letters = ["I"] * n
        for w, letter in p.factors:
            letters[w] = letter
        out[k] += c * f * pauli_word_matrix("".join(letters))
    return out


def _step_dependencies(program) -> list:
    """For each step of ``program``, the θ indices its payload depends on (static analysis of the
    lowering: fused chains -> rotation elements -> angle slots -> θ). ``None``: no θ; a
    multi-qubit gate matrix counts as depending on every θ (conservative)."""
    n_p = program.n_params
    names = ("RX", "RY", "RZ")
    bases, base = {}, 0
    for name in names:
        bases[name] = base
        base += len(program.rot_slots[name])
    n_rot = base
    chain_elems = {}
    for ids, idx in program.chain_groups:
        for g, cid in enumerate(ids):
            chain_elems[cid] = [int(e) for e in idx[g]]

    def slot_of(e):
        for name in reversed(names):
            if e >= bases[name]:
                return int(program.rot_slots[name][e - bases[name]])
        raise AssertionError(e)

    def theta_of(slot):
        return {int(i) for i in (program.weight_idx[slot], program.fweight_idx[slot]) if i < n_p}

    deps = []
    for kind, _, payload in program.steps:
        if kind == "u" and isinstance(payload, int):
            d = set()
            for e in chain_elems[payload]:
                if e < n_rot:
                    d |= theta_of(slot_of(e))
            deps.append(frozenset(d) or None)
        elif kind == "pauli":
            deps.append(frozenset(theta_of(payload[1])) or None)
        elif kind == "u":
            deps.append(frozenset(range(n_p)) or None)
        else:
            deps.append(None)
    return deps


def _dense_factors(program, values, cdt, deps):
    """The program's unitary as a short product ``U = F_m ⋯ F_1`` of ``(d, d)`` factors.

    Single-qubit steps between two entangling steps become one Kronecker product; constant
    steps (CNOT rings, CZ, SWAP) become constant matrices, multiplied together ahead of time.
    Returns ``[(F_j, θ indices F_j depends on, or None), ...]`` in order of application. Few large
    operations keep the compiled graph small, and the factors give the Jacobian by the product
    rule (:func:`_unitary_and_jacobian`).
    """
    from .simulate import _apply_step_pure

    n = program.n_qubits
    d = 2**n
    eye2 = jnp.eye(2, dtype=cdt)
    factors: list = []
    pending: dict = {}
    pending_deps: set = set()

    def push(m, dep):
        if dep is None and factors and factors[-1][1] is None:
            factors[-1] = (m @ factors[-1][0], None)  # constants multiply ahead of time
        else:
            factors.append((m, dep))

    def flush():
        if pending:
            k = pending.get(0, eye2)
            for w in range(1, n):
                k = jnp.kron(k, pending.get(w, eye2))
            push(k, frozenset(pending_deps) or None)
            pending.clear()
            pending_deps.clear()

    for step, value, dep in zip(program.steps, values, deps):
        kind, wires, _ = step
        if kind == "u" and len(wires) == 1:
            w = wires[0]
            m = value.astype(cdt)
            pending[w] = m @ pending[w] if w in pending else m
            pending_deps.update(dep or ())
            continue
        flush()
        if kind in ("u", "pauli"):
            basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
            cols = jax.vmap(lambda e, step=step, value=value: _apply_step_pure(e, step, value).reshape(-1))(basis)
            push(cols.T, dep)
        else:
            with jax.ensure_compile_time_eval():
                basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
                cols = jax.vmap(lambda e, step=step: _apply_step_pure(e, step, None).reshape(-1))(basis)
            push(np.asarray(cols).T, None)
    flush()
    return factors


def _dense_unitary(program, values, cdt):
    """``U`` as one ``(d, d)`` matrix (see :func:`_dense_factors`)."""
    factors = _dense_factors(program, values, cdt, [None] * len(program.steps))
    u = jnp.eye(2**program.n_qubits, dtype=cdt)
    for m, _ in factors:
        u = jnp.asarray(m, cdt) @ u
    return u


def _unitary_and_jacobian(trainable: Circuit, theta):
    """``U`` and ``∂U/∂θ`` ``(P, d, d)`` by the product rule over the factors of :func:`_dense_factors`:
    ``∂U/∂θ_p = Σ_j (F_m ⋯ F_{j+1}) ∂F_j/∂θ_p (F_{j-1} ⋯ F_1)``, each factor differentiated only in
    the parameters it depends on. Cost about ``P · d³`` (forward mode through the whole product
    would cost ``P · depth · d³``)."""
    from .simulate import _step_payloads, program_for

    program = program_for(trainable, mixed=False)
    deps = _step_dependencies(program)
    cdt = complex_dtype(theta.dtype)
    d = 2**trainable.n_qubits
    x0 = jnp.zeros((trainable.n_features,), theta.dtype)

    def factors_of(t):
        return _dense_factors(program, _step_payloads(program, program.angles(t, x0)), cdt, deps)

    factors = factors_of(theta)
    varying = [j for j, (_, dep) in enumerate(factors) if dep is not None]
    # Each factor is cheap (d² numbers): its Jacobian in every θ by forward mode, then keep the
    # columns it depends on.
    jac = jax.jacfwd(lambda t: [jnp.asarray(factors_of(t)[j][0], cdt) for j in varying])(theta)
    mats = [jnp.asarray(m, cdt) for m, _ in factors]
    before = [jnp.eye(d, dtype=cdt)]  # before[j] = F_{j-1} ⋯ F_1 (0-based: product of factors < j)
    for m in mats:
        before.append(m @ before[-1])
    after = [jnp.eye(d, dtype=cdt)] * (len(mats) + 1)  # after[j] = product of factors > j
    for j in range(len(mats) - 1, 0, -1):
        after[j - 1] = after[j] @ mats[j]
    du = jnp.zeros((theta.shape[0], d, d), cdt)
    for j, dj in zip(varying, jac):
        idx = np.asarray(sorted(factors[j][1]), np.int32)
        df = jnp.moveaxis(dj[..., idx], -1, 0)  # (|S_j|, d, d)
        du = du.at[idx].add(after[j] @ df @ before[j])
    return before[-1], du


def _heisenberg_observables(trainable: Circuit, obs: np.ndarray, theta):
    """``W (K, d, d)`` with ``<O_k> = Σ_ab W_k[a,b] ρ[a,b]`` for the input state ρ of ``trainable``."""
    from .simulate import _run_mixed, _step_payloads, program_for

    n = trainable.n_qubits
    d = 2**n
    cdt = complex_dtype(theta.dtype)
    x0 = jnp.zeros((trainable.n_features,), theta.dtype)
    o = jnp.asarray(obs, cdt)
    if not trainable.is_noisy:
        program = program_for(trainable, mixed=False)
        values = _step_payloads(program, program.angles(theta, x0))
        u = _dense_unitary(program, values, cdt)
        a = jnp.einsum("ia,kij,jb->kab", jnp.conj(u), o, u)  # U† O U
        return jnp.swapaxes(a, 1, 2)
    program = program_for(trainable, mixed=True)
    values = _step_payloads(program, program.angles(theta, x0))
    basis = jnp.eye(d * d, dtype=cdt).reshape((d * d,) + (2,) * (2 * n))
    images = jax.vmap(lambda e: _run_mixed(program, values, e).reshape(d, d))(basis)  # S(E_ab), (d², d, d)
    # <O_k> for input E_ab is Tr[O_k S(E_ab)] = Σ_ij O_k[j, i] S(E_ab)[i, j].
    w = jnp.einsum("kji,mij->km", o, images)
    return w.reshape(-1, d, d)


def make_observable_fn(trainable: Circuit, obs: np.ndarray):
    """``theta -> W`` with a VJP that reuses the Jacobian computed in the forward pass.

    Under ``vmap`` over examples (``theta`` unmapped) the forward pass and the Jacobian run once;
    the backward pass per example is one contraction of its cotangent with the Jacobian.
    """

    def w_fn(theta):
        return _heisenberg_observables(trainable, obs, theta)

    @jax.custom_vjp
    def observable(theta):
        w = w_fn(theta)
        return jnp.real(w), jnp.imag(w)

    def fwd(theta):
        w, dw = _w_and_jacobian(theta)
        # Real and imaginary parts: every per-example contraction is then a real GEMM.
        return (jnp.real(w), jnp.imag(w)), (jnp.real(dw), jnp.imag(dw))

    def bwd(res, w_bar):
        (dr, di), (cr, ci) = res, w_bar
        return (jnp.tensordot(cr, dr, axes=cr.ndim) + jnp.tensordot(ci, di, axes=ci.ndim),)

    def _w_and_jacobian(theta):
        p = theta.shape[0]
        if p == 0:
            w = w_fn(theta)
            return w, jnp.zeros(w.shape + (0,), w.dtype)
        if not trainable.is_noisy:
            # W_k = (U† O_k U)^T; ∂(U† O U) = X + X† with X = (O U)† ∂U.
            u, du = _unitary_and_jacobian(trainable, theta)
            o = jnp.asarray(obs, u.dtype)
            ou = jnp.einsum("kij,jb->kib", o, u)
            w = jnp.swapaxes(jnp.einsum("ia,kib->kab", jnp.conj(u), ou), 1, 2)
            x = jnp.einsum("kia,pib->kpab", jnp.conj(ou), du)
            da = x + jnp.conj(jnp.swapaxes(x, -1, -2))
            return w, jnp.moveaxis(jnp.swapaxes(da, -1, -2), 1, -1)  # (K, d, d, P)
        basis = jnp.eye(p, dtype=theta.dtype)
        w, dw = jax.vmap(lambda t: jax.jvp(w_fn, (theta,), (t,)), out_axes=(None, -1))(basis)
        return w, dw

    observable.defvjp(fwd, bwd)
    return observable


def heisenberg_expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one example by the Heisenberg-picture method; ``theta`` and ``x`` validated."""
    from .simulate import _initial_state, _run_mixed, _run_pure, _step_payloads, program_for

    encoding, trainable = split_encoding(circuit)
    cache = _OBSERVABLE_FNS.setdefault(circuit, {})
    if "fn" not in cache:
        cache["fn"] = make_observable_fn(trainable, observable_matrices(circuit))
    w_re, w_im = cache["fn"](theta)
    n = circuit.n_qubits
    d = 2**n
    cdt = complex_dtype(theta.dtype)
    psi0 = _initial_state(circuit, x, cdt)
    if encoding.is_noisy:
        rho0 = (psi0.reshape(-1, 1) * jnp.conj(psi0.reshape(1, -1))).reshape((2,) * (2 * n))
        program = program_for(encoding, mixed=True)
        values = _step_payloads(program, program.angles(jnp.zeros((circuit.n_params,), theta.dtype), x))
        rho = _run_mixed(program, values, rho0).reshape(d, d)
        rho_re, rho_im = jnp.real(rho), jnp.imag(rho)
    else:
        program = program_for(encoding, mixed=False)
        values = _step_payloads(program, program.angles(jnp.zeros((circuit.n_params,), theta.dtype), x))
        psi = _run_pure(program, values, psi0).reshape(-1)
        a, b = jnp.real(psi), jnp.imag(psi)  # ρ = ψψ†: Re ρ = aaᵀ + bbᵀ, Im ρ = baᵀ − abᵀ
        rho_re = a[:, None] * a[None, :] + b[:, None] * b[None, :]
        rho_im = b[:, None] * a[None, :] - a[:, None] * b[None, :]
    # Re Σ_ab W_ab ρ_ab, in real arithmetic.
    return (jnp.einsum("kab,ab->k", w_re, rho_re) - jnp.einsum("kab,ab->k", w_im, rho_im)).astype(theta.dtype)

