"""Gradient-norm bounds that depend on the parameters only: ``G(θ) ≥ ‖∇ℓ(θ; x, y)‖₂`` for
every input ``x`` the encoding can prepare and every label ``y``.

DP-SGD releases every noisy iterate ``θ_t``, so a clip threshold computed from ``θ_t`` alone is
post-processing of released values and costs no privacy: clipping at ``C_t = G(θ_t)`` changes no
gradient, and the noise ``σ·C_t`` follows the parameters (``docs/privacy.md``, the trainer's
``max_grad_norm="bound"``). Derivation (``docs/bounds.md``, "Bounds that follow the parameters"):

A circuit that encodes first and trains afterwards gives outputs ``f_k = ⟨ψ|A_k(θ)|ψ⟩`` for the
encoded state ``ψ`` (``A_k`` the observable evolved backwards through the trainable part,
:func:`dpqml.quantum.heisenberg.heisenberg_operators`; a mixed encoded state is a mixture of pure
ones, and every quantity below is convex in the state, so pure states are the worst case), with
derivatives ``∂f_k/∂θ_p = ⟨ψ|D_kp|ψ⟩``, ``D_kp = ∂A_k/∂θ_p``.

* Binary head (``logit = a Σ_k f_k + b``, ``F = Σ_k f_k``): ``‖∇ℓ‖² = ℓ'² (a² ‖∇_θ F‖² + F² + 1)``.
* K classes (``logits = a f + b``; the paper's model: ``a = 1``, ``b = 0``, not trained): the
  loss's gradient in the logits is ``g = softmax(z) − e_y``, and the squared gradient in
  ``(θ, a, b)``, ``a² ‖Σ_k g_k ∇f_k‖² + (Σ_k g_k f_k)² + ‖g‖²``, is convex in ``g`` for each
  ``ψ``. Every logit lies in a box, and ``g`` in the hull of ``2^(K−1)`` vertices per label
  (:func:`_class_vertices`: the box's corners with the label's logit at its bottom), so the
  largest vertex bounds it. This replaces ``(1 − p_y)`` at its worst times the worst class
  pair, which charged every corner at once (paper's model at initialisation: 6.34 → 5.41).

Each remaining term is a quadratic form in ``ψ ⊗ ψ``, because ``⟨ψ|X|ψ⟩⟨ψ|Y|ψ⟩ = ⟨ψψ|X ⊗ Y|ψψ⟩``:
``a² ‖∇(Σ_k g_k f_k)‖² + (Σ_k g_k f_k)² ≤ λmax(a² Σ_p D_p ⊗ D_p + A ⊗ A)`` with ``A = Σ_k g_k A_k``,
``D_p = Σ_k g_k D_kp``, the eigenvalue taken on the symmetric subspace (``ψ ⊗ ψ`` lies in it),
over real vectors where the encoding prepares real states (RY angle encoding, amplitude
encoding of real features), and on the encoded amplitudes for a bare amplitude encoding of fewer
than ``2**n`` features. The binary slope is bounded from the head alone: logistic ``|ℓ'| ≤ σ(|a|·F_max + |b|)``; squared
``|ℓ'| ≤ |a|·F_max + |b| + 1``. No data enter: only ``θ``, the head and the circuit. The
operators are built in the parameters' precision and ``G`` is raised by a relative
:data:`SAFETY_MARGIN` for rounding. Where it loses (measured in ``docs/bounds.md``): the symmetric subspace holds more
than the product vectors ``ψ ⊗ ψ``, and the slope and the vertices are taken apart from ``ψ`` (logits at
the box's edges need a state whose gradient is small).
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize

from ..models.hybrid import QuantumModel
from ..models.task import LOSS_TASKS
from .circuit import output_bound
from .model import Bound, gradient_bound

#: The largest eigenvalue problem solved (rows of ``M`` after the restrictions above): about
#: 10 s of ``eigh`` on 2 cores. n = 4 with 4 classes: 408 rows; n = 6 binary: 2,080.
MAX_DIMENSION = 4096
#: Relative margin added to ``G`` for rounding in the operators (built in the parameters'
#: precision) and the eigenvalue (double precision): per precision of the operators. Single
#: precision: the bound from float32 operators differed from the float64 one by at most 5e-7
#: relative (the paper's model at three parameter draws; depolarizing, amplitude damping and
#: ``nisq`` at n = 4, L = 4; ``tests/bounds/test_parametric.py`` checks 1e-5), so 1e-4 leaves a
#: factor of 200; double: 1e-9.
SAFETY_MARGIN = {"float32": 1e-4, "float64": 1e-9}


def _domain(model) -> tuple[bool, int]:
    """``(real, support)``: whether every encoded state is real, and how many leading amplitudes
    it can occupy (``2**n``, or the feature count of a bare amplitude encoding)."""
    from ..models.paper import PaperQuantumModel
    from ..quantum.core import split_encoding
    from ..quantum.heisenberg import real_encoding

    if isinstance(model, PaperQuantumModel):
        return True, model.n_features  # x/‖x‖ zero-padded: real, on the first n_features amplitudes
    circuit = model.circuit
    encoding, _ = split_encoding(circuit)
    bare_amplitude = circuit.state_prep == "amplitude" and not encoding.operations
    return real_encoding(encoding), (circuit.n_features if bare_amplitude else 2**circuit.n_qubits)


def _operators(model, params, real: bool, support: int):
    """``((A (K, s, s), D (K, P, s, s)), precision)``: built by JAX in the parameters' precision,
    returned in double (NumPy), restricted to the first ``support`` amplitudes; real parts when the
    encoded states are real (``⟨ψ|X|ψ⟩ = ψᵀ Re(X) ψ`` for a real ``ψ`` and a Hermitian ``X``)."""
    from ..models.paper import PaperQuantumModel

    t = jnp.asarray(params["theta"])
    if isinstance(model, PaperQuantumModel):
        fn = lambda th: model.observable_matrices({"theta": th})  # noqa: E731 - real symmetric M_k
    else:
        from ..quantum.heisenberg import heisenberg_operators

        fn = lambda th: heisenberg_operators(model.circuit, th)  # noqa: E731
    d, a = jax.jacfwd(lambda th: (fn(th),) * 2, has_aux=True)(t)  # one pass: the Jacobian and the value
    precision = "float64" if jnp.finfo(a.dtype).bits >= 64 else "float32"
    a = np.asarray(a, np.complex128 if np.iscomplexobj(a) else np.float64)[..., :support, :support]
    d = np.moveaxis(np.asarray(d), -1, 1)[..., :support, :support]  # (K, P, s, s)
    d = d.astype(np.complex128 if np.iscomplexobj(d) else np.float64)
    return ((np.real(a), np.real(d)) if real else (a, d)), precision


def _symmetric_pairs(d: int):
    """Index pairs ``a ≤ b`` and weights ``c_ab`` of the orthonormal basis
    ``c_ab (e_a ⊗ e_b + e_b ⊗ e_a)`` of the symmetric subspace (``c = 1/√2``, or ``1/2`` when ``a = b``)."""
    ia, ib = np.triu_indices(d)
    return ia, ib, np.where(ia == ib, 0.5, math.sqrt(0.5))


def _compress(t, pairs):
    """``Vᵀ T V`` for a 4-index tensor ``T[a, b, c, e]`` (row ``(a, b)``, column ``(c, e)``) and
    ``V`` the symmetric basis of :func:`_symmetric_pairs`: entries
    ``c c' (T[ab,ce] + T[ba,ce] + T[ab,ec] + T[ba,ec])``."""
    ia, ib, w = pairs
    t = t + t.transpose(1, 0, 2, 3)
    t = t + t.transpose(0, 1, 3, 2)
    m = (w[:, None] * w[None, :]) * t[ia, ib][:, ia, ib]
    return (m + m.conj().T) / 2


