"""The paper's tabular models: the quantum classifier against PennyLane, the tanh MLP's size and
initialisation, the Lipschitz network's guarantee, and the family registry."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import (
    MLP,
    PAPER_FAMILIES,
    LipschitzMLP,
    PaperQuantumModel,
    build_paper_model,
    paper_layer_count,
    paper_mlp,
)
from dpqml.quantum import expectations

assert jax.config.jax_enable_x64, "tests/conftest.py enables float64; these checks need it"

qml = pytest.importorskip("pennylane")


@functools.cache
def _pennylane_circuit(n: int, L: int):
    """The notebook's ``vqc`` (amplitude encoding, RZ RY RZ with index (i·L + l)·3, CNOT ring,
    <Z_k>), written with PennyLane gates: the independent reference."""
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, diff_method="backprop")
    def circuit(inputs, w):
        qml.AmplitudeEmbedding(inputs, wires=range(n), normalize=True, pad_with=0.0)
        for layer in range(L):
            for i in range(n):
                qml.RZ(w[(i * L + layer) * 3 + 0], wires=i)
                qml.RY(w[(i * L + layer) * 3 + 1], wires=i)
                qml.RZ(w[(i * L + layer) * 3 + 2], wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + 1) % n])
        return [qml.expval(qml.PauliZ(k)) for k in range(n)]

    return circuit


# -- quantum model --------------------------------------------------------------------------
@pytest.mark.parametrize("layers, n_features", [(2, 16), (11, 16), (2, 10)])
def test_quantum_logits_match_pennylane(layers, n_features):
    model = PaperQuantumModel(n_features=n_features, layers=layers)
    params = model.init(jax.random.PRNGKey(layers), jnp.float64)
    circuit = _pennylane_circuit(4, model.n_layers)
    for seed in (0, 1):
        x = np.random.default_rng(seed).normal(size=n_features)
        ref = np.array(circuit(x, np.asarray(params["theta"])))
        np.testing.assert_allclose(model.apply(params, x), ref, atol=1e-10)


def test_quantum_closed_form_matches_generic_simulator():
    model = PaperQuantumModel(layers=3)
    params = model.init(jax.random.PRNGKey(3), jnp.float64)
    x = np.random.default_rng(3).normal(size=16)
    generic = expectations(model.circuit, params["theta"], jnp.asarray(x))
    np.testing.assert_allclose(model.apply(params, x), generic, atol=1e-10)
    assert model.circuit.count_ops() == {"RZ": 24, "RY": 12, "CNOT": 12}


def test_observable_matrices_are_real_symmetric_with_unit_norm():
    model = PaperQuantumModel(layers=2)
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    m = np.asarray(model.observable_matrices(params))
    assert m.shape == (4, 16, 16) and m.dtype == np.float64
    np.testing.assert_allclose(m, np.swapaxes(m, 1, 2), atol=1e-12)
    # M_k = Re(U† Z_k U) with Z_k unitary and Hermitian: eigenvalues within [-1, 1], trace 0.
    assert np.all(np.abs(np.linalg.eigvalsh(m)) <= 1 + 1e-10)
    np.testing.assert_allclose(np.trace(m, axis1=1, axis2=2), 0.0, atol=1e-10)
    u = np.asarray(model.unitary(params))
    np.testing.assert_allclose(u.conj().T @ u, np.eye(16), atol=1e-12)


def test_quantum_loss_gradient_matches_pennylane():
    model = PaperQuantumModel(layers=2)
    params = model.init(jax.random.PRNGKey(7), jnp.float64)
    x, y = np.random.default_rng(7).normal(size=16), 2
    circuit = _pennylane_circuit(4, 2)
    pnp = qml.numpy

    def pl_loss(w):
        z = pnp.stack(circuit(x, w))
        return -(z[y] - pnp.log(pnp.sum(pnp.exp(z))))

    ref = qml.grad(pl_loss)(pnp.array(np.asarray(params["theta"]), requires_grad=True))
    ours = jax.grad(model.loss)(params, x, y)["theta"]
    np.testing.assert_allclose(ours, ref, atol=1e-8)


@pytest.mark.parametrize("kw", [{"layers": 3}, {"layers": 1}, {"layers": 2, "n_classes": 3, "n_features": 10}])
def test_quantum_per_example_grads_and_batch_match_vmap(kw):
    model = PaperQuantumModel(**kw)
    params = model.init(jax.random.PRNGKey(1), jnp.float64)
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(5, model.n_features)), rng.integers(0, model.n_classes, size=5)
    xs[2] = 0.0  # a zero example: no state to encode, zero logits, finite gradient
    np.testing.assert_allclose(model.apply_batch(params, xs), jax.vmap(model.apply, (None, 0))(params, xs),
                               atol=1e-12)
    losses, grads = jax.jit(model.per_example_grads)(params, xs, ys)
    ref_l, ref_g = jax.vmap(jax.value_and_grad(model.loss), (None, 0, 0))(params, xs, ys)
    np.testing.assert_allclose(losses, ref_l, atol=1e-12)
    np.testing.assert_allclose(grads["theta"], ref_g["theta"], atol=1e-10)
    assert grads["theta"].shape == (5, model.n_theta)
    np.testing.assert_allclose(model.apply(params, xs[2]), 0.0)
    assert np.all(np.isfinite(jax.grad(model.loss)(params, xs[2], 0)["theta"]))
    assert np.all(np.isfinite(grads["theta"]))


def test_quantum_auto_layers_and_init():
    assert paper_layer_count(128, 4) == 11
    model = PaperQuantumModel()
    assert (model.n_layers, model.param_count(), model.task) == (11, 132, "multiclass")
    params = model.init(jax.random.PRNGKey(0))
    theta = np.asarray(params["theta"])
    assert theta.shape == (132,) and theta.dtype == np.float32
    assert theta.min() >= 0.0 and theta.max() < 2 * np.pi and theta.std() > 1.0
    assert model.n_params(params) == 132
    assert PaperQuantumModel(layers=5).param_count() == 60


@pytest.mark.parametrize("kw, match", [
    ({"layers": 0}, "layers"), ({"layers": "many"}, "layers"), ({"n_features": 17}, "n_features=17"),
    ({"n_classes": 5}, "n_classes=5"), ({"n_classes": 2}, "n_classes"),
])
def test_quantum_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        PaperQuantumModel(**kw)


def test_quantum_refuses_a_batch_in_apply():
    model = PaperQuantumModel(layers=1)
    params = model.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="ONE example"):
        model.apply(params, jnp.ones((2, 16)))


# -- classical model -----------------------------------------------------------------------
def test_paper_mlp_size_forward_and_init():
    model = paper_mlp()
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    assert model.param_count() == 128 and model.n_params(params) == 128
    assert [layer["w"].shape for layer in params["layers"]] == [(4, 16), (4, 4), (4, 4), (4, 4)]
    for layer in params["layers"]:  # PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / np.sqrt(layer["w"].shape[1])
        for leaf in (layer["w"], layer["b"]):
            assert np.all(np.abs(leaf) <= bound) and np.any(leaf != 0)
    x = np.random.default_rng(0).normal(size=16)
    h = x
    for layer in params["layers"][:-1]:
        h = np.tanh(np.asarray(layer["w"]) @ h + np.asarray(layer["b"]))
    ref = np.asarray(params["layers"][-1]["w"]) @ h + np.asarray(params["layers"][-1]["b"])
    np.testing.assert_allclose(model.apply(params, x), ref, atol=1e-12)
    assert model.describe()["init_scheme"] == "torch-default"


def test_mlp_default_init_is_unchanged():
    model = MLP(16, 4, hidden=(4, 4, 4))
    params = model.init(jax.random.PRNGKey(0))
    assert all(np.all(layer["b"] == 0) for layer in params["layers"])  # LeCun weights, zero biases
    assert "init_scheme" not in model.describe()
    with pytest.raises(ValueError, match="init_scheme"):
        MLP(16, 4, init_scheme="xavier")


# -- Lipschitz model -----------------------------------------------------------------------
def _random_lipschitz_params(model, seed):
    """Generic (non-orthogonal) raw weights and non-zero biases, as after some training."""
    rng = np.random.default_rng(seed)
    params = model.init(jax.random.PRNGKey(seed), jnp.float64)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)


def _reference_lipschitz(params, x, k):
    """The notebook's LipschitzNet written with NumPy SVDs: the independent reference."""
    x = x * min(1.0, 1.0 / np.linalg.norm(x))
    ws = [np.asarray(layer["w"]) / np.linalg.svd(np.asarray(layer["w"]), compute_uv=False)[0]
          for layer in params["layers"]]
    bs = [np.asarray(layer["b"]) for layer in params["layers"]]
    h = ws[0] @ x + bs[0]
    h = np.concatenate([np.sort(h[i:i + 2]) for i in range(0, len(h), 2)])
    h = ws[2] @ (ws[1] @ h + bs[1]) + bs[2]
    return k * (ws[3] @ h) + bs[3]


