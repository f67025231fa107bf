"""``dpqml compare`` from the command line: the preset it runs by default, and bad input."""

import json

import pytest

from dpqml.cli import main


def test_default_is_the_quick_preset(capsys):
    assert main(["compare", "--show-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["name"] == "quick" and cfg["epsilons"] == [1.0, 4.0, "inf"] and cfg["seeds"] == [0, 1, 2]
    assert [d["name"] for d in cfg["datasets"]] == ["moons", "digits"] and cfg["qubits"] == 4


def test_help_explains_the_protocol(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "same clip threshold C" in text and "--executor" in text and "--preset" in text


def _fails(tmp_path, capsys, toml: str, *flags):
    cfg = tmp_path / "p.toml"
    cfg.write_text(toml)
    code = main(["compare", "--config", str(cfg), "--out", str(tmp_path / "out"), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert not (tmp_path / "out").exists()  # refused before anything was written
    return err


@pytest.mark.parametrize("toml, needle", [
    ('models = ["hea", "qcnn"]', "models[1] must be one of ['hea', 'reuploading'"),
    ('[[datasets]]\nname = "cifar"', "unknown data set 'cifar'; valid names are ['moons'"),
    ("epsilons = [1, -2]", "epsilons[1] must be a finite number > 0"),
    ("epsilon = [1, 2]", "unknown key(s) ['epsilon']; valid keys are"),
    ('models = ["cnn"]\n[[datasets]]\nname = "moons"', "cnn runs on image data sets only"),
    ('[[datasets]]\nname = "digits"\nn_features = 9', "datasets[0] (digits): n_features=9 cannot be reached"),
    ('[[datasets]]\nname = "digits"\nn_features = 16', "model hea on digits: angle encoding puts one feature"),
    ('models = ["hea-noisy"]\nqubits = 40', "model hea-noisy on moons (qubits = 40): simulating 40 qubits (density "
                                           "matrices)"),
    ('models = ["logistic"]\naudits = ["device-noise"]\nqubits = 40',
     "audits: device-noise trains the quantum model at qubits = 40: simulating 40 qubits"),
    # moons has 400 training rows: δ = 0.01 >= 1/400 protects nobody
    ('models = ["logistic"]\ndelta = 0.01', "delta: delta=0.01 >= 1/n_examples = 1/400"),
    ('models = ["logistic"]\nrandomness = "seeded"',
     "randomness must be one of ['secure', 'fast'] (reproducible_noise = true for seeded noise)"),
    ('models = ["logistic"]\nreproducible_noise = 1', "reproducible_noise must be true or false"),
])
def test_bad_configurations_are_refused_before_any_job(tmp_path, capsys, toml, needle):
    err = _fails(tmp_path, capsys, toml)
    assert needle in err and "Traceback" not in err


def test_address_needs_the_ray_executor(tmp_path, capsys):
    err = _fails(tmp_path, capsys, 'models = ["logistic"]', "--address", "127.0.0.1:6379")
    assert "--address is for --executor ray" in err


def test_unknown_preset_and_both_sources(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--preset", "huge"])
    with pytest.raises(SystemExit):
        main(["compare", "--preset", "quick", "--config", "x.toml"])
    assert "not allowed with argument" in capsys.readouterr().err
