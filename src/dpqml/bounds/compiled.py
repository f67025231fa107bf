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

from .parametric import _class_vertices, _symmetric_pairs

#: The interval of mixing weights searched per vertex, and the bisection steps (the eigenvalue is
#: convex and sharply V-shaped in the weight; on the paper's model the best lies at 0.43-0.55 and
#: moves with θ and the vertex; six halvings of 0.4 leave it within 0.006).
WEIGHT_RANGE = (0.3, 0.7)
BISECTIONS = 6
#: Relative slacks above the Lanczos estimate at which the Cholesky certificate is tried.
SLACKS = (1e-4, 1e-3, 1e-2, 5e-2)
#: Lanczos steps (full reorthogonalisation) for the estimate of each top eigenvalue.
LANCZOS_STEPS = 16
#: Relative margin on ``G`` for rounding in forming the operators and matrices, per precision.
#: Measured without it (paper's model, init seeds 0-5): the float32 bound came out 4.7e-4 to
#: 4.9e-4 *above* the float64 one (its larger Cholesky error term dominates), so rounding in the
#: matrices never pulled it below; 1e-3 is kept on top. float64: 1e-9.
FORM_MARGIN = {"float32": 1e-3, "float64": 1e-9}


def _lanczos_top(mats, steps: int, vectors: bool = False):
    """Largest Ritz value of each matrix of ``mats`` ``(N, S, S)`` after ``steps`` Lanczos steps from
    a fixed start (full reorthogonalisation): an estimate of ``λmax``, never a certificate; with
    ``vectors``, also its Ritz vector ``(N, S)``."""
    n, s, _ = mats.shape
    steps = min(steps, s)
    v0 = jnp.ones((n, s), mats.dtype) / math.sqrt(s) + jnp.linspace(0.0, 1e-2, s, dtype=mats.dtype)
    v0 = v0 / jnp.linalg.norm(v0, axis=1, keepdims=True)
    basis = jnp.zeros((n, steps + 1, s), mats.dtype).at[:, 0].set(v0)  # one spare slot for the last step
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
    if not vectors:
        return jnp.linalg.eigvalsh(tri)[:, -1]
    vals, vecs = jnp.linalg.eigh(tri)
    return vals[:, -1], jnp.einsum("nk,nks->ns", vecs[:, :, -1], basis[:, :steps])


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
    return mats, _lanczos_top(mats, LANCZOS_STEPS)


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


def compiled_parameter_bound(model, *, dtype=jnp.float32):
    """``fn(theta) -> (G, fallbacks)``: the paper model's parameter-dependent gradient bound at the
    angles ``theta`` (``(n_theta,)``, ``params["theta"]``), as a pure JAX function (``jit``- and
    ``vmap``-able). ``G ≥ ‖∇ℓ(θ; x, y)‖₂`` for every input the amplitude encoding can prepare and
    every label, like :func:`~dpqml.bounds.parametric.parameter_bound` (above it by 0.1-0.2 per
    cent on the paper's model: Lanczos estimates and bisection instead of full eigenvalue
    decompositions and a search); ``fallbacks``: how many class vertices could not be certified and
    took the data-free bound instead (0 in practice). ``dtype``: the precision of
    the computation (the trainer's; float64 needs ``jax_enable_x64``)."""
    from ..models.paper import PaperQuantumModel

    if not isinstance(model, PaperQuantumModel):
        raise ValueError("compiled_parameter_bound covers the paper's PaperQuantumModel; for other models use "
                         f"dpqml.bounds.parameter_bound (got {type(model).__name__})")
    precision = "float64" if jnp.finfo(dtype).bits >= 64 else "float32"
    k, d = model.n_classes, model.n_features
    ia, ib, c = _symmetric_pairs(d)
    verts = np.concatenate([_class_vertices(-np.ones(k), np.ones(k), y) for y in range(k)])  # logits in [-1, 1]
    gg = jnp.asarray(np.einsum("vk,vl->vkl", verts, verts).reshape(len(verts), k * k), dtype)
    cc = jnp.asarray(np.outer(c, c), dtype)
    data_free = float(model.gradient_bound())
    margin = (1.0 + FORM_MARGIN[precision]) * (1.0 + 1e-9)

    def obs(th):
        return model.observable_matrices({"theta": th})[:, :d, :d]

    r_a, r_b, s_c, s_e = ia[:, None], ib[:, None], ia[None, :], ib[None, :]  # row pair (a, b), column (c, e)

    def fn(theta):
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
        m1 = (m1 + jnp.swapaxes(m1, 1, 2)) / 2
        m2 = (m2 + jnp.swapaxes(m2, 1, 2)) / 2
        chosen, rho = _best_mixture(m1, m2)
        top, ok = _certified_top(chosen, rho)

        def exact(_):  # rare (a Lanczos estimate more than 5% low): the full eigenvalues, certified again
            again, ok_again = _certified_top(chosen, jnp.linalg.eigvalsh(chosen)[:, -1])
            return jnp.where(ok, top, again), ok | ok_again

        top, ok = jax.lax.cond(jnp.all(ok), lambda _: (top, ok), exact, None)
        worst = jnp.max(jnp.where(ok, top, data_free**2))
        g = jnp.sqrt(jnp.maximum(worst, 0.0)) * margin
        return jnp.minimum(g, data_free), jnp.sum(~ok)

    # Batched (many runs at once), the gathers and eigen-solvers of a plain vmap ran at 1.7x the
    # time of one run after another (measured: 10 runs, 294 ms against 176 ms), so a batch is mapped.
    mapped = jax.custom_batching.custom_vmap(fn)

    @mapped.def_vmap
    def _batched(axis_size, in_batched, theta):
        out = jax.lax.map(fn, theta) if in_batched[0] else fn(theta)
        return out, (in_batched[0], in_batched[0])

    return mapped
