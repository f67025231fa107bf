"""Heisenberg-picture simulation: the trainable part of a circuit computed once per batch.

Most models encode the data first and train afterwards: ``circuit = encoding(x) ; V(θ)``,
where the encoding uses no trainable angle and ``V`` (gates and noise channels) uses no
feature. Then for every example

    <O_k> = Tr[O_k V(ρ_x)] = Σ_ab W_k[a, b] ρ_x[a, b],    W_k(θ) = the observable O_k evolved
                                                           backwards through V (Heisenberg picture),

and ``W_k`` and its Jacobian ``∂W_k/∂θ`` depend on θ alone: under ``vmap`` over a batch they
are computed **once** (JAX leaves values that do not depend on the mapped inputs unbatched),
and each example costs only its encoding and contractions of ``d²`` numbers (``d = 2**n``).
Per-example gradients come from a ``custom_vjp`` whose backward pass contracts the example
with the stored Jacobian: ``P·K·d²`` operations per example instead of one simulation per
example. For a pure encoded state ``ψ`` this is ``vᵀ ∂M/∂θ v`` with ``v`` the real form of ``ψ``
(:func:`make_pure_fn`; ``v = Re ψ`` when the encoding is real, as RY angle encoding is), one
matrix product per batch; a product-state encoding (single-qubit gates on ``|0…0>``) is built
as a Kronecker product of 2-vectors. A real product state ``v = ⊗_w (α_w, β_w)`` goes further
(:func:`make_product_fn`): ``v vᵀ`` has only ``3**n`` distinct entries, ``⊗_w (α², αβ, β²)``, so
the Jacobian is summed once per batch onto them and each example costs one product with ``3**n``
numbers instead of ``4**n`` (n=4, batch 64, in a compiled loop: about 15% less time per batch at
six layers, 8% at two; docs/engine.md). The price is a fixed cost per batch: the Jacobian costs
about ``n_params · d³`` (the product rule over a few dense factors of ``U``, each factor's
parameters stacked into two large matrix products), and for noisy circuits ``n_params · d²``
density-matrix runs. Measured (docs/engine.md), it beats adjoint
differentiation only on small noiseless registers (:func:`auto_eligible`), so ``auto`` uses it
only there; ``method="heisenberg"`` forces it. Noisy circuits run in the Pauli basis
(:mod:`.pauli_basis`), in real arithmetic.

The method's interface (:mod:`.methods`): :func:`needs`, :func:`expectations`,
:func:`auto_seconds`, :func:`memory_bytes`, :func:`holds`.

``W_k`` is built exactly: noiseless ``V`` as the unitary ``U`` (``W_k = (U† O_k U)^T``, ``U`` a
product of a few dense factors: Kronecker products of single-qubit gates, constant matrices),
noisy ``V`` as the superoperator from the density-matrix program run on the ``d²`` basis
matrices. Readout errors are folded
into ``O_k`` (each Pauli term scaled by ``Π(1 − 2p_w)``), as in the other methods.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from . import core
from . import kernels as K
from .circuit import Circuit
from .core import split_encoding
from .costs import (
    ADJOINT_LIVE_STATES,
    HEISENBERG_MAX_PARAMS_4,
    HEISENBERG_MAX_PARAMS_5,
    HEISENBERG_MAX_QUBITS,
    HEISENBERG_MAX_TERMS_4,
    HEISENBERG_MIN_PARAMS_5,
    PAULI_MAX_ROWS_BYTES,
    PAULI_ROW_COPIES,
)
from .gates import CHANNELS, complex_dtype, pauli_word_matrix
from .precision import exact_products


def auto_eligible(n_qubits: int, n_observables: int, n_params: int) -> bool:
    """Whether a noiseless encode-then-train circuit of this size is in the measured region where
    this method beats the adjoint state vector (:data:`.costs.HEISENBERG_MAX_TERMS_4`; its costs
    grow as ``K · P · 4**n`` per example and ``K · P · 8**n`` per batch)."""
    if n_qubits <= 4:
        return n_params <= HEISENBERG_MAX_PARAMS_4 and n_observables * n_params <= HEISENBERG_MAX_TERMS_4
    return (n_qubits == HEISENBERG_MAX_QUBITS and n_observables == 1
            and HEISENBERG_MIN_PARAMS_5 <= n_params <= HEISENBERG_MAX_PARAMS_5)


_OBSERVABLE_FNS: WeakKeyDictionary = WeakKeyDictionary()


def needs(circuit: Circuit) -> str | None:
    if split_encoding(circuit) is None:
        return ("a circuit that encodes the data first and trains afterwards (no trainable angle "
                "before the last feature-dependent gate)")
    return None


def holds(circuit: Circuit) -> str:
    return "pauli-basis" if circuit.is_noisy else "state-vector"


def auto_seconds(circuit: Circuit) -> float | None:
    """``0.0`` where a measured rule says this method is the fastest (no fitted cost: noiseless,
    :func:`auto_eligible`; noisy, the Pauli-basis rows fit in :data:`.costs.PAULI_MAX_ROWS_BYTES`),
    else None (``auto`` does not choose it)."""
    if split_encoding(circuit) is None:
        return None
    if circuit.is_noisy:
        from .pauli_basis import rows_bytes

        return 0.0 if rows_bytes(circuit) <= PAULI_MAX_ROWS_BYTES else None
    return 0.0 if auto_eligible(circuit.n_qubits, len(circuit.observables), circuit.n_params) else None


def memory_bytes(circuit: Circuit, batch: int, itemsize: int, gradients: bool) -> int:
    """Noisy (Pauli basis, real): :data:`.costs.PAULI_ROW_COPIES` copies of the shared rows
    (:func:`.pauli_basis.rows_bytes`) plus a few real ``4**n`` vectors per example. Noiseless: the dense
    observables and their Jacobian, ``K · 4**n · (P + 1)`` complex numbers about four times over
    (the Jacobian, its real quadratic form), counted from the arrays, plus a few states per example."""
    n = circuit.n_qubits
    if circuit.is_noisy:
        from .pauli_basis import rows_bytes

        return int(PAULI_ROW_COPIES * rows_bytes(circuit, double=itemsize == 16)
                   + 3 * (itemsize // 2) * 4**n * batch)
    shared = 4 * itemsize * len(circuit.observables) * 4**n * ((circuit.n_params if gradients else 0) + 1)
    return int(shared + itemsize * 2**n * (ADJOINT_LIVE_STATES if gradients else 3) * batch)


def expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one validated example (:func:`heisenberg_expectations`)."""
    return heisenberg_expectations(circuit, theta, x)