def test_lipschitz_forward_matches_reference_and_counts():
    model = LipschitzMLP(lipschitz_k=1.5)
    assert model.param_count() == 128
    params = _random_lipschitz_params(model, 0)
    assert model.n_params(params) == 128
    rng = np.random.default_rng(0)
    for x in (rng.normal(size=16) * 3, rng.normal(size=16) * 0.05):  # outside / inside the unit ball
        np.testing.assert_allclose(model.apply(params, x), _reference_lipschitz(params, x, 1.5), atol=1e-12)
        np.testing.assert_allclose(model.apply_k(params, x, 4.5), _reference_lipschitz(params, x, 4.5),
                                   atol=1e-12)


@pytest.mark.parametrize("weight_norm", ["spectral", "bjorck"])
def test_lipschitz_constant_holds(weight_norm):
    model = LipschitzMLP(lipschitz_k=2.0, weight_norm=weight_norm)
    params = _random_lipschitz_params(model, 1)
    for w in model.normalised_weights(params):
        s = np.linalg.svd(np.asarray(w), compute_uv=False)
        np.testing.assert_allclose(s[0], 1.0, atol=1e-5 if weight_norm == "bjorck" else 1e-12)
        if weight_norm == "bjorck":
            np.testing.assert_allclose(s, 1.0, atol=1e-2)
    rng = np.random.default_rng(1)
    xs, xps = rng.normal(size=(200, 16)) * 0.5, rng.normal(size=(200, 16)) * 0.5
    xps[:100] = xs[:100] + 1e-3 * rng.normal(size=(100, 16))  # near pairs probe the local slope
    for k in (0.5, 2.0):
        f = jax.vmap(model.apply_k, (None, 0, None))
        ratio = np.linalg.norm(f(params, xs, k) - f(params, xps, k), axis=1) / np.linalg.norm(xs - xps, axis=1)
        assert ratio.max() <= k * (1 + 1e-9)
        assert ratio.max() > 0.05 * k  # the bound is checked on a map that actually varies


