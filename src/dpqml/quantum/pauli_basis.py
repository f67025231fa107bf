"""Noisy encode-then-train circuits in the Pauli basis, Heisenberg picture, real arithmetic.

A density matrix of ``n`` qubits is ``ρ = 2**-n Σ_P c_P P`` over the ``4**n`` Pauli words, with
real coefficients ``c_P = Tr(P ρ)``; every gate and channel acts on them as a real matrix, its
*Pauli transfer matrix* ``R[P, Q] = Tr(P E(Q)) / 2**k`` (``4**k x 4**k`` on ``k`` qubits: a
depolarizing channel is diagonal, a rotation a 2x2 rotation block, a CNOT a signed permutation).
An observable ``O = Σ_P o_P P`` gives ``<O> = Σ_P o_P c_P``.

For a circuit that encodes the data first and trains afterwards, ``circuit = V(θ) ∘ encoding(x)``:

    <O_k>(θ, x) = o_k(θ) · c(x),    o_k(θ) = R_1ᵀ R_2ᵀ … R_Sᵀ o_k    (O_k evolved backwards through V)

and ``o_k(θ)`` and its derivatives ``∂o_k/∂a`` for every trainable angle ``a`` depend on θ alone.
Under ``vmap`` over a batch (θ shared) they are computed **once** (one backward sweep that carries
the observable rows and, from the block where each angle acts, that angle's derivative rows),
and each example costs only its encoded state ``c(x)`` (for single-qubit encodings a Kronecker
product of ``n`` 4-vectors) and one matrix product ``D c(x)`` with the stored rows: the
per-example gradient is exact and costs ``A·K·4**n`` multiply-adds (``A`` angles, ``K``
observables), against a density-matrix simulation and its reverse pass per example.

Gates and channels are fused into blocks before the sweep: every multi-qubit step takes the
single-qubit steps (rotations with the noise after them) that precede it on its wires and those
that follow it until another block touches the wire, so a hardware-efficient layer with a channel
after every gate is one ``16 x 16`` matrix per CNOT.

Memory: the sweep keeps ``K·(A + 1)`` rows of ``4**n`` reals (:func:`rows_bytes`), which is what
limits this method to registers of about 10-11 qubits.
"""

from __future__ import annotations

from itertools import product
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from . import core
from . import gates as G
from . import kernels as K
from .circuit import Circuit
from .core import split_encoding
from .precision import exact_products
from .program import Program, lower

_LETTERS = "IXYZ"  # the order of the Pauli index
_PLANS: WeakKeyDictionary = WeakKeyDictionary()


def _word_matrices(k: int) -> np.ndarray:
    """The ``4**k`` Pauli words on ``k`` qubits as ``(4**k, 2**k, 2**k)`` matrices (first qubit
    most significant, as in the gates' matrices)."""
    return np.asarray([G.pauli_word_matrix("".join(w)) for w in product(_LETTERS, repeat=k)])


def _basis_change(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, T⁻¹)`` with ``R = T S T⁻¹`` the transfer matrix of the superoperator ``S`` (indexed
    ``(a, b), (c, d)`` with ``ρ'[a, b] = Σ S[(a,b),(c,d)] ρ[c, d]``)."""
    words = _word_matrices(k)
    d = 2**k
    t = np.transpose(words, (0, 2, 1)).reshape(4**k, d * d)  # T[P, (a, b)] = P[b, a]
    t_inv = words.reshape(4**k, d * d).T / d  # T⁻¹[(a, b), P] = P[a, b] / 2**k
    return t, t_inv


def transfer_matrix(superop, k: int):
    """The real Pauli transfer matrix ``(4**k, 4**k)`` of a superoperator on ``k`` qubits (JAX)."""
    t, t_inv = _basis_change(k)
    return jnp.real(jnp.asarray(t, superop.dtype) @ superop @ jnp.asarray(t_inv, superop.dtype))


def _constant_transfer(superop: np.ndarray, k: int) -> np.ndarray:
    """:func:`transfer_matrix` of constant superoperators ``(..., 4**k, 4**k)``, in NumPy."""
    t, t_inv = _basis_change(k)
    return np.real(t @ superop @ t_inv)


def unitary_superop(u):
    """``U ⊗ conj(U)``: ``ρ -> U ρ U†`` in the ``(a, b), (c, d)`` index."""
    return jnp.kron(u, jnp.conj(u))


def _unitary_transfer(u: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.complex128)
    return _constant_transfer(np.kron(u, u.conj()), int(np.log2(u.shape[0])))


def _controlled(u: np.ndarray) -> np.ndarray:
    """NumPy form of :func:`.gates.controlled` (control = first wire): no JAX work at import."""
    return np.kron(np.diag([1.0, 0.0]), np.eye(2)) + np.kron(np.diag([0.0, 1.0]), u)


#: Transfer matrices of the fixed two-qubit gates.
_FIXED_PTM = {"cnot": _unitary_transfer(_controlled(G.FIXED_1Q["X"])),
              "cz": _unitary_transfer(_controlled(G.FIXED_1Q["Z"])),
              "swap": _unitary_transfer(np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]])}


