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
    # digits 0 vs 1: 270 examples, q = 64/270 (the default expected batch); 1e9 epochs made calibration hang
    (["--epochs", "1e9"], "--epochs 1e+09 at sample rate 0.237 means 4,218,750,000 DP-SGD steps (epochs / sample "
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


def _fails(capsys, *flags, code=2):
    assert main(["train", *flags, "--no-progress"]) == code
    return capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--noise-multiplier", "1e39"], "--noise-multiplier is too large"),
    (["--max-grad-norm", "1e39"], "--max-grad-norm is too large"),
    (["--learning-rate", "1e39"], "--learning-rate is too large"),
    (["--delta", "0.5"], "--allow-large-delta"),
    (["--model", "mlp", "--hidden", "abc"], "--hidden must be comma-separated integers >= 1"),
    (["--model", "mlp", "--hidden", "8,0"], "--hidden must be comma-separated integers >= 1"),
    (["--hidden", "8"], "--hidden (the MLP's widths) needs --model mlp"),
    (["--model", "cnn", "--dataset", "moons"], "--model cnn needs an image data set"),
    (["--reproducible-noise", "-1"], "--reproducible-noise must be an integer >= 0"),
    (["--reproducible-noise", "1", "--randomness", "fast"], "not allowed with argument"),
])
def test_overflowing_and_malformed_flags_are_refused_before_training(capsys, flags, message):
    try:
        err = _fails(capsys, "--dataset", "moons", "--epochs", "1", *flags)
    except SystemExit as exc:  # argparse refuses a malformed flag with exit status 2
        assert exc.code == 2
        err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "done:" not in err


@pytest.mark.filterwarnings("ignore:.*NaN or infinite; they were zeroed")
def test_a_diverging_run_exits_non_zero(capsys):
    # Before: exit 0 and "test accuracy 50.0%" for a model of NaN parameters.
    err = _fails(capsys, "--dataset", "moons", "--epochs", "1", "--noise-multiplier", "1e37", "--learning-rate", "1e37",
                 "--optimizer", "sgd", code=1)
    assert "training diverged" in err and "done:" not in err


def test_default_runs_are_secret_and_reproducible_ones_say_so(tmp_path, capsys):
    res = run_json(tmp_path, "--dataset", "moons", "--epochs", "1")
    assert res["randomness"] == "secure" and "noise_seed" not in res
    res = run_json(tmp_path, "--dataset", "moons", "--epochs", "1", "--reproducible-noise", "5")
    assert res["randomness"] == "seeded" and res["noise_seed"] == 5
    assert "does NOT hold" in res["reproducible_noise_warning"]
    assert "WARNING: reproducible noise" in capsys.readouterr().err


def test_a_lost_ledger_or_other_data_stops_the_resume(tmp_path, capsys):
    # Before: epsilon = 0.0000 reported for a finished run whose ledger was deleted, and a moons checkpoint
    # silently continued on circles.
    ck = tmp_path / "ck"
    flags = ["--epochs", "1", "--checkpoint-dir", str(ck)]
    run_json(tmp_path, "--dataset", "moons", *flags)
    err = _fails(capsys, "--dataset", "circles", *flags)
    assert "another training set" in err
    (ck / "ledger.jsonl").unlink()
    err = _fails(capsys, "--dataset", "moons", *flags)
    assert "ledger.jsonl is missing" in err and "new checkpoint directory" in err and "Traceback" not in err
