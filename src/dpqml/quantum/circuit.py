"""Circuits as data.

A :class:`Circuit` is an immutable list of :class:`Operation` records plus the observables
measured at the end. Each rotation angle names where its value comes from through an
:class:`Angle` (a trainable parameter, an input feature, both, or a constant), so the same
description can be simulated, printed, counted, exported and analysed (``dpqml.bounds``
reads it to bound gradient norms).

Example::

    from dpqml.quantum import Angle, Circuit, Operation, Z

    ops = [
        Operation("RY", (0,), (Angle(feature=0),)),   # encode x[0]
        Operation("RY", (0,), (Angle(weight=0),)),    # trainable theta[0]
        Operation("CNOT", (0, 1)),
    ]
    circ = Circuit(n_qubits=2, operations=ops, observables=[Z(0)])
    print(circ)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .gates import CHANNELS, READOUT, canonical_name, gate_info
from .observables import Observable


def as_wires(wires, what: str = "wires") -> tuple[int, ...]:
    """Wires as a tuple of ints; refuse non-integers (a wire 0.7 is a mistake, not wire 0)."""
    if isinstance(wires, (int, np.integer)):
        wires = (wires,)
    out = []
    for w in wires:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise ValueError(f"{what} must be integers (qubit indices); got {w!r}")
        out.append(int(w))
    return tuple(out)


@dataclass(frozen=True)
class Angle:
    """Where a rotation angle comes from.

    ``angle = offset + scale * x[feature] * x[feature2] * theta[feature_weight] + theta[weight]``

    Every term is optional: ``Angle(weight=3)`` is the trainable ``theta[3]``;
    ``Angle(feature=0)`` is the input feature ``x[0]``; ``Angle(feature=0,
    feature_weight=5, weight=6)`` is a trainable encoding ``theta[5] * x[0] + theta[6]``;
    ``Angle(offset=0.3)`` is a constant; ``Angle(feature=0, feature2=1)`` is the product
    ``x[0] * x[1]`` (IQP embeddings).
    """

    weight: int | None = None
    feature: int | None = None
    scale: float = 1.0
    feature_weight: int | None = None
    offset: float = 0.0
    feature2: int | None = None

    def __post_init__(self):
        if self.feature_weight is not None and self.feature is None:
            raise ValueError("Angle.feature_weight needs a feature to multiply")
        if self.feature2 is not None and self.feature is None:
            raise ValueError("Angle.feature2 needs a feature to multiply")
        for name in ("weight", "feature", "feature_weight", "feature2"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
                raise ValueError(f"Angle.{name} must be a non-negative integer index; got {v!r}")
        if not np.isfinite(self.scale) or not np.isfinite(self.offset):
            raise ValueError("Angle.scale and Angle.offset must be finite")

    @property
    def weights(self) -> tuple[int, ...]:
        """Indices of the trainable parameters this angle depends on."""
        return tuple(i for i in (self.weight, self.feature_weight) if i is not None)

    def __str__(self) -> str:
        parts = []
        if self.feature is not None:
            f = f"x[{self.feature}]" + (f"*x[{self.feature2}]" if self.feature2 is not None else "")
            if self.scale != 1.0:
                f = f"{self.scale:g}*{f}"
            if self.feature_weight is not None:
                f = f"θ[{self.feature_weight}]*{f}"
            parts.append(f)
        if self.weight is not None:
            parts.append(f"θ[{self.weight}]")
        if self.offset != 0.0 or not parts:
            parts.append(f"{self.offset:g}")
        return "+".join(parts)


def _is_number(a) -> bool:
    return isinstance(a, (int, float, np.integer, np.floating)) and not isinstance(a, bool)


@dataclass(frozen=True, eq=False)
class Operation:
    """One gate, channel or measurement error.

    * ``name``: see :func:`dpqml.quantum.gates.all_names`; PennyLane's names (``Hadamard``,
      ``PauliX``, ``DepolarizingChannel``, ...: :data:`dpqml.quantum.gates.ALIASES`) are accepted;
    * ``wires``: the qubits it acts on (control first for controlled gates);
    * ``angles``: one :class:`Angle` per rotation angle (``Rot`` has three, ``φ, θ, ω``); a plain
      number is refused, since it could mean a constant (``Angle(offset=0.5)``) or a trainable
      angle (``Angle(weight=k)``); a single ``Angle`` needs no tuple;
    * ``pauli``: the Pauli word of a ``PauliRot`` (one letter per wire);
    * ``matrix``: the unitary of a fixed ``Unitary`` operation;
    * ``prob``: the strength of a noise channel or readout error, in ``[0, 1]``; it may be given
      positionally, as PennyLane takes it: ``Operation("Depolarizing", (0,), 0.1)``.
    """

    name: str
    wires: tuple[int, ...]
    angles: tuple[Angle, ...] = ()
    pauli: str | None = None
    matrix: np.ndarray | None = None
    prob: float | None = None

    def __post_init__(self):
        if isinstance(self.name, str):
            object.__setattr__(self, "name", canonical_name(self.name))  # PennyLane's names too
        object.__setattr__(self, "wires", as_wires(self.wires, f"{self.name} wires"))
        info = gate_info(self.name)
        angles = self.angles
        if info.kind in ("channel", "readout") and _is_number(angles) and self.prob is None:
            object.__setattr__(self, "prob", float(angles))  # the strength, given positionally
            angles = ()
        if isinstance(angles, Angle) or _is_number(angles):
            angles = (angles,)
        try:
            angles = tuple(angles)
        except TypeError:
            raise ValueError(f"{self.name}: angles must be a tuple of Angle objects; got {angles!r}") from None
        for a in angles:
            if _is_number(a):
                raise ValueError(
                    f"{self.name}: angle {a!r} is a plain number; say what it is: Angle(offset={float(a)!r}) for a "
                    f"constant angle, or Angle(weight=k) for the trainable theta[k] (Angle(feature=j) for the "
                    f"feature x[j])")
            if not isinstance(a, Angle):
                raise ValueError(f"{self.name}: angles must be Angle objects; got {a!r}")
        object.__setattr__(self, "angles", angles)
        k = len(self.wires)
        if k == 0:
            raise ValueError(f"{self.name}: needs at least one wire; got wires=()")
        if len(set(self.wires)) != k:
            raise ValueError(f"{self.name}: wires must be distinct; got {self.wires}")
        if info.n_wires > 0 and k != info.n_wires:
            raise ValueError(f"{self.name} acts on {info.n_wires} wire(s); got wires={self.wires}")
        if len(self.angles) != info.n_angles:
            raise ValueError(f"{self.name} takes {info.n_angles} angle(s); got {len(self.angles)}")
        if self.name == "PauliRot":
            if self.pauli is None or len(self.pauli) != k or set(self.pauli) - set("IXYZ") or k == 0:
                raise ValueError(
                    f"PauliRot needs a Pauli word of {k} letters in 'IXYZ', one per wire; got {self.pauli!r}"
                )
        if info.kind == "unitary":
            m = np.asarray(self.matrix, dtype=np.complex128)
            if m.shape != (2**k, 2**k):
                raise ValueError(f"Unitary on {k} wire(s) needs a {(2**k, 2**k)} matrix; got {m.shape}")
            if not np.allclose(m @ m.conj().T, np.eye(2**k), atol=1e-8):
                raise ValueError("Unitary: the matrix is not unitary (U U^dagger != I)")
            object.__setattr__(self, "matrix", m)
        if info.kind in ("channel", "readout"):
            p = self.prob
            if p is None or not np.isfinite(p) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{self.name}: prob must be a probability in [0, 1]; got {p!r}")

    @property
    def is_noise(self) -> bool:
        return self.name in CHANNELS

    @property
    def is_readout(self) -> bool:
        return self.name == READOUT

    def __str__(self) -> str:
        wires = ",".join(map(str, self.wires))
        if self.angles:
            args = ", ".join(map(str, self.angles))
            extra = f"; {self.pauli}" if self.pauli else ""
            return f"{self.name}({args}{extra}) @ [{wires}]"
        if self.prob is not None:
            return f"{self.name}(p={self.prob:g}) @ [{wires}]"
        return f"{self.name} @ [{wires}]"


@dataclass(frozen=True, eq=False)
class Circuit:
    """An n-qubit circuit: state preparation, operations, observables.

    * ``state_prep``: ``"zero"`` (start in ``|0...0>``) or ``"amplitude"`` (start in
      ``x / ||x||``, the features zero-padded to ``2**n_qubits`` amplitudes);
    * ``n_params``: length of the trainable vector ``theta`` (inferred when omitted);
    * ``n_features``: length of the feature vector ``x`` (inferred when omitted).

    The simulator returns one expectation value per observable.
    """

    n_qubits: int
    operations: tuple[Operation, ...]
    observables: tuple[Observable, ...]
    n_params: int | None = None
    n_features: int | None = None
    state_prep: str = "zero"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = self.n_qubits
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n_qubits must be an integer >= 1; got {n!r}")
        object.__setattr__(self, "operations", tuple(self.operations))
        obs = self.observables
        if isinstance(obs, Observable):
            obs = (obs,)
        object.__setattr__(self, "observables", tuple(obs))
        if not self.observables:
            raise ValueError("a circuit needs at least one observable to measure")
        for op in self.operations:
            bad = [w for w in op.wires if not 0 <= w < n]
            if bad:
                raise ValueError(f"{op.name}: wires {bad} out of range for n_qubits={n} (valid: 0..{n - 1})")
        for o in self.observables:
            if not isinstance(o, Observable):
                raise ValueError(f"observables must be dpqml.quantum.Observable; got {type(o).__name__}")
            bad = [w for w in o.wires if not 0 <= w < n]
            if bad:
                raise ValueError(f"observable {o}: wires {bad} out of range for n_qubits={n}")
        if self.state_prep not in ("zero", "amplitude"):
            raise ValueError(f"state_prep must be 'zero' or 'amplitude'; got {self.state_prep!r}")
        used_w = [i for op in self.operations for a in op.angles for i in a.weights]
        used_f = [a.feature for op in self.operations for a in op.angles if a.feature is not None]
        need_p = max(used_w, default=-1) + 1
        need_f = max(used_f, default=-1) + 1
        if self.state_prep == "amplitude":
            need_f = max(need_f, 1)
        if self.n_params is None:
            object.__setattr__(self, "n_params", need_p)
        elif self.n_params < need_p:
            raise ValueError(f"n_params={self.n_params} but the operations use θ[{need_p - 1}]")
        if self.n_features is None:
            object.__setattr__(self, "n_features", need_f)
        elif self.n_features < need_f:
            raise ValueError(f"n_features={self.n_features} but the operations use x[{need_f - 1}]")
        if self.state_prep == "amplitude" and self.n_features > 2**n:
            raise ValueError(
                f"amplitude encoding holds at most 2**n_qubits={2**n} features; got n_features={self.n_features}"
            )

    # -- inspection -----------------------------------------------------------------
    @property
    def is_noisy(self) -> bool:
        """True when the circuit has noise channels (then it is simulated as a density matrix)."""
        return any(op.is_noise for op in self.operations)

    @property
    def readout_errors(self) -> dict[int, float]:
        """Measurement bit-flip probability per wire (combined when several are given)."""
        out: dict[int, float] = {}
        for op in self.operations:
            if op.is_readout:
                w = op.wires[0]
                q = out.get(w, 0.0)
                out[w] = q + op.prob - 2 * q * op.prob  # two independent flips compose
        return out

    def count_ops(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    def angle_uses(self) -> dict[int, int]:
        """How many times each trainable parameter index is used by some angle."""
        uses: dict[int, int] = {}
        for op in self.operations:
            for a in op.angles:
                for i in a.weights:
                    uses[i] = uses.get(i, 0) + 1
        return uses

    def __str__(self) -> str:
        head = (
            f"Circuit(n_qubits={self.n_qubits}, n_params={self.n_params}, "
            f"n_features={self.n_features}, state_prep={self.state_prep!r})"
        )
        lines = [head] + [f"  {i:3d}: {op}" for i, op in enumerate(self.operations)]
        lines += [f"  measure: {o}" for o in self.observables]
        return "\n".join(lines)

    def with_operations(self, operations) -> Circuit:
        return Circuit(
            self.n_qubits, tuple(operations), self.observables, self.n_params, self.n_features,
            self.state_prep, dict(self.meta),
        )

    def noiseless(self) -> Circuit:
        """The same circuit without its noise channels and readout errors."""
        return self.with_operations(op for op in self.operations if not (op.is_noise or op.is_readout))
