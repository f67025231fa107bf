"""Lowering a :class:`Circuit` to a flat program of kernel steps, with gate fusion.

Every angle of the circuit is computed in one vectorised expression from ``(theta, x)``;
runs of single-qubit gates on the same wire are multiplied into one 2x2 matrix (the
encoding RY(x) and a layer's RY·RZ become a single pass over the state); CNOT, CZ and SWAP
keep their permutation/sign kernels; Pauli rotations keep their ``cos - i sin P`` kernel.

A step is a tuple ``(kind, wires, payload)``:

* ``("u", wires, fn)``: ``fn(angles) -> (2**k, 2**k)`` matrix;
* ``("pauli", wires, (factors, angle_index))``: ``exp(-i angle P / 2)``;
* ``("cnot" | "cz" | "swap", wires, None)``;
* ``("channel", wires, kraus)``: Kraus operators (NumPy), density matrices only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import jax.numpy as jnp
import numpy as np

from . import gates as G
from .circuit import Circuit

_ROT_NAMES = ("RX", "RY", "RZ")


@dataclass(frozen=True, eq=False)
class Program:
    n_qubits: int
    steps: tuple
    # Vectorised angle sources, one entry per angle of the circuit.
    weight_idx: np.ndarray  # index into theta_ext (n_params means "none": value 0)
    feature_idx: np.ndarray  # index into x_ext (n_features means "none": value 0)
    fweight_idx: np.ndarray  # index into theta_ext1 (n_params means "none": value 1)
    scale: np.ndarray
    offset: np.ndarray
    n_params: int
    n_features: int

    def angles(self, theta, x):
        """All angles of the circuit as one vector, from ``theta`` (n_params,) and ``x`` (n_features,)."""
        dt = theta.dtype
        zero = jnp.zeros((1,), dt)
        one = jnp.ones((1,), dt)
        th0 = jnp.concatenate([theta, zero])
        th1 = jnp.concatenate([theta, one])
        xe = jnp.concatenate([x.astype(dt), zero])
        return (
            jnp.asarray(self.offset, dt)
            + jnp.asarray(self.scale, dt) * xe[self.feature_idx] * th1[self.fweight_idx]
            + th0[self.weight_idx]
        )


def _gate_matrix_fn(op, angle_slots):
    """A function of the angle vector giving the op's unitary (2**k, 2**k)."""
    name = op.name
    if name in G.FIXED_1Q:
        m = G.FIXED_1Q[name]
        return lambda ang: jnp.asarray(m, G.complex_dtype(ang.dtype))
    if name == "Unitary":
        m = op.matrix
        return lambda ang: jnp.asarray(m, G.complex_dtype(ang.dtype))
    if name in _ROT_NAMES:
        (i,) = angle_slots
        f = G.ROTATIONS_1Q[name]
        return lambda ang: f(ang[i])
    if name == "Rot":
        i, j, k = angle_slots
        return lambda ang: G.rot(ang[i], ang[j], ang[k])
    if name in ("CRX", "CRY", "CRZ"):
        (i,) = angle_slots
        f = G.ROTATIONS_1Q[name[1:]]
        return lambda ang: G.controlled(f(ang[i]))
    if name == "PauliRot":  # dense form, used for density matrices
        (i,) = angle_slots
        p = G.pauli_word_matrix(op.pauli)
        eye = np.eye(p.shape[0])

        def pauli_rot(ang):
            c, s = G._cs(ang[i])
            return c * jnp.asarray(eye, c.dtype) - 1j * s * jnp.asarray(p, c.dtype)

        return pauli_rot
    raise AssertionError(f"no matrix for {name}")


def _fuse(fns):
    """Product of single-qubit matrices applied in order ``fns[0]`` first."""
    if len(fns) == 1:
        return fns[0]
    return lambda ang: reduce(lambda acc, f: f(ang) @ acc, fns[1:], fns[0](ang))


def lower(circuit: Circuit, *, mixed: bool, fuse: bool = True) -> Program:
    """Lower ``circuit`` to a :class:`Program`; ``mixed`` selects density-matrix steps."""
    n_p, n_f = circuit.n_params, circuit.n_features
    w_idx, f_idx, fw_idx, scale, offset = [], [], [], [], []
    steps: list = []
    pending: dict[int, list] = {}

    def flush(wires):
        for w in wires:
            fns = pending.pop(w, None)
            if fns:
                steps.append(("u", (w,), _fuse(fns)))

    for op in circuit.operations:
        slots = []
        for a in op.angles:
            slots.append(len(w_idx))
            w_idx.append(n_p if a.weight is None else a.weight)
            f_idx.append(n_f if a.feature is None else a.feature)
            fw_idx.append(n_p if a.feature_weight is None else a.feature_weight)
            scale.append(a.scale)
            offset.append(a.offset)
        if op.is_readout:
            continue  # applied at measurement
        if op.is_noise:
            if not mixed:
                raise ValueError("noise channels need density-matrix simulation (mixed=True)")
            flush(op.wires)
            steps.append(("channel", op.wires, [np.asarray(k, np.complex128) for k in G.kraus_operators(op.name, op.prob)]))
            continue
        if len(op.wires) == 1 and op.name != "PauliRot":
            fn = _gate_matrix_fn(op, slots)
            if fuse:
                pending.setdefault(op.wires[0], []).append(fn)
            else:
                steps.append(("u", op.wires, fn))
            continue
        flush(op.wires)
        if op.name in ("CNOT", "CZ", "SWAP"):
            steps.append((op.name.lower(), op.wires, None))
        elif op.name == "PauliRot" and not mixed:
            factors = tuple((w, p) for w, p in zip(op.wires, op.pauli) if p != "I")
            steps.append(("pauli", op.wires, (factors, slots[0])))
        else:
            steps.append(("u", op.wires, _gate_matrix_fn(op, slots)))
    flush(sorted(pending))
    # Sources with no trainable weight read theta_ext[n_params]; with no feature, x_ext[n_features].
    # Scale applies only where a feature is present (x_ext[n_features] = 0 otherwise).
    return Program(
        n_qubits=circuit.n_qubits,
        steps=tuple(steps),
        weight_idx=np.asarray(w_idx, np.int32),
        feature_idx=np.asarray(f_idx, np.int32),
        fweight_idx=np.asarray(fw_idx, np.int32),
        scale=np.asarray(scale, np.float64),
        offset=np.asarray(offset, np.float64),
        n_params=n_p,
        n_features=n_f,
    )