def _top(m) -> float:
    return float(scipy.linalg.eigh(m, eigvals_only=True, subset_by_index=[m.shape[0] - 1] * 2)[0])


def _outer(x, dx, a: float, head: bool):
    """``T[a, c, b, e] = a² Σ_p dx[p, a, c] dx[p, b, e] (+ x[a, c] x[b, e] when the head trains)``."""
    t = a**2 * np.einsum("pac,pbe->acbe", dx, dx, optimize=True)
    return t + np.einsum("ac,be->acbe", x, x) if head else t


def _pairings(x, dx, a: float, head: bool, real: bool, pairs, outer=None) -> list:
    """The matrices ``T`` on the symmetric subspace with ``⟨ψψ|T|ψψ⟩ = a² Σ_p ⟨ψ|dx_p|ψ⟩² (+
    ⟨ψ|x|ψ⟩² when the head trains)``. For real ``ψ`` the form has many such matrices: the three
    ways of pairing its four indices (``(ac|be)``, the tensor product ``a² Σ dx⊗dx + x⊗x``;
    ``(ab|ce)``; ``(ae|bc)``), and every convex combination of them; a complex ``ψ`` pairs
    conjugated with unconjugated indices, which leaves the tensor product alone. ``outer``: the
    tensor of :func:`_outer`, when already built (all three pairings permute its indices)."""
    outer = _outer(x, dx, a, head) if outer is None else outer
    specs = ("abce", "acbe", "aebc") if real else ("abce",)  # (ac|be), (ab|ce), (ae|bc) as T[a,b,c,e]
    return [_compress(np.einsum(f"acbe->{spec}", outer), pairs) for spec in specs]