def _rotation_parts(name: str) -> np.ndarray:
    """``(Pc, A, B)`` with the transfer matrix of ``name(a)`` equal to ``Pc + cos(a) A + sin(a) B``
    (a rotation of the plane of the two Pauli letters that anticommute with the generator)."""
    def ptm(a):  # exp(-i a P / 2), as gates.ROTATIONS_1Q, in NumPy double precision
        return _unitary_transfer(np.cos(a / 2) * np.eye(2) - 1j * np.sin(a / 2) * G.PAULI_MATRICES[name[1]])

    r0, r1, r2 = ptm(0.0), ptm(np.pi / 2), ptm(np.pi)
    pc = (r0 + r2) / 2
    return np.stack([pc, (r0 - r2) / 2, r1 - pc])


_ROTATION_PARTS = {name: _rotation_parts(name) for name in ("RX", "RY", "RZ")}


def fused_transfer_matrices(program: Program, angles):
    """The transfer matrices ``(4, 4)`` of all fused single-qubit chains of a density-matrix
    program, in real arithmetic: every rotation in closed form (``Pc + cos a A + sin a B``), the
    fixed elements (channels) converted once, chains of equal length multiplied as batches (as
    :meth:`Program.fused_matrices` does with superoperators)."""
    rdt = angles.dtype
    parts = []
    for name in ("RX", "RY", "RZ"):
        slots = program.rot_slots[name]
        if len(slots):
            a = angles[slots]
            pc, ca, sb = (jnp.asarray(m, rdt) for m in _ROTATION_PARTS[name])
            parts.append(pc + jnp.cos(a)[:, None, None] * ca + jnp.sin(a)[:, None, None] * sb)
    if len(program.fixed):
        parts.append(jnp.asarray(_constant_transfer(program.fixed, 1), rdt))
    return program.multiply_chains(jnp.concatenate(parts))


def observable_vectors(circuit: Circuit) -> np.ndarray:
    """``(K, 4**n)`` Pauli coefficients of the observables, readout errors folded in (each term
    scaled by its readout factor, as :func:`.core.term_table` gives it)."""
    n = circuit.n_qubits
    out = np.zeros((len(circuit.observables), 4**n))
    for k, coef, factor, p in core.term_table(circuit):
        letters = dict(p.factors)
        idx = 0
        for w in range(n):
            idx = 4 * idx + _LETTERS.index(letters.get(w, "I"))
        out[k, idx] += coef * factor
    return out


# ---------------------------------------------------------------------------------------
# fusing a density-matrix program into blocks
def _step_wires(step) -> tuple:
    kind, wires, payload = step
    if kind == "perm":  # pragma: no cover - lowered with permutations=False
        raise AssertionError("the Pauli method lowers without composed permutations")
    return tuple(wires)


def fuse_blocks(program: Program) -> list[tuple[tuple, list[int]]]:
    """Group the program's steps into blocks ``(wires, step indices in order)``.

    A multi-qubit step opens a block that takes the pending single-qubit steps on its wires (they
    commute with everything between); a single-qubit step joins the last block that touched its
    wire (nothing in between touches that wire), else waits. Wires no multi-qubit step touches
    keep their own single-qubit blocks.
    """
    blocks: list[tuple[tuple, list[int]]] = []
    last: dict[int, int] = {}
    pending: dict[int, list[int]] = {}
    for i, step in enumerate(program.steps):
        wires = _step_wires(step)
        if len(wires) == 1:
            (w,) = wires
            if w in last:
                blocks[last[w]][1].append(i)
            else:
                pending.setdefault(w, []).append(i)
            continue
        items = [j for w in wires for j in pending.pop(w, [])]
        items = sorted(items) + [i]
        for w in wires:
            last[w] = len(blocks)
        blocks.append((wires, items))
    for w in sorted(pending):
        blocks.append(((w,), pending[w]))
    return blocks


