"""Soundness of gradient_bound on noiseless models: no per-example gradient norm, over random
inputs in the domain, labels and parameters, exceeds G (every encoding, ansatz, readout and
head)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpqml.bounds import gradient_bound
from dpqml.models import build_model

from .helpers import model_and_norms, random_batch, random_params

X = float(np.pi)
CONFIGS = [
    {"qubits": 2, "layers": 2, "encoding": "angle-x"},
    {"qubits": 3, "layers": 2, "encoding": "angle-y", "readout": "z"},
    {"qubits": 2, "layers": 2, "encoding": "angle-z", "readout": "parity"},
    {"qubits": 2, "layers": 2, "encoding": "amplitude", "readout": "pauli:XZ"},
    {"qubits": 3, "layers": 2, "ansatz": "strongly-entangling", "readout": "pauli:XZY+ZZI"},
    {"qubits": 2, "layers": 2, "ansatz": "reuploading"},
    {"qubits": 3, "layers": 1, "n_classes": 3},
    {"qubits": 3, "layers": 2, "ansatz": "reuploading", "n_classes": 3, "readout": "z"},
]


@pytest.mark.parametrize("i", range(len(CONFIGS)))
@given(seed=st.integers(0, 2**31 - 1))
def test_parameter_free_bound_holds(i, seed):
    model, norms = model_and_norms(**CONFIGS[i])
    rng = np.random.default_rng(seed)
    G = gradient_bound(model, feature_bound=X)
    assert G.parameter_free and G.head_scale == 1.0
    x, y = random_batch(model, rng, 16, X)
    observed = np.asarray(norms(random_params(model, rng, a_max=1.0), x, y))
    assert np.all(observed <= G.total * (1 + 1e-9)), (observed.max(), G.total)


@pytest.mark.parametrize("i", range(len(CONFIGS)))
@given(seed=st.integers(0, 2**31 - 1))
def test_bound_at_given_params_holds_for_large_head_scale(i, seed):
    model, norms = model_and_norms(**CONFIGS[i])
    rng = np.random.default_rng(seed)
    params = random_params(model, rng, a_max=5.0)
    G = gradient_bound(model, feature_bound=X, params=params)
    assert not G.parameter_free
    x, y = random_batch(model, rng, 16, X)
    assert np.all(np.asarray(norms(params, x, y)) <= G.total * (1 + 1e-9))


@given(st.integers(0, 2**31 - 1))
def test_squared_loss_bound_holds(seed):
    model, norms = model_and_norms(loss="squared", qubits=2, layers=2, readout="z")
    rng = np.random.default_rng(seed)
    params = random_params(model, rng, a_max=3.0)
    G = gradient_bound(model, params=params, loss="squared")
    x, y = random_batch(model, rng, 16, X)
    assert np.all(np.asarray(norms(params, x, y)) <= G.total * (1 + 1e-9))


def test_refinements_never_loosen_the_naive_bound():
    for flags in CONFIGS:
        model = build_model(**flags)
        assert gradient_bound(model, feature_bound=X).total <= gradient_bound(
            model, feature_bound=X, refine=False).total + 1e-12


def test_standard_model_by_hand():
    # n = 2, L = 1: Z_0 pulled back through CNOT(1,0), CNOT(0,1) is Z_1, so only RY(θ2) on
    # wire 1 moves <Z_0> (|∂| ≤ 1); head: |∂ℓ/∂a| ≤ |<Z_0>| ≤ 1, |∂ℓ/∂b| ≤ 1
    # jointly: RY(θ2) acts on a product state, so (∂ℓ/∂θ2)² + (∂ℓ/∂a)² ≤ <Z'^2> ≤ 1 (the joint rule),
    # plus (∂ℓ/∂b)² ≤ 1: G = √2, the norm gradient ascent reaches (docs/bounds.md, tightness table)
    G = gradient_bound(build_model(qubits=2, layers=1))
    assert G.groups == pytest.approx({"theta": 1.0, "head": np.sqrt(2)})
    assert G.total == pytest.approx(np.sqrt(2)) and G.meta["joint_head"]
    assert gradient_bound(build_model(qubits=2, layers=1), refine=False).total > np.sqrt(3)


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="feature_bound is required"):
        gradient_bound(build_model(qubits=2, layers=1, ansatz="reuploading"))
    with pytest.raises(ValueError, match="params are required"):
        gradient_bound(build_model(qubits=2, layers=1), loss="squared")
    with pytest.raises(ValueError, match="needs a multiclass model"):
        gradient_bound(build_model(qubits=2, layers=1), loss="cross-entropy")
    with pytest.raises(ValueError, match="feature_bound must be"):
        gradient_bound(build_model(qubits=2, layers=1), feature_bound=float("inf"))
