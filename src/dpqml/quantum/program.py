"""Lowering a :class:`Circuit` to a flat program of kernel steps, with gate fusion.

Every angle of the circuit is computed in one vectorised expression from ``(theta, x)``;
runs of single-qubit gates on the same wire are multiplied into one 2x2 matrix (the
encoding RY(x) and a layer's RY·RZ become a single pass over the state); CNOT, CZ and SWAP
keep their permutation/sign kernels; Pauli rotations keep their ``cos - i sin P`` kernel.

A step is a tuple ``(kind, wires, payload)``:

* ``("u", (w,), chain)``: a fused single-qubit chain, its 2x2 matrix the ``chain``-th entry of
  :meth:`Program.fused_matrices`;
* ``("kron", wires, chains)``: fused single-qubit chains on adjacent ``wires`` applied as one
  ``(2**k, 2**k)`` matrix, the Kronecker product of their 2x2 matrices (:func:`group_single_qubit`);
* ``("u", wires, fn)``: a multi-qubit gate, ``fn(angles) -> (2**k, 2**k)`` matrix;
* ``("pauli", wires, (factors, angle_index))``: ``exp(-i angle P / 2)``;
* ``("cnot" | "cz" | "swap", wires, None)``;
* ``("perm", wires, (perm, inverse))``: a run of CNOT/SWAP gates composed into one permutation
  of basis-state indices, ``psi'[i] = psi[perm[i]]`` (one gather pass instead of one pass per
  gate; a CNOT ring is one step);
* ``("sop", (w,), chain)``: density matrices only: the ``chain``-th 4x4 superoperator of
  :meth:`Program.fused_matrices`, on the axis pair (row ``w``, column ``w``). Every run of
  single-qubit gates *and* noise channels on one wire fuses into one superoperator (``U -> U ⊗ conj(U)``,
  channel ``-> sum_k K ⊗ conj(K)``), so a gate and the noise after it cost one pass.

Lowered with ``kraus=True`` (state vectors, for sampled trajectories: :mod:`.trajectories`), a
noise channel becomes one more element of its wire's single-qubit chain: the Kraus operator a
trajectory drew for it, passed to :meth:`Program.fused_matrices` at run time (``n_kraus`` of them,
in the circuit's order of channels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax.numpy as jnp
import numpy as np

from . import gates as G
from . import kernels as K
from .circuit import Circuit

_ROT_NAMES = ("RX", "RY", "RZ")


@dataclass(frozen=True, eq=False)
class Program:
    n_qubits: int
    steps: tuple
    # Vectorised angle sources, one entry per angle of the circuit.
    weight_idx: np.ndarray  # index into theta_ext (n_params means "none": value 0)
    feature_idx: np.ndarray  # index into x_ext (n_features means "none": value 0)
    fweight_idx: np.ndarray  # index into theta_ext1 (n_params means "none": value 1)
    scale: np.ndarray
    offset: np.ndarray
    n_params: int
    n_features: int
    # Fused single-qubit chains (see ``fused_matrices``).
    rot_slots: dict  # "RX"/"RY"/"RZ" -> angle slots, in element order
    fixed: np.ndarray  # (f, d, d) constant elements (fixed gates; channel superoperators)
    chain_groups: tuple  # ((chain ids, element index array (G, r)), ...)
    n_chains: int
    mixed: bool
    # The longest run of identical consecutive step blocks: (start, period, repeats), or None.
    # The simulator runs it with ``lax.scan`` so compile time does not grow with depth.
    repeat: tuple | None = None
    # A second feature factor per angle (index into x_ext1: n_features means "none", value 1), or None.
    feature2_idx: np.ndarray | None = None
    # Channels lowered as run-time Kraus elements (``kraus=True``), in the circuit's order.
    n_kraus: int = 0

    def fused_matrices(self, angles, kraus=None):
        """All fused chains at once: a list of ``n_chains`` ``(d, d)`` matrices (d = 2, or 4 for superoperators).

        Every rotation matrix of the circuit is built in one vectorised expression per gate
        type; chains of equal length are multiplied together as batches. This keeps the
        compiled program small (fast compiles) whatever the depth. ``kraus`` (``(n_kraus, 2, 2)``)
        holds the drawn Kraus operator of every channel of a program lowered with ``kraus=True``.
        """
        cdt = G.complex_dtype(angles.dtype)
        parts = []
        for name in _ROT_NAMES:
            slots = self.rot_slots[name]
            if len(slots):
                m = G.ROTATIONS_1Q[name](angles[slots])  # (2, 2, k)
                parts.append(jnp.moveaxis(m, -1, 0))
        if parts:
            u = jnp.concatenate(parts).astype(cdt)
            if self.mixed:
                u = jnp.einsum("kab,kcd->kacbd", u, jnp.conj(u)).reshape(-1, 4, 4)
            parts = [u]
        if len(self.fixed):
            parts.append(jnp.asarray(self.fixed, cdt))
        if self.n_kraus:
            if kraus is None:
                raise ValueError("this program samples its noise channels: pass the drawn Kraus operators")
            parts.append(jnp.asarray(kraus).astype(cdt))
        return self.multiply_chains(jnp.concatenate(parts))

    def multiply_chains(self, table) -> list:
        """Every fused chain's matrix from the element ``table`` (rotations by type in
        ``rot_slots`` order, then the fixed elements): chains of equal length as batches."""
        out = [None] * self.n_chains
        for ids, idx in self.chain_groups:
            t = table[idx]  # (G, r, d, d)
            m = t[:, 0]
            for j in range(1, idx.shape[1]):
                m = K.small_matmul(t[:, j], m)
            for g, cid in enumerate(ids):
                out[cid] = m[g]
        return out

    def chain_slots(self) -> list:
        """For each fused chain, the angle slots of its rotations (fixed elements have none)."""
        owners = [int(slot) for name in _ROT_NAMES for slot in self.rot_slots[name]]
        out = [[] for _ in range(self.n_chains)]
        for ids, idx in self.chain_groups:
            for g, cid in enumerate(ids):
                out[cid] = [owners[e] for e in idx[g] if e < len(owners)]
        return out

    def kraus_steps(self) -> tuple:
        """For each step, whether its payload holds a drawn Kraus operator (``kraus=True``)."""
        if not self.n_kraus:
            return (False,) * len(self.steps)
        first = sum(len(self.rot_slots[name]) for name in _ROT_NAMES) + len(self.fixed)
        sampled = [False] * self.n_chains
        for ids, idx in self.chain_groups:
            for g, cid in enumerate(ids):
                sampled[cid] = bool(np.any(idx[g] >= first))
        return self._per_step(sampled)

    def feature_steps(self) -> tuple:
        """For each step, whether its payload may depend on the features ``x`` (static; a dense
        multi-qubit gate counts as dependent)."""
        uses_x = self.feature_idx != self.n_features
        chains = [bool(any(uses_x[s] for s in slots)) for slots in self.chain_slots()]
        return self._per_step(chains, pauli=lambda slot: bool(uses_x[slot]), dense=True)

    def _per_step(self, chain_flags, *, pauli=lambda slot: False, dense: bool = False) -> tuple:
        """A per-chain flag carried to the steps: a chain step has its chain's, a ``kron`` step any of
        its chains', a Pauli rotation ``pauli(angle slot)``, a dense gate ``dense``."""
        def flag(step):
            kind, _, payload = step
            if kind in ("u", "sop") and isinstance(payload, int):
                return chain_flags[payload]
            if kind == "kron":
                return any(chain_flags[c] for c in payload)
            if kind == "pauli":
                return pauli(payload[1])
            return dense and kind == "u"

        return tuple(flag(st) for st in self.steps)

    def angles(self, theta, x):
        """All angles of the circuit as one vector, from ``theta`` (n_params,) and ``x`` (n_features,)."""
        return angle_values(theta, x, weight_idx=self.weight_idx, feature_idx=self.feature_idx,
                            fweight_idx=self.fweight_idx, feature2_idx=self.feature2_idx, scale=self.scale,
                            offset=self.offset)


