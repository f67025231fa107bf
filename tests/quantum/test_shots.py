"""Finite-shot estimates: ``sample_expectations``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.quantum import (
    Angle,
    Circuit,
    Operation,
    X,
    Y,
    Z,
    expectations,
    identity,
    pauli,
    probabilities,
    sample_expectations,
)

SHOTS = 200
N_KEYS = 400


def shot_circuit(noisy: bool = False, readout: bool = False) -> Circuit:
    ops = [
        Operation("RY", (0,), (Angle(weight=0),)),
        Operation("RX", (1,), (Angle(feature=0, feature_weight=1),)),
        Operation("CNOT", (0, 2)),
        Operation("Rot", (2,), (Angle(weight=2), Angle(offset=0.9), Angle(weight=3))),
        Operation("CRY", (1, 0), (Angle(offset=1.1),)),
    ]
    if noisy:
        ops += [Operation("Depolarizing", (0,), prob=0.1), Operation("AmplitudeDamping", (2,), prob=0.3)]
    if readout:
        ops += [Operation("ReadoutError", (0,), prob=0.1), Operation("ReadoutError", (2,), prob=0.2)]
    observables = [
        Z(0),
        X(2),
        pauli("XYZ", (0, 1, 2)),
        0.5 * Z(0) @ Z(2) - 1.5 * Y(1) + 0.3 * X(0) + 0.25 * identity(),
    ]
    return Circuit(3, ops, observables, n_params=4, n_features=1)


CIRCUITS = {
    "noiseless": shot_circuit(),
    "noisy-readout": shot_circuit(noisy=True, readout=True),
}
THETA = jnp.array([0.4, -0.7, 1.2, 0.3])
XVAL = jnp.array([0.8])


def term_table(circuit: Circuit):
    """The Pauli terms of all observables as ``(observable index, coefficient)`` and a circuit
    measuring each term on its own (coefficient 1; readout errors included)."""
    terms = [(k, c, p) for k, obs in enumerate(circuit.observables) for c, p in obs.terms]
    observables = [pauli(p.word, p.wires) if p.factors else identity() for _, _, p in terms]
    per_term = Circuit(
        circuit.n_qubits, circuit.operations, observables, circuit.n_params, circuit.n_features
    )
    return [(k, c) for k, c, _ in terms], per_term


@functools.cache
def sampler(name: str):
    """``keys -> (estimates (n_keys, n_obs), exact values, exact term values, probabilities)``,
    jitted once per circuit."""
    circuit = CIRCUITS[name]
    _, per_term = term_table(circuit)

    def run(keys):
        one = functools.partial(sample_expectations, circuit, THETA, XVAL, shots=SHOTS)
        samples = jax.vmap(lambda key: one(key=key))(keys)
        exact = expectations(circuit, THETA, XVAL)
        return samples, exact, expectations(per_term, THETA, XVAL), probabilities(circuit, THETA, XVAL)

    return jax.jit(run)


def keys(n: int, seed: int = 0):
    return jax.random.split(jax.random.PRNGKey(seed), n)


def standard_errors(circuit: Circuit, term_values) -> np.ndarray:
    """Standard deviation of one estimate per observable.

    Term t (coefficient c_t, exact measured value m_t with the readout factor folded in) is
    estimated independently from ``SHOTS`` ±1 outcomes: variance ``c_t^2 (1 - m_t^2) / SHOTS``.
    """
    table, _ = term_table(circuit)
    var = np.zeros(len(circuit.observables))
    for (k, c), m in zip(table, np.asarray(term_values), strict=True):
        var[k] += c**2 * (1.0 - m**2) / SHOTS
    return np.sqrt(var)


def test_same_key_reproduces_and_different_keys_differ():
    circuit = CIRCUITS["noiseless"]
    ks = keys(N_KEYS, seed=2).at[1].set(jax.random.PRNGKey(3)).at[2].set(jax.random.PRNGKey(3))
    a = np.asarray(sampler("noiseless")(ks)[0])
    b = np.asarray(sampler("noiseless")(ks)[0])  # a second call
    assert a.shape == (N_KEYS, len(circuit.observables))
    np.testing.assert_array_equal(a, b)  # same keys, same estimates
    np.testing.assert_array_equal(a[1], a[2])
    assert np.any(a[0] != a[1]) and np.any(a[0] != a[3])  # other keys, other estimates


@pytest.mark.parametrize("name", CIRCUITS)
def test_mean_over_keys_is_within_five_standard_errors(name):
    circuit = CIRCUITS[name]
    samples, exact, term_values, _ = sampler(name)(keys(N_KEYS))
    samples, exact = np.asarray(samples), np.asarray(exact)
    assert samples.shape == (N_KEYS, len(circuit.observables))
    sd = standard_errors(circuit, term_values)
    se = sd / np.sqrt(N_KEYS)
    assert np.all(np.abs(samples.mean(axis=0) - exact) <= 5 * se + 1e-12), (samples.mean(axis=0), exact, se)
    # the spread over keys is that of a SHOTS-shot estimate (not 0, not something else)
    np.testing.assert_allclose(samples.std(axis=0), sd, rtol=0.2)
    # every estimate lies within the norm bound of its observable
    bounds = np.array([o.norm_bound() for o in circuit.observables])
    assert np.all(np.abs(samples) <= bounds + 1e-12)
    # single ±1 Pauli observables: estimates are on the grid 2k/SHOTS - 1
    k = (samples[:, :3] + 1.0) * SHOTS / 2.0
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)


def test_readout_error_shifts_the_sampled_mean():
    """<Z0> is read out with flip probability 0.1: exact value and sampled mean are 0.8 times the
    <Z0> of the final state (from ``probabilities``, which excludes readout errors)."""
    samples, exact, _, probs = sampler("noisy-readout")(keys(N_KEYS, seed=1))
    z0 = float(np.sum(np.asarray(probs).reshape(2, 4) * np.array([[1.0], [-1.0]])))
    assert abs(z0) > 0.1  # the factor 0.8 is visible
    np.testing.assert_allclose(exact[0], 0.8 * z0, atol=1e-12)
    assert abs(np.asarray(samples)[:, 0].mean() - 0.8 * z0) <= 5 / np.sqrt(SHOTS * N_KEYS)


@pytest.mark.parametrize("shots", [0, -1, 2.5, True, "100", None])
def test_bad_shots_raise_value_error(shots):
    with pytest.raises(ValueError, match="shots"):
        sample_expectations(CIRCUITS["noiseless"], THETA, XVAL, shots=shots, key=jax.random.PRNGKey(0))


def test_numpy_integer_shots_are_accepted():
    fn = functools.partial(sample_expectations, CIRCUITS["noiseless"], shots=np.int64(10))
    out = jax.eval_shape(fn, THETA, XVAL, key=jax.random.PRNGKey(0))
    assert out.shape == (len(CIRCUITS["noiseless"].observables),)
