"""PennyLane import: the imported circuit gives PennyLane's expectation values and per-example
gradients (double precision, 1e-6), and what it cannot express is refused by name."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from dpqml.interop import flatten_weights, from_pennylane
from dpqml.models import QuantumModel
from dpqml.quantum import expectations
from dpqml.train import train_private

ATOL = 1e-6


def _templates_qnode(n=4, noisy=False):
    dev = qml.device("default.mixed" if noisy else "default.qubit", wires=n)

    @qml.qnode(dev)
    def circuit(inputs, weights, extra):
        qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        qml.BasicEntanglerLayers(extra, wires=range(n))
        qml.RY(np.pi * inputs[0] + extra[0, 1], wires=1)  # a feature scaled, plus a weight
        qml.RZ(inputs[1] * extra[0, 2], wires=2)  # a trainable encoding
        qml.MultiRZ(extra[0, 3], wires=[0, 2])
        qml.CRY(weights[0, 0, 1], wires=[3, 1])
        qml.PauliRot(weights[1, 2, 0], "XY", wires=[1, 3])
        qml.Hadamard(wires=0)
        qml.S(wires=3)
        qml.PhaseShift(0.4, wires=2)  # decomposed: RZ and a global phase
        if noisy:
            qml.DepolarizingChannel(0.05, wires=0)
            qml.AmplitudeDamping(0.1, wires=1)
            qml.PhaseDamping(0.2, wires=2)
            qml.BitFlip(0.03, wires=3)
            qml.PhaseFlip(0.07, wires=0)
        return [qml.expval(qml.PauliZ(0)),
                qml.expval(0.5 * qml.PauliX(0) @ qml.PauliY(1) - qml.PauliZ(2) + 0.3 * qml.Identity(0)),
                qml.expval(qml.Hamiltonian([0.2, -1.1], [qml.PauliX(3), qml.PauliZ(1) @ qml.PauliZ(2)]))]

    return circuit, {"weights": (2, n, 3), "extra": (1, n)}


def _pennylane_value_and_jacobian(qnode, x, weights, shapes):
    """PennyLane's values and Jacobian in the flat weight vector (autograd backprop)."""
    names = list(shapes)
    sizes = [int(np.prod(s)) for s in shapes.values()]

    def f(flat):
        parts, k = {}, 0
        for name, size in zip(names, sizes):
            parts[name] = flat[k:k + size].reshape(shapes[name])
            k += size
        return qml.math.stack(qnode(x, **parts))

    flat = pnp.array(flatten_weights(weights, shapes), requires_grad=True)
    return np.asarray(f(flat)), np.asarray(qml.jacobian(f)(flat))


@pytest.mark.parametrize("noisy", [False, True])
def test_templates_gates_channels_and_hamiltonians_match_pennylane(noisy):
    qnode, shapes = _templates_qnode(noisy=noisy)
    circuit = from_pennylane(qnode, weight_shapes=shapes, n_features=4)
    assert circuit.n_params == 28 and circuit.n_features == 4 and circuit.is_noisy == noisy
    rng = np.random.default_rng(1)
    for _ in range(2):
        weights = {k: rng.uniform(0, 2 * np.pi, s) for k, s in shapes.items()}
        x = rng.uniform(-1, 1, 4)
        value, jac = _pennylane_value_and_jacobian(qnode, x, weights, shapes)
        theta = jnp.asarray(flatten_weights(weights, shapes))
        ours = expectations(circuit, theta, jnp.asarray(x))
        ours_jac = jax.jacobian(expectations, argnums=1)(circuit, theta, jnp.asarray(x))
        assert np.abs(jac).max() > 1e-2
        np.testing.assert_allclose(ours, value, atol=ATOL)
        np.testing.assert_allclose(ours_jac, jac, atol=ATOL)


def _paper_qnode(layers=11, n=4, n_classes=4):
    """The paper's tabular QNode (as models/paper.py describes tabular/heatmap.ipynb's): amplitude
    encoding of 16 features, qubit-major RZ RY RZ layers, a CNOT ring, <Z_k> logits."""

    @qml.qnode(qml.device("default.qubit", wires=n))
    def vqc(inputs, weights):
        qml.AmplitudeEmbedding(features=inputs, wires=range(n), normalize=True, pad_with=0.0)
        for layer in range(layers):
            for i in range(n):
                m = i * layers + layer
                qml.RZ(weights[3 * m], wires=i)
                qml.RY(weights[3 * m + 1], wires=i)
                qml.RZ(weights[3 * m + 2], wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + 1) % n])
        return [qml.expval(qml.PauliZ(k)) for k in range(n_classes)]

    return vqc


