"""Trained models on disk: one JSON file with the circuit, the model around it and the parameters.

The format (``"format": "dpqml-model"``, ``"version": 1``)::

    {"format": "dpqml-model", "version": 1,
     "circuit": {"n_qubits": 4, "state_prep": "zero", "n_params": 18, "n_features": 4,
                 "operations": [{"name": "RY", "wires": [0], "angles": [{"feature": 0}]},
                                {"name": "Depolarizing", "wires": [0], "prob": 0.01},
                                {"name": "PauliRot", "wires": [0, 1], "angles": [{"weight": 3}], "pauli": "XZ"},
                                {"name": "Unitary", "wires": [1], "matrix": {"re": [[...]], "im": [[...]]}}, ...],
                 "observables": [[[1.0, [[0, "Z"]]]], ...]},
     "model": {"kind": "QuantumModel", "n_classes": 2, "input_dim": 4, "pre": [], "post": [], "method": "auto"},
     "params": {"theta": {"dtype": "float32", "shape": [18], "values": [...]}, "head": {...}},
     "meta": {...}}

An angle lists only the fields of :class:`~dpqml.quantum.Angle` that differ from their defaults;
an observable is a list of ``[coefficient, [[wire, letter], ...]]`` terms; every parameter leaf
is stored with its dtype and shape, its values as decimal numbers that read back bit for bit.
:func:`save_model` and :func:`load_model` round-trip a :class:`~dpqml.models.QuantumModel` and its
parameters; the circuit alone goes with :func:`circuit_to_dict` / :func:`circuit_from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..quantum import Angle, Circuit, Observable, Operation
from ..quantum.observables import PauliString

FORMAT, VERSION = "dpqml-model", 1
_ANGLE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Angle)}


def circuit_to_dict(circuit: Circuit) -> dict:
    """The circuit as plain JSON-able data (see the module docstring)."""
    ops = []
    for op in circuit.operations:
        d = {"name": op.name, "wires": list(op.wires)}
        if op.angles:
            d["angles"] = [{k: getattr(a, k) for k, v in _ANGLE_DEFAULTS.items() if getattr(a, k) != v}
                           for a in op.angles]
        if op.prob is not None:
            d["prob"] = float(op.prob)
        if op.pauli is not None:
            d["pauli"] = op.pauli
        if op.matrix is not None:
            m = np.asarray(op.matrix)
            d["matrix"] = {"re": m.real.tolist(), "im": m.imag.tolist()}
        ops.append(d)
    observables = [[[float(c), [list(f) for f in p.factors]] for c, p in obs.terms] for obs in circuit.observables]
    return {"n_qubits": circuit.n_qubits, "state_prep": circuit.state_prep, "n_params": circuit.n_params,
            "n_features": circuit.n_features, "operations": ops, "observables": observables}


def circuit_from_dict(d: dict) -> Circuit:
    """The circuit :func:`circuit_to_dict` wrote (every operation validated as it is rebuilt)."""
    ops = []
    for i, o in enumerate(d["operations"]):
        try:
            matrix = None if "matrix" not in o else np.asarray(o["matrix"]["re"]) + 1j * np.asarray(o["matrix"]["im"])
            ops.append(Operation(o["name"], tuple(o["wires"]), tuple(Angle(**a) for a in o.get("angles", ())),
                                 pauli=o.get("pauli"), matrix=matrix, prob=o.get("prob")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"operation {i} of the saved circuit: {exc}") from None
    observables = [Observable(tuple((float(c), PauliString(tuple((int(w), str(p)) for w, p in f)))
                                    for c, f in obs)) for obs in d["observables"]]
    return Circuit(int(d["n_qubits"]), ops, observables, n_params=int(d["n_params"]),
                   n_features=int(d["n_features"]), state_prep=d["state_prep"])


def _leaf_to_dict(v) -> dict:
    a = np.asarray(v)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.reshape(-1).tolist()}


def _leaf_from_dict(d: dict):
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(d["values"], dtype=d["dtype"]).reshape(d["shape"]))


def _tree_to_dict(tree):
    if isinstance(tree, dict):
        return {"dict": {k: _tree_to_dict(v) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        return {"list": [_tree_to_dict(v) for v in tree], "tuple": isinstance(tree, tuple)}
    return {"leaf": _leaf_to_dict(tree)}


def _tree_from_dict(d):
    if "dict" in d:
        return {k: _tree_from_dict(v) for k, v in d["dict"].items()}
    if "list" in d:
        items = [_tree_from_dict(v) for v in d["list"]]
        return tuple(items) if d.get("tuple") else items
    return _leaf_from_dict(d["leaf"])


def save_model(path, model, params, *, meta: dict | None = None) -> Path:
    """Write ``model`` (a :class:`~dpqml.models.QuantumModel`) and its trained ``params`` to ``path``
    (JSON, the format of the module docstring); ``meta`` is stored as given (JSON-able)."""
    from ..models import QuantumModel

    if type(model) is not QuantumModel:
        raise ValueError(f"save_model saves a dpqml QuantumModel (its circuit and head); got {type(model).__name__}")
    doc = {"format": FORMAT, "version": VERSION, "circuit": circuit_to_dict(model.circuit),
           "model": {"kind": "QuantumModel", "n_classes": model.n_classes, "input_dim": model.input_dim,
                     "pre": list(model.pre), "post": list(model.post), "method": model.method},
           "params": _tree_to_dict(params), "meta": meta or {}}
    path = Path(path)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def load_model(path):
    """``(model, params)`` from a file :func:`save_model` wrote."""
    from ..models import QuantumModel

    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON file ({exc})") from None
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dpqml model file (format {doc.get('format')!r}, expected {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: model file version {doc.get('version')!r}; this dpqml reads version {VERSION}")
    m = doc["model"]
    model = QuantumModel(circuit_from_dict(doc["circuit"]), n_classes=m["n_classes"], input_dim=m["input_dim"],
                         pre=tuple(m["pre"]), post=tuple(m["post"]), method=m["method"])
    return model, _tree_from_dict(doc["params"])