def angle_tables(angles, n_params: int, n_features: int) -> dict:
    """Index tables of ``angles`` (a sequence of :class:`Angle`) for :func:`angle_values`:
    ``weight_idx``/``fweight_idx`` into ``theta`` extended by one entry (``n_params``: no weight,
    value 0, or no feature weight, value 1), ``feature_idx``/``feature2_idx`` into ``x`` extended
    by one (``n_features``: no feature, 0, or no second feature, 1; ``feature2_idx`` is ``None``
    when no angle has one), and ``scale``, ``offset``."""
    angles = list(angles)
    f2 = [n_features if a.feature2 is None else a.feature2 for a in angles]
    return {
        "weight_idx": np.asarray([n_params if a.weight is None else a.weight for a in angles], np.int32),
        "feature_idx": np.asarray([n_features if a.feature is None else a.feature for a in angles], np.int32),
        "fweight_idx": np.asarray([n_params if a.feature_weight is None else a.feature_weight for a in angles],
                                  np.int32),
        "feature2_idx": np.asarray(f2, np.int32) if any(i != n_features for i in f2) else None,
        "scale": np.asarray([a.scale for a in angles], np.float64),
        "offset": np.asarray([a.offset for a in angles], np.float64),
    }


def angle_values(theta, x, *, weight_idx, feature_idx, fweight_idx, feature2_idx, scale, offset):
    """``offset + scale · x[feature] · x[feature2] · theta[feature_weight] + theta[weight]`` for
    every angle of :func:`angle_tables` at once (the formula of :class:`Angle`), differentiable in
    ``theta`` and ``x``."""
    dt = theta.dtype
    zero, one = jnp.zeros((1,), dt), jnp.ones((1,), dt)
    x = jnp.asarray(x).astype(dt)
    term = jnp.asarray(scale, dt) * jnp.concatenate([x, zero])[feature_idx] \
        * jnp.concatenate([theta, one])[fweight_idx]
    if feature2_idx is not None:  # products of two features (IQP embeddings)
        term = term * jnp.concatenate([x, one])[feature2_idx]
    return jnp.asarray(offset, dt) + term + jnp.concatenate([theta, zero])[weight_idx]