@exact_products
def heisenberg_operators(circuit: Circuit, theta):
    """The observables evolved backwards through the trainable part: ``A (K, d, d)`` complex
    Hermitian with ``<O_k> = Tr(A_k ρ_x)`` for the state ``ρ_x`` the encoding prepares (readout
    errors folded in). Noiseless: ``A_k = U(θ)† O_k U(θ)``; noisy: the adjoint channels applied
    too (from the Pauli basis, :func:`.pauli_basis.heisenberg_operators`). Differentiable in
    ``theta`` (real, ``(n_params,)``); the parameter-dependent gradient bounds use it."""
    need = needs(circuit)
    if need is not None:
        raise ValueError(f"the Heisenberg-picture operators need {need}")
    theta = jnp.asarray(theta)
    if circuit.is_noisy:
        from .pauli_basis import heisenberg_operators as pauli_operators

        return pauli_operators(circuit, theta)
    _, trainable = split_encoding(circuit)
    return jnp.swapaxes(_heisenberg_observables(trainable, observable_matrices(circuit), theta), 1, 2)


def observable_matrices(circuit: Circuit) -> np.ndarray:
    """``(K, d, d)`` dense observables with readout-error factors folded in."""
    n = circuit.n_qubits
    out = np.zeros((len(circuit.observables), 2**n, 2**n), np.complex128)
    for k, c, f, p in core.term_table(circuit):
        letters = ["I"] * n
        for w, letter in p.factors:
            letters[w] = letter
        out[k] += c * f * pauli_word_matrix("".join(letters))
    return out


