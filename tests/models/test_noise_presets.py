"""Device-noise presets: the NISQ preset's T1/T2 relaxation, gate errors, readout, and bad input."""

import math

import numpy as np
import pytest

from dpqml.models import apply_noise, build_model, parse_noise
from dpqml.models.noise import NISQ_DEFAULTS, relaxation
from dpqml.quantum import Angle, Circuit, Operation, Z, expectations, pauli


def _idle(n_ops: int, preset: str) -> Circuit:
    # |+> then n_ops identity-like gates (RZ(0)): only the noise acts, so <X> and <Z> follow T1/T2
    ops = [Operation("H", (0,))] + [Operation("RZ", (0,), (Angle(offset=0.0),)) for _ in range(n_ops)]
    return apply_noise(Circuit(1, ops, [pauli("X", (0,)), Z(0)]), preset)


def test_relaxation_gives_t1_population_and_t2_coherence_decay():
    # Over time t: populations relax as exp(-t/T1) and coherences decay as exp(-t/T2) (hand formulas).
    t1, t2, t = 100.0, 80.0, 7.0
    gamma, lam = relaxation(t, t1, t2)
    assert gamma == pytest.approx(1 - math.exp(-t / t1))
    # coherence factor of amplitude damping sqrt(1-γ) times that of phase damping sqrt(1-λ)
    assert math.sqrt(1 - gamma) * math.sqrt(1 - lam) == pytest.approx(math.exp(-t / t2))
    # T2 = 2 T1: no pure dephasing
    assert relaxation(t, 50.0, 100.0)[1] == pytest.approx(0.0, abs=1e-15)


def test_nisq_idle_qubit_decays_as_t1_and_t2():
    # No gate error, no readout error: k gates of duration t1q leave <X> = exp(-k t/T2) and
    # <Z> = 1 - 2 p1 with the excited population p1 = 0.5 exp(-k t/T1) of |+>.
    k, t = 6, 2.0
    preset = f"nisq:t1=30,t2=20,t1q={t},p1=0,p2=0,readout=0"
    c = _idle(k, preset)
    rho_x, rho_z = np.asarray(expectations(c, np.zeros(0), np.zeros(0)))
    # H itself is a gate too: k + 1 gate durations
    total = (k + 1) * t
    assert rho_x == pytest.approx(math.exp(-total / 20), rel=1e-6)
    assert rho_z == pytest.approx(1 - 2 * 0.5 * math.exp(-total / 30), rel=1e-6)


def test_nisq_two_qubit_gates_get_the_larger_error_and_readout_flips():
    c = Circuit(2, [Operation("RY", (0,), (Angle(offset=0.3),)), Operation("CNOT", (0, 1))], [Z(0)])
    noisy = apply_noise(c, "nisq")
    deps = [op for op in noisy.operations if op.name == "Depolarizing"]
    assert sorted(op.prob for op in deps) == [NISQ_DEFAULTS["p1"], NISQ_DEFAULTS["p2"], NISQ_DEFAULTS["p2"]]
    assert noisy.readout_errors == {0: NISQ_DEFAULTS["readout"], 1: NISQ_DEFAULTS["readout"]}
    amp = sorted(op.prob for op in noisy.operations if op.name == "AmplitudeDamping")
    assert amp == pytest.approx(sorted([1 - math.exp(-0.05 / 100)] + [1 - math.exp(-0.3 / 100)] * 2))


def test_nisq_without_errors_is_ideal_and_with_them_is_not():
    import jax

    ideal = build_model(qubits=3, layers=2)
    clean = build_model(qubits=3, layers=2, noise="nisq:t1=1e12,t2=1e12,p1=0,p2=0,readout=0")
    nisq = build_model(qubits=3, layers=2, noise="nisq:t1=20,t2=15")
    p = ideal.init(jax.random.PRNGKey(1), jax.numpy.float64)
    x = np.array([0.4, 1.1, 2.0])
    f_ideal = float(ideal.expectations(p, x)[0])
    assert float(clean.expectations(p, x)[0]) == pytest.approx(f_ideal, abs=1e-9)
    assert abs(float(nisq.expectations(p, x)[0]) - f_ideal) > 1e-3
    assert parse_noise("ideal") == []


@pytest.mark.parametrize("spec, needle", [
    ("nisq:t1=10,t2=30", "T2 must be <= 2*T1"),
    ("nisq:t1=-1", "t1 must be a time > 0"),
    ("nisq:p2=1.5", "p2 must be a probability in [0, 1]"),
    ("nisq:readout=-0.1", "readout must be a probability in [0, 1]"),
    ("nisq:t3=5", "is not key=value with a key in"),
    ("nisq:t1=fast", "t1 must be a number"),
])
def test_nisq_bad_parameters_are_refused(spec, needle):
    with pytest.raises(ValueError, match=needle.replace("*", r"\*").replace("[", r"\[").replace("]", r"\]")):
        parse_noise(spec)
