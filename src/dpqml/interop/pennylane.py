"""PennyLane import: a QNode (or its quantum function) as a dpqml :class:`~dpqml.quantum.Circuit`.

The QNode is traced once with *symbols* in place of its arguments: each feature ``x[j]`` and
each weight ``θ[k]`` is a symbol, and the arithmetic the circuit does on them (``pi * x[j]``,
``x[j] * w + b``, indexing, slicing, the templates' own bookkeeping) is recorded as an affine
form. Templates are expanded by their own decompositions until every operation is one dpqml
simulates; each angle becomes an :class:`~dpqml.quantum.Angle`
(``offset + scale·x[f]·θ[u] + θ[w]``), and every ``expval`` of a Pauli word or a Hamiltonian
becomes an :class:`~dpqml.quantum.Observable` (through PennyLane's own ``pauli_sentence``).

Weights are numbered in the order of ``weight_shapes`` (as ``qml.qnn.TorchLayer`` takes them),
each array flattened in C order: :func:`flatten_weights` gives the vector ``theta`` from a dict
of arrays. ``AmplitudeEmbedding`` (or ``StatePrep``) of the features as the first operation
becomes dpqml's amplitude state preparation (features normalised, zero-padded: PennyLane's
``normalize=True, pad_with=0``; without ``normalize`` PennyLane requires unit-norm inputs, on
which the two agree). Global phases and barriers are dropped (no expectation value sees them).

Refused, each by name: an operation dpqml does not simulate and PennyLane cannot decompose into
ones it does; mid-circuit measurements and conditionals; measurements other than ``expval``;
an angle that is not of the form above (a weight with a coefficient other than 1; a non-linear
function of a symbol; three factors); products of two features, as ``IQPEmbedding``'s
``MultiRZ(x_i x_j)``, are angles dpqml has (``Angle(feature=i, feature2=j)``); QNode arguments
not declared as features or weights.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Mapping

import numpy as np

from ..quantum import Angle, Circuit, Observable, Operation
from ..quantum.observables import identity, pauli

#: PennyLane's operations that map one to one onto dpqml's (same name, or dpqml's alias of it).
DIRECT = ("RX", "RY", "RZ", "Rot", "CNOT", "CZ", "SWAP", "CRX", "CRY", "CRZ", "Hadamard", "PauliX", "PauliY",
          "PauliZ", "S", "T", "Identity", "DepolarizingChannel", "AmplitudeDamping", "PhaseDamping", "BitFlip",
          "PhaseFlip")
_STATE_PREPS = ("AmplitudeEmbedding", "StatePrep")


class _UnsupportedError(ValueError):
    pass


class _Sym:
    """``const + Σ coef·key`` with keys ``("x", j)``, ``("w", k)``, ``("xw", j, k)``."""

    __slots__ = ("const", "terms")
    __array_priority__ = 1000

    def __init__(self, const=0.0, terms=None):
        self.const = float(const)
        self.terms = dict(terms or {})

    @staticmethod
    def _of(v):
        if isinstance(v, _Sym):
            return v
        if isinstance(v, np.ndarray) and v.ndim == 0:
            return _Sym._of(v.item())
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return _Sym(float(v))
        return None

    def __add__(self, other):
        o = _Sym._of(other)
        if o is None:
            return NotImplemented
        terms = dict(self.terms)
        for k, c in o.terms.items():
            terms[k] = terms.get(k, 0.0) + c
        return _Sym(self.const + o.const, {k: c for k, c in terms.items() if c != 0.0})

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        o = _Sym._of(other)
        return NotImplemented if o is None else self + (-o)

    def __rsub__(self, other):
        o = _Sym._of(other)
        return NotImplemented if o is None else o + (-self)

    def __mul__(self, other):
        o = _Sym._of(other)
        if o is None:
            return NotImplemented
        if not o.terms:
            return _Sym(self.const * o.const, {k: c * o.const for k, c in self.terms.items() if c * o.const != 0.0})
        if not self.terms:
            return o * self.const
        # a feature times a weight (a trainable encoding) or times a feature (IQP), and nothing else
        if self.const == 0.0 and o.const == 0.0 and len(self.terms) == 1 and len(o.terms) == 1:
            (ka, ca), (kb, cb) = next(iter(self.terms.items())), next(iter(o.terms.items()))
            if ka[0] == "w" and kb[0] == "x":
                (ka, kb) = (kb, ka)
            if ka[0] == "x" and kb[0] == "w":
                return _Sym(0.0, {("xw", ka[1], kb[1]): ca * cb})
            if ka[0] == "x" and kb[0] == "x":
                return _Sym(0.0, {("xx", ka[1], kb[1]): ca * cb})
        raise _UnsupportedError(f"the product ({self}) * ({o}) is not an angle dpqml can express "
                                "(a feature may multiply one weight or one other feature)")

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = _Sym._of(other)
        if o is None or o.terms:
            raise _UnsupportedError(f"dividing by ({other}) is not linear in the features and weights")
        return self * (1.0 / o.const)

    def conjugate(self):
        return self  # features and weights are real

    @property
    def real(self):
        return self

    def _nonlinear(self, *_, **__):
        raise _UnsupportedError(f"a non-linear function of ({self}) (dpqml angles are affine in features and weights)")

    __float__ = __abs__ = __pow__ = __rpow__ = __rtruediv__ = sqrt = sin = cos = exp = _nonlinear
    __lt__ = __le__ = __gt__ = __ge__ = _nonlinear

    def __repr__(self):
        parts = [f"{c:g}*{ {'x': 'x', 'w': 'w', 'xw': 'x*w', 'xx': 'x*x'}[k[0]] }{list(k[1:])}"
                 for k, c in self.terms.items()]
        return " + ".join(parts + ([f"{self.const:g}"] if self.const or not parts else []))


def _angle(value, where: str) -> Angle:
    s = _Sym._of(value)
    if s is None:
        raise ValueError(f"{where}: a parameter of type {type(value).__name__} ({value!r}) is neither a number "
                         "nor built from the declared features and weights")
    weight = feature = fweight = feature2 = None
    scale = 1.0
    for key, c in s.terms.items():
        if key[0] == "w":
            if weight is not None or not math.isclose(c, 1.0, rel_tol=0, abs_tol=1e-12):
                raise ValueError(f"{where}: the angle {s} uses a weight with coefficient {c:g} or several weights; "
                                 "dpqml angles add one weight with coefficient 1 (absorb the scale into the weight)")
            weight = key[1]
        else:
            if feature is not None:
                raise ValueError(f"{where}: the angle {s} uses several feature terms; dpqml angles take one")
            feature, scale = key[1], c
            fweight = key[2] if key[0] == "xw" else None
            feature2 = key[2] if key[0] == "xx" else None
    return Angle(weight=weight, feature=feature, scale=scale, feature_weight=fweight, offset=s.const,
                 feature2=feature2)


def _number(value, where: str) -> float:
    s = _Sym._of(value)
    if s is None or s.terms:
        raise ValueError(f"{where}: the channel strength must be a number, not a function of features or weights "
                         f"(got {value!r})")
    return s.const


def flatten_weights(weights: Mapping, weight_shapes: Mapping) -> np.ndarray:
    """The vector ``theta`` of an imported circuit from a dict of weight arrays (names and shapes
    as in ``weight_shapes``, in its order, each flattened in C order)."""
    out = []
    for name, shape in weight_shapes.items():
        arr = np.asarray(weights[name], dtype=float)
        if arr.shape != _shape(shape):
            raise ValueError(f"weights[{name!r}] has shape {arr.shape}; weight_shapes says {_shape(shape)}")
        out.append(arr.reshape(-1))
    return np.concatenate(out) if out else np.zeros((0,))


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


@contextlib.contextmanager
def _symbolic_state_preps(qml):
    """While tracing: a state preparation of symbols keeps them as given (no normalisation)."""
    original = qml.StatePrep.__dict__["_preprocess"]

    def keep(state, wires, pad_with=None, normalize=False, validate_norm=True):
        if isinstance(state, np.ndarray) and state.dtype == object:
            return state
        return original.__func__(state, wires, pad_with=pad_with, normalize=normalize, validate_norm=validate_norm)

    qml.StatePrep._preprocess = staticmethod(keep)
    try:
        yield
    finally:
        qml.StatePrep._preprocess = original


def from_pennylane(qnode, *, weight_shapes: Mapping, features: str | None = "inputs", n_features: int | None = None,
                   n_qubits: int | None = None) -> Circuit:
    """The dpqml :class:`~dpqml.quantum.Circuit` of a PennyLane QNode (or quantum function).

    Args:
        qnode: a ``qml.QNode`` or its quantum function, returning ``qml.expval`` measurements.
        weight_shapes: trainable arguments and their shapes, ``{"weights": (L, n, 3), ...}`` (as
            ``qml.qnn.TorchLayer`` takes them); they become ``theta``, in this order, each
            flattened in C order (:func:`flatten_weights`).
        features: the argument that takes one example's features (``"inputs"``, TorchLayer's
            name), or ``None`` for a circuit without features.
        n_features: the length of that argument (required with ``features``).
        n_qubits: the register size (default: the QNode's device wires, else the wires used).

    Returns:
        A :class:`~dpqml.quantum.Circuit` with ``n_params`` the total weight count; wrap it in
        :class:`dpqml.models.QuantumModel` to train it (``dpqml.train_private``).
    """
    import pennylane as qml

    func = getattr(qnode, "func", qnode)
    shapes = {name: _shape(s) for name, s in dict(weight_shapes).items()}
    if features is not None:
        if n_features is None or isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
                or n_features < 1:
            raise ValueError(f"n_features must be an integer >= 1 (the length of {features!r}); got {n_features!r}")
        if features in shapes:
            raise ValueError(f"{features!r} is declared both as the features and as a weight (weight_shapes); "
                             "a feature is not trainable")
    params = [p for p in inspect.signature(func).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty]
    undeclared = [p.name for p in params if p.name not in shapes and p.name != features]
    if undeclared:
        raise ValueError(f"the QNode's arguments {undeclared} are declared neither as features ({features!r}) nor "
                         f"as weights (weight_shapes: {list(shapes)})")
    kwargs, k = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) if shape else 1
        kwargs[name] = np.array([_Sym(0.0, {("w", k + i): 1.0}) for i in range(size)], dtype=object).reshape(shape)
        k += size
    n_params = k
    if features is not None:
        kwargs[features] = np.array([_Sym(0.0, {("x", j): 1.0}) for j in range(int(n_features))], dtype=object)
    try:
        with _symbolic_state_preps(qml):
            tape = qml.tape.make_qscript(func)(**kwargs)
    except _UnsupportedError as exc:
        raise ValueError(f"the QNode's circuit: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the circuit's own code raised on a symbol
        raise ValueError(f"the QNode's circuit could not be traced with symbolic features and weights "
                         f"({type(exc).__name__}: {exc}); dpqml imports circuits whose angles are affine in them "
                         "(no non-linear function such as sin or exp of a feature or weight)") from None
    ops = _expand(qml, tape.operations)
    wires = sorted({w for op in ops for w in op.wires} | {w for m in tape.measurements for w in m.wires})
    if any(not isinstance(w, (int, np.integer)) or w < 0 for w in wires):
        raise ValueError(f"wires must be integers 0..n-1; the QNode uses {wires}")
    dev_wires = getattr(getattr(qnode, "device", None), "wires", None)
    if n_qubits is None:
        n_qubits = len(dev_wires) if dev_wires is not None and len(dev_wires) else (max(wires) + 1 if wires else 1)
    state_prep = "zero"
    operations = []
    for i, op in enumerate(ops):
        where = f"operation {i} ({op.name} on wires {list(op.wires)})"
        if op.name in _STATE_PREPS:
            if i != 0:
                raise ValueError(f"{where}: a state preparation must come first")
            data = np.asarray(op.data[0], dtype=object).reshape(-1)
            expected = [_Sym(0.0, {("x", j): 1.0}) for j in range(int(n_features or 0))]
            if len(data) != len(expected) or any(_Sym._of(d) is None or _Sym._of(d).terms != e.terms
                                                 or _Sym._of(d).const != 0.0 for d, e in zip(data, expected)):
                raise ValueError(f"{where}: dpqml prepares the amplitudes of the features themselves, x / |x| "
                                 "zero-padded; this one prepares something else")
            if list(op.wires) != list(range(n_qubits)) or op.hyperparameters.get("pad_with") not in (None, 0, 0.0):
                raise ValueError(f"{where}: dpqml's amplitude encoding covers wires 0..{n_qubits - 1} and pads "
                                 "with zeros")
            state_prep = "amplitude"
            continue
        operations.append(_operation(op, where))
    observables = [_observable(qml, m, i) for i, m in enumerate(tape.measurements)]
    return Circuit(int(n_qubits), operations, observables, state_prep=state_prep, n_params=n_params,
                   n_features=int(n_features) if features is not None else 0)


def _expand(qml, ops, depth: int = 0) -> list:
    out = []
    for op in ops:
        if op.name in ("GlobalPhase", "Barrier"):  # no effect on any expectation value
            continue
        if op.name in DIRECT or op.name in ("PauliRot", "MultiRZ") or op.name in _STATE_PREPS:
            out.append(op)
            continue
        if isinstance(op, qml.measurements.MidMeasureMP) or "Conditional" in type(op).__name__:
            raise ValueError(f"{op.name} on wires {list(op.wires)}: mid-circuit measurements and conditionals "
                             "are not supported (dpqml simulates unitary gates and noise channels)")
        try:
            decomposition = op.decomposition() if depth < 16 else None
        except _UnsupportedError as exc:
            raise ValueError(f"{op.name} on wires {list(op.wires)}: {exc}") from None
        except Exception:  # noqa: BLE001 - PennyLane raises several types for "no decomposition"
            decomposition = None
        if not decomposition:
            raise ValueError(f"{op.name} on wires {list(op.wires)} is not an operation dpqml simulates, and PennyLane "
                             f"has no decomposition of it into ones it does ({', '.join(DIRECT)}, PauliRot, MultiRZ)")
        out.extend(_expand(qml, decomposition, depth + 1))
    return out


def _operation(op, where: str) -> Operation:
    wires = tuple(int(w) for w in op.wires)
    name = op.name
    if name in ("DepolarizingChannel", "AmplitudeDamping", "PhaseDamping", "BitFlip", "PhaseFlip"):
        return Operation(name, wires, prob=_number(op.data[0], where))
    if name == "MultiRZ":
        return Operation("PauliRot", wires, (_angle(op.data[0], where),), pauli="Z" * len(wires))
    if name == "PauliRot":
        return Operation("PauliRot", wires, (_angle(op.data[0], where),), pauli=op.hyperparameters["pauli_word"])
    return Operation(name, wires, tuple(_angle(d, where) for d in op.data))


def _observable(qml, m, i: int) -> Observable:
    if not isinstance(m, qml.measurements.ExpectationMP) or m.obs is None:
        raise ValueError(f"measurement {i} ({type(m).__name__}) is not supported: dpqml measures qml.expval of Pauli "
                         "words and Hamiltonians")
    try:
        sentence = qml.pauli.pauli_sentence(m.obs)
    except Exception:  # noqa: BLE001 - PennyLane's error for a non-Pauli observable varies
        raise ValueError(f"measurement {i}: qml.expval({m.obs}) is not a sum of Pauli words") from None
    total = None
    for word, coeff in sentence.items():
        c = complex(coeff)
        if abs(c.imag) > 1e-12:
            raise ValueError(f"measurement {i}: the coefficient {coeff} is not real (the observable is not Hermitian)")
        items = sorted((int(w), p) for w, p in word.items())
        if items:
            term = c.real * pauli("".join(p for _, p in items), [w for w, _ in items])
        else:
            term = c.real * identity()
        total = term if total is None else total + term
    return total if total is not None else 0.0 * identity()