def _embed(r, positions: tuple, k: int):
    """A step's transfer matrix (on its own wires, in its order) as a matrix on a ``k``-qubit
    block: ``positions[j]`` is the block position of the step's j-th wire; identity elsewhere."""
    s = len(positions)
    if s < k:
        r = jnp.kron(r, jnp.eye(4 ** (k - s), dtype=r.dtype))
    order = list(positions) + [j for j in range(k) if j not in positions]  # axis -> block position
    if order == list(range(k)):
        return r
    inv = [int(i) for i in np.argsort(order)]
    t = r.reshape((4,) * (2 * k))
    return jnp.transpose(t, inv + [k + i for i in inv]).reshape(4**k, 4**k)


def merge_blocks(blocks: list, max_wires: int) -> list:
    """Merge consecutive blocks while their wires together number at most ``max_wires`` (the
    order of the steps is kept, so the product is unchanged)."""
    out: list = []
    for wires, items in blocks:
        if out:
            union = tuple(dict.fromkeys(out[-1][0] + wires))
            if len(union) <= max_wires:
                out[-1] = (union, out[-1][1] + items)
                continue
        out.append((tuple(wires), list(items)))
    return out


class Plan:
    """The trainable part of a circuit, lowered and fused into Pauli-basis blocks."""

    #: Blocks of up to this many wires. Measured (depolarizing 0.01, L=2, batch 64): 3 wires (one
    #: 64x64 matrix per two CNOTs) was level at n=10 (110 against 111 ex/s) and slower at n=4 and 8
    #: (129,513 against 380,151; 2,442 against 2,935).
    MAX_WIRES = 2

    def __init__(self, program: Program, max_wires: int = MAX_WIRES):
        self.program = program
        self.n = program.n_qubits
        self.blocks = merge_blocks(fuse_blocks(program), max_wires)
        chain_slots = program.chain_slots()
        self.step_slots = []
        for kind, _, payload in program.steps:
            if kind == "sop":
                self.step_slots.append(tuple(chain_slots[payload]))
            elif kind == "u":
                self.step_slots.append(tuple(getattr(payload, "slots", ())))
            else:
                self.step_slots.append(())
        # each block's angle slots, in a fixed order; a slot may appear in one step only
        self.block_slots = [tuple(sorted({a for i in items for a in self.step_slots[i]}))
                            for _, items in self.blocks]
        #: The angle slot of each derivative row of :func:`sweep`, in the order it appends them.
        self.derivative_slots = [a for b in reversed(range(len(self.blocks))) for a in self.block_slots[b]]

    def step_matrices(self, angles):
        """Each step's transfer matrix on its own wires (real, ``(4**k, 4**k)``; fixed gates
        precomputed)."""
        program = self.program
        fused = fused_transfer_matrices(program, angles) if program.n_chains else []
        cdt = jnp.result_type(angles.dtype, jnp.complex64)
        out = []
        for kind, wires, payload in program.steps:
            if kind == "sop":
                out.append(fused[payload])
            elif kind == "u":
                out.append(transfer_matrix(unitary_superop(payload(angles).astype(cdt)), len(wires)))
            else:
                out.append(jnp.asarray(_FIXED_PTM[kind], angles.dtype))
        return out

    def _embedded(self, b: int, mats) -> list:
        """The block's steps' transfer matrices, each on the block's wires (in order)."""
        wires, items = self.blocks[b]
        k = len(wires)
        pos = {w: j for j, w in enumerate(wires)}
        out = []
        for i in items:
            sw = _step_wires(self.program.steps[i])
            out.append(_embed(mats[i], tuple(pos[w] for w in sw), k))
        return out

    def block_matrix(self, b: int, mats):
        m = None
        for r in self._embedded(b, mats):
            m = r if m is None else r @ m
        return m

    def block_matrix_and_jacobian(self, b: int, mats, dmats):
        """``(R_b, ∂R_b/∂a for a in block_slots[b])``: the product rule over the block's steps,
        ``dmats[i]`` the derivatives of step ``i``'s matrix by its own slots."""
        wires, items = self.blocks[b]
        k = len(wires)
        pos = {w: j for j, w in enumerate(wires)}
        emb = self._embedded(b, mats)
        prefix = [emb[0]]
        for r in emb[1:]:
            prefix.append(r @ prefix[-1])
        suffix = [None] * len(emb)  # suffix[p] = E_m ... E_{p+1}
        acc = None
        for p in reversed(range(len(emb))):
            suffix[p] = acc
            acc = emb[p] if acc is None else acc @ emb[p]
        by_slot = {}
        for p, i in enumerate(items):
            if not self.step_slots[i]:
                continue
            sw = _step_wires(self.program.steps[i])
            d = jax.vmap(_embed, in_axes=(0, None, None))(dmats[i], tuple(pos[w] for w in sw), k)
            if p > 0:
                d = d @ prefix[p - 1]
            if suffix[p] is not None:
                d = suffix[p] @ d
            for j, a in enumerate(self.step_slots[i]):
                by_slot[a] = d[j]
        return prefix[-1], jnp.stack([by_slot[a] for a in self.block_slots[b]])

    def step_derivatives(self, angles) -> list:
        """For each step, ``∂(transfer matrix)/∂a`` for its slots ``a`` as ``(s, 4**k, 4**k)``
        (``None`` for steps without angles): forward mode, all slots in one vectorised pass."""
        slots = sorted({a for ss in self.step_slots for a in ss})
        if not slots:
            return [None] * len(self.step_slots)
        where = {a: j for j, a in enumerate(slots)}
        basis = jnp.zeros((len(slots), angles.shape[0]), angles.dtype).at[
            np.arange(len(slots)), np.asarray(slots)].set(1.0)
        tangents = jax.vmap(lambda t: jax.jvp(self.step_matrices, (angles,), (t,))[1])(basis)
        return [tangents[i][np.asarray([where[a] for a in ss])] if ss else None
                for i, ss in enumerate(self.step_slots)]


