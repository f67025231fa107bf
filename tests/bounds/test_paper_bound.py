"""The data-free bound of the paper's tabular quantum model, through gradient_bound and `dpqml bound`."""

import json

import pytest

from dpqml.bounds import gradient_bound
from dpqml.cli import main
from dpqml.models.paper import PaperQuantumModel


def test_gradient_bound_takes_the_paper_model():
    model = PaperQuantumModel()
    b = gradient_bound(model)
    assert b.total == pytest.approx(model.gradient_bound()) and b.parameter_free and b.loss == "cross-entropy"
    assert any("amplitude" in a for a in b.assumptions)
    with pytest.raises(ValueError, match="is for its loss 'cross-entropy'"):
        gradient_bound(model, loss="logistic")


def test_dpqml_bound_model_paper_quantum(capsys):
    assert main(["bound", "--model", "paper-quantum", "--clip", "1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_params"] == 132 and out["bound"] == pytest.approx(PaperQuantumModel().gradient_bound())
    assert out["clipping_free"] is False and out["worst_case_cut"] == pytest.approx(1 - 1.5 / out["bound"])
