"""Bad inputs fail early with a ``ValueError`` (or ``MemoryError``) that names what is wrong."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import unitary_group

from dpqml.quantum import (
    Angle,
    Circuit,
    Observable,
    Operation,
    X,
    Y,
    Z,
    all_names,
    check_memory,
    estimate_memory_bytes,
    expectations,
    pauli,
    sample_expectations,
    statevector,
)
from dpqml.quantum.observables import PauliString


def rx(wire=0, weight=0):
    return Operation("RX", (wire,), (Angle(weight=weight),))


# --------------------------------------------------------------------------------------------
# circuits and operations
@pytest.mark.parametrize("n", [0, -1, 2.0, "3", True, None])
def test_bad_n_qubits(n):
    with pytest.raises(ValueError, match="n_qubits"):
        Circuit(n, [], [Z(0)])


def test_numpy_integer_n_qubits_is_accepted():
    assert Circuit(np.int64(2), [], [Z(1)]).n_qubits == 2


@pytest.mark.parametrize("wires", [(2,), (-1,), (5,)])
def test_operation_wires_out_of_range(wires):
    with pytest.raises(ValueError, match=r"out of range.*n_qubits=2"):
        Circuit(2, [Operation("H", wires)], [Z(0)])


def test_two_qubit_gate_wire_out_of_range_is_named():
    with pytest.raises(ValueError, match=r"CNOT: wires \[3\] out of range"):
        Circuit(2, [Operation("CNOT", (0, 3))], [Z(0)])


@pytest.mark.parametrize("obs", [Z(2), X(0) @ Y(4), pauli("ZZ", (0, -1))])
def test_observable_wires_out_of_range(obs):
    with pytest.raises(ValueError, match=r"observable .* out of range"):
        Circuit(2, [rx()], [obs])


@pytest.mark.parametrize(
    ("name", "wires", "kwargs"),
    [
        ("CNOT", (1, 1), {}),
        ("SWAP", (0, 0), {}),
        ("CRX", (2, 2), {"angles": (Angle(weight=0),)}),
        ("PauliRot", (0, 1, 0), {"angles": (Angle(weight=0),), "pauli": "XYZ"}),
        ("Unitary", (1, 1), {"matrix": np.eye(4)}),
    ],
)
def test_duplicate_wires(name, wires, kwargs):
    with pytest.raises(ValueError, match="distinct"):
        Operation(name, wires, **kwargs)


def test_duplicate_wires_in_observables():
    with pytest.raises(ValueError, match="distinct"):
        pauli("XZ", (1, 1))
    with pytest.raises(ValueError, match="disjoint"):
        Z(0) @ X(0)


@pytest.mark.parametrize(
    ("name", "wires", "n_angles"),
    [
        ("RX", (0,), 0), ("RY", (0,), 2), ("Rot", (0,), 1), ("CRZ", (0, 1), 2), ("H", (0,), 1),
        ("CNOT", (0, 1), 1),
    ],
)
def test_wrong_number_of_angles(name, wires, n_angles):
    with pytest.raises(ValueError, match=rf"{name} takes \d angle\(s\); got {n_angles}"):
        Operation(name, wires, tuple(Angle(weight=i) for i in range(n_angles)))


@pytest.mark.parametrize(("name", "wires"), [("RX", (0, 1)), ("CNOT", (0,)), ("H", (0, 1, 2))])
def test_wrong_number_of_wires(name, wires):
    with pytest.raises(ValueError, match=rf"{name} acts on \d wire"):
        Operation(name, wires, (Angle(weight=0),) if name == "RX" else ())


def test_unknown_gate_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown operation name 'Toffoli'") as err:
        Operation("Toffoli", (0, 1, 2))
    for name in all_names():
        assert repr(name) in str(err.value)
    expected = {"H", "RX", "Rot", "CRZ", "SWAP", "PauliRot", "Unitary", "Depolarizing", "ReadoutError"}
    assert set(all_names()) >= expected


def test_plain_number_angles_are_refused_with_both_spellings_and_other_types_too():
    # a number could mean a constant or a trainable angle: the message shows how to say each
    for number in (0.5, 1, np.float32(0.25)):
        with pytest.raises(ValueError, match=r"RX: angle .* is a plain number; say what it is: "
                                             r"Angle\(offset=.*\) for a constant angle, or Angle\(weight=k\)"):
            Operation("RX", (0,), (number,))
    with pytest.raises(ValueError, match="Rot: angle 1 is a plain number"):
        Operation("Rot", (0,), (1, Angle(offset=0.25), Angle(weight=0)))
    assert Operation("RX", (0,), (Angle(offset=0.5),)).angles == (Angle(offset=0.5),)
    assert Operation("RX", (0,), Angle(weight=2)).angles == (Angle(weight=2),)  # one Angle, not in a tuple
    for bad in ("0.5", None, True, 1j, [0.5]):
        with pytest.raises(ValueError, match="RX: angles must be"):
            Operation("RX", (0,), (bad,))


def test_pennylane_names_positional_strengths_and_sums_of_observables():
    from dpqml.quantum import X, Y, Z
    from dpqml.quantum.gates import ALIASES

    assert Operation("Hadamard", (0,)).name == "H" and Operation("PauliX", (1,)).name == "X"
    assert Operation("DepolarizingChannel", (0,), prob=0.1).name == "Depolarizing"
    for alias, name in ALIASES.items():
        assert name in all_names() and alias not in all_names()
    # a channel's strength given positionally, as PennyLane takes it
    op = Operation("Depolarizing", (0,), 0.1)
    assert op.prob == 0.1 and op.angles == () and op.is_noise
    assert Operation("ReadoutError", (1,), 0.02).prob == 0.02
    with pytest.raises(ValueError, match=r"Depolarizing: prob must be a probability in \[0, 1\]; got 1.5"):
        Operation("Depolarizing", (0,), 1.5)
    with pytest.raises(ValueError, match="unknown operation name 'Toffoli'.*'Hadamard'"):
        Operation("Toffoli", (0, 1, 2))
    # sum() over observables, as over numbers
    total = sum(Z(k) for k in range(3))
    assert total == Z(0) + Z(1) + Z(2)
    assert sum([X(0), 2.0 * Y(1)]) == X(0) + 2.0 * Y(1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Operation("H", (0.7,)),
        lambda: Operation("CNOT", (0, 1.0)),
        lambda: Operation("H", (True,)),
        lambda: pauli("Z", (1.5,)),
        lambda: Observable.from_matrix(np.eye(2), (0.5,)),
    ],
    ids=["Operation", "CNOT-float", "bool", "pauli", "from_matrix"],
)
def test_non_integer_wires_are_rejected(make):
    with pytest.raises(ValueError, match="wires must be integers"):
        make()


def test_integer_wires_are_accepted():
    assert Operation("H", np.int64(2)).wires == (2,)
    assert Operation("CNOT", [np.int32(1), 0]).wires == (1, 0)
    assert pauli("XZ", np.array([3, 1])).wires == (1, 3)


@pytest.mark.parametrize("word", [None, "X", "XYZ", "XA", ""])
def test_bad_pauli_rot_word(word):
    wires = () if word == "" else (0, 1)
    with pytest.raises(ValueError, match="PauliRot"):
        Operation("PauliRot", wires, (Angle(weight=0),), pauli=word)


@pytest.mark.parametrize("name", ["Depolarizing", "AmplitudeDamping", "PhaseDamping", "BitFlip", "PhaseFlip",
                                  "ReadoutError"])
@pytest.mark.parametrize("prob", [-0.1, 1.5, float("nan"), float("inf"), None])
def test_bad_probabilities(name, prob):
    with pytest.raises(ValueError, match=rf"{name}: prob must be a probability in \[0, 1\]"):
        Operation(name, (0,), prob=prob)


@pytest.mark.parametrize("prob", [0.0, 1.0, 0.5])
def test_boundary_probabilities_are_accepted(prob):
    assert Operation("BitFlip", (0,), prob=prob).prob == prob


def test_non_unitary_matrix():
    with pytest.raises(ValueError, match="not unitary"):
        Operation("Unitary", (0,), matrix=np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="not unitary"):
        Operation("Unitary", (0, 1), matrix=2.0 * np.eye(4))
    with pytest.raises(ValueError, match=r"needs a \(4, 4\) matrix"):
        Operation("Unitary", (0, 1), matrix=np.eye(2))
    u = unitary_group.rvs(4, random_state=np.random.default_rng(0))
    assert Operation("Unitary", (0, 1), matrix=u).matrix.shape == (4, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"feature_weight": 1}, "feature_weight needs a feature"),
        ({"weight": -1}, "weight must be a non-negative integer"),
        ({"weight": 1.5}, "weight must be a non-negative integer"),
        ({"feature": -2}, "feature must be a non-negative integer"),
        ({"scale": float("nan"), "feature": 0}, "scale and Angle.offset must be finite"),
        ({"offset": float("inf")}, "finite"),
    ],
)
def test_bad_angles(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Angle(**kwargs)


def test_declared_sizes_must_cover_what_the_operations_use():
    ops = [Operation("RX", (0,), (Angle(weight=3, feature=2),))]
    with pytest.raises(ValueError, match="n_params=2"):
        Circuit(1, ops, [Z(0)], n_params=2)
    with pytest.raises(ValueError, match="n_features=1"):
        Circuit(1, ops, [Z(0)], n_features=1)
    with pytest.raises(ValueError, match="amplitude encoding holds at most"):
        Circuit(2, [], [Z(0)], n_features=5, state_prep="amplitude")
    with pytest.raises(ValueError, match="state_prep"):
        Circuit(2, [], [Z(0)], state_prep="basis")
    with pytest.raises(ValueError, match="at least one observable"):
        Circuit(2, [], [])
    with pytest.raises(ValueError, match="observables must be dpqml.quantum.Observable"):
        Circuit(2, [], [np.diag([1.0, -1.0])])


# --------------------------------------------------------------------------------------------
# observables
def test_from_matrix_rejects_non_hermitian():
    with pytest.raises(ValueError, match="not Hermitian"):
        Observable.from_matrix(np.array([[0.0, 1.0], [0.0, 0.0]]), (0,))
    with pytest.raises(ValueError, match="not Hermitian"):
        Observable.from_matrix(np.array([[1.0, 0.0], [0.0, 1j]]), (3,))
    with pytest.raises(ValueError, match=r"shape \(4, 4\) for 2 wires"):
        Observable.from_matrix(np.eye(2), (0, 1))


def test_from_matrix_rejects_slightly_non_hermitian_as_documented():
    """The docstring promises a ValueError once ||M - M^H|| > 1e-10 (no relative tolerance)."""
    m = np.array([[0.0, 1.0 + 1e-6], [1.0, 0.0]])
    with pytest.raises(ValueError, match="not Hermitian"):
        Observable.from_matrix(m, (0,))
    ok = np.array([[0.0, 1.0 + 1e-12], [1.0, 0.0]])  # within 1e-10: accepted (as its Hermitian part)
    np.testing.assert_allclose(Observable.from_matrix(ok, (0,)).matrix(1), [[0, 1], [1, 0]], atol=1e-11)


def test_from_matrix_rejects_duplicate_wires():
    with pytest.raises(ValueError, match="distinct"):
        Observable.from_matrix(np.kron(np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])), (0, 0))


@pytest.mark.parametrize("scalar", [1j, 2 + 1j, np.complex128(0.5j)])
def test_complex_scaling_of_observables_is_rejected(scalar):
    with pytest.raises(ValueError, match="real numbers"):
        scalar * Z(0)
    with pytest.raises(ValueError, match="real numbers"):
        Z(0) * scalar


def test_complex_coefficients_are_rejected():
    with pytest.raises(ValueError, match="coefficients must be real"):
        Observable(((1j, PauliString(((0, "Z"),))),))
    with pytest.raises(ValueError, match="finite"):
        Observable(((float("nan"), PauliString(((0, "Z"),))),))


def test_complex_scalar_with_zero_imaginary_part_is_real():
    assert (complex(2.0, 0.0) * Z(0)).terms == (2.0 * Z(0)).terms


def test_bad_pauli_words():
    with pytest.raises(ValueError, match="letters must be in 'IXYZ'"):
        pauli("XQ", (0, 1))
    with pytest.raises(ValueError, match="has 2 letters but 3 wires"):
        pauli("XZ", (0, 1, 2))


def test_from_matrix_round_trips_a_random_hermitian_matrix():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    h = a + a.conj().T
    obs = Observable.from_matrix(h, (0, 1))
    np.testing.assert_allclose(obs.matrix(2), h, atol=1e-12)
    assert all(isinstance(c, float) for c, _ in obs.terms)
    assert len(obs.terms) == 16  # a generic Hermitian matrix uses all 16 Pauli strings
    # wire order: the matrix's first tensor factor acts on the first listed wire
    swapped = Observable.from_matrix(h, (1, 0)).matrix(2)
    perm = np.array([0, 2, 1, 3])
    np.testing.assert_allclose(swapped, h[np.ix_(perm, perm)], atol=1e-12)
    # embedded in a bigger register (wires 2 and 0 of 3)
    big = Observable.from_matrix(h, (2, 0)).matrix(3)
    # big[q0 q1 q2, q0' q1' q2'] = h[q2 q0, q2' q0'] * delta(q1, q1')
    ref = np.einsum("cafd,be->abcdef", h.reshape(2, 2, 2, 2), np.eye(2)).reshape(8, 8)
    np.testing.assert_allclose(big, ref, atol=1e-12)


def test_zero_observable_has_expectation_zero():
    """All terms cancel (``Z0 - Z0`` has no terms): the value is 0, gradients are 0, and other
    observables of the circuit are unaffected."""
    zero = Z(0) - Z(0)
    assert zero.terms == ()
    ops = [rx()]
    circuits = {
        "pure": Circuit(1, ops, [zero, Z(0)]),
        "noisy": Circuit(1, ops + [Operation("BitFlip", (0,), prob=0.1)], [zero, Z(0)]),
    }
    theta = jnp.array([0.3])

    def run(t):
        out = {}
        for name, c in circuits.items():
            def f(t, c=c):
                return expectations(c, t)

            sampled = sample_expectations(c, t, shots=16, key=jax.random.PRNGKey(0))
            out[name] = (f(t), jax.jacobian(f)(t), sampled)
        return out

    for name, (value, jac, sampled) in jax.jit(run)(theta).items():
        assert value[0] == 0.0 and jac[0, 0] == 0.0 and sampled[0] == 0.0, name
        expected = np.cos(0.3) * (0.8 if name == "noisy" else 1.0)
        np.testing.assert_allclose(value[1], expected, atol=1e-12)
    only_zero = Circuit(1, ops, [zero])
    assert jax.jit(lambda t: expectations(only_zero, t))(theta)[0] == 0.0


# --------------------------------------------------------------------------------------------
# inputs of the simulator
@pytest.fixture(scope="module")
def circuit():
    ops = [Operation("RY", (0,), (Angle(feature=0),)), Operation("RX", (1,), (Angle(weight=0),)),
           Operation("RZ", (0,), (Angle(weight=2, feature=1),))]
    return Circuit(2, ops, [Z(0)])


@pytest.mark.parametrize("shape", [(2,), (4,), (1, 3), (3, 1), ()])
def test_theta_of_wrong_shape(circuit, shape):
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        expectations(circuit, jnp.zeros(shape), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        statevector(circuit, jnp.zeros(shape), jnp.zeros(2))


@pytest.mark.parametrize("shape", [(1,), (3,), (4, 2), ()])
def test_x_of_wrong_shape(circuit, shape):
    with pytest.raises(ValueError, match=r"x must have shape \(2,\) for one example"):
        expectations(circuit, jnp.zeros(3), jnp.zeros(shape))
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        sample_expectations(circuit, jnp.zeros(3), jnp.zeros(shape), shots=10, key=jax.random.PRNGKey(0))


def test_bad_method(circuit):
    with pytest.raises(ValueError, match="method must be one of"):
        expectations(circuit, jnp.zeros(3), jnp.zeros(2), method="parameter-shift")


def test_adjoint_on_a_noisy_circuit_is_refused():
    noisy = Circuit(1, [rx(), Operation("BitFlip", (0,), prob=0.1)], [Z(0)])
    with pytest.raises(ValueError, match="adjoint.*noiseless"):
        expectations(noisy, jnp.zeros(1), method="adjoint")
    with pytest.raises(ValueError, match="noiseless"):
        statevector(noisy, jnp.zeros(1))


# --------------------------------------------------------------------------------------------
# memory
def test_check_memory_refuses_30_qubit_state_vectors_with_batch_64():
    big = Circuit(30, [Operation("H", (w,)) for w in range(30)], [Z(0)])
    with pytest.raises(MemoryError, match=r"30 qubits \(state vectors\) .* batch of 64 .*GiB"):
        check_memory(big, 64, method="adjoint")
    # the estimate is at least the states themselves: 64 * 2**30 complex64 amplitudes
    assert estimate_memory_bytes(big, 64, method="adjoint") >= 64 * 2**30 * 8
    # "auto" contracts this circuit as a tensor network (Z0's light cone holds one wire): it fits
    assert check_memory(big, 64) < 2**20


def test_check_memory_returns_the_estimate_when_it_fits():
    small = Circuit(4, [rx()], [Z(0)])
    need = check_memory(small, 8)
    assert need == estimate_memory_bytes(small, 8) > 0
    with pytest.raises(MemoryError, match="GiB"):
        check_memory(small, 8, limit_bytes=need - 1)


def test_memory_estimate_grows_with_qubits_batch_precision_and_noise():
    def est(n, batch=4, noisy=False, **kw):
        ops = [rx(w, w) for w in range(n)]
        if noisy:
            ops.append(Operation("Depolarizing", (0,), prob=0.1))
        return estimate_memory_bytes(Circuit(n, ops, [Z(0)]), batch,
                                     **{"method": "backprop" if noisy else "adjoint", **kw})

    sizes = [est(n) for n in range(1, 12)]
    assert all(b > a for a, b in zip(sizes, sizes[1:], strict=False))
    assert est(8, batch=16) > est(8, batch=4)
    assert est(8, double=True) > est(8)
    assert est(6, noisy=True) > est(6)
    assert est(6, noisy=True) >= 4**6 * 8  # a density matrix per example at least
    noisy = Circuit(2, [rx(0, 0), Operation("Depolarizing", (0,), prob=0.1)], [Z(0)])
    with pytest.raises(ValueError, match="method='adjoint' needs a noiseless circuit"):
        estimate_memory_bytes(noisy, 4, method="adjoint")  # refused, not estimated as something else


def test_complex_parameters_and_features_are_refused():
    c = Circuit(1, [Operation("RX", (0,), (Angle(weight=0),)), Operation("RY", (0,), (Angle(feature=0),))], [Z(0)])
    with pytest.raises(ValueError, match="theta must be real"):
        expectations(c, np.array([0.1 + 0.2j]), np.array([0.3]))
    with pytest.raises(ValueError, match="x must be real"):
        expectations(c, np.array([0.1]), np.array([0.3 + 1j]))


def test_bool_indices_and_empty_wires_are_refused():
    with pytest.raises(ValueError, match="weight"):
        Angle(weight=True)
    with pytest.raises(ValueError, match="at least one wire"):
        Operation("Unitary", (), matrix=np.eye(1))


def test_numpy_and_jax_real_scalars_scale_observables():
    assert (np.float64(2.0) * Z(0)).terms[0][0] == 2.0
    assert (jnp.float32(0.5) * Z(0)).terms[0][0] == 0.5


def test_training_refuses_a_circuit_too_large_for_memory_before_any_work():
    """``train`` checks the memory of its largest physical batch first, and says how to shrink it."""
    from dpqml.models import build_model
    from dpqml.privacy.config import PrivacyConfig
    from dpqml.train import TrainConfig, train

    model = build_model(qubits=30, layers=6)  # deep: a 30-qubit state vector per example (8 GiB)
    x, y = np.zeros((20, 30), np.float32), np.zeros(20, np.int32)
    privacy = PrivacyConfig(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5, steps=2, delta=1e-5,
                            n_examples=20)
    with pytest.raises(MemoryError, match=r"30 qubits .*batch of 32 .*GiB.*max_physical_batch=256"):
        train(model, x, y, privacy, TrainConfig())
    with pytest.raises(MemoryError, match=r"parameter-shift rule simulates 721 shifted circuits per example at "
                                          r"once: 30 qubits \(state vectors\) for a batch of 2 examples need .*GiB.*"
                                          r"not even one example fits.*max_physical_batch=2"):
        train(model, x, y, privacy, TrainConfig(method="parameter-shift", shots=10, max_physical_batch=2))
    small = build_model(qubits=12, layers=2)
    with pytest.raises(MemoryError, match=r"a batch of at most \d+ examples fits"):
        from dpqml.quantum.memory import check_shift_memory

        check_shift_memory(small.circuit, 64, 100, limit_bytes=64 * 2**20)


def test_check_memory_says_which_method_or_batch_would_fit():
    from dpqml.models import apply_noise, build_model, standard_circuit

    noisy = apply_noise(standard_circuit(10, 2), "depolarizing")
    backprop = estimate_memory_bytes(noisy, 64, method="backprop")
    pauli = estimate_memory_bytes(noisy, 64, method="heisenberg")
    assert pauli < backprop
    with pytest.raises(MemoryError, match=r"method 'backprop'.*method 'heisenberg' fits this batch"):
        check_memory(noisy, 64, method="backprop", limit_bytes=pauli)
    reup = build_model(qubits=6, layers=2, ansatz="reuploading", noise="depolarizing").circuit  # backprop only
    per_example = estimate_memory_bytes(reup, 1)
    with pytest.raises(MemoryError, match=r"these fit a smaller batch: 'backprop' up to batch 2; "
                                             r"method 'trajectories' would fit this batch \(.*not exact values\)$"):
        check_memory(reup, 64, limit_bytes=2 * per_example)
    with pytest.raises(MemoryError, match="no exact method fits even one example; use fewer qubits$"):
        check_memory(noisy, 64, limit_bytes=1000)
