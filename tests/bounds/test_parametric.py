"""The parameter-dependent bound G(θ): sound against a gradient-ascent search over every input
at fixed parameters, below the data-free bound, and refused clearly where it cannot be computed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds import gradient_bound
from dpqml.bounds import parametric as P
from dpqml.bounds.parametric import parameter_bound
from dpqml.bounds.search import largest_gradient_norm_at
from dpqml.models import build_model
from dpqml.models.paper import PaperQuantumModel

from .helpers import random_params


def _search(model, params, seed=0):
    """The largest norm Adam ascent over the inputs finds at the fixed ``params`` (every label)."""
    return largest_gradient_norm_at(model, params, seed=seed)


@pytest.mark.parametrize("flags", [
    {"qubits": 2, "layers": 2},
    {"qubits": 3, "layers": 1, "loss": "squared"},
    {"qubits": 2, "layers": 2, "encoding": "angle-x"},  # complex encoded states
    {"qubits": 2, "layers": 2, "encoding": "amplitude", "readout": "pauli:XZ"},
    {"qubits": 3, "layers": 2, "n_classes": 3, "readout": "z"},
    {"qubits": 2, "layers": 2, "noise": "depolarizing:0.05"},
    {"qubits": 2, "layers": 2, "noise": "amplitude-damping:0.1+readout:0.05"},
])
def test_no_input_exceeds_the_parameter_dependent_bound(flags):
    flags = dict(flags)
    loss = flags.pop("loss", None)
    model = build_model(**flags)
    rng = np.random.default_rng(1)
    for _ in range(2):
        params = random_params(model, rng, a_max=1.5)
        g = parameter_bound(model, params, loss=loss)
        found = _search(model if loss is None else _with_loss(model, loss), params)
        assert found <= g.total, (found, g.total)
        assert found >= 0.25 * g.total  # the search is real, and the bound is not vacuous
        assert not g.parameter_free and g.meta["method"] == "operator-eigenvalue"
        free = gradient_bound(model, feature_bound=4.0, params=params, loss=loss).total
        assert found <= free  # the data-free bound, at these parameters, holds on its own too
        assert g.meta["data_free_at_params"] == pytest.approx(free)  # G(θ) is the smaller of the two


def _with_loss(model, loss):
    class Squared:  # the search differentiates model.loss; route it through the chosen loss
        def __getattr__(self, name):
            return getattr(model, name)

        def loss(self, params, x, y):
            return model.loss(params, x, y, loss)

    return Squared()


def test_the_papers_model_bound_holds_and_is_far_below_the_data_free_one():
    model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
    for seed in range(2):
        params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), model.init(jax.random.PRNGKey(seed)))
        g = parameter_bound(model, params)
        found = _search(model, params)
        assert found <= g.total < model.gradient_bound()
        assert found >= 0.4 * g.total
    with pytest.raises(ValueError, match="for its loss 'cross-entropy'"):
        parameter_bound(model, params, loss="logistic")


def test_fewer_features_than_amplitudes_restrict_the_domain():
    """A bare amplitude encoding of 3 features on 2 qubits only reaches the first 3 amplitudes:
    the bound is computed there, and is no larger than on all 4."""
    small = PaperQuantumModel(n_qubits=3, n_features=5, n_classes=3, layers=1)
    full = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=1)
    params = {"theta": jnp.asarray(np.random.default_rng(0).uniform(0, 6, small.n_theta))}
    assert P._domain(small) == (True, 5)
    assert parameter_bound(small, params).total <= parameter_bound(full, params).total * (1 + 1e-9)
    assert _search(small, params) <= parameter_bound(small, params).total


def test_bad_models_are_refused_with_what_still_applies(monkeypatch):
    reup = build_model(qubits=2, layers=1, ansatz="reuploading")
    with pytest.raises(ValueError, match="encodes the data first.*data-free gradient_bound"):
        parameter_bound(reup, reup.init(jax.random.PRNGKey(0)))
    hybrid = build_model(qubits=2, layers=1, post=(3,))
    with pytest.raises(ValueError, match="'pre'/'post' layers are not supported"):
        parameter_bound(hybrid, hybrid.init(jax.random.PRNGKey(0)))
    model = build_model(qubits=3, layers=1)
    monkeypatch.setattr(P, "MAX_DIMENSION", 10)
    with pytest.raises(ValueError, match="36 rows, more than MAX_DIMENSION = 10"):
        parameter_bound(model, model.init(jax.random.PRNGKey(0)))
    with pytest.raises(ValueError, match="loss must be one of"):
        parameter_bound(model, model.init(jax.random.PRNGKey(0)), loss="cross-entropy")


@pytest.mark.parametrize("which", ["paper", "nisq", "multiclass"])
def test_single_precision_operators_stay_within_the_margin(which):
    """The operators are built in the parameters' precision; the float32 bound stays within a
    tenth of its rounding margin of the float64 one (and above it, by the margin)."""
    if which == "paper":
        model = PaperQuantumModel()
        p64 = {"theta": jnp.asarray(np.random.default_rng(0).uniform(0, 2 * np.pi, model.n_theta))}
    else:
        flags = {"qubits": 3, "layers": 3}
        flags.update({"noise": "nisq"} if which == "nisq" else {"readout": "z", "n_classes": 3})
        model = build_model(**flags)
        p64 = random_params(model, np.random.default_rng(3))
    p32 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float32), p64)
    g64, g32 = parameter_bound(model, p64).total, parameter_bound(model, p32).total
    assert abs(g32 / (1 + P.SAFETY_MARGIN["float32"]) - g64 / (1 + P.SAFETY_MARGIN["float64"])) <= 1e-5 * g64
    assert g32 >= g64


def test_the_class_vertices_hold_every_softmax_gradient():
    """softmax(z) − e_y for z in a box lies in the hull of the vertices and 0 (an LP per point)."""
    import scipy.optimize

    rng = np.random.default_rng(3)
    for k in (3, 4):
        low = rng.uniform(-2, 0, k)
        high = low + rng.uniform(0.1, 3, k)
        for y in range(k):
            hull = np.vstack([P._class_vertices(low, high, y), np.zeros(k)])
            for z in rng.uniform(low, high, (25, k)):
                g = np.exp(z) / np.exp(z).sum()
                g[y] -= 1
                res = scipy.optimize.linprog(np.zeros(len(hull)), A_eq=np.vstack([hull.T, np.ones(len(hull))]),
                                             b_eq=np.r_[g, 1.0], bounds=(0, None))
                assert res.status == 0, (k, y, z)
        # leaving out the corners where other logits are high loses points: the hull is needed whole
        y = 0
        few = np.vstack([P._class_vertices(low, high, y)[:1], np.zeros(k)])
        z = high.copy()
        z[y] = low[y]
        g = np.exp(z) / np.exp(z).sum()
        g[y] -= 1
        res = scipy.optimize.linprog(np.zeros(len(few)), A_eq=np.vstack([few.T, np.ones(len(few))]),
                                     b_eq=np.r_[g, 1.0], bounds=(0, None))
        assert res.status == 2  # infeasible


@pytest.mark.parametrize("which", ["paper", "multiclass"])
def test_the_vertex_rule_is_below_the_worst_pair_rule(which):
    """The earlier K-class rule: (1 − p_y at its worst)² times the worst class pair's eigenvalue
    (+2 with a trained head). The vertex rule replaces it and is never above it here."""
    if which == "paper":
        model = PaperQuantumModel(n_qubits=3, n_features=8, n_classes=3, layers=2)
        params = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), model.init(jax.random.PRNGKey(0)))
    else:
        model = build_model(qubits=3, layers=2, n_classes=3, readout="z")
        params = random_params(model, np.random.default_rng(0), a_max=1.5)
    a, head, (low, high) = P._head(model, params, model.default_loss)
    real, d = P._domain(model)
    (A, D), _ = P._operators(model, params, real, d)
    pairs = P._symmetric_pairs(d)
    k = len(low)
    old = 0.0
    for y in range(k):
        z = high.copy()
        z[y] = low[y]
        slope = 1 - np.exp(z[y]) / np.exp(z).sum()
        for j in range(k):
            if j != y:
                lam = P._quartic_sup(A[j] - A[y], D[j] - D[y], a, head, real, pairs)
                old = max(old, slope * np.sqrt(lam + (2.0 if head else 0.0)))
    new = np.sqrt(P._largest_over_vertices(A, D, (low, high), a, head, real, pairs))
    assert new < 0.97 * old
    assert parameter_bound(model, params).total <= new * (1 + 1e-6)


def test_the_class_pair_tensors_mix_into_each_vertex_s_own(monkeypatch):
    """Built once per class pair and mixed per vertex, or built per vertex: the same bound."""
    model = build_model(qubits=3, layers=1, n_classes=3, readout="z")
    params = random_params(model, np.random.default_rng(4), a_max=1.5)
    a, head, box = P._head(model, params, model.default_loss)
    real, d = P._domain(model)
    (A, D), _ = P._operators(model, params, real, d)
    pairs = P._symmetric_pairs(d)
    once = P._largest_over_vertices(A, D, box, a, head, real, pairs)
    monkeypatch.setattr(P, "MAX_PAIR_TENSORS", 0)
    # the same matrices up to rounding; the search over the pairings' weights (Nelder-Mead, fatol 1e-6)
    # may then stop at a slightly different point (2e-7 apart with NumPy 2.4.6), so agree to 1e-5
    assert P._largest_over_vertices(A, D, box, a, head, real, pairs) == pytest.approx(once, rel=1e-5)
    assert once > 0
