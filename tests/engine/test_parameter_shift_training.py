"""Finite-shot parameter-shift gradients (``dpqml.engine.parameter_shift``) against exact gradients.

The reference is ``jax.jacobian`` / ``jax.grad`` of the exact simulation (state vector, or density
matrix with noise), which the tests in ``tests/quantum`` check against PennyLane.

Standard errors, derived by hand. A Pauli term ``P_t`` with coefficient ``c_t`` is estimated from
``S`` shots as ``c_t (2k/S - 1)``, of variance ``c_t² (1 - m_t²)/S <= c_t²/S``; terms and circuit
evaluations draw independent samples. The estimate of ``∂<O>/∂θ_i`` is
``Σ_j (∂a_j/∂θ_i) Σ_r c_r f̂(a + s_r e_j)`` over the angle occurrences ``j`` of ``θ_i``, so its variance
is at most ``(Σ_t c_t² / S) · Σ_j (∂a_j/∂θ_i)² Σ_r c_r²``, where ``Σ_r c_r² = 1/2`` for the two-term
rule (shifts ±π/2, coefficients ±1/2) and ``2(c₊² + c₋²) = 3/8`` for the four-term rule of controlled
rotations (``c± = (√2 ± 1)/(4√2)``). ``∂a/∂θ_w = 1`` for an angle's offset weight and ``scale·x_f``
for its feature weight.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.engine import make_parameter_shift_grads, parameter_shift_jacobian, shift_plan
from dpqml.engine.parameter_shift import shot_loss
from dpqml.models import build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Z, expectations, identity

THETA = jnp.array([0.7, -0.4, 1.1, 0.5, -1.3, 0.9])
XVAL = jnp.array([0.6, -1.2])
RULE_SQUARES = {"RY": 0.5, "RX": 0.5, "Rot": 0.5, "PauliRot": 0.5, "CRY": 3 / 8}


def shift_test_circuit(noisy: bool) -> Circuit:
    """θ0·x0 + θ1 a trainable encoding; θ2 used by two gates; θ3 in a controlled rotation (four-term
    rule); θ4 in a Rot; θ5 in a two-qubit Pauli rotation next to a feature term."""
    ops = [
        Operation("RY", (0,), (Angle(feature=0, feature_weight=0, weight=1, scale=0.8),)),
        Operation("RX", (1,), (Angle(weight=2),)),
        Operation("CNOT", (0, 1)),
        Operation("CRY", (1, 0), (Angle(weight=3, offset=0.3),)),
        Operation("Rot", (1,), (Angle(weight=2), Angle(feature=1), Angle(weight=4))),
        Operation("PauliRot", (0, 1), (Angle(weight=5, feature=1, scale=-0.5),), pauli="XY"),
        Operation("H", (0,)),
    ]
    if noisy:
        ops.insert(3, Operation("Depolarizing", (0,), prob=0.1))
        ops.insert(6, Operation("AmplitudeDamping", (1,), prob=0.2))
        ops.append(Operation("Depolarizing", (1,), prob=0.05))
        ops.append(Operation("ReadoutError", (0,), prob=0.05))
    observables = [Z(0), 0.5 * X(1) - 0.3 * Z(0) @ Z(1) + 0.2 * identity()]
    return Circuit(2, ops, observables, n_params=6, n_features=2)


CIRCUITS = {"noiseless": shift_test_circuit(False), "depolarizing": shift_test_circuit(True)}


def sd_bound(circuit: Circuit, x, shots: int) -> np.ndarray:
    """Upper bound on the standard deviation of each entry of one Jacobian estimate, ``(n_obs, n_params)``
    (module docstring), from the circuit description alone."""
    d2 = np.zeros(circuit.n_params)
    for op in circuit.operations:
        for a in op.angles:
            if a.weight is not None:
                d2[a.weight] += RULE_SQUARES[op.name]
            if a.feature_weight is not None:
                d2[a.feature_weight] += (a.scale * float(x[a.feature])) ** 2 * RULE_SQUARES[op.name]
    var_obs = np.array([sum(c**2 for c, p in o.terms if p.factors) for o in circuit.observables]) / shots
    return np.sqrt(var_obs[:, None] * d2[None, :])


@functools.cache
def estimator(name: str, shots: int):
    """Jitted ``keys (K, 2) -> (values (K, n_obs), jacobians (K, n_obs, n_params))``."""
    circuit = CIRCUITS[name]
    one = functools.partial(parameter_shift_jacobian, circuit, THETA, XVAL, shots=shots)
    return jax.jit(jax.vmap(lambda k: one(key=k)))


def exact(name: str):
    circuit = CIRCUITS[name]

    def both(theta):
        return expectations(circuit, theta, XVAL), jax.jacobian(lambda t: expectations(circuit, t, XVAL))(theta)

    return tuple(np.asarray(v) for v in jax.jit(both)(THETA))


def test_the_plan_shifts_every_occurrence_with_its_rule():
    plan = shift_plan(CIRCUITS["noiseless"])
    assert [(o.gate, o.rule) for o in plan.occurrences] == [
        ("RY", "two-term"), ("RX", "two-term"), ("CRY", "four-term"), ("Rot", "two-term"), ("Rot", "two-term"),
        ("PauliRot", "two-term")]
    assert plan.n_evaluations == 1 + 5 * 2 + 4
    assert plan.measurement_settings == 3  # Z0; X1 and Z0Z1 (the identity is not measured)


def test_the_estimator_is_unbiased_with_noise_channels():
    """(b), (c): with depolarizing and amplitude-damping channels and a readout error, over 1000
    independent keys at 50 shots, the mean Jacobian is the exact density-matrix one within 5 standard
    errors, and the spread is that of a finite-shot estimate (not zero, within the bound).

    The Jacobian estimate is linear in binomial counts, so the mean of K independent S-shot estimates
    has the law of one K·S-shot estimate: this is also the convergence at 50 000 shots. (The noiseless
    path is checked at the model level below; the shift rules do not depend on the noise.)
    """
    name, shots, n = "depolarizing", 50, 1000
    keys = jax.random.split(jax.random.PRNGKey(3), n)
    values, jac = (np.asarray(v) for v in estimator(name, shots)(keys))
    f, J = exact(name)
    sd = sd_bound(CIRCUITS[name], XVAL, shots)
    se = sd / np.sqrt(n)
    assert np.abs(J).max() > 20 * se.max()  # the comparison is not vacuous
    assert np.all(np.abs(jac.mean(axis=0) - J) <= 5 * se), (jac.mean(axis=0) - J) / se
    assert np.all(jac.std(axis=0) <= 1.1 * sd) and np.all(jac.std(axis=0)[J != 0] > 0.05 * sd[J != 0])
    sd_f = np.sqrt([sum(c**2 for c, p in o.terms if p.factors) / shots for o in CIRCUITS[name].observables])
    assert np.all(np.abs(values.mean(axis=0) - f) <= 5 * sd_f / np.sqrt(n))
    # a key reproduces its estimate; other keys give other estimates
    again = np.asarray(estimator(name, shots)(keys)[1])
    np.testing.assert_array_equal(again, jac)
    assert np.any(jac[0] != jac[2])


def model_sd_bound(model, a: float, f: float, J, shots: int) -> dict:
    """Upper bound on the standard deviation of each entry of one per-example loss gradient of the
    binary logistic model ``ℓ(a·f + b)`` with one observable of norm 1 and no pre layers, at exact
    circuit value ``f`` and Jacobian ``J`` (``(n_params,)``).

    With ``ℓ' = ∂ℓ/∂logit`` (|ℓ'| <= 1, |ℓ''| <= 1/4) and ``sd(f̂) <= 1/√S``: ``∂ℓ/∂θ_i = ℓ'(a f̂ + b) a Ĵ_i``
    moves by at most ``|a| sd(Ĵ_i) + |a|² |J_i| sd(f̂)/4`` (first order; ``sd(Ĵ_i) <= √(m_i/(2S))`` for
    ``θ_i`` in ``m_i`` Pauli rotations); ``∂ℓ/∂b = ℓ'`` by ``|a| sd(f̂)/4``; ``∂ℓ/∂a = ℓ' f̂`` by
    ``(1 + |a f|/4) sd(f̂)``.
    """
    uses = model.circuit.angle_uses()
    m = np.array([uses.get(i, 0) for i in range(model.circuit.n_params)])
    s_f = 1 / np.sqrt(shots)
    return {"theta": abs(a) * np.sqrt(m / (2 * shots)) + a**2 * np.abs(np.asarray(J)) * s_f / 4,
            "head": {"a": (1 + abs(a * f) / 4) * s_f, "b": abs(a) * s_f / 4}}


def test_many_shots_converge_to_the_exact_loss_gradients_of_a_noisy_model():
    """(a), (c): per-example loss gradients of a model with depolarizing noise at 10^6 shots lie within
    5 (bounded) standard deviations of ``jax.grad`` of the exact density-matrix model."""
    shots = 10**6
    model = build_model(qubits=2, layers=1, noise="depolarizing:0.05")
    assert model.circuit.is_noisy
    params = model.init(jax.random.PRNGKey(2), jnp.float64)
    params["head"] = {"a": jnp.array(2.0), "b": jnp.array(-0.3)}
    x = jnp.array([[0.4, 2.1], [1.3, 0.2]])
    y = jnp.array([1, 0])
    losses, g = make_parameter_shift_grads(model, shots)(params, x, y, jax.random.PRNGKey(5))

    @jax.jit
    def reference(params):
        def circuit(theta, xi):
            return model.expectations({**params, "theta": theta}, xi)[0]

        value_and_grads = jax.vmap(jax.value_and_grad(model.loss), in_axes=(None, 0, 0))(params, x, y)
        f = jax.vmap(circuit, in_axes=(None, 0))(params["theta"], x)
        J = jax.vmap(jax.grad(circuit), in_axes=(None, 0))(params["theta"], x)
        return value_and_grads, f, J

    (ref_losses, ref), f, J = reference(params)
    for i in range(2):
        sd = model_sd_bound(model, 2.0, float(f[i]), J[i], shots)
        for got, want, s in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(ref),
                                jax.tree_util.tree_leaves(sd), strict=True):
            assert np.all(np.abs(np.asarray(got)[i] - np.asarray(want)[i]) <= 5 * np.asarray(s) + 1e-12)
        assert np.abs(np.asarray(ref["theta"][i])).max() > 50 * sd["theta"].max()  # not vacuous
    np.testing.assert_allclose(losses, ref_losses, atol=5 * 2.0 / np.sqrt(shots))  # |∂ℓ/∂f| <= |a| = 2


def test_model_gradients_use_shot_estimates_forward_and_shifted():
    """The squared loss gives unbiased circuit and offset gradients (∂ℓ/∂f is affine in f, and f̂ is
    independent of the shifted estimates), while ∂ℓ/∂a = (a f̂ + b - t) f̂ has mean exact + a·Var(f̂),
    Var(f̂) = (1 - <Z0>²)/S: the forward value comes from shots too, as on hardware. The batch is
    one example under 2000 independent keys (a batch of 2000 copies would draw the same samples 2000
    times: an example's draws follow its content, engine/sampled.py); standard errors are the sample
    standard deviations over √2000. Trainable encodings and pre layers ride along: a
    re-uploading model after a classical pre layer."""
    shots, n = 5, 2000
    model = build_model(qubits=2, layers=1, ansatz="reuploading", pre=(3,), input_dim=3)
    plan = shift_plan(model.circuit, trainable_features=True)
    assert len(plan.occurrences) == 2 + 4  # two trainable-encoding angles, four ansatz angles
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    params["head"] = {"a": jnp.array(1.5), "b": jnp.array(0.2)}
    x1, y1 = jnp.array([-0.5, 0.2, 0.9]), 1
    loss_fn = shot_loss(model, shots, "squared")
    keys = jax.random.split(jax.random.PRNGKey(11), n)
    losses, g = jax.jit(jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, None, None, 0)))(params, x1, y1, keys)
    m, ref = jax.jit(lambda p: (model.expectations(p, x1)[0], jax.grad(model.loss)(p, x1, y1, "squared")))(params)
    m = float(m)
    assert abs(m) < 0.8  # the variance of f̂ is not negligible

    def check_mean(samples, expected):
        samples = np.asarray(samples)
        se = samples.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(samples.mean(axis=0) - expected) <= 5 * se + 1e-12), (samples.mean(axis=0), expected)
        return se

    for got, want in zip(jax.tree_util.tree_leaves(g["pre"]) + [g["theta"], g["head"]["b"]],
                         jax.tree_util.tree_leaves(ref["pre"]) + [ref["theta"], ref["head"]["b"]], strict=True):
        check_mean(got, np.asarray(want))
    bias = 1.5 * (1 - m**2) / shots
    se = check_mean(g["head"]["a"], float(ref["head"]["a"]) + bias)
    assert bias > 10 * se  # the bias is there: the head saw the shot estimate, not the exact value
    assert losses.shape == (n,) and np.std(np.asarray(losses)) > 0


@pytest.mark.parametrize("spec", [dict(qubits=3, layers=2, noise="nisq"),
                                  dict(qubits=2, layers=2, ansatz="reuploading"),
                                  dict(qubits=3, layers=1, ansatz="strongly-entangling")])
def test_the_exact_shift_rule_equals_the_autodiff_jacobian(spec):
    # shots=None: every shifted circuit's exact value, the rule's infinite-shot limit
    circuit = build_model(**spec).circuit
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params))
    x = jnp.asarray(rng.uniform(0, 1, circuit.n_features))
    values, jac = parameter_shift_jacobian(circuit, theta, x, shots=None)
    np.testing.assert_allclose(values, expectations(circuit, theta, x), atol=1e-12)
    np.testing.assert_allclose(jac, jax.jacobian(expectations, argnums=1)(circuit, theta, x), atol=1e-12)
    with pytest.raises(ValueError, match="with shots needs key"):
        parameter_shift_jacobian(circuit, theta, x, shots=10)
