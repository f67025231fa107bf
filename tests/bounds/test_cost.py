"""The clipping-cost estimate: hand-computed figures, a Monte-Carlo check of the noise norm, the CLI."""

import json
import math

import numpy as np
import pytest

from dpqml.bounds.cost import clipping_cost
from dpqml.cli import main


def test_figures_equal_the_formulas():
    k = clipping_cost(4.0, 1.0, noise_multiplier=2.0, sample_rate=0.1, n_examples=500, steps=400, n_params=25)
    assert k["expected_batch_size"] == pytest.approx(50.0)
    assert k["noise_std"] == pytest.approx(2.0 * 1.0 / 50)
    assert k["noise_norm"] == pytest.approx(0.04 * 5)
    assert k["signal_bound"] == 1.0 and not k["clipping_free"] and k["worst_case_cut"] == pytest.approx(0.75)
    assert k["noise_to_signal"] == pytest.approx(0.2) and k["noise_to_signal_averaged"] == pytest.approx(0.01)
    free = clipping_cost(0.5, 1.0, noise_multiplier=2.0, sample_rate=0.1, n_examples=500, steps=4, n_params=25)
    assert free["clipping_free"] and free["worst_case_cut"] == 0.0 and free["signal_bound"] == 0.5
    loud = clipping_cost(1.0, 1.0, noise_multiplier=5.0, sample_rate=0.01, n_examples=100, steps=4, n_params=100)
    assert loud["noise_to_signal_averaged"] >= 1 and "noise dominates" in loud["verdict"]


def test_noise_norm_matches_the_noise_the_trainer_adds():
    # The privatised mean's noise is N(0, σ²C²)/(qN) per coordinate: its norm concentrates at σC√p/(qN).
    from dpqml.privacy.dpsgd import privatize

    sigma, c, q, n, p = 1.3, 0.7, 0.05, 400, 200
    rng = np.random.default_rng(0)
    norms = [np.linalg.norm(np.asarray(privatize(np.zeros(p), rng.normal(0, sigma * c, p), q * n)))
             for _ in range(200)]
    k = clipping_cost(1.0, c, noise_multiplier=sigma, sample_rate=q, n_examples=n, steps=1, n_params=p)
    assert np.mean(norms) == pytest.approx(k["noise_norm"], rel=0.02)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"clip": 0.0}, "clip"), ({"bound": -1.0}, "bound"), ({"sample_rate": 1.5}, "sample_rate"),
    ({"noise_multiplier": -1.0}, "noise_multiplier"), ({"steps": 0}, "steps"), ({"n_params": 0}, "n_params"),
])
def test_bad_values(kwargs, match):
    base = {"bound": 1.0, "clip": 1.0, "noise_multiplier": 1.0, "sample_rate": 0.1, "n_examples": 100,
            "steps": 10, "n_params": 5}
    base.update(kwargs)
    b, c = base.pop("bound"), base.pop("clip")
    with pytest.raises(ValueError, match=match):
        clipping_cost(b, c, **base)


def test_cli_cost_and_synthetic_norms(capsys):
    assert main(["bound", "--qubits", "2", "--layers", "1", "--clip", "1", "--noise-multiplier", "1.5",
                 "--sample-rate", "0.1", "--n-examples", "300", "--steps", "100", "--synthetic-norms", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    k = out["cost"]
    assert k["noise_norm"] == pytest.approx(1.5 * 1 * math.sqrt(out["n_params"]) / 30)
    f = out["synthetic_norms"]["fraction_of_bound"]
    assert 0 < f["0.5"] <= f["1.0"] <= 1.0  # sound: no synthetic gradient above the bound
    assert main(["bound", "--clip", "1", "--noise-multiplier", "1"]) == 2
    assert "--sample-rate, --n-examples, --steps" in capsys.readouterr().err


def test_cli_bounds_k_class_models(capsys):
    from dpqml.bounds import gradient_bound
    from dpqml.models import build_model

    assert main(["bound", "--qubits", "3", "--layers", "1", "--classes", "3", "--clip", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = gradient_bound(build_model(qubits=3, layers=1, n_classes=3))
    assert out["loss"] == "cross-entropy" and out["bound"] == pytest.approx(ref.total)
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it
        main(["bound", "--classes", "1", "--clip", "1"])
    assert exit_info.value.code == 2 and "--classes must be an integer >= 2" in capsys.readouterr().err