def _step_dependencies(program) -> list:
    """For each step of ``program``, the θ indices its payload depends on (static analysis of the
    lowering: fused chains -> angle slots (:meth:`Program.chain_slots`) -> θ). ``None``: no θ; a
    multi-qubit gate matrix counts as depending on every θ (conservative)."""
    n_p = program.n_params
    chains = program.chain_slots()

    def theta_of(slot):
        return {int(i) for i in (program.weight_idx[slot], program.fweight_idx[slot]) if i < n_p}

    deps = []
    for kind, _, payload in program.steps:
        if kind == "u" and isinstance(payload, int):
            deps.append(frozenset().union(*(theta_of(s) for s in chains[payload])) or None)
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
    time. Returns groups in order of application: ``("1q", {wire: (2, 2)}, θ indices, {wire: θ
    indices})`` or ``("m", (d, d), θ indices, None)``.
    """
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
                groups.append(("1q", {}, set(), {}))
                g = len(groups) - 1
            _, mats, gdeps, wdeps = groups[g]
            m = value.astype(cdt)
            mats[w] = m @ mats[w] if w in mats else m
            gdeps.update(dep or ())
            wdeps.setdefault(w, set()).update(dep or ())
            frontier[w] = g
            continue
        if kind in ("u", "pauli"):
            basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
            cols = jax.vmap(lambda e, step=step, value=value: core.apply_step_pure(e, step, value).reshape(-1))(basis)
            groups.append(("m", cols.T, set(dep or ()), None))
        else:
            with jax.ensure_compile_time_eval():
                basis = jnp.eye(d, dtype=cdt).reshape((d,) + (2,) * n)
                cols = jax.vmap(lambda e, step=step: core.apply_step_pure(e, step, None).reshape(-1))(basis)
            groups.append(("m", np.asarray(cols).T, set(), None))
        for w in wires:
            frontier[w] = len(groups) - 1
        if kind == "perm":  # a permutation step lists only the wires it touches; be safe: all wires
            frontier = [len(groups) - 1] * n

    return groups


def _dense_unitary(program, values, cdt):
    """``U`` as one ``(d, d)`` matrix: the product of the groups of :func:`_schedule`."""
    n = program.n_qubits
    eye2 = jnp.eye(2, dtype=cdt)
    u = jnp.eye(2**n, dtype=cdt)
    for kind, payload, *_ in _schedule(program, values, cdt, [None] * len(program.steps)):
        m = K.kron_wires([payload.get(w, eye2) for w in range(n)]) if kind == "1q" else jnp.asarray(payload, cdt)
        u = m @ u
    return u


def _permutation_rows(m) -> np.ndarray | None:
    """``perm`` with ``m[i, perm[i]] = 1`` and every other entry 0 (a constant permutation
    matrix), else ``None``."""
    if not isinstance(m, np.ndarray):
        return None
    perm = np.argmax(np.abs(m), axis=1)
    ref = np.zeros(m.shape)
    ref[np.arange(m.shape[0]), perm] = 1.0
    return perm if np.array_equal(m, ref) else None


def _left(c, m):
    """``c @ m`` for a constant ``c`` and ``m`` of shape ``(..., d, d)``; a permutation is a row gather."""
    perm = _permutation_rows(c)
    if perm is not None:
        return m[..., perm, :]
    if isinstance(m, np.ndarray) and isinstance(c, np.ndarray):
        return c @ m
    return jnp.matmul(jnp.asarray(c, m.dtype), m)


def _right(m, c):
    """``m @ c`` for a constant ``c``; a permutation is a column gather."""
    perm = _permutation_rows(np.asarray(c).T) if isinstance(c, np.ndarray) else None
    if perm is not None:
        return m[..., perm]
    return jnp.matmul(m, jnp.asarray(c, m.dtype))


def _kron_derivative(mats: list, jac: dict, idx: np.ndarray, wdeps: dict, colour: np.ndarray):
    """``∂(⊗_v m_v)/∂θ_p`` for ``p`` in ``idx``: ``(|idx|, d, d)``, given the forward-mode tangents
    of :func:`_compressed_jacobians`, ``jac[v] (C, 2, 2)`` with ``∂m_v/∂θ_p = jac[v][colour[p]]``
    for every θ_p that wire ``v``'s matrix depends on (``wdeps``, static).

    It is ``Σ_w m_0 ⊗ … ⊗ ∂m_w/∂θ_p ⊗ … ⊗ m_{n-1}`` over the wires ``w`` whose matrix uses θ_p.
    When each θ_p is used on one wire only (the usual case), one Kronecker product per ``p``
    suffices: wire ``v`` contributes ``∂m_v/∂θ_p`` if it is θ_p's wire, else ``m_v``, picked for
    all wires by one static gather from their stacked matrices and tangents (one operation per
    group, not one per wire: each XLA operation costs about a microsecond on the CPU, and several
    independent ones ready at once are handed to another thread, which costs tens); otherwise
    the sum runs over all wires."""
    n = len(mats)
    owners = [[v for v in range(n) if int(p) in wdeps.get(v, ())] for p in idx]
    if all(len(o) == 1 for o in owners):
        pick = np.zeros((n, len(idx)), np.int32)  # 0: m_v; 1 + c: the tangent of colour c
        for k, (v,) in enumerate(owners):
            pick[v, k] = 1 + colour[idx[k]]
        zero = jnp.zeros((next(iter(jac.values())).shape[0], 2, 2), mats[0].dtype)
        stacks = jnp.stack([jnp.concatenate([mats[v][None], jac.get(v, zero)]) for v in range(n)])
        return K.kron_wires(list(stacks[np.arange(n)[:, None], pick]))
    ws = sorted(jac)  # axis 0: the wire w whose matrix is differentiated; axis 1: p
    parts = []
    for v in range(n):
        base = jnp.broadcast_to(mats[v], (len(ws), len(idx), 2, 2))
        if v in jac:
            uses = np.asarray([int(p) in wdeps.get(v, ()) for p in idx])
            base = base.at[ws.index(v)].set(jnp.where(uses[:, None, None], jac[v][colour[idx]], 0))
        parts.append(base)
    return jnp.sum(K.kron_wires(parts), axis=0)


def _parameter_colours(outputs: list, n_params: int) -> np.ndarray:
    """A colour per θ index such that θ's sharing an output differ (greedy colouring of the
    graph that joins two θ's when some output depends on both); ``outputs`` lists each output's
    static θ indices. Unused θ's get colour 0."""
    neighbours: list = [set() for _ in range(n_params)]
    for deps in outputs:
        for p in deps:
            neighbours[p].update(deps)
    colour = np.zeros(n_params, np.int32)
    for p in range(n_params):
        taken = {int(colour[q]) for q in neighbours[p] if q < p}
        colour[p] = next(c for c in range(len(taken) + 1) if c not in taken)
    return colour


