"""parameter_bound(relaxation="sos"): the null family leaves every quartic form unchanged, so any
matrix of it bounds the same supremum; the searched bound is below the pairings' bound, above
what ascent over the inputs finds, and refused in words where the encoded states are complex."""

import jax
import numpy as np
import pytest

from dpqml.bounds import parametric as P
from dpqml.bounds.parametric import parameter_bound
from dpqml.bounds.search import largest_gradient_norm_at
from dpqml.models import build_model
from dpqml.models.paper import PaperQuantumModel

from .helpers import random_params


def _lift(psi):
    ia, ib, _ = P._symmetric_pairs(len(psi))
    return np.where(ia == ib, 1.0, np.sqrt(2.0)) * psi[ia] * psi[ib]  # ψ ⊗ ψ in the symmetric basis


def test_the_null_family_has_the_zero_quartic_form_and_is_the_tensor_projection():
    d = 5
    ia, ib, c = P._symmetric_pairs(d)
    rng = np.random.default_rng(0)
    y = rng.normal(size=(len(ia), len(ia)))
    null = P._null(y, P._null_maps(d))
    for _ in range(5):
        psi = rng.normal(size=d)
        assert abs(_lift(psi) @ null @ _lift(psi)) < 1e-12 * np.linalg.norm(psi) ** 4
    v = np.zeros((d * d, len(ia)))  # the same projection through the full 4-index tensor
    for r, (a, b, w) in enumerate(zip(ia, ib, c, strict=True)):
        v[a * d + b, r] += w
        v[b * d + a, r] += w
    sym = (y + y.T) / 2
    t = (v @ sym @ v.T).reshape(d, d, d, d)
    full = (t + np.einsum("abce->acbe", t) + np.einsum("abce->aebc", t)) / 3
    np.testing.assert_allclose(sym - null, v.T @ full.reshape(d * d, d * d) @ v, atol=1e-12)
    assert np.abs(null).max() > 0.1  # not the zero matrix


def test_the_searched_eigenvalue_is_below_the_bases_and_above_the_quartic_form():
    rng = np.random.default_rng(1)
    d = 4
    ia, ib, _ = P._symmetric_pairs(d)
    dx = rng.normal(size=(6, d, d))
    dx = dx + np.swapaxes(dx, 1, 2)
    base = P._pairings(np.zeros((d, d)), dx, 1.0, False, True, P._symmetric_pairs(d))[0]
    top = P._sos_tops(base[None], d)[0]
    assert top <= np.linalg.eigvalsh(base)[-1] + 1e-12
    quartic = [sum((psi @ m @ psi) ** 2 for m in dx) for psi in
               (v / np.linalg.norm(v) for v in rng.normal(size=(4000, d)))]
    assert max(quartic) <= top * (1 + 1e-9)
    assert max(quartic) >= 0.9 * top  # on 4 amplitudes random states come close


@pytest.mark.parametrize("flags", [
    {"qubits": 2, "layers": 2},
    {"qubits": 3, "layers": 1, "n_classes": 3, "readout": "z"},
    {"qubits": 2, "layers": 2, "noise": "depolarizing:0.05"},
])
def test_no_input_exceeds_the_sos_bound_and_it_is_the_tighter(flags):
    model = build_model(**flags)
    params = random_params(model, np.random.default_rng(2), a_max=1.5)
    tight = parameter_bound(model, params, relaxation="sos")
    assert tight.meta["relaxation"] == "sos"
    assert tight.total <= parameter_bound(model, params).total + 1e-12
    assert largest_gradient_norm_at(model, params, seed=0, starts=6, steps=100) <= tight.total


def test_the_papers_model_sos_bound_holds_against_ascent():
    model = PaperQuantumModel()
    params = model.init(jax.random.PRNGKey(1))
    tight = parameter_bound(model, params, relaxation="sos").total
    found = largest_gradient_norm_at(model, params, seed=0, starts=2, steps=80)
    assert found <= tight < parameter_bound(model, params).total
    assert found >= 0.7 * tight  # ascent comes close: a bound cut below the truth would show


def test_bad_relaxations_are_refused_in_words():
    model = build_model(qubits=2, layers=1)
    params = model.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="relaxation must be one of"):
        parameter_bound(model, params, relaxation="sdp")
    complex_model = build_model(qubits=2, layers=1, encoding="angle-x")
    with pytest.raises(ValueError, match="relaxation='sos' needs real encoded states"):
        parameter_bound(complex_model, complex_model.init(jax.random.PRNGKey(0)), relaxation="sos")