def _mixed_top(mats, w) -> float:
    if len(mats) == 1:
        return _top(mats[0])
    w2, w3 = np.clip(w, 0.0, 1.0)
    if w2 + w3 > 1.0:
        w2, w3 = w2 / (w2 + w3), w3 / (w2 + w3)
    return _top((1.0 - w2 - w3) * mats[0] + w2 * mats[1] + w3 * mats[2])


def _quick_sup(mats) -> float:
    """An upper bound on the quartic form's supremum from two fixed weightings of the pairings
    (the plain tensor product and the even mixture): one eigenvalue each."""
    if len(mats) == 1:
        return max(_top(mats[0]), 0.0)
    return max(min(_mixed_top(mats, np.array(w0)) for w0 in ((0.0, 0.0), (1 / 3, 1 / 3))), 0.0)


def _searched_sup(mats, start=(0.5, 0.2)) -> tuple[float, np.ndarray]:
    """:func:`_quick_sup` improved by a small search over the pairings' weights, and the best
    weights: each weighting gives a valid bound and the eigenvalue is convex in the weights
    (measured: half the eigenvalue of the tensor product alone on the paper's model). Never above
    :func:`_quick_sup`."""
    quick = _quick_sup(mats)
    if len(mats) == 1:
        return quick, np.zeros(2)
    res = scipy.optimize.minimize(lambda w: _mixed_top(mats, w), np.asarray(start, dtype=float), method="Nelder-Mead",
                                  options={"xatol": 1e-3, "fatol": 1e-6, "maxfev": 60})
    return max(min(quick, float(res.fun)), 0.0), np.asarray(res.x)


def _quartic_sup(x, dx, a: float, head: bool, real: bool, pairs) -> float:
    """An upper bound on ``sup_ψ a² Σ_p ⟨ψ|dx_p|ψ⟩² (+ ⟨ψ|x|ψ⟩² when the head trains)`` over unit
    ``ψ``: the smallest largest eigenvalue, on the symmetric subspace, over the pairings
    (:func:`_pairings`, :func:`_searched_sup`)."""
    return _searched_sup(_pairings(x, dx, a, head, real, pairs))[0]


#: Adam steps of the search over the null family of :func:`_sos_tops` (on the paper's model the
#: largest vertex's eigenvalue is within 0.5% of its limit after 40; every step's matrix gives a
#: valid bound).
SOS_STEPS = 40


def _null_maps(d: int):
    """Gather indices and weights of ``Π``, the projection of a symmetric matrix ``Y`` on the
    symmetric subspace (basis :func:`_symmetric_pairs`) onto the fully symmetric quartic forms:
    ``Π(Y)[r, s] = (u_r u_s / 3) Σ_{three pairings} v v' Y[pair, pair']`` for ``r = {a, b}``,
    ``s = {c, e}`` and the pairings ``(ab|ce)``, ``(ac|be)``, ``(ae|bc)`` (``v = 1`` on the
    diagonal pairs and ``1/√2`` off it, ``u = 1`` and ``√2``). ``Y − Π(Y)`` has the zero quartic
    form: ``⟨ψψ|Y − Π(Y)|ψψ⟩ = 0`` for every real ``ψ``."""
    ia, ib, _ = _symmetric_pairs(d)
    index = np.zeros((d, d), dtype=np.int64)
    index[ia, ib] = index[ib, ia] = np.arange(len(ia))
    v = np.where(ia == ib, 1.0, math.sqrt(0.5))
    u = np.where(ia == ib, 1.0, math.sqrt(2.0))
    a, b = ia[:, None], ib[:, None]
    c, e = ia[None, :], ib[None, :]
    rows, cols, weights = [], [], []
    for (i, j), (k, m) in (((a, b), (c, e)), ((a, c), (b, e)), ((a, e), (b, c))):
        rows.append(np.broadcast_to(index[i, j], (len(ia), len(ia))))
        cols.append(np.broadcast_to(index[k, m], (len(ia), len(ia))))
        weights.append(u[:, None] * u[None, :] * np.broadcast_to(v[index[i, j]] * v[index[k, m]],
                                                                  (len(ia), len(ia))) / 3)
    return np.stack(rows), np.stack(cols), np.stack(weights)


