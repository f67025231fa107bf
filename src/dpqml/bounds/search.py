"""How tight is a bound? The largest per-example gradient norm gradient ascent can find.

``largest_gradient_norm(model)`` maximizes ``‖∇ℓ(x, y)‖₂`` (all trainable parameters) over the
inputs ``x`` (in ``[-X, X]`` through ``x = X·tanh(u)``; unconstrained for amplitude encoding),
the circuit angles ``θ``, the head offset ``b`` and both labels, with the head scale fixed at
``a = head_scale`` (the value the parameter-free bound assumes). It is a lower bound on the
true supremum: ``found / G`` is the tightness of ``G`` (1 = exact).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..models.hybrid import QuantumModel


def largest_gradient_norm(model: QuantumModel, *, feature_bound: float = float(np.pi), head_scale: float = 1.0,
                          starts: int = 16, steps: int = 150, learning_rate: float = 0.05,
                          seed: int = 0) -> float:
    """The largest ``‖∇ℓ‖₂`` found by ``steps`` of Adam ascent from ``starts`` random starts
    per label (half of them near ``θ = 0``, where rotations line up; models without
    ``pre``/``post`` layers, or the paper's :class:`~dpqml.models.paper.PaperQuantumModel`, whose
    logits are the ``⟨Z_k⟩`` themselves and whose only parameters are its angles)."""
    from ..models.paper import PaperQuantumModel

    paper = isinstance(model, PaperQuantumModel)
    if not paper and (model.pre or model.post):
        raise ValueError("the search covers models without classical 'pre'/'post' layers")
    m = model if paper else dataclasses.replace(model, method="backprop")  # the search differentiates gradients
    amplitude = paper or m.circuit.state_prep == "amplitude"
    n_b = 1 if m.task == "binary" else m.n_classes

    def grad_norm(z, y):
        x = z["u"] if amplitude else feature_bound * jnp.tanh(z["u"])
        params = {"theta": z["theta"]} if paper else {
            "theta": z["theta"], "head": {"a": jnp.asarray(head_scale), "b": z["b"] if n_b > 1 else z["b"][0]}}
        g = jax.grad(m.loss)(params, x, y)
        return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(g)))

    def run(z, y):
        opt = _adam(learning_rate)
        state = opt[0](z)

        def step(carry, _):
            z, s = carry
            g = jax.grad(grad_norm)(z, y)
            z, s = opt[1](z, g, s)
            return (z, s), grad_norm(z, y)

        (_, _), trace = jax.lax.scan(step, (z, state), None, length=steps)
        return jnp.max(trace)

    run_all = jax.jit(jax.vmap(run, in_axes=(0, None)))
    rng = np.random.default_rng(seed)
    best = 0.0
    for y in range(m.n_classes):
        theta = rng.uniform(0, 2 * np.pi, (starts, m.circuit.n_params))
        theta[: starts // 2] = rng.normal(0, 0.3, theta[: starts // 2].shape)  # near-aligned rotations
        z = {"theta": jnp.asarray(theta),
             "u": jnp.asarray(rng.normal(size=(starts, m.input_dim))),
             "b": jnp.asarray(rng.normal(size=(starts, n_b)) * 2)}
        best = max(best, float(jnp.max(run_all(z, y))))
    return best


def largest_gradient_norm_at(model, params, *, starts: int = 12, steps: int = 120, learning_rate: float = 0.08,
                             feature_bound: float = 4.0, seed: int = 0) -> float:
    """The largest ``‖∇ℓ(θ; x, y)‖₂`` (all trainable parameters) found by Adam ascent over the
    inputs alone, at the fixed ``params``, from ``starts`` random starts per label: a lower bound
    on ``sup_x ‖∇ℓ‖`` at these parameters, which the parameter-dependent bound
    (:func:`.parametric.parameter_bound`) must exceed. Inputs: unconstrained for amplitude
    encodings, ``feature_bound · tanh(u)`` otherwise (the bound holds for every input)."""
    amplitude = model.circuit.state_prep == "amplitude"

    def norm(u, y):
        x = u if amplitude else feature_bound * jnp.tanh(u)
        g = jax.grad(lambda p: model.loss(p, x, y))(params)
        return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(g)))

    def run(u, y):
        init, update = _adam(learning_rate)

        def step(carry, _):
            u, s = carry
            value, g = jax.value_and_grad(norm)(u, y)
            u, s = update(u, g, s)
            return (u, s), value

        (u, _), trace = jax.lax.scan(step, (u, init(u)), None, length=steps)
        return jnp.maximum(jnp.max(trace), norm(u, y))

    run_all = jax.jit(jax.vmap(run, in_axes=(0, None)))
    rng = np.random.default_rng(seed)
    return max(float(jnp.max(run_all(jnp.asarray(rng.normal(size=(starts, model.input_dim))), y)))
               for y in range(model.n_classes))


def _adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam ascent on a pytree (``z + lr · m̂/(√v̂ + ε)``); a few lines, so no optimizer dependency."""
    def init(z):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, z)
        return zeros, zeros, jnp.zeros(())

    def update(z, g, state):
        m, v, t = state
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b**2, v, g)
        z = jax.tree_util.tree_map(
            lambda p, a, b: p + lr * (a / (1 - b1**t)) / (jnp.sqrt(b / (1 - b2**t)) + eps), z, m, v)
        return z, (m, v, t)

    return init, update