def _compressed_jacobians(varying, theta, deps: list):
    """Forward mode through ``varying(θ)`` with one tangent per colour of
    :func:`_parameter_colours` instead of one per θ (``jax.jacfwd`` pushes ``P``).

    ``varying(θ)`` lists, per group, a dict ``{wire: (2, 2)}`` (wire ``w`` depending on the static
    θ indices ``deps[g][1][w]``) or one matrix (depending on ``deps[g][0]``; ``deps[g][1]`` is
    then ``None``). θ's of one colour never meet in one output, so the tangent of colour ``c`` at
    an output that uses θ_p with ``colour[p] == c`` is ``∂/∂θ_p`` of it: a layer of ``hea`` needs
    two passes (``RY``, ``RZ``) whatever its width, and the cost no longer grows as ``P²``.
    Returns ``(tangents, colour)``: ``tangents`` has ``varying``'s structure, each output with a
    leading colour axis; where an output does not use θ_p, its entry at ``colour[p]`` belongs to
    another θ (or is zero), so readers index only the θ's the output uses."""
    def outputs_deps():
        for gdeps, wdeps in deps:
            if wdeps is None:
                yield gdeps
            else:
                yield from (wdeps.get(w, ()) for w in sorted(wdeps))

    colour = _parameter_colours(list(outputs_deps()), theta.shape[0])
    n_colours = int(colour.max()) + 1 if colour.size else 1
    basis = (np.arange(n_colours)[:, None] == colour[None, :]).astype(theta.dtype)
    return jax.vmap(lambda t: jax.jvp(varying, (theta,), (t,))[1])(jnp.asarray(basis)), colour


def _varying_factors(trainable: Circuit, theta, cdt):
    """``U = F_m ⋯ F_1`` as factors that depend on θ: ``[(F_j (d, d), θ indices, ∂F_j (|idx|, d, d))]``.

    Factors come from the groups of :func:`_schedule`. A single-qubit group is the Kronecker
    product of its 2x2 matrices, differentiated by :func:`_kron_derivative` (forward mode through
    the 2x2 matrices only, for every θ_p at once). Groups that do not depend on θ (CNOT rings, fixed gates) are
    multiplied into their neighbours ahead of time: a constant permutation becomes a gather of
    rows or columns. Returns ``(factors, leading constant)``; the constant is ``None`` unless no
    factor depends on θ (then ``factors`` is empty).
    """
    program = core.program_for(trainable, mixed=False)
    deps = _step_dependencies(program)
    n = trainable.n_qubits
    x0 = jnp.zeros((trainable.n_features,), theta.dtype)
    eye2 = jnp.eye(2, dtype=cdt)

    def groups_of(t):
        return _schedule(program, core.step_payloads(program, program.angles(t, x0)), cdt, deps)

    def varying(t):  # what depends on θ: the 2x2 matrices of single-qubit groups, other matrices
        return [payload for _, payload, gdeps, _ in groups_of(t) if gdeps]

    groups = groups_of(theta)
    tangents, colour = _compressed_jacobians(varying, theta, [(g[2], g[3]) for g in groups if g[2]])
    jac = iter(tangents)
    factors: list = []  # [m, idx, dm]; idx None: constant
    pending = None  # constant product not yet folded into a factor (applied before the next one)
    for kind, payload, gdeps, wdeps in groups:
        if kind == "1q":
            mats = [payload.get(w, eye2) for w in range(n)]
        if not gdeps:
            c = K.kron_wires(mats) if kind == "1q" else payload
            if factors:  # applied after the last factor
                f = factors[-1]
                factors[-1] = [_left(c, f[0]), f[1], _left(c, f[2])]
            else:
                pending = c if pending is None else _left(c, pending)
            continue
        idx = np.asarray(sorted(gdeps), np.int32)
        j = next(jac)
        if kind == "1q":
            m = K.kron_wires(mats)
            dm = _kron_derivative(mats, j, idx, wdeps, colour)
        else:
            m = jnp.asarray(payload, cdt)
            dm = j[colour[idx]]
        if pending is not None and not factors:
            m, dm, pending = _right(m, pending), _right(dm, pending), None
        factors.append([m, idx, dm])
    return [tuple(f) for f in factors], pending


