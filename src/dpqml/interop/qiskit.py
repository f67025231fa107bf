"""Qiskit import and export (``pip install 'dpqml[qiskit]'``).

* :func:`to_qiskit`: a dpqml circuit as a ``QuantumCircuit``, its angles bound to ``theta`` and
  ``x``, or left as ``ParameterVector`` s ``θ`` and ``x`` when they are not given; the amplitude
  state preparation becomes Qiskit's ``StatePreparation``. :func:`observables_to_qiskit` gives
  the observables as ``SparsePauliOp`` s.
* :func:`from_qiskit`: a ``QuantumCircuit`` whose angles are affine in declared feature and
  weight parameters (a feature may multiply one weight) and ``SparsePauliOp`` observables, as a
  dpqml circuit. Each angle's form is read by evaluating it (constant, each coefficient, the
  feature-weight product) and checked at a random point.

Qubit ``q`` of Qiskit is wire ``q`` of dpqml. Qiskit writes Pauli labels and basis states
little-endian (qubit 0 rightmost); dpqml's wire 0 is the most significant bit, so labels are
reversed on the way, and ``StatePreparation`` is applied to the qubits in reverse order.
"""

from __future__ import annotations

import numpy as np

from ..quantum import Angle, Circuit, Operation
from ..quantum.observables import identity, pauli
from .export import STANDARD_NAMES, standard_gates


def _qiskit():
    try:
        import qiskit
    except ImportError:  # pragma: no cover - the extra is installed with the test suite
        raise ImportError("Qiskit is an optional extra: pip install 'dpqml[qiskit]'") from None
    return qiskit


def to_qiskit(circuit: Circuit, theta=None, x=None):
    """``circuit`` as a ``qiskit.QuantumCircuit`` (see the module docstring)."""
    qiskit = _qiskit()
    from qiskit.circuit import ParameterVector
    from qiskit.circuit.library import StatePreparation

    if theta is None:
        theta = ParameterVector("θ", circuit.n_params)
    else:
        theta = np.asarray(theta, dtype=float).reshape(-1)
        if theta.shape != (circuit.n_params,):
            raise ValueError(f"theta must have shape ({circuit.n_params},); got {theta.shape}")
    if x is None:
        x = ParameterVector("x", circuit.n_features)
        if circuit.state_prep == "amplitude":
            raise ValueError("the amplitude state preparation needs the features bound: pass x (one example)")
    else:
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape != (circuit.n_features,):
            raise ValueError(f"x must have shape ({circuit.n_features},); got {x.shape}")
    qc = qiskit.QuantumCircuit(circuit.n_qubits)
    body = circuit
    if circuit.state_prep == "amplitude":
        amp = np.zeros(2**circuit.n_qubits)
        amp[: circuit.n_features] = x
        norm = np.linalg.norm(amp)
        if norm == 0:
            raise ValueError("the amplitude encoding of an all-zero feature vector is undefined")
        qc.append(StatePreparation(amp / norm), list(range(circuit.n_qubits))[::-1])
        body = Circuit(circuit.n_qubits, circuit.operations, circuit.observables, circuit.n_params,
                       circuit.n_features)
    for gate, params, qubits in standard_gates(body, theta, x, what="this export"):
        getattr(qc, "u" if gate == "U" else gate)(*params, *qubits)
    return qc


def observables_to_qiskit(circuit: Circuit) -> list:
    """Each observable of ``circuit`` as a ``qiskit.quantum_info.SparsePauliOp`` (labels little-endian)."""
    _qiskit()
    from qiskit.quantum_info import SparsePauliOp

    out = []
    for obs in circuit.observables:
        terms = []
        for c, ps in obs.terms:
            label = ["I"] * circuit.n_qubits
            for w, p in ps.factors:
                label[circuit.n_qubits - 1 - w] = p
            terms.append(("".join(label), c))
        out.append(SparsePauliOp.from_list(terms or [("I" * circuit.n_qubits, 0.0)]))
    return out