def _null(y, maps):
    """``Y − Π(Y)`` for a batch of matrices ``y`` (NumPy or JAX), symmetrised first."""
    rows, cols, weights = maps
    y = (y + y.swapaxes(-1, -2)) / 2
    proj = sum(weights[k] * y[..., rows[k], cols[k]] for k in range(3))
    return y - proj


@functools.partial(jax.jit, static_argnums=2)
def _sos_search(base, maps, steps: int):
    """Adam on ``Σ_v softmax_β(eigenvalues of base_v + N(y_v))`` over ``y`` (β = 5 on bases scaled
    to entries of at most 1), from ``y = 0``, with a cosine-decaying step: the ``y`` found."""
    import optax

    def smooth_top(y):
        ev = jnp.linalg.eigvalsh(base + _null(y, maps))
        return jnp.sum(jax.nn.logsumexp(5.0 * ev, axis=-1) / 5.0)

    opt = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.1))

    def body(_, carry):
        y, state = carry
        updates, state = opt.update(jax.grad(smooth_top)(y), state)
        return optax.apply_updates(y, updates), state

    y0 = jnp.zeros_like(base)
    return jax.lax.fori_loop(0, steps, body, (y0, opt.init(y0)))[0]


def _sos_tops(bases, d: int, steps: int = SOS_STEPS) -> np.ndarray:
    """Certified largest eigenvalues of ``M_v + N_v`` for each base matrix ``M_v`` of ``bases``
    ``(V, S, S)`` (real ``ψ``; any representation of the vertex's quartic form on the symmetric
    subspace), with ``N_v`` searched over the whole family of matrices whose quartic form is zero
    (:func:`_null`, the degree-4 sum-of-squares relaxation): each ``N`` gives a valid bound, so
    the search (Adam on a smoothed largest eigenvalue, single precision) needs no care; the
    returned values are the double-precision eigenvalues at the matrices found, never above those
    of the bases. On the paper's model this closes the gap to ascent over ``ψ`` (``λ`` 27.4 → 19.7
    at initialisation, ascent over ψ 19.72)."""
    maps = _null_maps(d)
    jmaps = (jnp.asarray(maps[0]), jnp.asarray(maps[1]), jnp.asarray(maps[2], jnp.float32))
    scale = float(np.max(np.abs(bases))) or 1.0
    y = _sos_search(jnp.asarray(bases / scale, jnp.float32), jmaps, steps)
    final = np.asarray(bases, np.float64) + scale * _null(np.asarray(y, np.float64), maps)
    tops = np.linalg.eigvalsh(final)[:, -1]
    return np.minimum(tops, np.linalg.eigvalsh(np.asarray(bases, np.float64))[:, -1])


def _class_vertices(low, high, y: int) -> np.ndarray:
    """``(2**(K-1), K)``: points ``softmax(z) − e_y`` whose convex hull holds ``softmax(z) − e_y``
    for every logit vector ``z`` in the box ``[low, high]``.

    ``x = e^z`` ranges over a box, and ``p = x / Σx`` maps segments to segments, so every ``p``
    lies in the hull of the images of the box's corners. A corner with the label's logit at its
    top is a multiple ``t < 1`` of the corner with it at its bottom and the same other logits
    (both give ``p_k ∝ e^{z_k}`` off the label and ``r_y = −Σ_{k≠y} r_k``), so those corners are
    not needed: the hull of the rest and 0 still holds every point."""
    k = len(low)
    rest = np.delete(np.arange(k), y)
    rows = []
    for bits in itertools.product((False, True), repeat=k - 1):
        z = np.array(low, dtype=float)
        z[rest] = np.where(bits, np.asarray(high, dtype=float)[rest], z[rest])
        r = np.exp(z - z.max())
        r /= r.sum()
        r[y] -= 1.0
        rows.append(r)
    return np.array(rows)