def _observable_and_jacobian(trainable: Circuit, obs: np.ndarray, theta, real_only: bool = False):
    """The real and imaginary parts of ``W (K, d, d)`` (:func:`_heisenberg_observables`) and of
    ``∂W/∂θ (K, d, d, P)`` for a noiseless trainable part, by the product rule over
    :func:`_varying_factors`:

        A_k = U† O_k U,   ∂A_k/∂θ_p = X + X†,   X = (O_k U)† ∂U/∂θ_p,
        ∂U/∂θ_p = Σ_j (F_m ⋯ F_{j+1}) ∂F_j/∂θ_p (F_{j-1} ⋯ F_1),

    with ``(O_k U)† F_m ⋯ F_{j+1}`` accumulated from the left, so each factor costs two matrix
    products whose right operand stacks all its parameters (``(d, |idx|·d)``): about ``P · d³``
    in a few large products rather than many small ones. The products run in real arithmetic
    (:func:`.kernels.real_block`): XLA's CPU backend multiplies small real matrices about 2.5 times faster than
    complex ones of the same arithmetic (16×16 by 16×128: 2.5 µs against 7). Returns
    ``((Re W, Im W), (Re ∂W, Im ∂W))``; with ``real_only`` the imaginary parts are ``None``.
    """
    p_total = theta.shape[0]
    cdt = complex_dtype(theta.dtype)
    d = 2**trainable.n_qubits
    k_obs = obs.shape[0]
    factors, _ = _varying_factors(trainable, theta, cdt)
    if not factors:  # no operation uses θ
        w = _heisenberg_observables(trainable, obs, theta)
        zeros = jnp.zeros(w.shape + (p_total,), theta.dtype)
        return (jnp.real(w), None if real_only else jnp.imag(w)), (zeros, None if real_only else zeros)
    blocks = [(K.real_block(m), idx, K.real_block(jnp.moveaxis(dm, 0, 1).reshape(d, len(idx) * d)))
              for m, idx, dm in factors]
    before = [None]  # before[j] = real_block(F_{j-1} ⋯ F_1) (None: identity)
    for m, _, _ in blocks[:-1]:
        before.append(m if before[-1] is None else m @ before[-1])
    u = blocks[-1][0] if before[-1] is None else blocks[-1][0] @ before[-1]  # real_block(U)
    rows = np.concatenate([np.real(obs), np.imag(obs)], -1).reshape(k_obs * d, 2 * d)
    ou = (jnp.asarray(rows, theta.dtype) @ u).reshape(k_obs, d, 2, d)  # O_k U as [Re | Im]
    # y = (O U)† = U† O as [Re | Im], then times F_m ⋯ F_{j+1}
    y = jnp.stack([jnp.swapaxes(ou[:, :, 0], 1, 2), -jnp.swapaxes(ou[:, :, 1], 1, 2)], 2).reshape(k_obs * d, 2 * d)
    a = (y @ u).reshape(k_obs, d, 2, d)  # A_k = U† O_k U as [Re | Im]
    xs = [None] * len(blocks)
    for jx in range(len(blocks) - 1, -1, -1):
        m, idx, dm = blocks[jx]
        q = len(idx)
        z = jnp.swapaxes((y @ dm).reshape(k_obs * d, 2, q, d), 1, 2)  # (O U)† F_m ⋯ ∂F_j, per p
        if before[jx] is not None:
            z = z.reshape(k_obs * d * q, 2 * d) @ before[jx]
        xs[jx] = z.reshape(k_obs, d, q, 2, d)  # X[k, a, p, re/im, b]
        if jx:
            y = y @ m
    x = jnp.concatenate(xs, axis=2) if len(xs) > 1 else xs[0]
    order = np.concatenate([f[1] for f in blocks])
    if len(order) == p_total and np.array_equal(np.sort(order), np.arange(p_total)):
        x = x[:, :, np.argsort(order)]  # each θ in one factor: a gather
    else:  # θ shared between factors (or unused): sum their contributions
        onehot = np.zeros((len(order), p_total))
        onehot[np.arange(len(order)), order] = 1.0
        x = jnp.einsum("kaqrb,qp->kaprb", x, jnp.asarray(onehot, x.dtype))
    # ∂W_k[a, b] = ∂A_k[b, a] = X[b, a] + conj(X[a, b]); W_k = A_kᵀ.
    xre, xim = x[..., 0, :], x[..., 1, :]  # (K, a, P, b)
    dw_re = jnp.transpose(xre, (0, 3, 1, 2)) + jnp.transpose(xre, (0, 1, 3, 2))
    w_re = jnp.swapaxes(a[:, :, 0], 1, 2)
    if real_only:
        return (w_re, None), (dw_re, None)
    dw_im = jnp.transpose(xim, (0, 3, 1, 2)) - jnp.transpose(xim, (0, 1, 3, 2))
    return (w_re, jnp.swapaxes(a[:, :, 1], 1, 2)), (dw_re, dw_im)


