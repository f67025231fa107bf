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


def _schedule(program, values, cdt, deps):
    """Group the program's steps for a dense product ``U = F_m ⋯ F_1``.

    Single-qubit steps are scheduled as early as commutation allows (a gate on wire ``w`` moves
    back past every step that does not touch ``w``) and grouped into one Kronecker product per
    group: an ``hea`` layer becomes one Kronecker product and one constant permutation matrix.
    Constant steps (CNOT rings, CZ, SWAP) become constant matrices, multiplied together ahead of
    time. Returns groups in order of application: ``("1q", {wire: (2, 2)}, θ indices)`` or
    ``("m", (d, d), θ indices)``.
    """
    from .simulate import _apply_step_pure

    n = program.n_qubits
    d = 2**n
    # groups: ("1q", {wire: 2x2}, deps) or ("m", matrix, deps); frontier[w]: last group touching w
    groups: list = []
    frontier = [-1] * n
    for step, value, dep in zip(program.steps, values, deps):
        kind, wires, _ = step
        if kind == "u" and len(wires) == 1:
            w = wires[0]
            g = next((i for i in range(frontier[w] + 1, len(groups)) if groups[i][0] == "1q"), None)
            if g is None:
                groups.append(("1q", {}, set()))
                g = len(groups) - 1
            mats, gdeps = groups[g][1], groups[g][2]
            m = value.astype(cdt)
            mats[w] = m @ mats[w] if w in mats else m
            gdeps.update(dep or ())
            frontier[w] = g
            continue
        if kind in ("u", "pauli"):
            basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
            cols = jax.vmap(lambda e, step=step, value=value: _apply_step_pure(e, step, value).reshape(-1))(basis)
            groups.append(("m", cols.T, set(dep or ())))
        else:
            with jax.ensure_compile_time_eval():
                basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
                cols = jax.vmap(lambda e, step=step: _apply_step_pure(e, step, None).reshape(-1))(basis)
            groups.append(("m", np.asarray(cols).T, set()))
        for w in wires:
            frontier[w] = len(groups) - 1
        if kind == "perm":  # a permutation step lists only the wires it touches; be safe: all wires
            frontier = [len(groups) - 1] * n

    return groups


def _kron(mats: list):
    """Kronecker product of ``(2, 2)`` or batched ``(B, 2, 2)`` matrices (wire 0 first)."""
    batch = next((m.shape[0] for m in mats if m.ndim == 3), None)
    if batch is None:
        out = mats[0]
        for m in mats[1:]:
            out = jnp.kron(out, m)
        return out
    out = jnp.broadcast_to(mats[0], (batch, 2, 2))
    for m in mats[1:]:
        m = jnp.broadcast_to(m, (batch, 2, 2))
        out = jnp.einsum("bij,bkl->bikjl", out, m).reshape(batch, out.shape[1] * 2, out.shape[2] * 2)
    return out


def _dense_unitary(program, values, cdt):
    """``U`` as one ``(d, d)`` matrix: the product of the groups of :func:`_schedule`."""
    n = program.n_qubits
    eye2 = jnp.eye(2, dtype=cdt)
    u = jnp.eye(2**n, dtype=cdt)
    for kind, payload, _ in _schedule(program, values, cdt, [None] * len(program.steps)):
        m = _kron([payload.get(w, eye2) for w in range(n)]) if kind == "1q" else jnp.asarray(payload, cdt)
        u = m @ u
    return u


def _unitary_and_jacobian(trainable: Circuit, theta):
    """``U`` and ``∂U/∂θ`` ``(P, d, d)`` by the product rule over the groups of :func:`_schedule`
    (constant groups multiplied ahead of time):
    ``∂U/∂θ_p = Σ_j (F_m ⋯ F_{j+1}) ∂F_j/∂θ_p (F_{j-1} ⋯ F_1)``, each factor differentiated only in
    the parameters it depends on; a Kronecker factor through its ``2 × 2`` matrices (forward mode
    on those only). Cost about ``P · d³`` (forward mode through the whole product would cost
    ``P · depth · d³``)."""
    from .simulate import _step_payloads, program_for

    program = program_for(trainable, mixed=False)
    deps = _step_dependencies(program)
    cdt = complex_dtype(theta.dtype)
    n = trainable.n_qubits
    d = 2**n
    x0 = jnp.zeros((trainable.n_features,), theta.dtype)
    eye2 = jnp.eye(2, dtype=cdt)

    def groups_of(t):
        return _schedule(program, _step_payloads(program, program.angles(t, x0)), cdt, deps)

    def varying(t):  # what depends on θ: the 2x2 matrices of single-qubit groups, other matrices
        return [payload for _, payload, gdeps in groups_of(t) if gdeps]

    groups = groups_of(theta)
    jac = iter(jax.jacfwd(varying)(theta))
    factors: list = []  # (matrix, θ indices, derivative stack (|S|, d, d)) in order of application
    for kind, payload, gdeps in groups:
        if kind == "1q":
            mats = [payload.get(w, eye2) for w in range(n)]
            m = _kron(mats)
        else:
            m = jnp.asarray(payload, cdt)
        if not gdeps:
            if factors and factors[-1][1] is None:
                factors[-1] = (m @ factors[-1][0], None, None)
            else:
                factors.append((m, None, None))
            continue
        idx = np.asarray(sorted(gdeps), np.int32)
        j = next(jac)
        if kind == "1q":  # ∂(⊗_w m_w) = Σ_w m_0 ⊗ … ⊗ ∂m_w ⊗ … ⊗ m_{n-1}
            dm = sum(_kron([jnp.moveaxis(j[w][..., idx], -1, 0) if v == w else mats[v] for v in range(n)])
                     for w in j)
        else:
            dm = jnp.moveaxis(j[..., idx], -1, 0)
        factors.append((m, idx, dm))
    before = [jnp.eye(d, dtype=cdt)]  # before[j]: product of the factors applied before factor j
    for m, _, _ in factors:
        before.append(m @ before[-1])
    after = [jnp.eye(d, dtype=cdt)] * len(factors)  # after[j]: product of the factors applied after j
    for k in range(len(factors) - 1, 0, -1):
        after[k - 1] = after[k] @ factors[k][0]
    du = jnp.zeros((theta.shape[0], d, d), cdt)
    for k, (_, idx, dm) in enumerate(factors):
        if idx is not None:
            du = du.at[idx].add(after[k] @ dm @ before[k])
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
    program = program_for(encoding, mixed=encoding.is_noisy)
    # The encoding uses no θ: any vector of the right length will do.
    values = _step_payloads(program, program.angles(jnp.zeros((circuit.n_params,), theta.dtype), x))
    if encoding.is_noisy:
        rho0 = (psi0.reshape(-1, 1) * jnp.conj(psi0.reshape(1, -1))).reshape((2,) * (2 * n))
        rho = _run_mixed(program, values, rho0).reshape(d, d)
        rho_re, rho_im = jnp.real(rho), jnp.imag(rho)
    else:
        psi = _run_pure(program, values, psi0).reshape(-1)
        a, b = jnp.real(psi), jnp.imag(psi)  # ρ = ψψ†: Re ρ = aaᵀ + bbᵀ, Im ρ = baᵀ − abᵀ
        rho_re = a[:, None] * a[None, :] + b[:, None] * b[None, :]
        rho_im = b[:, None] * a[None, :] - a[:, None] * b[None, :]
    # Re Σ_ab W_ab ρ_ab, in real arithmetic.
    return (jnp.einsum("kab,ab->k", w_re, rho_re) - jnp.einsum("kab,ab->k", w_im, rho_im)).astype(theta.dtype)