def tightness_table(ansatze=("hea", "strongly-entangling", "reuploading"), qubits=(1, 2, 3, 4, 5, 6),
                    layers=(1, 2, 3, 4), **search) -> list[dict]:
    """For each (ansatz, n, L): the refined bound G, the naive bound (every angle at ``‖O‖``,
    no light cone), the largest norm found and the ratios (feature bound π, ``|a| ≤ 1``)."""
    from ..models import build_model
    from .model import gradient_bound

    rows = []
    for name in ansatze:
        for n in qubits:
            for L in layers:
                m = build_model(qubits=n, layers=L, ansatz=name)
                g = gradient_bound(m, feature_bound=np.pi).total
                naive = gradient_bound(m, feature_bound=np.pi, refine=False).total
                found = largest_gradient_norm(m, **search)
                rows.append({"ansatz": name, "qubits": n, "layers": L, "bound": g, "naive": naive,
                             "found": found, "found_over_bound": found / g, "found_over_naive": found / naive})
                print(f"{name:20s} n={n} L={L}  G={g:6.3f}  naive={naive:6.3f}  found={found:6.3f}  "
                      f"found/G={found / g:5.3f}  found/naive={found / naive:5.3f}", flush=True)
    return rows


def paper_tightness(*, starts: int = 32, steps: int = 400, learning_rate: float = 0.05, seed: int = 1) -> dict:
    """The paper's tabular quantum model (4 qubits, 11 layers, 4 classes): its data-free bound,
    the largest norm ascent over angles and inputs finds, and their ratio."""
    from ..models.paper import PaperQuantumModel

    model = PaperQuantumModel()
    g = model.gradient_bound()
    found = largest_gradient_norm(model, starts=starts, steps=steps, learning_rate=learning_rate, seed=seed)
    print(f"paper-quantum  G={g:6.3f}  found={found:6.3f}  found/G={found / g:5.3f}", flush=True)
    return {"bound": g, "found": found, "found_over_bound": found / g}


if __name__ == "__main__":  # python -m dpqml.bounds.search [ansatz ... | paper]
    import sys

    jax.config.update("jax_enable_x64", True)
    if sys.argv[1:] == ["paper"]:
        paper_tightness()
    else:
        tightness_table(tuple(sys.argv[1:]) or ("hea", "strongly-entangling", "reuploading"))