def _heisenberg_observables(trainable: Circuit, obs: np.ndarray, theta):
    """``W (K, d, d)`` with ``<O_k> = Σ_ab W_k[a,b] ρ[a,b]`` for the input state ρ of ``trainable``."""
    cdt = complex_dtype(theta.dtype)
    x0 = jnp.zeros((trainable.n_features,), theta.dtype)
    o = jnp.asarray(obs, cdt)
    program = core.program_for(trainable, mixed=False)
    values = core.step_payloads(program, program.angles(theta, x0))
    u = _dense_unitary(program, values, cdt)
    a = jnp.einsum("ia,kij,jb->kab", jnp.conj(u), o, u)  # U† O U
    return jnp.swapaxes(a, 1, 2)


def _quadratic_form(w_re, w_im, real_input: bool):
    """``M`` with ``<O_k> = vᵀ M_k v`` from the parts of ``W`` (``<O_k> = Σ_ab W_k[a,b] ρ[a,b]``,
    ``ρ = ψψ†``): with ``A_k = W_kᵀ = U† O_k U``, ``v = Re ψ`` and ``M = Re A`` for real states
    (``w_im`` unused), else ``v = [Re ψ; Im ψ]`` and ``M = [[Re A, −Im A], [Im A, Re A]]``. ``M``
    is symmetric since ``A`` is Hermitian. Extra trailing axes (a Jacobian's parameter axis) are
    kept."""
    re = jnp.swapaxes(w_re, 1, 2)
    if real_input:
        return re
    im = jnp.swapaxes(w_im, 1, 2)
    top = jnp.concatenate([re, -im], axis=2)
    return jnp.concatenate([top, jnp.concatenate([im, re], axis=2)], axis=1)


def _quad(v, m):
    """``vᵀ M_k v`` for every ``k``."""
    return jnp.einsum("a,kab,b->k", v, m, v)


def _pure_value(trainable: Circuit, obs: np.ndarray, theta, v, real_input: bool):
    """``vᵀ M_k(θ) v`` without the Jacobian: the primal of :func:`make_pure_fn` and
    :func:`make_product_fn`."""
    w = _heisenberg_observables(trainable, obs, theta)
    return _quad(v, _quadratic_form(jnp.real(w), jnp.imag(w), real_input))


def _pure_forms(trainable: Circuit, obs: np.ndarray, theta, real_input: bool, caller: str):
    """``M (K, D, D)`` and its Jacobian ``∂M/∂θ (K, D, D, P)`` (:func:`_quadratic_form`) for a
    noiseless trainable part with parameters (what both pure-state forward passes need)."""
    if theta.shape[0] == 0 or trainable.is_noisy:
        raise AssertionError(f"{caller} needs a noiseless trainable part with parameters")
    w, dw = _observable_and_jacobian(trainable, obs, theta, real_only=real_input)
    return _quadratic_form(*w, real_input), _quadratic_form(*dw, real_input)


def _features_bar(g, m, v):
    """``∂/∂v Σ_k g_k vᵀ M_k v = 2 Σ_k g_k M_k v`` (``M`` symmetric)."""
    return 2.0 * jnp.einsum("k,kab,b->a", g, m, v)


def make_pure_fn(trainable: Circuit, obs: np.ndarray, *, real_input: bool):
    """``(theta, v) -> <O_k>`` for a pure input state given as the real vector ``v`` of
    :func:`_quadratic_form` (``(d,)`` real states, else ``(2d,)``): ``vᵀ M_k(θ) v``.

    ``M`` and its Jacobian depend on θ alone: under ``vmap`` over examples they are computed once
    per batch. The backward pass per example is ``vᵀ ∂M/∂θ v``, one matrix product of ``v`` with
    the stored Jacobian laid out as ``(D, K·D·P)`` followed by a reduction (no outer product
    ``ψψ†`` is formed), and ``∂/∂v = 2 M v`` (features may carry gradients, e.g. from classical
    layers before the circuit).
    """
    @jax.custom_vjp
    def value(theta, v):
        return _pure_value(trainable, obs, theta, v, real_input)

    @exact_products
    def fwd(theta, v):
        m, dm = _pure_forms(trainable, obs, theta, real_input, "make_pure_fn")
        return _quad(v, m), (v, m, dm)

    @exact_products
    def bwd(res, g):
        v, m, dm = res
        t = jnp.tensordot(v, jnp.moveaxis(dm, 1, 0), axes=1)  # Σ_a v_a ∂M_k[a, b]: (K, D, P)
        theta_bar = jnp.sum(t * (g[:, None] * v[None, :])[:, :, None], axis=(0, 1))
        return theta_bar, _features_bar(g, m, v)

    value.defvjp(fwd, bwd)
    return value