def _apply_transposed(rows, m, wires: tuple, n: int):
    """``rows`` ``(r, 4, …, 4)``: apply ``mᵀ`` (the Heisenberg map) on ``wires`` of each row."""
    k = len(wires)
    letters = "abcdefghijklmnopqrstuvw"[:n]
    src = "Z" + letters
    new = "".join(chr(ord("A") + j) for j in range(k))
    dst = list(src)
    for j, w in enumerate(wires):
        dst[1 + w] = new[j]
    old = "".join(letters[w] for w in wires)
    mt = m.reshape((4,) * (2 * k))  # m[new..., old...]; mᵀ applied: out[old'] = Σ_new m[new, old'] row[new]
    # Heisenberg: row'[Q] = Σ_P m[P, Q] row[P]: contract the row's wire indices with m's first half.
    return jnp.einsum(f"{old}{new},{src}->{''.join(dst)}", mt, rows)


def sweep(plan: Plan, angles, obs, *, derivatives: bool):
    """The backward sweep: ``o (K, 4**n)`` and, with ``derivatives``, ``(o, D (A, K, 4**n))`` where
    ``D[j] = ∂o/∂angles[plan.derivative_slots[j]]``.

    Going backwards block by block, every row is mapped by ``R_bᵀ``; at a block with trainable
    angles the observable rows are also mapped by each ``∂R_b/∂a`` and appended as derivative rows
    (the derivative of ``R_1ᵀ…R_bᵀ…R_Sᵀ o`` by an angle of block ``b``), so each angle's rows are
    carried only from its own block to the start.
    """
    n = plan.n
    k_obs = obs.shape[0]
    mats = plan.step_matrices(angles)
    dmats = plan.step_derivatives(angles) if derivatives else None
    rows = jnp.asarray(obs, angles.dtype).reshape((k_obs,) + (4,) * n)
    deriv = None  # (r, 4, …, 4), r = K · (angles passed so far)
    for b in reversed(range(len(plan.blocks))):
        wires = plan.blocks[b][0]
        bs = plan.block_slots[b]
        if derivatives and bs:
            m, dm = plan.block_matrix_and_jacobian(b, mats, dmats)  # dm: (len(bs), 4**k, 4**k)
        else:
            m = plan.block_matrix(b, mats)
        if deriv is not None:
            deriv = _apply_transposed(deriv, m, wires, n)
        if derivatives and bs:
            new = jax.vmap(_apply_transposed, in_axes=(None, 0, None, None))(rows, dm, wires, n)
            new = new.reshape((-1,) + (4,) * n)
            deriv = new if deriv is None else jnp.concatenate([deriv, new])
        rows = _apply_transposed(rows, m, wires, n)
    o = rows.reshape(k_obs, -1)
    if not derivatives:
        return o
    if deriv is None:
        return o, jnp.zeros((0, k_obs, 4**n), o.dtype)
    return o, deriv.reshape(len(plan.derivative_slots), k_obs, -1)