def from_qiskit(qc, observables, *, features=(), weights=()) -> Circuit:
    """A dpqml circuit from a ``QuantumCircuit`` and its observables (``SparsePauliOp`` s, or dpqml
    observables). ``features``: the parameters that take one example's features, in order (a
    ``ParameterVector`` or a list); ``weights``: the trainable parameters, in the order of
    ``theta`` (a ``ParameterVector``, a list, or a list of them). Every other parameter is refused."""
    qiskit = _qiskit()
    from qiskit.circuit import ParameterExpression
    from qiskit.quantum_info import Operator, SparsePauliOp

    if not isinstance(qc, qiskit.QuantumCircuit):
        raise ValueError(f"from_qiskit needs a qiskit.QuantumCircuit; got {type(qc).__name__}")
    feats = list(features)
    wts = [p for group in weights for p in (group if _is_group(group) else [group])]
    index = {p: ("x", j) for j, p in enumerate(feats)}
    for k, p in enumerate(wts):
        if p in index:
            raise ValueError(f"parameter {p} is declared both as a feature and as a weight")
        index[p] = ("w", k)
    undeclared = sorted(str(p) for p in qc.parameters if p not in index)
    if undeclared:
        raise ValueError(f"parameters {undeclared} are unbound and declared neither as features nor as weights")
    n = qc.num_qubits
    ops = []
    for i, inst in enumerate(qc.data):
        op, qubits = inst.operation, tuple(qc.find_bit(q).index for q in inst.qubits)
        where = f"instruction {i} ({op.name} on qubits {list(qubits)})"
        if op.name in ("barrier", "global_phase"):
            continue
        if op.name in ("measure", "reset") or inst.clbits:
            raise ValueError(f"{where}: measurements, resets and classical control are not supported (dpqml measures "
                             "the observables you pass)")
        params = [_angle(p, index, where, ParameterExpression) for p in op.params]
        if op.name in STANDARD_NAMES:  # the standard gates the export writes (Qiskit's names too)
            ops.append(Operation(STANDARD_NAMES[op.name], qubits, tuple(params)))
        elif op.name == "u":  # U(θ, φ, λ) = RZ(φ) RY(θ) RZ(λ), up to a global phase
            th, ph, lam = params
            ops += [Operation("RZ", qubits, (lam,)), Operation("RY", qubits, (th,)), Operation("RZ", qubits, (ph,))]
        elif not op.params and len(qubits) <= 2:
            m = Operator(op).data  # little-endian: reverse the qubit order into dpqml's
            k = len(qubits)
            m = m.reshape((2,) * 2 * k).transpose(*range(k - 1, -1, -1), *range(2 * k - 1, k - 1, -1))
            ops.append(Operation("Unitary", qubits, matrix=m.reshape(2**k, 2**k)))
        else:
            raise ValueError(f"{where}: not a gate dpqml imports (rx ry rz u crx cry crz with affine angles, "
                             "fixed gates on up to 2 qubits; transpile to these first)")
    obs = [_observable(o, n, SparsePauliOp) for o in (observables if isinstance(observables, (list, tuple))
                                                       else [observables])]
    return Circuit(n, ops, obs, n_params=len(wts), n_features=len(feats))


def _is_group(g) -> bool:
    return hasattr(g, "__iter__") and not hasattr(g, "bind")


def _angle(expr, index, where, parameter_expression) -> Angle:
    if not isinstance(expr, parameter_expression):
        return Angle(offset=float(expr))
    params = list(expr.parameters)

    def value(assign):
        return float(expr.bind({p: assign.get(p, 0.0) for p in params}))

    c0 = value({})
    coef = {p: value({p: 1.0}) - c0 for p in params}
    feats = [p for p in params if index[p][0] == "x"]
    wts = [p for p in params if index[p][0] == "w"]
    bilinear = {}
    for f in feats:
        for w in wts:
            b = value({f: 1.0, w: 1.0}) - c0 - coef[f] - coef[w]
            if abs(b) > 1e-12:
                bilinear[(f, w)] = b
    rng = np.random.default_rng(0)
    probe = {p: float(rng.uniform(-2, 2)) for p in params}
    predicted = c0 + sum(coef[p] * probe[p] for p in params) + sum(b * probe[f] * probe[w]
                                                                   for (f, w), b in bilinear.items())
    if abs(value(probe) - predicted) > 1e-9 * max(1.0, abs(predicted)):
        raise ValueError(f"{where}: the angle {expr} is not affine in the features and weights")
    lin_w = [p for p in wts if abs(coef[p]) > 1e-12]
    lin_f = [p for p in feats if abs(coef[p]) > 1e-12]
    if len(lin_w) > 1 or (lin_w and abs(coef[lin_w[0]] - 1.0) > 1e-12):
        raise ValueError(f"{where}: the angle {expr} adds weights other than one with coefficient 1")
    if len(lin_f) + len(bilinear) > 1:
        raise ValueError(f"{where}: the angle {expr} has more than one feature term")
    if bilinear:
        (f, w), b = next(iter(bilinear.items()))
        return Angle(weight=index[lin_w[0]][1] if lin_w else None, feature=index[f][1], scale=b,
                     feature_weight=index[w][1], offset=c0)
    return Angle(weight=index[lin_w[0]][1] if lin_w else None, feature=index[lin_f[0]][1] if lin_f else None,
                 scale=coef[lin_f[0]] if lin_f else 1.0, offset=c0)


def _observable(o, n, sparse_pauli_op):
    if not isinstance(o, sparse_pauli_op):
        return o  # a dpqml observable already
    if o.num_qubits != n:
        raise ValueError(f"an observable on {o.num_qubits} qubits for a {n}-qubit circuit")
    total = None
    for label, c in o.to_list():
        c = complex(c)
        if abs(c.imag) > 1e-12:
            raise ValueError(f"the observable term {label} has a complex coefficient {c} (not Hermitian)")
        wires = [n - 1 - j for j, p in enumerate(label) if p != "I"]
        letters = [p for p in label if p != "I"]
        term = c.real * (pauli("".join(letters), wires) if letters else identity())
        total = term if total is None else total + term
    return total