def make_product_fn(trainable: Circuit, obs: np.ndarray):
    """``(theta, v, u) -> <O_k>`` for a real product input state ``v = ⊗_w (α_w, β_w)`` with
    ``u`` its :func:`_pair_moments`: ``vᵀ M_k(θ) v``, as :func:`make_pure_fn` with ``real_input``.

    The backward pass per example is ``u · ∂M'_k/∂θ`` (:func:`_pair_sums`): one matrix product of
    ``3**n`` numbers per example with the Jacobian summed once per batch, instead of the ``4**n``
    of ``vᵀ ∂M/∂θ v``, and no reduction afterwards. ``u`` is a function of ``v``: ``value`` does not
    read it, its cotangent is zero, and ``∂/∂v = 2 M v`` carries the whole gradient to the features.
    """
    n = trainable.n_qubits

    @jax.custom_vjp
    def value(theta, v, u):
        return _pure_value(trainable, obs, theta, v, True)

    @exact_products
    def fwd(theta, v, u):
        m, dm = _pure_forms(trainable, obs, theta, True, "make_product_fn")
        k, p = dm.shape[0], dm.shape[-1]
        # summed onto the pair moments and laid out (3**n, K·P), once per batch
        sums = jnp.moveaxis(_pair_sums(dm, n), 0, 1).reshape(3**n, k * p)
        return _quad(v, m), (v, u, m, sums)

    @exact_products
    def bwd(res, g):
        v, u, m, sums = res
        t = _moment_product(u, sums).reshape(g.shape[0], -1)  # (K, P)
        theta_bar = g @ t  # g is per example (a loss's cotangent): applied after the batched product
        return theta_bar, _features_bar(g, m, v), jnp.zeros_like(u)

    value.defvjp(fwd, bwd)
    return value


#: Operations whose matrices (gates) or Kraus operators (channels, up to a global phase) are real:
#: an encoding made of them maps a real input state to a real state or density matrix.
_REAL_OPS = frozenset({"I", "H", "X", "Z", "RY", "CNOT", "CZ", "SWAP", "CRY", *CHANNELS})


def real_encoding(encoding: Circuit) -> bool:
    """Whether every state the encoding prepares is real (static: from its operations)."""
    return all(op.name in _REAL_OPS or (op.name == "Unitary" and not np.any(np.imag(op.matrix)))
               for op in encoding.operations)


def _product_factors(program, values, n: int, cdt):
    """Each wire's state ``(2,)`` when the program is single-qubit gates on ``|0…0>`` (each wire's
    gates applied to ``|0>``); ``None`` otherwise."""
    if not all(kind == "u" and len(wires) == 1 and isinstance(payload, int)
               for kind, wires, payload in program.steps):
        return None
    vecs: dict = {}
    for (_, (w,), _), m in zip(program.steps, values):
        vecs[w] = m[:, 0] if w not in vecs else m @ vecs[w]
    return [vecs[w].astype(cdt) if w in vecs else jnp.asarray([1.0, 0.0], cdt) for w in range(n)]


def _pair_moments(cols):
    """``(n, 3)``: each wire's ``(α², αβ, β²)`` for a real product state ``v = ⊗_w (α_w, β_w)``;
    their Kronecker product (:func:`_moment_contraction`) holds the ``3**n`` distinct entries of
    ``v vᵀ`` up to multiplicity, in the order of :func:`_pair_sums`."""
    c = jnp.stack(cols)  # (n, 2)
    a, b = c[:, 0], c[:, 1]
    return jnp.stack([a * a, a * b, b * b], axis=1)  # elementwise, no gather: it fuses


@exact_products  # also traced inside the batching and JVP rules below, after the caller's trace
def _contract_moments(mom, dm):
    """``(⊗_w mom[w]) · dm``: ``mom (n, 3)``, ``dm (3**n, P)``, for one example."""
    return K.kron_vectors(list(mom)) @ dm