def test_lipschitz_gradients_finite_at_init():
    model = LipschitzMLP()
    params = model.init(jax.random.PRNGKey(0), jnp.float64)  # orthogonal: every singular value 1
    x = np.random.default_rng(0).normal(size=16)
    grads = jax.grad(model.loss)(params, x, 1)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    assert any(np.any(g != 0) for g in jax.tree_util.tree_leaves(grads))


@pytest.mark.parametrize("kw, match", [
    ({"lipschitz_k": 0.0}, "lipschitz_k"), ({"lipschitz_k": float("nan")}, "lipschitz_k"),
    ({"lipschitz_k": float("inf")}, "lipschitz_k"), ({"lipschitz_k": "1"}, "lipschitz_k"),
    ({"weight_norm": "frobenius"}, "weight_norm"), ({"hidden": (3, 4, 4)}, "even"),
])
def test_lipschitz_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        LipschitzMLP(**kw)


# -- registry ------------------------------------------------------------------------------
def test_build_paper_model_families_and_describe():
    assert PAPER_FAMILIES == ("quantum", "classical", "lipschitz")
    counts = {}
    for family in PAPER_FAMILIES:
        model = build_paper_model(family)
        info = json.loads(json.dumps(model.describe()))
        counts[family] = info["n_params"]
        assert info["n_classes"] == 4 and info["input_dim"] == 16
    assert counts == {"quantum": 132, "classical": 128, "lipschitz": 128}
    assert build_paper_model("lipschitz", lipschitz_k=4.5).lipschitz_k == 4.5
    assert build_paper_model("quantum", layers=2).n_layers == 2


def test_build_paper_model_bad_family_and_option():
    with pytest.raises(ValueError, match=r"family 'hybrid'.*\['quantum', 'classical', 'lipschitz'\]"):
        build_paper_model("hybrid")
    with pytest.raises(ValueError, match=r"\['depth'\] for family 'classical'.*'init_scheme'"):
        build_paper_model("classical", depth=3)
    assert build_paper_model("lipschitz", lipschitz_k=np.float32(0.5)).lipschitz_k == 0.5


def test_the_data_free_gradient_bound_holds_and_is_not_vacuous():
    from dpqml.models.paper import PaperQuantumModel

    model = PaperQuantumModel()
    g = model.gradient_bound()
    assert g == pytest.approx(np.sqrt(2 * 4 * 11) * 1.6135, abs=1e-3)  # √(2nL)·h*, docs/bounds.md
    rng = np.random.default_rng(0)
    worst = 0.0
    for k in range(4):
        params = model.init(jax.random.PRNGKey(k))
        xs = rng.normal(size=(64, 16)).astype(np.float32)
        ys = rng.integers(0, 4, 64)
        _, grads = model.per_example_grads(params, xs, ys)
        worst = max(worst, float(np.max(np.linalg.norm(np.asarray(grads["theta"]), axis=1))))
    assert 0.05 * g < worst <= g
