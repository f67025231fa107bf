"""The bound on a circuit's outputs alone (no head, no loss): sound, and on the command line."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.bounds import circuit_bound
from dpqml.cli import main
from dpqml.models import build_model
from dpqml.quantum import expectations


@pytest.mark.parametrize("spec", [dict(qubits=3, layers=2, readout="z"), dict(qubits=2, layers=3, noise="nisq"),
                                  dict(qubits=2, layers=2, ansatz="reuploading")])
def test_the_circuit_bound_holds_at_random_points(spec):
    circuit = build_model(**spec).circuit
    feature_bound = np.pi
    b = circuit_bound(circuit, feature_bound=feature_bound)
    assert set(b.groups) == {f"<O_{k}>" for k in range(len(circuit.observables))}
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, (64, circuit.n_params)))
    x = jnp.asarray(rng.uniform(-feature_bound, feature_bound, (64, circuit.n_features)))
    j = np.asarray(jax.vmap(lambda t, xx: jax.jacobian(expectations, argnums=1)(circuit, t, xx))(theta, x))
    rows = np.linalg.norm(j, axis=2)  # (batch, n_obs)
    assert np.all(rows <= np.asarray(list(b.groups.values())) + 1e-9)
    assert np.all(np.linalg.norm(j, axis=(1, 2)) <= b.total + 1e-9)
    assert rows.max() > 0.1 * max(b.groups.values())  # not vacuous


def test_trainable_encodings_need_a_feature_bound():
    with pytest.raises(ValueError, match="feature_bound is required"):
        circuit_bound(build_model(qubits=2, layers=1, ansatz="reuploading").circuit)


def test_the_command_line_takes_circuit_only(capsys):
    assert main(["bound", "--circuit-only", "--qubits", "3", "--layers", "1", "--readout", "z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["per_output"]) == {"<O_0>", "<O_1>", "<O_2>"} and out["circuit_bound"] > 0
    assert main(["bound", "--circuit-only", "--clip", "1.0"]) == 2
    assert "drop --clip" in capsys.readouterr().err
    assert main(["bound", "--qubits", "2"]) == 2
    assert "--clip is required" in capsys.readouterr().err
    assert main(["bound", "--circuit-only", "--ansatz", "reuploading"]) == 2
    assert "--feature-bound is required" in capsys.readouterr().err