def _head(model, params, loss: str):
    """``(|a|, head trainable, slope or box)``: the head's scale, whether ``a`` and ``b`` are
    trained, and, binary, the bound on the loss's slope ``|ℓ'(logit)|``; K-class, the box
    ``(low, high)`` every logit lies in."""
    from ..models.paper import PaperQuantumModel

    if isinstance(model, PaperQuantumModel):  # logits are the <Z_k> themselves, in [-1, 1]
        a, b, trainable = 1.0, np.zeros(model.n_classes), False
    else:
        a, b, trainable = abs(float(np.asarray(params["head"]["a"]))), np.asarray(params["head"]["b"], np.float64), True
    f = np.array([output_bound(model.circuit, k) for k in range(len(model.circuit.observables))])
    if model.task == "binary":
        reach = a * float(f.sum()) + abs(float(b))
        return a, trainable, reach + 1.0 if loss == "squared" else 1.0 / (1.0 + math.exp(-reach))
    return a, trainable, (b - a * f, b + a * f)


def _check(model, params, loss):
    from ..models.paper import PaperQuantumModel

    if isinstance(model, PaperQuantumModel):
        if loss not in (None, model.default_loss):
            raise ValueError(f"the bound of {type(model).__name__} is for its loss {model.default_loss!r}; "
                             f"got {loss!r}")
        return model.default_loss
    if not isinstance(model, QuantumModel):
        raise ValueError(f"parameter_bound takes a dpqml QuantumModel or PaperQuantumModel; got {type(model).__name__}")
    if model.pre or model.post:
        raise ValueError("parameter_bound covers a circuit and its head; classical 'pre'/'post' layers are not "
                         "supported (gradient_bound(model, params=..., feature_bound=X) still bounds such a model)")
    from ..quantum.core import split_encoding

    if split_encoding(model.circuit) is None:
        raise ValueError("parameter_bound needs a circuit that encodes the data first and trains afterwards (no "
                         "trainable angle before the last feature-dependent gate, e.g. not 'reuploading'); the "
                         "data-free gradient_bound(model, feature_bound=X) still applies")
    loss = loss or model.default_loss
    if loss not in LOSS_TASKS or LOSS_TASKS[loss] != model.task:
        raise ValueError(f"loss must be one of {[k for k, t in LOSS_TASKS.items() if t == model.task]} for this "
                         f"{model.task} model; got {loss!r}")
    return loss


#: The most entries (``K² d⁴``) of the class-pair tensors :func:`_largest_over_vertices` builds
#: once and mixes per vertex (8 MB of doubles for the paper's model: 16 · 16⁴); above it each
#: vertex builds its own.
MAX_PAIR_TENSORS = 2**24


def _largest_over_vertices(A, D, box, a: float, head: bool, real: bool, pairs, sos: bool = False) -> float:
    """``max`` over every label ``y`` and vertex ``g`` of :func:`_class_vertices` of the bound on
    ``sup_ψ (a² ‖Σ_k g_k ∇f_k‖² + (Σ_k g_k f_k)²) + ‖g‖²`` (the last two when the head trains).
    For each ``ψ`` that quantity is convex in ``g``, so its supremum over the hull is at a vertex.
    Every vertex first gets the quick eigenvalue bound; the search over pairings then runs from
    the largest down, and stops once no quick bound left exceeds the best searched one."""
    low, high = box
    k = len(low)
    pair_tensors = None
    if k * k * A.shape[-1] ** 4 <= MAX_PAIR_TENSORS:  # T(g) = Σ_kl g_k g_l T_kl: build the T_kl once
        pair_tensors = a**2 * np.einsum("kpac,lpbe->klacbe", D, D, optimize=True)
        if head:
            pair_tensors = pair_tensors + np.einsum("kac,lbe->klacbe", A, A)
    candidates = []
    for y in range(k):
        for g in _class_vertices(low, high, y):
            outer = None if pair_tensors is None else np.einsum("k,l,klacbe->acbe", g, g, pair_tensors, optimize=True)
            mats = _pairings(np.tensordot(g, A, 1), np.tensordot(g, D, 1), a, head, real, pairs, outer)
            extra = float(g @ g) if head else 0.0
            candidates.append((_quick_sup(mats) + extra, extra, mats))
    if sos:  # every vertex through the sum-of-squares relaxation, at once (never above its quick bound)
        tops = _sos_tops(np.stack([m[0] for _, _, m in candidates]), A.shape[-1])
        return float(max(min(q, max(t, 0.0) + e) for (q, e, _), t in zip(candidates, tops, strict=True)))
    candidates.sort(key=lambda c: -c[0])
    best, weights = 0.0, None
    while candidates:
        quick, extra, mats = candidates.pop(0)
        if quick <= best:
            break
        value, found = _searched_sup(mats, (0.5, 0.2) if weights is None else weights)
        if value + extra <= best:
            continue
        best, weights = value + extra, found
        if len(mats) > 1:  # the new best weights, tried on every vertex left
            candidates = sorted(((min(q, max(_mixed_top(m, weights), 0.0) + e), e, m) for q, e, m in candidates),
                                key=lambda c: -c[0])
    return best


