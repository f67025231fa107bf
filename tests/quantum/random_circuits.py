"""Seeded random circuits and observables, and per-example gradient helpers, shared by the quantum
tests (no PennyLane here)."""

from __future__ import annotations

import numpy as np
from scipy.stats import unitary_group

from dpqml.quantum import Angle, Circuit, Observable, Operation, X, Y, Z, identity, pauli

FIXED_1Q = ("H", "X", "Y", "Z", "S", "T", "I")
FIXED_2Q = ("CNOT", "CZ", "SWAP")
ROTATIONS_1Q = ("RX", "RY", "RZ")
CONTROLLED = ("CRX", "CRY", "CRZ")
CHANNELS = ("Depolarizing", "AmplitudeDamping", "PhaseDamping", "BitFlip", "PhaseFlip")
#: Every unitary gate name (``Unitary`` stands for a random fixed 1- or 2-qubit matrix).
UNITARY_GATES = (*FIXED_1Q, *ROTATIONS_1Q, "Rot", *CONTROLLED, *FIXED_2Q, "PauliRot", "Unitary")

#: How an angle is sourced; random circuits cycle through all of them.
ANGLE_KINDS = (
    "weight", "feature", "encoding", "constant", "scaled_feature", "weight_offset", "feature_weight",
)


def random_unitary(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-random ``dim x dim`` unitary."""
    return unitary_group.rvs(dim, random_state=rng)


def random_angle(rng: np.random.Generator, kind: str, n_params: int, n_features: int) -> Angle:
    k = int(rng.integers(n_params))
    j = int(rng.integers(n_features))
    s = float(rng.uniform(0.5, 2.0)) * float(rng.choice([-1.0, 1.0]))
    o = float(rng.uniform(-np.pi, np.pi))
    if kind == "weight":
        return Angle(weight=k)
    if kind == "feature":
        return Angle(feature=j)
    if kind == "encoding":  # offset + scale * x[j] * theta[fw] + theta[k]
        return Angle(feature=j, feature_weight=int(rng.integers(n_params)), weight=k, scale=s, offset=o)
    if kind == "constant":
        return Angle(offset=o)
    if kind == "scaled_feature":
        return Angle(feature=j, scale=s, offset=o)
    if kind == "weight_offset":
        return Angle(weight=k, offset=o)
    if kind == "feature_weight":
        return Angle(feature=j, feature_weight=k)
    raise AssertionError(kind)


def angle_source(rng: np.random.Generator, n_params: int, n_features: int):
    """A function returning random angles whose kinds cycle through every ``ANGLE_KINDS``."""
    queue: list[str] = []

    def next_angle() -> Angle:
        if not queue:
            queue.extend(str(k) for k in rng.permutation(ANGLE_KINDS))
        return random_angle(rng, queue.pop(), n_params, n_features)

    return next_angle


def random_gate(rng: np.random.Generator, name: str, n_qubits: int, next_angle) -> Operation:
    """One gate ``name`` on random distinct wires, angles from ``next_angle()``."""
    if name == "Unitary":
        k = int(rng.integers(1, 3))
        wires = tuple(int(w) for w in rng.choice(n_qubits, size=k, replace=False))
        return Operation("Unitary", wires, matrix=random_unitary(rng, 2**k))
    if name == "PauliRot":
        k = int(rng.integers(2, min(3, n_qubits) + 1))
        wires = tuple(int(w) for w in rng.choice(n_qubits, size=k, replace=False))
        word = "".join(rng.choice(list("XYZ"), size=k))
        if k == 3:  # an identity letter inside the word
            word = word[:1] + "I" + word[2:]
        return Operation("PauliRot", wires, (next_angle(),), pauli=word)
    if name in FIXED_1Q or name in ROTATIONS_1Q or name == "Rot":
        wires = (int(rng.integers(n_qubits)),)
    else:
        wires = tuple(int(w) for w in rng.choice(n_qubits, size=2, replace=False))
    n_angles = {"Rot": 3}.get(name, 1 if name in ROTATIONS_1Q or name in CONTROLLED else 0)
    return Operation(name, wires, tuple(next_angle() for _ in range(n_angles)))


def random_circuit(
    seed: int,
    n_qubits: int,
    *,
    n_params: int = 7,
    n_features: int = 3,
    n_extra: int = 8,
    noisy: bool = False,
    readout: dict[int, float] | None = None,
    observables=None,
    state_prep: str = "zero",
    gates=UNITARY_GATES,
) -> Circuit:
    """Every gate of ``gates`` at least once (``Unitary`` also as a 1- and a 2-qubit matrix),
    plus ``n_extra`` random gates, in random order; with ``noisy``, every channel at least once
    with a random probability; ``readout`` adds a ``ReadoutError`` per listed wire."""
    rng = np.random.default_rng(seed)
    names = list(gates) + [str(g) for g in rng.choice(gates, size=n_extra)]
    rng.shuffle(names)
    next_angle = angle_source(rng, n_params, n_features)
    ops = [random_gate(rng, name, n_qubits, next_angle) for name in names]
    # make sure both a 1-qubit and a 2-qubit fixed Unitary are present
    ops.insert(int(rng.integers(len(ops))), Operation("Unitary", (0,), matrix=random_unitary(rng, 2)))
    u2 = Operation("Unitary", (n_qubits - 1, 0), matrix=random_unitary(rng, 4))
    ops.insert(int(rng.integers(len(ops))), u2)
    if noisy:
        channels = list(CHANNELS) + [str(ch) for ch in rng.choice(CHANNELS, size=3)]
        for ch in channels:
            op = Operation(ch, (int(rng.integers(n_qubits)),), prob=float(rng.uniform(0.02, 0.4)))
            ops.insert(int(rng.integers(len(ops) + 1)), op)
    for w, p in (readout or {}).items():
        ops.insert(int(rng.integers(len(ops) + 1)), Operation("ReadoutError", (w,), prob=p))
    if observables is None:
        observables = random_observables(rng, n_qubits)
    return Circuit(
        n_qubits, ops, observables, n_params=n_params, n_features=n_features, state_prep=state_prep
    )


def random_observables(rng: np.random.Generator, n_qubits: int) -> list[Observable]:
    """Single X, Y and Z; a 3-letter X/Y/Z string; a real-weighted sum with an identity term."""
    w = [int(v) for v in rng.permutation(n_qubits)]
    c = rng.uniform(-1.5, 1.5, size=4)
    return [
        Z(w[0]),
        X(w[1]),
        Y(w[2]),
        pauli("XYZ", (w[2], w[0], w[1])),
        c[0] * (Z(w[0]) @ Z(w[1])) + c[1] * X(w[2]) + c[2] * pauli("YX", (w[1], w[0])) + c[3] * identity(),
    ]


def random_inputs(seed: int, circuit: Circuit, batch: int = 3):
    """``theta`` (n_params,) and a batch of feature rows (batch, n_features), float64."""
    rng = np.random.default_rng(10_000 + seed)
    theta = rng.uniform(-np.pi, np.pi, size=circuit.n_params)
    xs = rng.uniform(-1.5, 1.5, size=(batch, circuit.n_features))
    return theta, xs


def eigen_range(obs: Observable, n_qubits: int) -> float:
    """``lambda_max - lambda_min`` of an observable."""
    ev = np.linalg.eigvalsh(obs.matrix(n_qubits))
    return float(ev[-1] - ev[0])


def _shift_angle(a: Angle, by: int) -> Angle:
    def shift(i):
        return None if i is None else i + by

    return Angle(weight=shift(a.weight), feature=a.feature, scale=a.scale,
                 feature_weight=shift(a.feature_weight), offset=a.offset)


def repeated_block_circuit(seed: int, n_qubits: int, *, reps: int = 3, noisy: bool = False,
                           block_params: int = 4, n_features: int = 2) -> Circuit:
    """One random block of every unitary gate kind (and every channel when ``noisy``) repeated
    ``reps`` times: the same gates with fresh trainable parameters in each repetition (the
    simulator runs such repeats with ``lax.scan``)."""
    rng = np.random.default_rng(seed)
    next_angle = angle_source(rng, block_params, n_features)
    block = [random_gate(rng, str(name), n_qubits, next_angle) for name in rng.permutation(UNITARY_GATES)]
    for k in (1, 2):  # a 1-qubit and a 2-qubit fixed Unitary in any case
        u = Operation("Unitary", (0,) if k == 1 else (n_qubits - 1, 0), matrix=random_unitary(rng, 2**k))
        block.insert(int(rng.integers(len(block) + 1)), u)
    block += [Operation("CNOT", (0, 1)), Operation("SWAP", (0, 1))]  # a run: one permutation step
    if noisy:
        for ch in CHANNELS:
            op = Operation(ch, (int(rng.integers(n_qubits)),), prob=float(rng.uniform(0.02, 0.2)))
            block.insert(int(rng.integers(len(block) + 1)), op)
    ops = []
    for r in range(reps):
        for op in block:
            angles = tuple(_shift_angle(a, r * block_params) for a in op.angles)
            ops.append(Operation(op.name, op.wires, angles, pauli=op.pauli, matrix=op.matrix, prob=op.prob))
    return Circuit(n_qubits, ops, random_observables(rng, n_qubits), n_params=reps * block_params,
                   n_features=n_features)


def per_example(circuit: Circuit, method: str, theta, xs):
    """Values and per-example Jacobians in θ and x of ``circuit``'s expectations, in one compiled call."""
    import jax

    from dpqml.quantum import expectations

    def one(t, x):
        return expectations(circuit, t, x, method=method)

    f = jax.jit(jax.vmap(lambda x: (one(theta, x), *jax.jacrev(one, argnums=(0, 1))(theta, x))))
    return [np.asarray(a) for a in f(xs)]


def model_per_example_grads(model, method: str) -> np.ndarray:
    """The flat per-example loss gradients ``(5, P)`` of ``model`` run with ``method``, on fixed seeded
    double-precision parameters and inputs (the same for every method)."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from dpqml.engine import flatten_per_example, per_example_grads

    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, model.input_dim), jnp.float64, 0, 3)
    y = jnp.arange(5) % model.n_classes
    loss = dataclasses.replace(model, method=method).loss
    return np.asarray(flatten_per_example(per_example_grads(loss, params, x, y)[1]))
