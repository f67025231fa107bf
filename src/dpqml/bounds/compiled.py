"""A compiled ``G(θ)`` for the paper's tabular quantum model: :func:`dpqml.bounds.parameter_bound`'s
eigenvalue bound as one JAX function of the angles (``jit``, ``vmap`` over runs), cheap enough to be
evaluated at every DP-SGD step (``max_grad_norm="bound"``, also in the vectorised trainer).

The bound is the same as :func:`~dpqml.bounds.parametric.parameter_bound`'s (its module docstring
has the derivation): ``‖∇ℓ(θ; x, y)‖² ≤ max over the class vertices g of sup_ψ Σ_p ⟨ψ|D_p(g)|ψ⟩²``,
the quartic form bounded by the largest eigenvalue of ``M_g(w) = (1 − w) P1(g) + w P2(g)`` on the
symmetric subspace (``P1``: the tensor-product pairing ``Σ_p D_p ⊗ D_p``; ``P2``: ``Σ_p
vec D_p vec D_pᵀ``; for real states the third pairing equals ``P1`` there). Every weight ``w``
gives a valid bound. What differs is how the eigenvalue is found:

* The weight per vertex is found by bisection on the slope of the top eigenvalue, from Lanczos
  estimates (:func:`_best_mixture`; no certificate needed: any weight is valid).
* The eigenvalue is **certified** by Cholesky: ``μ I − M`` has a Cholesky factor exactly when
  ``μ ≥ λmax(M)``, so ``μ = ρ (1 + τ)`` is tried for the Lanczos estimate ``ρ`` and each slack
  ``τ`` of :data:`SLACKS`; the smallest ``μ`` that factors is taken. Where some vertex does not
  factor at any ``τ`` (the estimate was more than 5% low: measured on about 0.4% of the steps of
  the paper grid's bound-following runs), its full eigenvalues are computed and certified the same
  way (one run at a time, so only runs that need it pay). A factorisation that runs to
  completion in floating point gives ``RᵀR = μ I − M + E`` with ``|E| ≤ γ_{n+1} |Rᵀ||R|``
  (Higham, *Accuracy and Stability of Numerical Algorithms*, Thm 10.3; ``γ_k = k u / (1 − k u)``),
  so ``‖E‖₂ ≤ γ_{n+1} ‖R‖_F²`` and ``λmax(M) ≤ μ + ‖E‖₂``; that term is added. A vertex where no
  ``μ`` factors even then gets the data-free bound (counted in the second output).
* Cholesky costs a twentieth of a full eigenvalue decomposition (measured: 32 matrices of 136 rows,
  1.6 ms against 31 ms on 2 cores).

The matrices are formed in the parameters' precision. Their rounding is covered by a relative
margin per precision, :data:`FORM_MARGIN`, set from measurement (``tests/bounds/test_compiled.py``
compares float32 with the float64 bound of :func:`parameter_bound`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..quantum.precision import exact_products
from .parametric import _class_vertices, _symmetric_pairs

#: The interval of mixing weights searched per vertex, and the bisection steps (the eigenvalue is
#: convex and sharply V-shaped in the weight; on the paper's model the best lies at 0.43-0.55 and
#: moves with θ and the vertex; six halvings of 0.4 leave it within 0.006).
WEIGHT_RANGE = (0.3, 0.7)
BISECTIONS = 6
#: Relative slacks above the Lanczos estimate at which the Cholesky certificate is tried.
SLACKS = (1e-4, 1e-3, 1e-2, 5e-2)
#: Lanczos steps (full reorthogonalisation) for each top eigenvalue during the weight search, and
#: for the estimate that the certificate starts from. 16 steps were used for both at first: the
#: search is fine with them, but at the chosen weight (near the V's bottom, where the top two
#: eigenvalues meet) the estimate was often 0.1-1.5% low on some vertex, and where that vertex was
#: the largest the certificate's next slack set G: 1.9% above parameter_bound on one of 60 perturbed
#: initialisations (float32). With 32 steps for the estimate, the 60 fall within 0.14-0.29% of it,
#: for about 4 ms more a call.
LANCZOS_STEPS = 16
CERTIFY_LANCZOS = 32
#: Relative margin on ``G`` for rounding in forming the operators and matrices, per precision.
#: Measured without it (paper's model, init seeds 0-5): the float32 bound came out 4.7e-4 to
#: 4.9e-4 *above* the float64 one (its larger Cholesky error term dominates), so rounding in the
#: matrices never pulled it below; 1e-3 is kept on top. float64: 1e-9.
FORM_MARGIN = {"float32": 1e-3, "float64": 1e-9}


def _lanczos_ritz(mats, steps: int, count: int):
    """The ``count`` largest Ritz values ``(N, count)`` (ascending) and their Ritz vectors
    ``(N, count, S)`` of each matrix after ``steps`` Lanczos steps (:func:`_lanczos_top`'s start)."""
    n, s, _ = mats.shape
    steps = min(steps, s)
    v0 = jnp.ones((n, s), mats.dtype) / math.sqrt(s) + jnp.linspace(0.0, 1e-2, s, dtype=mats.dtype)
    v0 = v0 / jnp.linalg.norm(v0, axis=1, keepdims=True)
    basis = jnp.zeros((n, steps + 1, s), mats.dtype).at[:, 0].set(v0)
    alphas = jnp.zeros((n, steps), mats.dtype)
    betas = jnp.zeros((n, steps), mats.dtype)

    def body(j, carry):
        basis, alphas, betas = carry
        v = basis[:, j]
        w = jnp.einsum("nab,nb->na", mats, v)
        alphas = alphas.at[:, j].set(jnp.einsum("na,na->n", w, v))
        mask = (jnp.arange(steps + 1) <= j).astype(mats.dtype)
        for _ in range(2):  # full reorthogonalisation, twice
            w = w - jnp.einsum("nk,nks->ns", jnp.einsum("nks,ns->nk", basis, w) * mask, basis)
        beta = jnp.linalg.norm(w, axis=1)
        betas = betas.at[:, j].set(beta)
        basis = basis.at[:, j + 1].set(w / jnp.maximum(beta, 1e-30)[:, None])
        return basis, alphas, betas

    basis, alphas, betas = jax.lax.fori_loop(0, steps, body, (basis, alphas, betas))
    off = betas[:, :-1]
    tri = (jax.vmap(jnp.diag)(alphas) + jax.vmap(lambda b: jnp.diag(b, 1))(off)
           + jax.vmap(lambda b: jnp.diag(b, -1))(off))
    vals, vecs = jnp.linalg.eigh(tri)
    return vals[:, -count:], jnp.einsum("nkj,nks->njs", vecs[:, :, -count:], basis[:, :steps])


def _lanczos_top(mats, steps: int, vectors: bool = False):
    """Largest Ritz value of each matrix of ``mats`` ``(N, S, S)`` after ``steps`` Lanczos steps from
    a fixed start (full reorthogonalisation): an estimate of ``λmax``, never a certificate; with
    ``vectors``, also its Ritz vector ``(N, S)``."""
    vals, vecs = _lanczos_ritz(mats, steps, 1)
    return (vals[:, 0], vecs[:, 0]) if vectors else vals[:, 0]


def _best_mixture(m1, m2):
    """``(M, ρ)`` per vertex: the mixture ``(1 − w) m1 + w m2`` at the weight found by bisection on
    the sign of ``dλ/dw = vᵀ (m2 − m1) v`` (``v`` the Ritz vector; the eigenvalue is convex in
    ``w``), and the Lanczos estimate of its top eigenvalue. Any weight gives a valid bound."""
    lo = jnp.full(m1.shape[:1], WEIGHT_RANGE[0], m1.dtype)
    hi = jnp.full(m1.shape[:1], WEIGHT_RANGE[1], m1.dtype)
    diff = m2 - m1
    for _ in range(BISECTIONS):
        w = (lo + hi) / 2
        _, vec = _lanczos_top(m1 + w[:, None, None] * diff, LANCZOS_STEPS, vectors=True)
        rising = jnp.einsum("ns,nst,nt->n", vec, diff, vec) > 0
        lo, hi = jnp.where(rising, lo, w), jnp.where(rising, w, hi)
    mats = m1 + ((lo + hi) / 2)[:, None, None] * diff
    return mats, _lanczos_top(mats, CERTIFY_LANCZOS)


def _certified_top(mats, estimate):
    """``(bound, ok)`` per matrix: the smallest ``μ = ρ(1 + τ)`` (τ in :data:`SLACKS`) for which
    ``μ I − M`` has a Cholesky factor, plus the backward-error term; ``ok`` False where none does."""
    n, s, _ = mats.shape
    u = jnp.finfo(mats.dtype).eps / 2
    g1 = (s + 1) * u / (1 - (s + 1) * u)
    gsq = s * s * u / (1 - s * s * u)
    eye = jnp.eye(s, dtype=mats.dtype)
    scale = jnp.maximum(jnp.abs(estimate), jnp.max(jnp.abs(mats), axis=(1, 2)) * 1e-6)
    taus = jnp.asarray(SLACKS, mats.dtype)
    mu = estimate[None, :] + taus[:, None] * scale[None, :]  # (len(SLACKS), N)
    shifted = mu[:, :, None, None] * eye - mats[None]
    # one call for every slack: four separate Cholesky calls in one program hung XLA's CPU runtime
    # on the second execution (JAX 0.10.2)
    factor = jnp.linalg.cholesky(shifted.reshape(-1, s, s)).reshape(shifted.shape)
    ok = jnp.all(jnp.isfinite(factor), axis=(2, 3))
    # ‖E‖₂ ≤ γ_{n+1} ‖|Rᵀ||R|‖_F ≤ γ_{n+1} ‖R‖_F², the sum of squares itself rounded by at most γ_{n²}
    err = g1 * jnp.sum(factor * factor, axis=(2, 3)) * (1 + 2 * gsq)
    best = jnp.min(jnp.where(ok, mu + err, jnp.inf), axis=0)
    return best, jnp.isfinite(best)


def _certified_or_exact(mats, estimate):
    """:func:`_certified_top` at the estimate; where some matrix does not certify (rare: an estimate
    more than 5% low), its full eigenvalues are computed and certified again (a ``lax.cond``, so
    only calls that need it pay)."""
    top, ok = _certified_top(mats, estimate)

    def exact(_):
        again, ok_again = _certified_top(mats, jnp.linalg.eigvalsh(mats)[:, -1])
        return jnp.where(ok, top, again), ok | ok_again

    return jax.lax.cond(jnp.all(ok), lambda _: (top, ok), exact, None)


def _bound_of(top, ok, data_free: float, margin: float):
    """``(G, fallbacks)`` from the certified top eigenvalues of the class vertices: the square root of
    the largest, times the rounding margin, the data-free bound standing in for uncertified vertices
    (counted) and capping the result."""
    worst = jnp.max(jnp.where(ok, top, data_free**2))
    g = jnp.sqrt(jnp.maximum(worst, 0.0)) * margin
    return jnp.minimum(g, data_free), jnp.sum(~ok)


def _check_paper_model(model, what: str) -> None:
    from ..models.paper import PaperQuantumModel

    if not isinstance(model, PaperQuantumModel):
        raise ValueError(f"{what} covers the paper's PaperQuantumModel; for other models use "
                         f"dpqml.bounds.parameter_bound (got {type(model).__name__})")


def _pairing_bases(model, dtype):
    """``theta -> (P1, P2)``: the two pairings ``(V, S, S)`` of every class vertex's quartic form on the
    symmetric subspace (``V = K·2^(K−1)`` vertices, ``S = d(d+1)/2``), formed in ``dtype``."""
    k, d = model.n_classes, model.n_features
    ia, ib, c = _symmetric_pairs(d)
    verts = np.concatenate([_class_vertices(-np.ones(k), np.ones(k), y) for y in range(k)])  # logits in [-1, 1]
    gg = jnp.asarray(np.einsum("vk,vl->vkl", verts, verts).reshape(len(verts), k * k), dtype)
    cc = jnp.asarray(np.outer(c, c), dtype)

    def obs(th):
        return model.observable_matrices({"theta": th})[:, :d, :d]

    r_a, r_b, s_c, s_e = ia[:, None], ib[:, None], ia[None, :], ib[None, :]  # row pair (a, b), column (c, e)

    def bases(theta):
        theta = jnp.asarray(theta, dtype)
        dmat = jax.jacfwd(obs)(theta)  # (K, d, d, P): D_kp[a, c]
        flat = dmat.reshape(k * d * d, -1)
        x = (flat @ flat.T).reshape(k, d, d, k, d, d)  # x[k, a, c, l, b, e] = Σ_p D_kp[a, c] D_lp[b, e]

        def pick(i, j, m, n):  # (K, K, S, S): x[k, i[r, s], j[r, s], l, m[r, s], n[r, s]]
            return jnp.transpose(x[:, i, j, :, m, n], (2, 3, 0, 1))

        p1 = cc * (pick(r_a, s_c, r_b, s_e) + pick(r_b, s_c, r_a, s_e) + pick(r_a, s_e, r_b, s_c)
                   + pick(r_b, s_e, r_a, s_c))
        p2 = cc * (pick(r_a, r_b, s_c, s_e) + pick(r_b, r_a, s_c, s_e) + pick(r_a, r_b, s_e, s_c)
                   + pick(r_b, r_a, s_e, s_c))
        s = p1.shape[-1]
        m1 = (gg @ p1.reshape(k * k, s * s)).reshape(-1, s, s)
        m2 = (gg @ p2.reshape(k * k, s * s)).reshape(-1, s, s)
        return (m1 + jnp.swapaxes(m1, 1, 2)) / 2, (m2 + jnp.swapaxes(m2, 1, 2)) / 2

    return bases


def compiled_parameter_bound(model, *, dtype=jnp.float32):
    """``fn(theta) -> (G, fallbacks)``: the paper model's parameter-dependent gradient bound at the
    angles ``theta`` (``(n_theta,)``, ``params["theta"]``), as a pure JAX function (``jit``- and
    ``vmap``-able). ``G ≥ ‖∇ℓ(θ; x, y)‖₂`` for every input the amplitude encoding can prepare and
    every label, like :func:`~dpqml.bounds.parametric.parameter_bound` (above it by 0.14-0.3 per
    cent on the paper's model in float32: Lanczos estimates, bisection and the precision's margin
    instead of full eigenvalue decompositions and a search); ``fallbacks``: how many class
    vertices could not be certified and took the data-free bound instead (0 in practice).
    ``dtype``: the precision of the computation (the trainer's; float64 needs
    ``jax_enable_x64``)."""
    _check_paper_model(model, "compiled_parameter_bound")
    precision = "float64" if jnp.finfo(dtype).bits >= 64 else "float32"
    data_free = float(model.gradient_bound())
    margin = (1.0 + FORM_MARGIN[precision]) * (1.0 + 1e-9)
    bases = _pairing_bases(model, dtype)

    @exact_products
    def fn(theta):
        m1, m2 = bases(theta)
        chosen, rho = _best_mixture(m1, m2)
        return _bound_of(*_certified_or_exact(chosen, rho), data_free, margin)

    # Batched (many runs at once), the gathers and eigen-solvers of a plain vmap ran at 1.7x the
    # time of one run after another (measured: 10 runs, 294 ms against 176 ms), so a batch is mapped.
    mapped = jax.custom_batching.custom_vmap(fn)

    @mapped.def_vmap
    def _batched(axis_size, in_batched, theta):
        out = jax.lax.map(fn, theta) if in_batched[0] else fn(theta)
        return out, (in_batched[0], in_batched[0])

    return mapped


#: The sum-of-squares search carried along training (:func:`compiled_tracked_bound`): Adam's step on
#: the null matrices (in units of the largest entry of the first parameters' matrix), the steps taken
#: at the first parameters, and how many Ritz pairs, weighted by a softmax of their values times
#: :data:`TRACK_BETA`, set each step's direction. Measured on the paper's model (random walks of the
#: angles at 2e-3 and 1e-2 per step and coordinate, 600 steps): one step per training step stays
#: within 2% of 200 fresh steps' eigenvalue; a step of 0.02 drifted 5% above it, 0.05 20%.
TRACK_LEARNING_RATE = 0.005
TRACK_WARMUP = 40
TRACK_RITZ = 4
TRACK_BETA = 5.0
#: Lanczos steps per vertex of the tracked bound: the search flattens the top of the spectrum, so
#: 16 steps left a vertex 7.6% low (the exact fallback then ran every step); 32 leave 3e-5.
TRACK_LANCZOS = 32


def _mapped_over_runs(fn):
    """``fn`` with a batching rule that maps it over the batch (``lax.map``) instead of vectorising
    its gathers, Lanczos loops and factorisations (see :func:`compiled_parameter_bound`); unbatched
    arguments are broadcast, and every output is batched."""
    mapped = jax.custom_batching.custom_vmap(fn)

    @mapped.def_vmap
    def _batched(axis_size, in_batched, *args):
        def spread(leaf, batched):
            return leaf if batched else jnp.broadcast_to(leaf, (axis_size, *jnp.shape(leaf)))

        args = jax.tree_util.tree_map(spread, args, tuple(in_batched))
        out = jax.lax.map(lambda a: fn(*a), args)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return mapped


def compiled_tracked_bound(model, *, dtype=jnp.float32):
    """``(init, step)``: the paper model's parameter-dependent gradient bound with the sum-of-squares
    relaxation (:func:`~dpqml.bounds.parametric.parameter_bound`'s ``relaxation="sos"``), its search
    carried from one training step to the next instead of restarted.

    The bound at ``θ`` is ``λmax(P1(θ) + N)`` per class vertex for any matrix ``N`` whose quartic form
    is zero (``N = Y − Π(Y)``, :func:`~dpqml.bounds.parametric._null`); any ``Y`` gives a valid
    bound, so ``Y`` may come from anywhere, the previous steps' parameters included.

    * ``init(theta) -> state``: ``Y`` starts at the pairings' best mixture at ``theta`` (which is
      ``P1 + N`` for a multiple of ``P2 − P1``, itself a null matrix) and takes
      :data:`TRACK_WARMUP` Adam steps there.
    * ``step(theta, state) -> (G, fallbacks, state)``: ``G`` certified at ``theta`` with the state's
      ``Y`` (Lanczos estimate, Cholesky certificate, the exact fallback and the data-free last
      resort of :func:`compiled_parameter_bound`, plus the rounding of forming ``P1 + N``), then
      one Adam step of ``Y`` at ``theta`` for the next call.

    Both are pure JAX functions (``jit``, ``vmap``). The state is a function of the parameters
    passed so far; in DP-SGD those are released iterates, so ``G`` costs no privacy. On the
    paper's model ``G`` is 12-14% below the pairings' bound. ``dtype``: as
    :func:`compiled_parameter_bound`."""
    import optax

    from .parametric import _null, _null_maps

    _check_paper_model(model, "compiled_tracked_bound")
    precision = "float64" if jnp.finfo(dtype).bits >= 64 else "float32"
    data_free = float(model.gradient_bound())
    margin = (1.0 + FORM_MARGIN[precision]) * (1.0 + 1e-9)
    bases = _pairing_bases(model, dtype)
    rows, cols, weights = _null_maps(model.n_features)
    maps = (jnp.asarray(rows, jnp.int32), jnp.asarray(cols, jnp.int32), jnp.asarray(weights, dtype))
    weight_sum = jnp.sum(jnp.abs(maps[2]), axis=0)
    opt = optax.adam(TRACK_LEARNING_RATE)
    u = float(jnp.finfo(dtype).eps) / 2
    gamma = 8 * u / (1 - 8 * u)

    def null(y):
        return _null(y, maps)

    def direction(a_scaled):
        """The Ritz estimate of each vertex's top eigenvalue, and the gradient in ``Y`` of the
        softmax-weighted Ritz values (the matrix is linear in ``Y``)."""
        vals, vecs = _lanczos_ritz(a_scaled, TRACK_LANCZOS, TRACK_RITZ)
        w = jax.nn.softmax(TRACK_BETA * vals, axis=-1)
        # Π is an orthogonal projection (self-adjoint), so the gradient of Σ_j w_j v_jᵀ N(Y) v_j
        # is N(Σ_j w_j v_j v_jᵀ): a gather, where autodiff would scatter
        return vals[:, -1], null(jnp.einsum("nj,njs,njt->nst", w, vecs, vecs))

    def search(y, opt_state, m_scaled):
        _, grad = direction(m_scaled + null(y))
        updates, opt_state = opt.update(grad, opt_state)
        return optax.apply_updates(y, updates), opt_state

    @exact_products
    def init(theta):
        m1, m2 = bases(theta)
        scale = jnp.max(jnp.abs(m1))
        chosen, _ = _best_mixture(m1, m2)
        diff = m2 - m1
        w = jnp.einsum("nij,nij->n", chosen - m1, diff) / jnp.maximum(jnp.einsum("nij,nij->n", diff, diff), 1e-30)
        y = w[:, None, None] * diff / scale
        y, opt_state = jax.lax.fori_loop(0, TRACK_WARMUP, lambda _, c: search(*c, m1 / scale),
                                         (y, opt.init(y)))
        return y, opt_state, scale

    @exact_products
    def step(theta, state):
        y, opt_state, scale = state
        # materialised once: fused into its consumers, XLA recomputed its gathers per use (50 ms, not 20)
        m1 = jax.lax.optimization_barrier(bases(theta)[0])
        sym = (y + jnp.swapaxes(y, 1, 2)) / 2
        # not symmetrised here (that ran the step at 3x the time): Cholesky symmetrises its input
        a = jax.lax.optimization_barrier(m1 + scale * null(sym))
        # |a − (P1 + scale·N_exact(sym))| ≤ γ_8 (|P1| + scale (|sym| + max|sym| Σ_k |w_k|)) entrywise:
        # Π's three products and two sums, the difference, the scaling, the sum, and Cholesky's
        # symmetrisation of its input
        spread = jnp.abs(sym) + jnp.max(jnp.abs(sym), axis=(1, 2), keepdims=True) * weight_sum
        formed = gamma * jnp.sqrt(jnp.sum((jnp.abs(m1) + scale * spread) ** 2, axis=(1, 2)))
        rho, grad = direction(a / scale)  # the estimate to certify, and the next step's direction
        top, ok = _certified_or_exact(a, rho * scale)
        g, fallbacks = _bound_of(top + formed, ok, data_free, margin)
        updates, opt_state = opt.update(grad, opt_state)
        return g, fallbacks, (optax.apply_updates(y, updates), opt_state, scale)

    return _mapped_over_runs(init), _mapped_over_runs(step)
