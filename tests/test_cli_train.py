"""``dpqml train``: the results contract, resuming, classical models, and bad input."""

import json

import pytest

from dpqml.cli import main


def run_json(tmp_path, *flags):
    out = tmp_path / "result.json"
    assert main(["train", *flags, "--no-progress", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_default_run_says_what_it_did_and_writes_the_contract(tmp_path, capsys):
    res = run_json(tmp_path, "--epochs", "2")
    err = capsys.readouterr().err
    assert "4-qubit hea model" in err and "digits" in err and "target ε=4" in err
    for key in ("epsilon", "delta", "noise_multiplier", "max_grad_norm", "steps", "test_accuracy"):
        assert key in res
    assert res["dataset"] == "digits" and res["family"] == "quantum" and res["n_params"] == 18
    assert 0 < res["epsilon"] <= 4.0 and res["delta"] == 1e-5 and res["max_grad_norm"] == 1.0
    assert res["noise_multiplier"] > 0 and res["steps"] == res["steps_spent"]
    assert 0.0 <= res["test_accuracy"] <= 1.0
    assert "NOT covered by epsilon" in res["diagnostics_note"]
    assert len(res["history"]) >= 2 and "clipped_fraction" in res["history"][0]


def test_resume_from_checkpoint_dir(tmp_path):
    ck = tmp_path / "ck"
    first = run_json(tmp_path, "--dataset", "moons", "--epochs", "1", "--checkpoint-dir", str(ck))
    again = run_json(tmp_path, "--dataset", "moons", "--epochs", "1", "--checkpoint-dir", str(ck))
    assert again["resumed_from"] == first["steps"] == again["steps_spent"]
    assert again["epsilon"] == first["epsilon"]


@pytest.mark.parametrize(("flags", "family", "n_params"), [
    (["--model", "logistic"], "classical", 5),
    (["--model", "mlp"], "classical", 19),  # width matched to the 18-parameter quantum model
    (["--model", "mlp", "--hidden", "8"], "classical", 49),
])
def test_classical_models(tmp_path, flags, family, n_params):
    res = run_json(tmp_path, *flags, "--epochs", "1", "--target-epsilon", "inf")
    assert res["family"] == family and res["n_params"] == n_params
    assert res["epsilon"] == "inf" and res["noise_multiplier"] == 0


@pytest.mark.parametrize(("flags", "message"), [
    (["--target-epsilon", "0"], "--target-epsilon"),
    (["--target-epsilon", "-2"], "--target-epsilon"),
    (["--delta", "1.5"], "--delta"),
    (["--delta", "0"], "--delta"),
    (["--sample-rate", "1.5"], "--sample-rate"),
    (["--sample-rate", "0"], "--sample-rate"),
    (["--max-grad-norm", "0"], "--max-grad-norm"),
    (["--noise-multiplier", "-1"], "--noise-multiplier"),
    (["--target-epsilon", "1e-9", "--epochs", "50"], "unreachable"),
    (["--dataset", "nope"], "unknown data set"),
    (["--classes", "3,12"], "classes"),
    (["--dataset", "mnist", "--data-path", "/nonexistent/mnist.npz"], "does not exist"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--optimizer", "rmsprop"], "optimizer"),
    (["--device", "gpu"], "--device gpu"),
])
def test_bad_input_exits_2_with_a_named_error(tmp_path, capsys, flags, message):
    ck = tmp_path / "ck"
    assert main(["train", *flags, "--no-progress", "--checkpoint-dir", str(ck)]) == 2
    err = capsys.readouterr().err
    assert "dpqml train: error:" in err and message in err
    assert not ck.exists()  # nothing was written before the error


@pytest.mark.parametrize(("flags", "message"), [
    # digits 0 vs 1: 270 examples, q = 32/270; 1e9 epochs made calibration hang for minutes
    (["--epochs", "1e9"], "--epochs 1e+09 at sample rate 0.1185 means 8,437,500,000 DP-SGD steps (epochs / sample "
                          "rate), more than the pld accountant's limit of 1,000,000 steps"),
    (["--noise-multiplier", "0.01"], "--noise-multiplier must be at least 0.1 with the pld accountant"),
    (["--noise-multiplier", "1", "--delta", "1e-300"], "--delta must be at least 1.5e-15 with the pld accountant"),
])
def test_runs_the_accountant_cannot_account_for_are_refused_before_training(tmp_path, capsys, flags, message):
    ck = tmp_path / "ck"
    assert main(["train", *flags, "--no-progress", "--checkpoint-dir", str(ck)]) == 2
    err = capsys.readouterr().err
    assert message in err and "--accountant rdp" in err
    assert not ck.exists()


def test_not_an_idx_or_npz_file(tmp_path, capsys):
    bad = tmp_path / "junk.bin"
    bad.write_bytes(b"this is not an IDX file at all")
    assert main(["train", "--dataset", "mnist", "--data-path", str(bad), "--no-progress"]) == 2
    assert "dpqml train: error:" in capsys.readouterr().err
