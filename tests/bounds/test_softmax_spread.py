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


def _rotation_terms(model, rng, batch=16):
    """Per example: the squared gradient of each qubit's RZ RY RZ in each layer, Var(O_r) in the
    output state, and h(z)."""
    n, L, K = model.n_qubits, model.n_layers, model.n_classes
    params = {"theta": rng.uniform(0, 2 * np.pi, model.n_theta)}
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


def test_each_rotation_gate_is_bounded_by_twice_the_variance_and_the_two_is_needed():
    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    rng = np.random.default_rng(0)
    ratios, spreads = [], []
    for _ in range(30):
        rot, var, h = _rotation_terms(model, rng)
        ratios.append(rot.max(axis=1) / var)
        spreads.append(np.sqrt(var) / h)
    ratios, spreads = np.concatenate(ratios), np.concatenate(spreads)
    assert ratios.max() <= 2 + 1e-9  # Σ_j (n_j·c)² ≤ 2‖c‖², ‖c‖ ≤ sd(O_r)
    assert ratios.max() > 1.1  # one variance per gate would not be sound
    assert spreads.max() <= 1 + 1e-9  # sd(O_r) ≤ h(z)


def test_the_bound_holds_under_ascent_and_is_at_least_half_tight():
    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    g = model.gradient_bound()
    assert g == pytest.approx(np.sqrt(2 * 3 * 2) * cross_entropy_spread(3))
    found = largest_gradient_norm(model, starts=8, steps=100, seed=0)
    assert 0.5 * g <= found <= g