def _gate_matrix_fn(op, angle_slots):
    """A function of the angle vector giving the op's unitary (2**k, 2**k); its ``slots``
    attribute lists the angle slots it reads."""
    fn = _gate_matrix(op, angle_slots)
    fn.slots = tuple(angle_slots)
    return fn


def _gate_matrix(op, angle_slots):
    name = op.name
    if name in G.FIXED_1Q:
        m = G.FIXED_1Q[name]
        return lambda ang: jnp.asarray(m, G.complex_dtype(ang.dtype))
    if name == "Unitary":
        m = op.matrix
        return lambda ang: jnp.asarray(m, G.complex_dtype(ang.dtype))
    if name in _ROT_NAMES:
        (i,) = angle_slots
        f = G.ROTATIONS_1Q[name]
        return lambda ang: f(ang[i])
    if name == "Rot":
        i, j, k = angle_slots
        return lambda ang: G.rot(ang[i], ang[j], ang[k])
    if name in ("CRX", "CRY", "CRZ"):
        (i,) = angle_slots
        f = G.ROTATIONS_1Q[name[1:]]
        return lambda ang: G.controlled(f(ang[i]))
    if name == "PauliRot":  # dense form, used for density matrices
        (i,) = angle_slots
        word = op.pauli
        return lambda ang: G.pauli_rotation(word, ang[i])
    raise AssertionError(f"no matrix for {name}")


def _signature(step):
    kind, wires, payload = step
    if kind == "pauli":
        return (kind, wires, payload[0])
    if kind == "perm":
        return (kind, payload[2])
    if kind == "kron":
        return (kind, wires)
    if kind == "u" and not isinstance(payload, int):
        return (kind, wires, "dense")  # payload computed separately; only the shape matters
    return (kind, wires)


