"""The registry of simulation methods: one interface per method, ``auto`` as a choice over it,
and modules that share the core instead of each other's private names."""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import dpqml.quantum as q
from dpqml.models import build_model
from dpqml.quantum import methods
from dpqml.quantum.methods import REGISTRY, applicable, auto_method, resolve_method, simulation_kind

KINDS = {"state-vector", "density-matrix", "pauli-basis", "tensor-network", "trajectories"}


def _circuits():
    return {
        "noiseless": build_model(qubits=3, layers=2).circuit,
        "wide": build_model(qubits=8, layers=1).circuit,
        "noisy": build_model(qubits=3, layers=2, noise="depolarizing").circuit,
        "amplitude": build_model(qubits=2, layers=2, encoding="amplitude").circuit,
        "noisy-reuploading": build_model(qubits=2, layers=2, ansatz="reuploading", noise="depolarizing").circuit,
    }


@pytest.mark.parametrize("name", list(_circuits()))
def test_every_method_offers_the_interface_and_agrees_with_backprop(name):
    circuit = _circuits()[name]
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params), jnp.float32)
    x = jnp.asarray(rng.uniform(0, 1, circuit.n_features), jnp.float32)
    reference = q.expectations(circuit, theta, x, method="backprop")
    runnable = applicable(circuit, estimators=True)
    assert "backprop" in runnable  # backprop runs every circuit
    assert applicable(circuit) == [m for m in runnable if REGISTRY[m].exact]
    for method, m in REGISTRY.items():
        need = m.needs(circuit)
        assert (need is None) == (method in runnable)
        if need is not None:
            assert isinstance(need, str) and need
            with pytest.raises(ValueError, match=f"method={method!r} needs"):
                q.expectations(circuit, theta, x, method=method)
            continue
        assert m.holds(circuit) in KINDS
        cost = m.auto_seconds(circuit)
        assert cost is None or cost >= 0
        small, large = (m.memory_bytes(circuit, b, 8, True) for b in (1, 64))
        assert 0 < small < large
        if not m.exact:  # an estimator: never auto's choice, and the exact interface refuses it
            assert cost is None
            with pytest.raises(ValueError, match="estimates .*trajectory_expectations"):
                q.expectations(circuit, theta, x, method=method)
            continue
        np.testing.assert_allclose(q.expectations(circuit, theta, x, method=method), reference, atol=2e-5)
    chosen = auto_method(circuit)
    assert chosen in runnable and REGISTRY[chosen].auto_seconds(circuit) is not None
    assert simulation_kind(circuit) == REGISTRY[chosen].holds(circuit)


def test_auto_takes_the_cheapest_applicable_method_of_the_registry(monkeypatch):
    circuit = build_model(qubits=3, layers=2).circuit
    assert auto_method(circuit) == "heisenberg"  # small register: the measured rule (cost 0)
    # without the rule, the fitted costs decide between the network and the state vector
    no_rule = dataclasses.replace(REGISTRY["heisenberg"], auto_seconds=lambda c: None)
    monkeypatch.setitem(REGISTRY, "heisenberg", no_rule)
    costs = methods.estimated_seconds(circuit)
    assert auto_method(circuit) == min(costs, key=costs.get)
    # a new method registered with a lower cost is chosen, and expectations runs it
    calls = []

    def fake(c, theta, x):
        calls.append(c)
        return jnp.zeros((len(c.observables),), theta.dtype)

    new = methods.Method("fake", "test double", lambda c: None, fake, lambda c: 1e-12,
                         lambda c, b, i, g: b, lambda c: "state-vector")
    monkeypatch.setitem(REGISTRY, "fake", new)
    monkeypatch.setattr(methods, "METHODS", ("auto", *REGISTRY))
    assert auto_method(circuit) == "fake" and resolve_method(circuit, "fake") == "fake"
    q.expectations(circuit, jnp.zeros(circuit.n_params), jnp.zeros(circuit.n_features))
    assert calls == [circuit]
    # a method that cannot run the circuit is never chosen, however cheap
    monkeypatch.setitem(REGISTRY, "fake", dataclasses.replace(new, needs=lambda c: "something else"))
    assert auto_method(circuit) != "fake"


def test_noisy_circuits_fall_back_on_backprop_only_where_nothing_else_runs():
    noisy = build_model(qubits=3, layers=2, noise="depolarizing").circuit
    reup = build_model(qubits=2, layers=2, ansatz="reuploading", noise="depolarizing").circuit
    assert auto_method(noisy) == "heisenberg"
    assert REGISTRY["backprop"].auto_seconds(noisy) == math.inf
    assert auto_method(reup) == "backprop" and applicable(reup) == ["backprop"]
    assert applicable(reup, estimators=True) == ["backprop", "trajectories"]
    assert REGISTRY["backprop"].auto_seconds(build_model(qubits=3, layers=2).circuit) is None


def test_unknown_method_names_the_valid_ones():
    circuit = build_model(qubits=2, layers=1).circuit
    with pytest.raises(ValueError, match=r"method must be one of \['auto', 'adjoint'"):
        q.expectations(circuit, jnp.zeros(circuit.n_params), method="magic")
    with pytest.raises(ValueError, match="method must be one of"):
        q.estimate_memory_bytes(circuit, 4, method="magic")


def test_no_module_imports_a_private_name_of_another():
    """The methods share :mod:`dpqml.quantum.core`; none reaches into a sibling's private names
    (the simulate <-> heisenberg tangle this registry replaced)."""
    root = Path(q.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                offenders += [f"{path.name}: from {node.module} import {a.name}"
                              for a in node.names if a.name.startswith("_")]
    assert offenders == []