RELAXATIONS = ("pairings", "sos")


def parameter_bound(model, params, *, loss: str | None = None, relaxation: str = "pairings") -> Bound:
    """``G(θ)``: a bound on ``‖∇ℓ(θ; x, y)‖₂`` over all trainable parameters (angles and head)
    that holds for **every** input the encoding can prepare and every label, at the parameters
    ``params`` (see the module docstring for the derivation).

    ``G`` is the smaller of the operator-eigenvalue bound and :func:`~dpqml.bounds.gradient_bound`
    evaluated at ``params`` (``meta["data_free_at_params"]``); both hold at these parameters.

    ``model``: a :class:`~dpqml.models.QuantumModel` whose circuit encodes first and trains
    afterwards, without classical ``pre``/``post`` layers, or the paper's
    :class:`~dpqml.models.paper.PaperQuantumModel`. Refused with a clear error otherwise, and
    when an eigenvalue problem would exceed :data:`MAX_DIMENSION` rows (the data-free
    :func:`~dpqml.bounds.gradient_bound` still applies).

    ``relaxation``: how the quartic form in the encoded state is bounded. ``"pairings"`` (the
    default, under a second): the best mixture of the index pairings. ``"sos"`` (a few seconds):
    a search over every matrix with the same quartic form (the degree-4 sum-of-squares
    relaxation, :func:`_sos_tops`), tighter (paper's model at initialisation: 5.23 → 4.56, where
    ascent over the inputs finds 3.77); real encoded states only.
    """
    from ..validation import check_choice

    check_choice(relaxation, "relaxation", RELAXATIONS)
    loss = _check(model, params, loss)
    a, head, slope_or_box = _head(model, params, loss)
    real, d = _domain(model)
    rows = d * (d + 1) // 2
    if rows > MAX_DIMENSION:
        raise ValueError(f"the parameter-dependent bound of a {model.circuit.n_qubits}-qubit circuit needs "
                         f"eigenvalue problems of {rows} rows, more than MAX_DIMENSION = {MAX_DIMENSION}; the "
                         "data-free gradient_bound(model) still applies")
    sos = relaxation == "sos"
    if sos and not real:
        raise ValueError("relaxation='sos' needs real encoded states (RY angle or amplitude encoding of real "
                         "features); this circuit prepares complex ones: use relaxation='pairings'")
    (A, D), precision = _operators(model, params, real, d)
    pairs = _symmetric_pairs(d)

    def largest(x, dx):
        if not sos:
            return _quartic_sup(x, dx, a, head, real, pairs)
        mats = _pairings(x, dx, a, head, real, pairs)
        return min(_quick_sup(mats), max(float(_sos_tops(mats[0][None], d)[0]), 0.0))

    if model.task == "binary":  # ‖∇ℓ‖² = ℓ'² (a² ‖∇F‖² + F² + 1), F = Σ_k f_k
        total = slope_or_box * math.sqrt(largest(A.sum(axis=0), D.sum(axis=0)) + (1.0 if head else 0.0))
    else:  # g = softmax(z) − e_y lies in the hull of a few vertices, and ‖∇ℓ‖² is convex in g
        total = math.sqrt(_largest_over_vertices(A, D, slope_or_box, a, head, real, pairs, sos))
    total *= 1.0 + SAFETY_MARGIN[precision]
    # the data-free bound, evaluated at these parameters (the head's |a| and b read from them), is
    # also a function of the parameters alone; on shallow circuits its joint rules can be the smaller
    data_free = (gradient_bound(model, params=params, loss=loss) if isinstance(model, QuantumModel)
                 else gradient_bound(model)).total
    total = min(total, data_free)
    name = "theta+head" if head else "theta"
    assumptions = ("every input the encoding can prepare (any " + ("real " if real else "") + "unit state)",
                   "every label", "at the given parameters only (recompute after each update)")
    return Bound(total=total, groups={name: total}, parameter_free=False, loss=loss, feature_bound=None,
                 head_scale=a if head else None, assumptions=assumptions,
                 meta={"n_params": int(np.size(params["theta"])), "method": "operator-eigenvalue",
                       "relaxation": relaxation,
                       "eigenvalue_rows": rows, "data_free_at_params": data_free})