@jax.custom_batching.custom_vmap
def _moment_contraction(mom, dm):
    """:func:`_contract_moments`, with a batching rule for a batch of examples against one ``dm``:
    the Kronecker products are formed with the batch as the fastest axis (``(3**n, B)``, the wires'
    broadcasts vectorise along it) and contracted in one matrix product. Formed batch-major, as a
    plain ``vmap`` does, XLA's CPU backend builds them element by element. Profiled on 4 qubits,
    batch 64 (synchronous dispatch, one core): 17.7 µs for the batch-major products alone; this
    way, the products and the matrix product together took 12-14 µs, against 24 µs for the
    ``4**n`` product and reduction of :func:`make_pure_fn`."""
    return _contract_moments(mom, dm)


@_moment_contraction.def_vmap
@exact_products
def _moment_contraction_batched(axis_size, in_batched, mom, dm):
    mom_batched, dm_batched = in_batched
    if dm_batched:  # a Jacobian per batch element (θ batched too): the plain form
        mom = mom if mom_batched else jnp.broadcast_to(mom, (axis_size, *mom.shape))
        return jax.vmap(_contract_moments)(mom, dm), True
    mt = jax.lax.optimization_barrier(jnp.moveaxis(mom, 0, -1))  # (n, 3, B), formed once
    return (dm.T @ K.kron_vectors(list(mt))).T, True


@jax.custom_jvp
def _moment_product(mom, dm):
    """:func:`_moment_contraction`, differentiable: a ``custom_vmap`` function has no derivative
    rules, so its tangents come from the plain form (second derivatives, e.g. ascent over the
    inputs on a gradient norm, pass through the backward pass that calls it)."""
    return _moment_contraction(mom, dm)


@_moment_product.defjvp
def _moment_product_jvp(primals, tangents):
    return _moment_contraction(*primals), jax.jvp(_contract_moments, primals, tangents)[1]


def _pair_sums(dm, n: int):
    """``dm (K, d, d, P)`` summed over the entries that multiply the same entry of
    :func:`_pair_moments`: ``(K, 3**n, P)`` with ``vᵀ dm_k v = u · dm'_k`` for every real product
    state ``v``. Wire by wire, the index pairs ``(a_w, b_w)`` are ``00 → 0``, ``01, 10 → 1``,
    ``11 → 2``; no symmetry of ``dm`` is assumed."""
    k, p = dm.shape[0], dm.shape[-1]
    t = dm.reshape((k,) + (2,) * (2 * n) + (p,))
    t = jnp.transpose(t, (0, *[ax for w in range(n) for ax in (1 + w, 1 + n + w)], 2 * n + 1))
    t = t.reshape((k,) + (4,) * n + (p,))
    for w in range(n):
        ax = 1 + w
        t = jnp.concatenate([jax.lax.slice_in_dim(t, 0, 1, axis=ax),
                             jax.lax.slice_in_dim(t, 1, 2, axis=ax) + jax.lax.slice_in_dim(t, 2, 3, axis=ax),
                             jax.lax.slice_in_dim(t, 3, 4, axis=ax)], axis=ax)
    return t.reshape(k, 3**n, p)


def heisenberg_expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one example by the Heisenberg-picture method; ``theta`` and ``x`` validated."""
    if circuit.is_noisy:
        from .pauli_basis import pauli_expectations

        return pauli_expectations(circuit, theta, x)
    encoding, trainable = split_encoding(circuit)
    real = real_encoding(encoding)
    cache = _OBSERVABLE_FNS.setdefault(circuit, {})
    n = circuit.n_qubits
    cdt = complex_dtype(theta.dtype)
    program = core.program_for(encoding, mixed=False)
    # The encoding uses no θ: any vector of the right length will do.
    values = core.step_payloads(program, program.angles(jnp.zeros((circuit.n_params,), theta.dtype), x))
    cols = _product_factors(program, values, n, cdt) if circuit.state_prep == "zero" else None
    if circuit.n_params and cols is not None and real:
        cols = [jnp.real(c) for c in cols]
        if "product" not in cache:
            cache["product"] = make_product_fn(trainable, observable_matrices(circuit))
        return cache["product"](theta, K.kron_vectors(cols), _pair_moments(cols)).astype(theta.dtype)
    if cols is not None:
        psi = K.kron_vectors(cols)
    else:
        psi = core.run_pure(program, values, core.initial_state(circuit, x, cdt)).reshape(-1)
    v = jnp.real(psi) if real else jnp.concatenate([jnp.real(psi), jnp.imag(psi)])
    if not circuit.n_params:  # no θ to differentiate: the plain form, differentiable in the features
        return _pure_value(trainable, observable_matrices(circuit), theta, v, real).astype(theta.dtype)
    if "pure" not in cache:
        cache["pure"] = make_pure_fn(trainable, observable_matrices(circuit), real_input=real)
    return cache["pure"](theta, v).astype(theta.dtype)
