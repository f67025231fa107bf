"""Trained models saved and loaded: the same circuit, parameters and predictions, bit for bit."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import unitary_group

from dpqml.interop import circuit_from_dict, circuit_to_dict, load_model, save_model
from dpqml.models import QuantumModel, build_model
from dpqml.quantum import Angle, Circuit, Operation, X, Y, Z, expectations


@pytest.mark.parametrize("kwargs", [dict(qubits=3, layers=2, noise="nisq+readout:0.03"),
                                    dict(qubits=4, layers=1, encoding="amplitude", n_classes=4, readout="z",
                                         input_dim=16),
                                    dict(qubits=2, layers=1, ansatz="reuploading", pre=(3,), post=(4,), input_dim=5)])
def test_a_saved_model_loads_with_the_same_parameters_and_predictions(tmp_path, kwargs):
    model = build_model(**kwargs)
    params = model.init(jax.random.PRNGKey(3))
    path = save_model(tmp_path / "m.json", model, params, meta={"epsilon": 2.0})
    doc = json.loads(path.read_text())
    assert doc["format"] == "dpqml-model" and doc["version"] == 1 and doc["meta"] == {"epsilon": 2.0}
    loaded, loaded_params = load_model(path)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(loaded_params)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert jax.tree.structure(params) == jax.tree.structure(loaded_params)
    x = jnp.asarray(np.random.default_rng(0).uniform(0.1, 1, (6, model.input_dim)), jnp.float32)
    np.testing.assert_array_equal(jax.vmap(model.apply, (None, 0))(params, x),
                                  jax.vmap(loaded.apply, (None, 0))(loaded_params, x))


def test_every_kind_of_operation_round_trips():
    ops = [Operation("RY", (0,), (Angle(feature=0, scale=0.5, feature_weight=1, weight=0, offset=0.2),)),
           Operation("PauliRot", (0, 1), (Angle(weight=1),), pauli="XZ"),
           Operation("Unitary", (1,), matrix=unitary_group.rvs(2, random_state=0)),
           Operation("CRZ", (1, 0), (Angle(offset=0.3),)), Operation("AmplitudeDamping", (1,), prob=0.1),
           Operation("ReadoutError", (0,), prob=0.02)]
    circuit = Circuit(2, ops, [Z(0), 0.5 * X(0) @ Y(1) - 0.25 * Z(1)])
    back = circuit_from_dict(json.loads(json.dumps(circuit_to_dict(circuit))))
    theta, x = jnp.asarray([0.4, -1.2]), jnp.asarray([0.7])
    np.testing.assert_array_equal(expectations(back, theta, x), expectations(circuit, theta, x))
    assert [str(o) for o in back.operations] == [str(o) for o in circuit.operations]


def test_bad_files_and_other_models_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a dpqml model file"):
        load_model(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a JSON file"):
        load_model(bad)
    from dpqml.models.paper import PaperQuantumModel

    with pytest.raises(ValueError, match="saves a dpqml QuantumModel"):
        save_model(tmp_path / "p.json", PaperQuantumModel(), {})
    assert isinstance(build_model(qubits=2, layers=1), QuantumModel)


def test_dpqml_train_saves_the_trained_model(tmp_path, capsys):
    from dpqml.cli import main

    path, out = tmp_path / "model.json", tmp_path / "r.json"
    assert main(["train", "--qubits", "2", "--layers", "1", "--epochs", "1", "--no-progress", "--save-model", str(path),
                 "--json", str(out)]) == 0
    model, params = load_model(path)
    assert model.circuit.n_qubits == 2 and json.loads(path.read_text())["meta"]["epsilon"] > 0
    assert main(["train", "--model", "mlp", "--save-model", str(path)]) == 2
    assert "--save-model writes quantum models" in capsys.readouterr().err
