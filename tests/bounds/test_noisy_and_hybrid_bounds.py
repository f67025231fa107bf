"""Soundness of gradient_bound on noisy models (every noise preset) and on hybrid models with
classical layers before or after the circuit (bounds at the given parameters)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpqml.bounds import gradient_bound
from dpqml.models import build_model

from .helpers import model_and_norms, random_batch, random_params

X = float(np.pi)
NOISY = [
    {"qubits": 2, "layers": 2, "noise": "depolarizing:0.05"},
    {"qubits": 2, "layers": 2, "noise": "amplitude-damping:0.2", "readout": "pauli:XZ"},
    {"qubits": 2, "layers": 1, "noise": "phase-damping:0.2+readout:0.1", "readout": "z"},
    {"qubits": 2, "layers": 1, "noise": "depolarizing:0.02+readout:0.05", "ansatz": "strongly-entangling"},
]
HYBRID = [
    {"qubits": 2, "layers": 1, "pre": (4,), "input_dim": 5},
    {"qubits": 2, "layers": 1, "post": (3,), "readout": "z"},
    {"qubits": 3, "layers": 1, "pre": (3,), "input_dim": 4, "post": (4,), "n_classes": 3, "readout": "z"},
]


@pytest.mark.parametrize("i", range(len(NOISY)))
@given(seed=st.integers(0, 2**31 - 1))
def test_noisy_models(i, seed):
    model, norms = model_and_norms(**NOISY[i])
    rng = np.random.default_rng(seed)
    G = gradient_bound(model)
    x, y = random_batch(model, rng, 8, X)
    assert np.all(np.asarray(norms(random_params(model, rng), x, y)) <= G.total * (1 + 1e-9))


def test_noise_tightens_the_bound():
    clean = gradient_bound(build_model(qubits=3, layers=2)).groups["theta"]
    for noise in ("depolarizing:0.05", "readout:0.1"):
        assert gradient_bound(build_model(qubits=3, layers=2, noise=noise)).groups["theta"] < clean
    # phase damping leaves Z (and so Z strings pulled back through CNOTs) untouched
    assert gradient_bound(build_model(qubits=3, layers=2, noise="phase-damping:0.3")).groups["theta"] == clean


@pytest.mark.parametrize("i", range(len(HYBRID)))
@given(seed=st.integers(0, 2**31 - 1))
def test_hybrid_models_at_given_params(i, seed):
    model, norms = model_and_norms(**HYBRID[i])
    rng = np.random.default_rng(seed)
    params = random_params(model, rng, a_max=2.0)
    G = gradient_bound(model, feature_bound=X, params=params)
    assert not G.parameter_free
    assert ("pre" in G.groups) == bool(model.pre) and ("post" in G.groups) == bool(model.post)
    x, y = random_batch(model, rng, 8, X)
    assert np.all(np.asarray(norms(params, x, y)) <= G.total * (1 + 1e-9))


def test_hybrid_needs_params_and_feature_bound():
    model = build_model(**HYBRID[0])
    with pytest.raises(ValueError, match="params are required"):
        gradient_bound(model, feature_bound=X)
    params = random_params(model, np.random.default_rng(0))
    with pytest.raises(ValueError, match="feature_bound is required with 'pre'"):
        gradient_bound(model, params=params)