def plan_for(trainable: Circuit) -> Plan:
    """The :class:`Plan` of a noisy trainable part (cached)."""
    if trainable not in _PLANS:
        program = lower(trainable, mixed=True, scan=False, permutations=False)
        _PLANS[trainable] = Plan(program)
    return _PLANS[trainable]


def rows_bytes(circuit: Circuit, *, double: bool = False) -> int:
    """Bytes of the rows the sweep keeps: ``K·(A + 1)`` vectors of ``4**n`` reals (``A`` the
    trainable angles)."""
    k = max(len(circuit.observables), 1)
    a = sum(len(op.angles) for op in circuit.operations if any(ang.weights for ang in op.angles))
    return k * (a + 1) * 4**circuit.n_qubits * (8 if double else 4)


# ---------------------------------------------------------------------------------------
# the encoded state
def _single_qubit_product(program: Program, angles, n: int):
    """``c(x) = left ⊗ right`` (wires ``< n//2`` and the rest) when the encoding is single-qubit
    steps on ``|0…0>`` (each wire's transfer matrices applied to ``|0><0| = (I + Z)/2``,
    coefficients ``(1,0,0,1)``); ``None`` otherwise."""
    if not all(kind == "sop" for kind, _, _ in program.steps):
        return None
    zero = jnp.asarray([1.0, 0.0, 0.0, 1.0], angles.dtype)
    owners = [(name, int(slot)) for name in ("RX", "RY", "RZ") for slot in program.rot_slots[name]]
    elements = {}
    for ids, idx in program.chain_groups:
        for g, cid in enumerate(ids):
            elements[cid] = [int(e) for e in idx[g]]
    fixed = _constant_transfer(program.fixed, 1) if len(program.fixed) else None
    vecs = {}
    for _, (w,), chain in program.steps:
        v = vecs.get(w, zero)
        for e in elements[chain]:  # matrix-vector products: no 4x4 chain per example
            if e < len(owners):
                name, slot = owners[e]
                pc, ca, sb = (jnp.asarray(m, angles.dtype) for m in _ROTATION_PARTS[name])
                a = angles[slot]
                v = pc @ v + jnp.cos(a) * (ca @ v) + jnp.sin(a) * (sb @ v)
            else:
                v = jnp.asarray(fixed[e - len(owners)], angles.dtype) @ v
        vecs[w] = v
    cols = [vecs.get(w, zero) for w in range(n)]
    m = max(n // 2, 1)
    right = K.kron_vectors(cols[m:]) if m < n else jnp.ones((1,), angles.dtype)
    return K.kron_vectors(cols[:m]), right


def density_to_pauli(rho, n: int):
    """``c_P = Tr(P ρ)`` from ``ρ`` as a ``(2,)*2n`` tensor (rows then columns): ``(4**n,)`` real."""
    t = jnp.asarray(np.transpose(_word_matrices(1), (0, 2, 1)), rho.dtype)  # t[P, a, b] = P[b, a]
    c = rho
    for w in range(n):
        # contract the (row w, column w) pair; the new Pauli axis goes to the end
        c = jnp.tensordot(c, t, axes=([0, n - w], [1, 2]))
    return jnp.real(c).reshape(-1)


def encoded_state(circuit: Circuit, encoding: Circuit, theta, x):
    """The Pauli coefficients of the state the encoding prepares for ``x``, as two factors
    ``(left, right)`` with ``c = left ⊗ right`` (a product-state encoding: the first ``n//2``
    wires and the rest, so the ``4**n`` vector is never formed per example; otherwise ``c`` and
    ``[1]``)."""
    n = circuit.n_qubits
    program = core.program_for(encoding, mixed=True)
    angles = program.angles(jnp.zeros((circuit.n_params,), theta.dtype), x)
    if circuit.state_prep == "zero":
        factors = _single_qubit_product(program, angles, n)
        if factors is not None:
            return factors
    values = core.step_payloads(program, angles)
    cdt = jnp.result_type(theta.dtype, jnp.complex64)
    psi0 = core.initial_state(circuit, x, cdt).reshape(-1)
    rho0 = (psi0[:, None] * jnp.conj(psi0)[None, :]).reshape((2,) * (2 * n))
    rho = core.run_mixed(program, values, rho0)
    return density_to_pauli(rho, n).astype(theta.dtype), jnp.ones((1,), theta.dtype)


# ---------------------------------------------------------------------------------------
# expectation values with a shared backward sweep
_FUNCTIONS: WeakKeyDictionary = WeakKeyDictionary()


def _contract(rows, left, right):
    """``rows (..., 4**n) · (left ⊗ right)`` without forming the Kronecker product: the rows times
    ``right`` first (one matrix product shared by the batch under ``vmap``), then ``left``."""
    lead = rows.shape[:-1]
    r = rows.reshape((-1, left.shape[0], right.shape[0])) @ right
    return (r @ left).reshape(lead)


def _make_core(plan: Plan, obs: np.ndarray):
    """``(angles, left, right) -> <O_k>`` (the encoded state ``left ⊗ right``) with a VJP that
    reuses the derivative rows of the forward sweep."""

    @jax.custom_vjp
    def contracted(angles, left, right):
        return _contract(sweep(plan, angles, obs, derivatives=False), left, right)

    @exact_products
    def fwd(angles, left, right):
        o, d = sweep(plan, angles, obs, derivatives=True)
        return _contract(o, left, right), (o, d, left, right, angles)

    @exact_products
    def bwd(res, g):
        o, d, left, right, angles = res
        a_bar = jnp.zeros_like(angles)
        if d.shape[0]:
            t = _contract(d, left, right)  # ∂<O_k>/∂a: (A, K)
            a_bar = a_bar.at[np.asarray(plan.derivative_slots)].add(t @ g)
        og = (g @ o).reshape(left.shape[0], right.shape[0])  # the cotangent of c = Σ_k g_k o_k
        return a_bar, og @ right, left @ og

    contracted.defvjp(fwd, bwd)
    return contracted


@exact_products
def heisenberg_operators(circuit: Circuit, theta):
    """``W (K, d, d)``: ``W_k = Σ_P o_kP P`` from the shared sweep's rows (no derivative rows),
    so ``<O_k> = Tr(W_k ρ)``; differentiable in ``theta``."""
    _, trainable = split_encoding(circuit)
    plan = plan_for(trainable)
    angles = plan.program.angles(theta, jnp.zeros((trainable.n_features,), theta.dtype))
    o = sweep(plan, angles, observable_vectors(circuit), derivatives=False)
    cdt = jnp.result_type(theta.dtype, jnp.complex64)
    return jnp.einsum("kp,pab->kab", o.astype(cdt), jnp.asarray(_word_matrices(circuit.n_qubits), cdt))


def pauli_expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one example, the trainable part in the Pauli-basis Heisenberg picture;
    ``theta`` and ``x`` validated, ``circuit`` split by :func:`.core.split_encoding`."""
    encoding, trainable = split_encoding(circuit)
    if circuit not in _FUNCTIONS:
        _FUNCTIONS[circuit] = _make_core(plan_for(trainable), observable_vectors(circuit))
    plan = plan_for(trainable)
    angles = plan.program.angles(theta, jnp.zeros((trainable.n_features,), theta.dtype))
    left, right = encoded_state(circuit, encoding, theta, x)
    return _FUNCTIONS[circuit](angles, left, right).astype(theta.dtype)
