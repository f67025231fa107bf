"""Hybrid models: circuits match PennyLane gate for gate; heads, losses and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from dpqml.models import ModelSpec, apply_noise, build_model, parse_noise, readout, standard_circuit
from dpqml.quantum import expectations


def _pl_standard(n, L):
    """The documented standard circuit in PennyLane (NumPy/autograd interface: the reference shares
    no code with JAX and needs no XLA compilation)."""
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="autograd", diff_method="backprop")
    def f(theta, x):
        for i in range(n):
            qml.RY(x[i], wires=i)
        for layer in range(L):
            for i in range(n):
                qml.RY(theta[2 * (layer * n + i)], wires=i)
                qml.RZ(theta[2 * (layer * n + i) + 1], wires=i)
            for i in range(n):
                if n > 1:
                    qml.CNOT(wires=[i, (i + 1) % n])
        return qml.expval(qml.Z(0))

    return f


@pytest.mark.parametrize("n,L", [(1, 2), (2, 1), (4, 3)])
def test_standard_model_matches_pennylane_rebuilt_from_the_docs(n, L):
    c = standard_circuit(n, L)
    rng = np.random.default_rng(n * 10 + L)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, c.n_params))
    xs = jnp.asarray(rng.uniform(0, np.pi, (2, n)))
    ours = jax.jit(jax.vmap(jax.value_and_grad(lambda t, x: expectations(c, t, x)[0]), in_axes=(None, 0)))
    f = _pl_standard(n, L)
    vals, grads = ours(theta, xs)
    for x, v, g in zip(xs, vals, grads):
        t = pnp.array(np.asarray(theta), requires_grad=True)
        x = pnp.array(np.asarray(x), requires_grad=False)
        v_ref, g_ref = float(f(t, x)), np.asarray(qml.grad(f, argnums=0)(t, x))
        assert abs(v - v_ref) < 1e-10
        np.testing.assert_allclose(g, g_ref, atol=1e-10)


def test_strongly_entangling_matches_pennylane_template():
    n, L = 4, 3
    m = build_model(qubits=n, layers=L, ansatz="strongly-entangling")
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * np.pi, m.circuit.n_params)
    x = rng.uniform(0, np.pi, n)
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def f(w, x):
        qml.AngleEmbedding(x, wires=range(n), rotation="Y")
        qml.StronglyEntanglingLayers(w.reshape(L, n, 3), wires=range(n))
        return qml.expval(qml.Z(0))

    ours = jax.jit(lambda t, x: expectations(m.circuit, t, x)[0])(theta, x)  # one compilation, not op by op
    assert abs(ours - f(theta, x)) < 1e-10


def test_reuploading_layers_encode_features_with_trainable_weights():
    m = build_model(qubits=2, layers=3, ansatz="reuploading")
    # per layer: 2 qubits x (w, b) encoding + 2 x (RY, RZ)
    assert m.circuit.n_params == 3 * (4 + 4)
    uses = [a for op in m.circuit.operations for a in op.angles if a.feature is not None]
    assert len(uses) == 6 and all(a.feature_weight is not None for a in uses)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"ansatz": "strongly-entangling", "readout": "parity"},
        {"ansatz": "reuploading", "readout": "pauli:XZ+ZZ", "qubits": 2},
        {"encoding": "amplitude", "input_dim": 8, "qubits": 3},
        {"n_classes": 3},
        {"pre": (5,), "input_dim": 7},
        {"post": (4,), "readout": "z"},
        {"noise": "depolarizing:0.02+amplitude-damping+readout"},
    ],
)
def test_params_are_real_and_outputs_have_the_head_shape(kw):
    m = build_model(**kw)
    params = m.init(jax.random.PRNGKey(0), jnp.float64)
    for leaf in jax.tree_util.tree_leaves(params):
        assert jnp.issubdtype(leaf.dtype, jnp.floating)
    x = np.random.default_rng(0).uniform(0, 1, m.input_dim)
    # one compilation (eager execution compiles every operation of the circuit on its own)
    out, loss = jax.jit(lambda p, x: (m.apply(p, x), m.loss(p, x, jnp.asarray(1))))(params, x)
    assert out.shape == (() if m.task == "binary" else (m.n_classes,))
    assert np.isfinite(float(loss))


def test_binary_head_is_affine_in_the_expectation():
    m = build_model(qubits=2, layers=1)
    p = m.init(jax.random.PRNGKey(3), jnp.float64)
    p["head"] = {"a": jnp.asarray(2.5), "b": jnp.asarray(-0.5)}
    x = np.array([0.3, 1.1])
    # one compilation (eager execution compiles every operation of the circuit on its own)
    f, out, loss = jax.jit(lambda p, x: (expectations(m.circuit, p["theta"], x)[0], m.apply(p, x),
                                         m.loss(p, x, jnp.asarray(1.0))))(p, x)
    assert abs(out - (2.5 * f - 0.5)) < 1e-12
    # logistic loss with label 1 is softplus(-logit)
    assert abs(loss - np.log1p(np.exp(-(2.5 * f - 0.5)))) < 1e-12


def test_multiclass_head_softmax_over_scaled_z():
    m = build_model(qubits=3, layers=1, n_classes=3)
    assert len(m.circuit.observables) == 3
    p = m.init(jax.random.PRNGKey(0), jnp.float64)
    x = np.array([0.1, 0.2, 0.3])
    # one compilation (eager execution compiles every operation of the circuit on its own)
    f, out, loss = jax.jit(lambda p, x: (expectations(m.circuit, p["theta"], x), m.apply(p, x),
                                         m.loss(p, x, jnp.asarray(2))))(p, x)
    logits = np.asarray(p["head"]["a"]) * np.asarray(f) + np.asarray(p["head"]["b"])
    np.testing.assert_allclose(out, logits, atol=1e-12)
    ce = -(logits[2] - np.log(np.sum(np.exp(logits))))
    assert abs(loss - ce) < 1e-12


def test_noise_presets_insert_channels_and_readout():
    c = standard_circuit(2, 1)
    noisy = apply_noise(c, "depolarizing:0.05+readout:0.1")
    counts = noisy.count_ops()
    gate_wires = sum(len(op.wires) for op in c.operations)
    assert counts["Depolarizing"] == gate_wires
    assert counts["ReadoutError"] == 2
    assert noisy.readout_errors == {0: 0.1, 1: 0.1}
    # depolarizing noise shrinks |<Z0>| (the channel contracts every Pauli expectation)
    theta = np.full(c.n_params, 0.1)
    x = np.array([0.2, 0.1])
    values = jax.jit(lambda t, x: (expectations(noisy, t, x)[0], expectations(c, t, x)[0]))(theta, x)
    assert abs(values[0]) < abs(values[1])


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"qubits": 0}, "qubits must be an integer >= 1"),
        ({"layers": 0}, "layers must be an integer >= 1"),
        ({"ansatz": "nope"}, "valid ansätze"),
        ({"encoding": "nope"}, "valid encodings"),
        ({"readout": "nope"}, "valid readouts"),
        ({"readout": "z:0,7"}, "out of range"),
        ({"noise": "nope"}, "valid presets"),
        ({"noise": "depolarizing:1.5"}, r"\[0, 1\]"),
        ({"input_dim": 6}, "6 features need >= 6 qubits"),
        ({"n_classes": 5, "qubits": 3}, "needs at least 5 qubits"),
        ({"n_classes": 1}, "n_classes must be >= 2"),
    ],
)
def test_bad_model_flags_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        build_model(**kw)


def test_parse_noise_defaults_and_readout_validation():
    assert parse_noise("none") == []
    assert parse_noise("depolarizing+readout") == [("depolarizing", 0.01), ("readout", 0.02)]
    with pytest.raises(ValueError, match="pauli:XZ"):
        readout("pauli:XZ", 3)


def test_spec_defaults_are_the_standard_model():
    m = build_model(ModelSpec())
    s = standard_circuit(4, 2)
    assert [str(op) for op in m.circuit.operations] == [str(op) for op in s.operations]
    assert [str(o) for o in m.circuit.observables] == ["1*Z0"]