def find_repeat(signatures, min_repeats: int = 2, min_period_steps: int = 2):
    """The longest block ``signatures[s : s + P]`` repeated ``R >= min_repeats`` times in a row.

    Returns ``(s, P, R)`` maximising the covered length ``P * R``, or None.
    """
    codes = {}
    arr = np.asarray([codes.setdefault(sig, len(codes)) for sig in signatures])
    n = len(arr)
    best = None
    for p in range(max(min_period_steps, 1), n // min_repeats + 1):
        eq = arr[:-p] == arr[p:]  # eq[i]: step i equals step i + p
        i = 0
        while i < len(eq):
            if not eq[i]:
                i += 1
                continue
            j = i
            while j < len(eq) and eq[j]:
                j += 1
            run = j - i  # steps i .. i+run-1 equal their shift by p
            reps = run // p + 1
            if reps >= min_repeats and (best is None or reps * p > best[1] * best[2]):
                best = (i, p, reps)
            i = j
    return best


#: Largest qubit count for which runs of CNOT/SWAP become one index permutation (measured at
#: batch 64, 2-core CPU, with single-qubit gates grouped: one gather pass beats the n CNOT passes
#: of an hea ring from n = 4 to 16 (n = 12, L = 6: 600 against 350 examples/s); the index array
#: takes 4 * 2**n bytes).
MAX_PERMUTATION_QUBITS = 16


def _permutation_of(run, n):
    """``perm`` with ``psi_out.flat[i] = psi_in.flat[perm[i]]`` for a run of CNOT/SWAP steps."""
    idx = np.arange(2**n).reshape((2,) * n)
    for kind, wires, _ in run:
        if kind == "swap":
            idx = np.swapaxes(idx, *wires)
        else:  # cnot: flip the target where the control is 1
            c, t = wires
            idx = idx.copy()
            sl = [slice(None)] * n
            sl[c] = 1
            sub = idx[tuple(sl)]
            idx[tuple(sl)] = np.flip(sub, axis=t if t < c else t - 1)
    return np.ascontiguousarray(idx).reshape(-1).astype(np.int32)


def merge_permutations(steps, n):
    """Replace runs of >= 2 consecutive CNOT/SWAP steps by one ``perm`` step."""
    out, run = [], []

    def close():
        if len(run) >= 2 and n <= MAX_PERMUTATION_QUBITS:
            perm = _permutation_of(run, n)
            inv = np.empty_like(perm)
            inv[perm] = np.arange(perm.size, dtype=np.int32)
            wires = tuple(sorted({w for _, ws, _ in run for w in ws}))
            out.append(("perm", wires, (perm, inv, tuple((k, ws) for k, ws, _ in run))))
        else:
            out.extend(run)
        run.clear()

    for st in steps:
        if st[0] in ("cnot", "swap"):
            run.append(st)
        else:
            close()
            out.append(st)
    close()
    return out


def lower(circuit: Circuit, *, mixed: bool, fuse: bool = True, scan: bool = True,
          permutations: bool = True, group: int = 1, kraus: bool = False) -> Program:
    """Lower ``circuit`` to a :class:`Program`; ``mixed`` selects density-matrix steps.

    ``permutations=False`` keeps every CNOT/SWAP as its own step (the tensor-network method
    needs the gates, not their composed permutation). ``group >= 2`` (state vectors only)
    gathers single-qubit steps on up to ``group`` adjacent wires into one ``"kron"`` step
    (:func:`group_single_qubit`). ``kraus=True`` (state vectors) lowers each noise channel to a
    run-time element of its wire's chain: the Kraus operator a sampled trajectory applies."""
    n_p, n_f = circuit.n_params, circuit.n_features
    all_angles: list = []
    steps: list = []
    pending: dict[int, list] = {}
    # single-qubit elements: ("rot", name, slot) or ("fixed", matrix (d, d))
    chains: list[list] = []
    n_kraus = 0

    def flush(wires):
        for w in wires:
            elems = pending.pop(w, None)
            if elems:
                steps.append(("sop" if mixed else "u", (w,), len(chains)))
                chains.append(elems)

    def as_fixed(m):
        m = np.asarray(m, np.complex128)
        return ("fixed", np.kron(m, m.conj()) if mixed else m)

    for op in circuit.operations:
        slots = []
        for a in op.angles:
            slots.append(len(all_angles))
            all_angles.append(a)
        if op.is_readout:
            continue  # applied at measurement
        if op.is_noise:
            if mixed:
                ks = [np.asarray(k, np.complex128) for k in G.kraus_operators(op.name, op.prob)]
                pending.setdefault(op.wires[0], []).append(("fixed", sum(np.kron(k, k.conj()) for k in ks)))
            elif kraus:
                pending.setdefault(op.wires[0], []).append(("kraus", n_kraus))
                n_kraus += 1
            else:
                raise ValueError("noise channels need density-matrix simulation (mixed=True)")
        elif len(op.wires) == 1 and op.name != "PauliRot":
            if op.name in _ROT_NAMES:
                elems = [("rot", op.name, slots[0])]
            elif op.name == "Rot":  # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)
                elems = [("rot", "RZ", slots[0]), ("rot", "RY", slots[1]), ("rot", "RZ", slots[2])]
            else:
                elems = [as_fixed(G.FIXED_1Q[op.name] if op.name in G.FIXED_1Q else op.matrix)]
            pending.setdefault(op.wires[0], []).extend(elems)
        else:
            flush(op.wires)
            if op.name in ("CNOT", "CZ", "SWAP"):
                steps.append((op.name.lower(), op.wires, None))
            elif op.name == "PauliRot" and not mixed:
                factors = tuple((w, p) for w, p in zip(op.wires, op.pauli) if p != "I")
                steps.append(("pauli", op.wires, (factors, slots[0])))
            else:
                steps.append(("u", op.wires, _gate_matrix_fn(op, slots)))
        if not fuse:
            flush(op.wires)
    flush(sorted(pending))
    if group >= 2 and not mixed:
        steps = group_single_qubit(steps, group)
    if permutations:
        steps = merge_permutations(steps, circuit.n_qubits)

    # element table: rotations grouped by type (in the order fused_matrices builds them), then fixed
    rot_slots = {name: [] for name in _ROT_NAMES}
    for elems in chains:
        for e in elems:
            if e[0] == "rot":
                rot_slots[e[1]].append(e[2])
    pos = {}
    base = 0
    for name in _ROT_NAMES:
        for j, slot in enumerate(rot_slots[name]):
            pos.setdefault((name, slot), base + j)
        base += len(rot_slots[name])
    fixed = [e[1] for elems in chains for e in elems if e[0] == "fixed"]
    chain_idx = []
    n_fixed = 0
    for elems in chains:
        idx = []
        for e in elems:
            if e[0] == "rot":
                idx.append(pos[(e[1], e[2])])
            elif e[0] == "kraus":  # after the fixed elements: fused_matrices appends the drawn operators
                idx.append(base + len(fixed) + e[1])
            else:
                idx.append(base + n_fixed)
                n_fixed += 1
        chain_idx.append(idx)
    by_len: dict[int, list[int]] = {}
    for cid, idx in enumerate(chain_idx):
        by_len.setdefault(len(idx), []).append(cid)
    groups = tuple(
        (tuple(ids), np.asarray([chain_idx[c] for c in ids], np.int32)) for _, ids in sorted(by_len.items())
    )
    d = 4 if mixed else 2
    program = Program(
        n_qubits=circuit.n_qubits,
        steps=tuple(steps),
        **angle_tables(all_angles, n_p, n_f),
        n_params=n_p,
        n_features=n_f,
        rot_slots={k: np.asarray(v, np.int32) for k, v in rot_slots.items()},
        fixed=np.asarray(fixed, np.complex128).reshape(-1, d, d),
        chain_groups=groups,
        n_chains=len(chains),
        mixed=mixed,
        n_kraus=n_kraus,
    )
    if not scan:
        return program
    # Steps whose payload depends on x differ from those that do not: the simulator keeps the
    # latter unbatched, and a scanned body must be one or the other.
    signatures = [(_signature(st), dep) for st, dep in zip(steps, program.feature_steps())]
    return replace(program, repeat=find_repeat(signatures))


def group_single_qubit(steps, max_wires: int) -> list:
    """``steps`` with fused single-qubit steps gathered into ``("kron", wires, chains)`` steps of at
    most ``max_wires`` adjacent wires: one contraction with a ``2**k``-square matrix instead of
    ``k`` passes over the state.

    A single-qubit step moves earlier past every step that does not touch its wire, to join the
    latest block of single-qubit steps (an ``hea`` layer's rotations, interleaved with its CNOT
    ring by the lowering, become one block followed by the ring, which then merges into one
    permutation). Each block is cut into runs of adjacent wires.
    """
    out: list = []
    block: dict | None = None  # wire -> step of the open block; its place in ``out`` is a marker
    touched: set = set()  # wires touched by steps after the open block

    def close():
        nonlocal block
        if block is None:
            return
        at = next(i for i, st in enumerate(out) if st is marker)
        grouped: list = []
        chunk: list = []
        for w in sorted(block) + [None]:
            if w is not None and chunk and w == chunk[-1] + 1 and len(chunk) < max_wires:
                chunk.append(w)
                continue
            if len(chunk) == 1:
                grouped.append(block[chunk[0]])
            elif chunk:
                grouped.append(("kron", tuple(chunk), tuple(block[v][2] for v in chunk)))
            chunk = [w]
        out[at : at + 1] = grouped
        block = None

    marker = object()
    for st in steps:
        kind, wires, payload = st
        if kind == "u" and len(wires) == 1 and isinstance(payload, int):
            w = wires[0]
            if block is not None and w not in block and w not in touched:
                block[w] = st
                continue
            close()
            block, touched = {w: st}, set()
            out.append(marker)
        else:
            out.append(st)
            touched.update(wires)  # a merged permutation lists every wire its gates touch
    close()
    return out
