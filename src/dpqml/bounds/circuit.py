"""Per-angle and per-parameter derivative bounds of a circuit's expectation values.

Everything here reads the :class:`~dpqml.quantum.Circuit` description the simulator runs.

**The basic fact.** Let one rotation angle φ enter through ``U(φ) = exp(-iφG/2)`` with
``‖G‖ ≤ 1`` (``G`` a Pauli word for RX/RY/RZ/PauliRot and each factor of Rot; ``G = |1⟩⟨1| ⊗ Q``
for CRX/CRY/CRZ). With ``O'`` the observable in the Heisenberg picture right after the gate
(later gates and the adjoints of later noise channels applied to ``O``) and ``σ`` the state
right before it, ``f(φ) = Tr[O' U σ U†]`` and::

    |∂f/∂φ| = ½ |Tr(U σ U† [G, O'])| ≤ ½ ‖[G, O' - cI]‖ ≤ ‖G‖ · ‖O' - cI‖  for every real c,

so ``|∂f/∂φ| ≤ (λmax(O') - λmin(O'))/2``, the *half spread* of ``O'``. Adjoints of noise channels
are unital and positive, and unitaries preserve spectra, so the half spread of ``O'`` never
exceeds that of ``O``: this is the parameter-shift bound ``(λmax - λmin)/2 ≤ ‖O‖`` of
``docs/bounds.md``, valid for noisy circuits too (for Pauli rotations it is the bound the
two-term shift rule ``½[f(φ+π/2) - f(φ-π/2)]`` gives; for controlled rotations it needs no
shift rule at all).

**Refinements, all exact statements about** ``O'`` **for one Pauli term** ``c·P`` **of** ``O``:

1. *Tracking.* Walking backwards from the measurement, while the Heisenberg operator is a
   single Pauli string times a scalar ``s`` (start: ``s = c`` times the readout factor
   ``Π_w (1 - 2 p_w)``): an operation on wires outside the string commutes with it; a Clifford
   gate maps it to another string; a rotation whose generator commutes with it leaves it
   unchanged (**zero derivative**, e.g. RZ right before a Z readout); a Pauli-diagonal noise
   channel multiplies it by a contraction factor (Depolarizing(p): ``1 - 4p/3`` on any non-identity
   letter; BitFlip/PhaseFlip: ``1 - 2p`` on the letters that anticommute with X/Z;
   PhaseDamping(γ): ``√(1-γ)`` on X, Y; AmplitudeDamping(γ): ``√(1-γ)`` on X, Y, and on a lone
   Z the identity part it adds is a constant). The first rotation that does not commute gets
   the bound ``|s|``, and so do all earlier angles (half spreads only shrink going back).
2. *Light cone.* From there on the operator is supported on a growing set of wires (the union
   of the wires of every later operation that touched it); an operation outside that set
   commutes with it: **zero derivative**.

A term's bound per angle slot is then 0 or ``|s|`` at the point tracking stopped; the bound for
an observable ``Σ_t c_t P_t`` is the sum over its terms (triangle inequality), and a parameter
used by several slots gets the sum over its slots, each times ``|∂φ/∂θ_i|``: 1 for
``Angle.weight``, ``|scale · x|`` for ``Angle.feature_weight`` (hence the feature bound).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..quantum import Circuit
from ..quantum.gates import FIXED_1Q, PAULI_MATRICES, kraus_operators, pauli_word_matrix

_FIXED_2Q = {
    "CNOT": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128),
    "CZ": np.diag([1, 1, 1, -1]).astype(np.complex128),
    "SWAP": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.complex128),
}
_TOL = 1e-10
_MAX_TRACK_WIRES = 4  # Pauli decomposition of a local operator costs 4**k


def _local_pauli(cur: dict[int, str], wires) -> np.ndarray:
    return pauli_word_matrix("".join(cur.get(w, "I") for w in wires))


def _as_single_pauli(m: np.ndarray, wires) -> tuple[float, dict[int, str]] | None:
    """``(coefficient, {wire: letter})`` if ``m`` is a real multiple of one Pauli word, else None."""
    k = len(wires)
    found = None
    for letters in itertools.product("IXYZ", repeat=k):
        c = np.trace(pauli_word_matrix("".join(letters)) @ m) / 2**k
        if abs(c) > _TOL:
            if found is not None or abs(c.imag) > _TOL:
                return None
            found = (float(c.real), {w: p for w, p in zip(wires, letters) if p != "I"})
    return found


def _fixed_matrix(op) -> np.ndarray | None:
    if op.name in FIXED_1Q:
        return FIXED_1Q[op.name]
    if op.name in _FIXED_2Q:
        return _FIXED_2Q[op.name]
    if op.name == "Unitary":
        return op.matrix
    return None


def _channel_factor(op, letter: str, alone: bool) -> float | None:
    """Factor by which the adjoint channel scales the Pauli ``letter``, or None if it does
    not map it to a multiple of itself (plus, when the string is a single letter, a
    constant, which no derivative sees)."""
    adj = sum(k.conj().T @ PAULI_MATRICES[letter] @ k for k in kraus_operators(op.name, op.prob))
    coef = {q: np.trace(PAULI_MATRICES[q] @ adj) / 2 for q in "IXYZ"}
    for q, c in coef.items():
        if q != letter and abs(c) > _TOL and not (q == "I" and alone):
            return None
    return float(coef[letter].real)


def term_slot_bounds(circuit: Circuit, factors, scale: float, *, refine: bool = True) -> dict:
    """Bounds on ``|∂⟨s·P⟩/∂φ|`` for every angle slot, one Pauli term ``s·P``.

    ``factors``: the ``(wire, letter)`` pairs of ``P``; ``scale``: ``|s|``. Returns a dict
    ``{(operation index, angle index): bound}``; slots not listed have zero derivative.
    ``refine=False`` gives the plain bound ``|s|`` for every slot (no tracking, no light cone).
    """
    ops = circuit.operations
    out: dict[tuple[int, int], float] = {}
    bound = abs(float(scale))
    if not factors or bound == 0.0:
        return out
    if not refine:
        return {(g, i): bound for g, op in enumerate(ops) for i in range(len(op.angles))}
    cur = dict(factors)  # tracking mode: the Heisenberg operator is ±bound · P(cur)
    letters: dict[int, set] | None = None  # letter-set mode once set (refinement 2)
    for g in reversed(range(len(ops))):
        op = ops[g]
        if op.is_readout:
            continue  # folded into the term's scale (the simulator's readout factor)
        if letters is None:
            if not set(op.wires) & set(cur):
                continue
            step = _track_single(op, cur)
            if step is not None:
                bound *= step
                if bound == 0.0:
                    return out
                continue
            letters = {w: {p} for w, p in cur.items()}  # from here: a sum of Pauli strings
        for i in _track_letters(op, letters):
            out[(g, i)] = bound
    return out


def _track_single(op, cur: dict) -> float | None:
    """One backward step while the operator is a single Pauli string ``cur`` (updated in place):
    the factor it is multiplied by (1 for gates, the contraction of a channel), or None when the
    result is no longer a single string (a rotation that does not commute, a channel that mixes
    letters, a non-Clifford gate); ``cur`` is then left unchanged."""
    if op.is_noise:
        f = _channel_factor(op, cur[op.wires[0]], alone=len(cur) == 1)
        return None if f is None else abs(f)
    if op.angles:  # a Pauli string commutes with another when they differ at an even number of wires
        commutes = all(sum(cur.get(w, "I") not in ("I", p) for w, p in g.items()) % 2 == 0
                       for _, strings in _generator_strings(op) for g in strings)
        return 1.0 if commutes else None  # U(φ) commutes with the operator: it passes unchanged
    u = _fixed_matrix(op)
    single = None
    if u is not None and len(op.wires) <= _MAX_TRACK_WIRES:
        single = _as_single_pauli(u.conj().T @ _local_pauli(cur, op.wires) @ u, op.wires)
    if single is None or abs(abs(single[0]) - 1.0) > 1e-8:
        return None
    for w in op.wires:
        cur.pop(w, None)
    cur.update(single[1])
    return 1.0


_PRODUCT = {("X", "Y"): "Z", ("Y", "Z"): "X", ("Z", "X"): "Y"}


def _times(a: str, b: str) -> str:
    """The letter of the product of two Pauli letters (phase dropped)."""
    if a == "I":
        return b
    if b == "I" or a == b:
        return "I" if a == b else a
    return _PRODUCT.get((a, b)) or _PRODUCT[(b, a)]


def _generator_strings(op) -> list[tuple[int, list[dict]]]:
    """``(angle index, Pauli strings)`` per sub-rotation, in the order they act
    (``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``: RZ(φ) first): the rotation's conjugation is that of
    commuting Pauli rotations about these strings (one for RX/RY/RZ, each factor of Rot and
    PauliRot; two for CRX/CRY/CRZ, ``exp(-iφ(I − Z_c)Q_t/4)``, whose generator commutes with a
    Pauli string exactly when both strings do)."""
    if op.name in ("CRX", "CRY", "CRZ"):
        c, t = op.wires
        return [(0, [{t: op.name[2]}, {c: "Z", t: op.name[2]}])]
    if op.name == "PauliRot":
        return [(0, [{w: p for w, p in zip(op.wires, op.pauli) if p != "I"}])]
    letter = {"RX": "X", "RY": "Y", "RZ": "Z"}
    if op.name == "Rot":
        return [(0, [{op.wires[0]: "Z"}]), (1, [{op.wires[0]: "Y"}]), (2, [{op.wires[0]: "Z"}])]
    return [(0, [{op.wires[0]: letter[op.name]}])]


def _track_letters(op, letters: dict) -> list[int]:
    """One backward step in letter-set mode. ``letters[w]`` holds every letter a Pauli term of the
    Heisenberg operator may carry on wire ``w`` (absent: only I); updated in place to a superset
    of the letters after the step. Returns the angle indices of ``op`` whose derivative may be
    nonzero (a rotation commutes with every term when each wire's letters are I or the
    generator's letter there: zero derivative)."""
    wires = op.wires
    if all(letters.get(w, {"I"}) <= {"I"} for w in wires):
        return []  # outside the light cone: commutes with every term
    if op.angles:
        moved = []
        for i, strings in reversed(_generator_strings(op)):
            if all(letters.get(w, {"I"}) <= {"I", p} for s in strings for w, p in s.items()):
                continue
            moved.append(i)
            for s in strings:  # U†TU = T or cos·T + sin·(G T): add the letters of G·T
                for w, p in s.items():
                    have = letters.get(w, {"I"})
                    letters[w] = have | {_times(p, q) for q in have}
        return moved
    if not op.is_noise and (_fixed_matrix(op) is None or len(wires) > _MAX_TRACK_WIRES):
        for w in wires:
            letters[w] = set("IXYZ")
        return []
    new = [set() for _ in wires]
    for combo in itertools.product(*(sorted(letters.get(w, {"I"})) for w in wires)):
        for i, got in enumerate(_image_letters(op, "".join(combo))):
            new[i] |= got
    for w, got in zip(wires, new):
        letters[w] = got
    return []


_IMAGES: dict = {}  # (operation's matrix or channel, word) -> per-wire letters of its image


def _image_letters(op, word: str) -> list[frozenset]:
    """Per wire of ``op``, the letters of the Pauli words in the adjoint image of ``word`` under the
    fixed gate or channel ``op`` (``U† P U``, or ``Σ K† P K``)."""
    u = None if op.is_noise else _fixed_matrix(op)
    key = (op.name, op.prob, None if u is None else u.tobytes(), word)
    if key not in _IMAGES:
        m = pauli_word_matrix(word)
        m = sum(k.conj().T @ m @ k for k in kraus_operators(op.name, op.prob)) if u is None else u.conj().T @ m @ u
        k = len(word)
        out = [set() for _ in range(k)]
        for w in itertools.product("IXYZ", repeat=k):
            if abs(np.trace(pauli_word_matrix("".join(w)) @ m)) > _TOL * 2**k:
                for i, p in enumerate(w):
                    out[i].add(p)
        _IMAGES[key] = [frozenset(o) for o in out]
    return _IMAGES[key]


def product_groups(circuit: Circuit, feature_bound: float | None = None) -> list[tuple[int, ...]]:
    """Groups of parameters whose joint gradient is bounded by one half spread (product-state layers).

    Before the first operation on two or more wires, a circuit that starts in ``|0...0>`` holds a
    product state. There, the ``m``-th single-qubit Pauli rotation of every wire can be moved to one
    common moment (operations on other wires commute with it), where the state ``ρ`` is a product.
    For a direction ``v`` over their angles, ``∂_v f = (i/2) Tr(ρ [H_v, O'])`` with ``H_v = Σ_w v_w
    P_w``, so by Robertson's inequality ``|∂_v f| ≤ Δ_ρ(H_v) Δ_ρ(O')``; on a product state the
    ``P_w`` (one per wire) are uncorrelated, ``Δ_ρ(H_v)² = Σ_w v_w² Var(P_w) ≤ ‖v‖²``, and
    ``Δ_ρ(O')`` is at most the half spread of ``O``. So the gradient over the group has norm at
    most the half spread of ``O``, against ``√(group size)`` times it for angle-by-angle bounds.

    A parameter joins a group only when it enters the circuit exactly once, as ``Angle.weight``
    (so ``∂φ/∂θ = 1``), of a one-wire Pauli rotation in that prefix. With ``feature_bound`` ``X``,
    a trainable encoding ``φ = θ_w·s·x + θ_b`` joins with both its parameters (each used once):
    the gradient over them is ``∂f/∂φ · (s·x, 1)``, so the group's cap grows by the factor
    :func:`group_factor`, ``√(1 + (s·X)²)``. A group may hold one slot: its cap is then no better
    than the per-angle bound, but the model bound still uses the layer's state in its joint rule
    for the head (``model._joint_head_saving``).
    """
    if circuit.state_prep != "zero":
        return []
    uses = circuit.angle_uses()
    per_wire: dict[int, list[tuple[int, ...]]] = {}
    for op in circuit.operations:
        if len(op.wires) > 1:
            break  # the prefix ends: from here the state may be entangled
        if not op.angles or op.is_noise or op.is_readout:
            continue
        if op.name not in ("RX", "RY", "RZ", "Rot", "PauliRot"):
            continue
        for i, _ in _generator_strings(op):  # in the order the sub-rotations act
            a = op.angles[i]
            trainable_encoding = a.feature_weight is not None
            if not a.weights or any(uses.get(w) != 1 for w in a.weights):
                continue
            if trainable_encoding and (feature_bound is None or a.feature2 is not None):
                continue
            per_wire.setdefault(op.wires[0], []).append(a.weights)
    depth = max((len(v) for v in per_wire.values()), default=0)
    return [tuple(p for v in per_wire.values() if len(v) > m for p in v[m]) for m in range(depth)]


def rotation_groups(circuit: Circuit, exclude=()) -> list[tuple[tuple[int, ...], float]]:
    """Groups of angles of consecutive one-wire rotations, each with the factor ``√λ`` its joint
    gradient carries against one half spread (``docs/bounds.md``, step 4c).

    Rotations on one wire with nothing else on that wire between them can be moved together
    (operations on other wires commute with them). Moved to the point after the last, their
    generators are single-qubit Paulis ``n_j·σ``, so their derivatives are ``n_j·c`` with
    ``c_a = Tr(ρ i[σ_a, O''])/2``. By Robertson's inequality ``|u·c| ≤ Δ(u·σ) Δ(O'')``, which is at
    most the half spread of ``O`` (adjoint channels are unital and positive), and ``Σ_j (n_j·c)² ≤
    λmax(Σ_j n_j n_jᵀ) ‖c‖²``. Two rotations next to each other about different letters have
    orthogonal ``n``s (the later one rotates about its own axis, which keeps the earlier one's
    component along it at zero), so the run is split into such pairs (each adds 1 to ``λ``) and
    singles (1 each): a Rot gate (``RZ RY RZ``) gets ``λ = 2`` for three angles, an ``RY RZ`` pair
    ``λ = 1`` for two.

    An angle joins only as a plain ``Angle.weight`` used nowhere else (``∂φ/∂θ = 1``); parameters in
    ``exclude`` (a product-state group's) are left out. Groups of one angle are not returned.
    """
    exclude = set(exclude)
    uses = circuit.angle_uses()
    runs: dict[int, list] = {}  # wire -> the current run: [(letter, parameter or None), ...]
    groups = []

    def close(wire):
        run = runs.pop(wire, [])
        members, weight, j = [], 0, 0
        while j < len(run):
            letter, p = run[j]
            if p is None:
                j += 1
                continue
            nxt = run[j + 1] if j + 1 < len(run) else None
            if nxt is not None and nxt[1] is not None and nxt[0] != letter:  # an orthogonal pair
                members += [p, nxt[1]]
                weight += 1
                j += 2
            else:
                members.append(p)
                weight += 1
                j += 1
        if len(members) > 1 and weight < len(members):
            groups.append((tuple(members), math.sqrt(weight)))

    for op in circuit.operations:
        one_wire_rotation = (len(op.wires) == 1 and op.name in ("RX", "RY", "RZ", "Rot") and not op.is_noise
                             and not op.is_readout)
        if not one_wire_rotation:
            for w in op.wires:
                close(w)
            continue
        w = op.wires[0]
        for i, strings in _generator_strings(op):
            a = op.angles[i]
            plain = (a.weight is not None and a.feature_weight is None and uses.get(a.weight) == 1
                     and a.weight not in exclude)
            runs.setdefault(w, []).append((strings[0][w], a.weight if plain else None))
    for w in list(runs):
        close(w)
    return groups


def group_factor(circuit: Circuit, group, feature_bound: float | None) -> float:
    """The factor a :func:`product_groups` group's cap carries: ``max √((θ_b used) + (s·X)²)`` over its
    trainable encodings (``∂φ/∂θ_w = s·x``, ``|x| ≤ X``), 1 for plain weights."""
    members, factor = set(group), 1.0
    for op in circuit.operations:
        for a in op.angles:
            if a.feature_weight is not None and a.feature_weight in members:
                factor = max(factor, math.hypot(1.0 if a.weight is not None else 0.0,
                                                abs(a.scale) * float(feature_bound)))
    return factor


def cap_groups(circuit: Circuit, feature_bound: float | None):
    """``(layers, runs)``: the parameter groups bounded jointly, each as ``(group, factor)`` with
    its cap ``factor`` half spreads: the product-state layers (:func:`product_groups`, their
    :func:`group_factor`), then the rotation runs outside them (:func:`rotation_groups`, ``√λ``)."""
    layers = [(g, group_factor(circuit, g, feature_bound)) for g in product_groups(circuit, feature_bound)]
    return layers, rotation_groups(circuit, {p for g, _ in layers for p in g})


def grouped_norm(components: np.ndarray, groups, caps) -> float:
    """``‖components‖₂`` with each group's part replaced by ``min(its own norm, cap)``.

    ``components[i]`` bounds ``|∂ℓ/∂θ_i|``; ``caps[j]`` bounds the norm of the gradient over
    ``groups[j]`` jointly (:func:`product_groups`); both are sound, so the smaller is."""
    comp = np.asarray(components, dtype=float)
    total = float((comp**2).sum())
    for g, cap in zip(groups, caps):
        part = float((comp[list(g)] ** 2).sum())
        total -= part - min(part, float(cap) ** 2)
    return math.sqrt(max(total, 0.0))


def half_spread_bound(circuit: Circuit, k: int) -> float:
    """``(λmax − λmin)/2`` bound of observable ``k`` with its readout factors: ``Σ_t |c_t · r_t|``
    over its non-identity terms (a constant shifts the spectrum without widening it)."""
    return float(sum(s for _, s in observable_terms(circuit, k)))


def observable_terms(circuit: Circuit, k: int) -> list[tuple[tuple, float]]:
    """Non-identity terms of observable ``k`` as ``(factors, |c| · |readout factor|)``."""
    ro = circuit.readout_errors
    terms = []
    for c, p in circuit.observables[k].terms:
        if not p.factors:
            continue  # a constant: no derivative
        factor = float(np.prod([1.0 - 2.0 * ro.get(w, 0.0) for w in p.wires]))
        terms.append((p.factors, abs(c * factor)))
    return terms


def output_bound(circuit: Circuit, k: int) -> float:
    """``sup |⟨O_k⟩|`` bound: ``Σ_t |c_t · readout factor|`` (identity terms included)."""
    ro = circuit.readout_errors
    return float(sum(abs(c * np.prod([1.0 - 2.0 * ro.get(w, 0.0) for w in p.wires]))
                     for c, p in circuit.observables[k].terms))


def slot_bounds(circuit: Circuit, *, refine: bool = True) -> list[dict]:
    """Per observable ``k``: ``{(operation index, angle index): bound on |∂⟨O_k⟩/∂φ|}``."""
    result = []
    for k in range(len(circuit.observables)):
        acc: dict[tuple[int, int], float] = {}
        for factors, s in observable_terms(circuit, k):
            for slot, b in term_slot_bounds(circuit, factors, s, refine=refine).items():
                acc[slot] = acc.get(slot, 0.0) + b
        result.append(acc)
    return result


def parameter_bounds(circuit: Circuit, slots: list[dict], feature_bound: float | None) -> np.ndarray:
    """``B[k, i]`` bounding ``|∂⟨O_k⟩/∂θ_i|`` for every input with ``|x_j| ≤ feature_bound``.

    ``|∂φ/∂θ_i|`` is 1 for ``Angle.weight`` and ``|scale| · feature_bound`` for
    ``Angle.feature_weight``; a trainable encoding without a feature bound is refused.
    """
    B = np.zeros((len(slots), circuit.n_params))
    for k, acc in enumerate(slots):
        for (g, i), b in acc.items():
            a = circuit.operations[g].angles[i]
            if a.weight is not None:
                B[k, a.weight] += b
            if a.feature_weight is not None:
                if feature_bound is None:
                    raise ValueError(
                        "feature_bound is required: the circuit has trainable encodings "
                        "(angle = θ·x + ...), whose gradient grows with |x|; declare the feature "
                        "domain |x_j| <= X (--feature-bound X)")
                B[k, a.feature_weight] += b * abs(a.scale) * feature_bound * (
                    feature_bound if a.feature2 is not None else 1.0)
    return B


def feature_bounds(circuit: Circuit, slots: list[dict], theta, feature_bound: float = math.pi) -> np.ndarray:
    """``D[k, j]`` bounding ``|∂⟨O_k⟩/∂x_j|`` at the parameters ``theta`` (angle encodings;
    ``|∂φ/∂x_j| = |scale · θ[feature_weight]|`` or ``|scale|``, times ``feature_bound`` ≥ ``|x|``
    of the other factor of a product of two features)."""
    if circuit.state_prep == "amplitude":
        raise ValueError(
            "cannot bound the gradient through amplitude encoding with respect to its inputs: "
            "x/||x|| has unbounded derivative near x = 0 (use an angle encoding with 'pre' layers)")
    theta = np.asarray(theta, dtype=float)
    D = np.zeros((len(slots), circuit.n_features))
    for k, acc in enumerate(slots):
        for (g, i), b in acc.items():
            a = circuit.operations[g].angles[i]
            if a.feature is not None:
                w = abs(theta[a.feature_weight]) if a.feature_weight is not None else 1.0
                if a.feature2 is None:
                    D[k, a.feature] += b * abs(a.scale) * w
                else:  # ∂(x_f x_g)/∂x_f = x_g, |x_g| <= feature_bound
                    D[k, a.feature] += b * abs(a.scale) * w * feature_bound
                    D[k, a.feature2] += b * abs(a.scale) * w * feature_bound
    return D