def test_the_papers_qnode_imports_matches_and_trains_privately():
    qnode = _paper_qnode()
    circuit = from_pennylane(qnode, weight_shapes={"weights": 132}, n_features=16)
    assert circuit.state_prep == "amplitude" and circuit.n_params == 132
    rng = np.random.default_rng(2)
    w = {"weights": rng.uniform(0, 2 * np.pi, 132)}
    x = rng.uniform(0, 1, 16)
    value, jac = _pennylane_value_and_jacobian(qnode, x, w, {"weights": (132,)})
    theta = jnp.asarray(w["weights"])
    np.testing.assert_allclose(expectations(circuit, theta, jnp.asarray(x)), value, atol=ATOL)
    np.testing.assert_allclose(jax.jacobian(lambda t: expectations(circuit, t, jnp.asarray(x)))(theta), jac,
                               atol=ATOL)
    model = QuantumModel(circuit, n_classes=4)
    xs = rng.uniform(0, 1, (40, 16)).astype(np.float32)
    ys = rng.integers(0, 4, 40)
    result = train_private(model, (xs, ys), target_epsilon=3.0, epochs=1, expected_batch_size=10)
    assert result.epsilon <= 3.0 + 1e-9 and result.steps == 4


def _qnode(body, n=2):
    @qml.qnode(qml.device("default.qubit", wires=n))
    def circuit(inputs, weights):
        return body(inputs, weights)

    return circuit


@pytest.mark.parametrize("body, match", [
    (lambda x, w: (qml.RX(x[0] * x[1] * w[0], wires=0), qml.expval(qml.PauliZ(0)))[-1],
     "may multiply one weight or one other feature"),
    (lambda x, w: (qml.RX(2.0 * w[0], wires=0), qml.expval(qml.PauliZ(0)))[-1], "coefficient 2"),
    (lambda x, w: (qml.RX(qml.math.sin(x[0]), wires=0), qml.expval(qml.PauliZ(0)))[-1], "non-linear"),
    (lambda x, w: (qml.GeneralizedAmplitudeDamping(0.1, 0.2, wires=0), qml.expval(qml.PauliZ(0)))[-1],
     "GeneralizedAmplitudeDamping on wires \\[0\\] is not an operation dpqml simulates"),
    (lambda x, w: (qml.RX(w[0], wires=0), qml.measure(0), qml.expval(qml.PauliZ(1)))[-1], "mid-circuit"),
    (lambda x, w: (qml.RX(w[0], wires=0), qml.probs(wires=0))[-1], "ProbabilityMP.*expval"),
    (lambda x, w: (qml.RX(w[0], wires=0), qml.expval(qml.Hadamard(0)))[-1], "not a sum of Pauli words"),
    (lambda x, w: (qml.RX(w[0], wires=0), qml.DepolarizingChannel(w[1], wires=0), qml.expval(qml.PauliZ(0)))[-1],
     "channel strength must be a number"),
])
def test_what_cannot_be_imported_is_refused_by_name(body, match):
    with pytest.raises(ValueError, match=match):
        from_pennylane(_qnode(body), weight_shapes={"weights": 2}, n_features=2)


def test_arguments_must_be_declared_and_features_are_not_weights():
    qnode = _qnode(lambda x, w: (qml.RX(w[0], wires=0), qml.expval(qml.PauliZ(0)))[-1])
    with pytest.raises(ValueError, match=r"arguments \['weights'\] are declared neither"):
        from_pennylane(qnode, weight_shapes={}, n_features=2)
    with pytest.raises(ValueError, match="'inputs' is declared both as the features and as a weight"):
        from_pennylane(qnode, weight_shapes={"inputs": 2, "weights": 2}, n_features=2)
    with pytest.raises(ValueError, match="n_features must be an integer >= 1"):
        from_pennylane(qnode, weight_shapes={"weights": 2})
    with pytest.raises(ValueError, match=r"weights\['weights'\] has shape \(3,\); weight_shapes says \(2,\)"):
        flatten_weights({"weights": np.zeros(3)}, {"weights": 2})


def test_iqp_embedding_imports_with_products_of_features():
    @qml.qnode(qml.device("default.qubit", wires=3))
    def circuit(inputs, weights):
        qml.IQPEmbedding(inputs, wires=range(3), n_repeats=2)
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return [qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliX(1) @ qml.PauliZ(2))]

    shapes = {"weights": (1, 3, 3)}
    imported = from_pennylane(circuit, weight_shapes=shapes, n_features=3)
    assert any(a.feature2 is not None for op in imported.operations for a in op.angles)
    rng = np.random.default_rng(5)
    weights = {"weights": rng.uniform(0, 2 * np.pi, (1, 3, 3))}
    x = rng.uniform(-1, 1, 3)
    value, jac = _pennylane_value_and_jacobian(circuit, x, weights, shapes)
    theta = jnp.asarray(flatten_weights(weights, shapes))
    np.testing.assert_allclose(expectations(imported, theta, jnp.asarray(x)), value, atol=ATOL)
    np.testing.assert_allclose(jax.jacobian(expectations, argnums=1)(imported, theta, jnp.asarray(x)), jac, atol=ATOL)
