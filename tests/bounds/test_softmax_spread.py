"""The paper model's data-free bound: the cross-entropy's spread h* and the rotation-gate rule
(docs/bounds.md, "The paper's model"), each checked exactly and by search."""

import numpy as np
import pytest
import scipy.optimize

from dpqml.bounds.search import largest_gradient_norm
from dpqml.bounds.softmax import cross_entropy_spread, spread_at
from dpqml.models.paper import PaperQuantumModel, _z_signs


@pytest.mark.parametrize("k", [3, 4, 6])
def test_the_certified_spread_is_above_every_point_and_close_to_the_best(k):
    h_star = cross_entropy_spread(k)
    rng = np.random.default_rng(k)
    # the full K-dimensional function, no reduction: random points and local ascent from them
    points = rng.uniform(-1, 1, (4000, k))
    best = max(spread_at(z, 0) for z in points)
    for z0 in points[:40]:
        res = scipy.optimize.minimize(lambda z: -spread_at(np.clip(z, -1, 1), 0), z0, method="Nelder-Mead",
                                      options={"maxiter": 2000, "xatol": 1e-7, "fatol": 1e-10})
        best = max(best, -res.fun)
    assert best <= h_star < best + 3e-3
    # the old angle-by-angle factor 2(1 - p_min) is looser
    assert h_star < 2 * (1 - 1 / (1 + (k - 1) * np.e**2)) - 0.1


def test_spread_refuses_a_bad_class_count():
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2; got 1"):
        cross_entropy_spread(1)


def _rotation_terms(model, rng, batch=16, aligned=False):
    """Per example: the squared gradient of each qubit's RZ RY RZ in each layer, Var(O_r) in the
    output state, and h(z). ``aligned``: every RY angle 0, so each gate's two RZ generators
    coincide (the case that needs the 2)."""
    n, L, K = model.n_qubits, model.n_layers, model.n_classes
    theta = rng.uniform(0, 2 * np.pi, model.n_theta)
    if aligned:
        theta[1::3] = 0.0
    params = {"theta": theta}
    x = rng.normal(size=(batch, model.n_features))
    y = rng.integers(0, K, batch)
    _, g = model.per_example_grads(params, x, y)
    rot = (np.asarray(g["theta"]).reshape(batch, n, L, 3) ** 2).sum(-1).reshape(batch, -1)
    psi = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ np.asarray(model.unitary(params)).T
    prob = np.abs(psi) ** 2
    signs = _z_signs(n, K)
    z = prob @ signs.T
    var, h = np.zeros(batch), np.zeros(batch)
    for b in range(batch):
        r = np.exp(z[b]) / np.exp(z[b]).sum()
        r[y[b]] -= 1
        o = r @ signs
        var[b] = prob[b] @ o**2 - (prob[b] @ o) ** 2
        h[b] = spread_at(z[b], y[b])
    return rot, var, h


def test_each_rotation_gate_is_bounded_by_twice_the_variance():
    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    rng = np.random.default_rng(0)
    ratios, spreads = [], []
    for i in range(6):
        rot, var, h = _rotation_terms(model, rng, batch=64, aligned=i % 2 == 1)
        ratios.append(rot.max(axis=1) / var)
        spreads.append(np.sqrt(var) / h)
    assert np.concatenate(ratios).max() <= 2 + 1e-9  # Σ_j (n_j·c)² ≤ 2‖c‖², ‖c‖ ≤ sd(O_r)
    assert np.concatenate(spreads).max() <= 1 + 1e-9  # sd(O_r) ≤ h(z)


def test_one_variance_per_rotation_gate_would_not_be_sound():
    """Ascent over the input on one gate's squared gradient / Var(O_r) passes 1 (and stays <= 2)."""
    import jax
    import jax.numpy as jnp

    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    theta = jnp.asarray(np.random.default_rng(1).uniform(0, 2 * np.pi, model.n_theta))
    signs = jnp.asarray(_z_signs(3, 3), theta.dtype)
    gate = [3 * (0 * 2 + 0) + j for j in range(3)]  # qubit 0, layer 0: θ index 3(i·L + l) + j

    def ratio(x, y):
        g = jax.grad(lambda t: model.loss({"theta": t}, x, y))(theta)
        psi = model.unitary({"theta": theta}) @ (x / jnp.linalg.norm(x))
        prob = jnp.abs(psi) ** 2
        z = signs @ prob
        r = jax.nn.softmax(z) - jax.nn.one_hot(y, 3)
        o = r @ signs
        return jnp.sum(g[jnp.array(gate)] ** 2) / (prob @ o**2 - (prob @ o) ** 2)

    step = jax.jit(jax.vmap(lambda x, y: x + 0.05 * jax.grad(ratio)(x, y) / (1e-9 + jnp.linalg.norm(
        jax.grad(ratio)(x, y))), in_axes=(0, None)))
    xs = jnp.asarray(np.random.default_rng(2).normal(size=(16, 8)))
    for _ in range(150):
        xs = step(xs, 0)
    best = float(jnp.max(jax.vmap(ratio, in_axes=(0, None))(xs, 0)))
    assert 1.05 < best <= 2 + 1e-9


def test_the_bound_holds_under_ascent_and_is_at_least_half_tight():
    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    g = model.gradient_bound()
    assert g == pytest.approx(np.sqrt(2 * 3 * 2) * cross_entropy_spread(3))
    found = largest_gradient_norm(model, starts=8, steps=100, seed=0)
    assert 0.5 * g <= found <= g
