"""The command line: contracts of `dpqml account` and `dpqml calibrate`, clear errors for bad input."""

import json

import pytest

from dpqml.cli import main
from dpqml.privacy import compute_epsilon

ACCOUNT_KEYS = {"epsilon", "delta", "accountant", "neighboring", "sample_rate", "noise_multiplier", "steps"}
CALIBRATE_KEYS = {"noise_multiplier", "epsilon", "target_epsilon", "delta", "accountant", "neighboring",
                  "sample_rate", "steps"}
ACCOUNT = ["account", "--sample-rate", "0.01", "--noise-multiplier", "1.5", "--steps", "1000", "--delta", "1e-5"]
CALIBRATE = ["calibrate", "--target-epsilon", "2", "--sample-rate", "0.01", "--steps", "1000", "--delta", "1e-5"]


def _exit_code(argv):
    """main()'s return code, or argparse's exit code for flags it rejects itself."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_account_json_contract(capsys):
    assert main([*ACCOUNT, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert ACCOUNT_KEYS <= set(out)
    assert (out["sample_rate"], out["noise_multiplier"], out["steps"], out["delta"]) == (0.01, 1.5, 1000, 1e-5)
    assert (out["accountant"], out["neighboring"]) == ("pld", "add-remove")
    assert out["epsilon"] == compute_epsilon(0.01, 1.5, 1000, 1e-5)


def test_account_rdp_to_file_and_human_output(tmp_path, capsys):
    dest = tmp_path / "eps.json"
    assert main([*ACCOUNT, "--accountant", "rdp", "--json", str(dest)]) == 0
    out = json.loads(dest.read_text())
    assert out["accountant"] == "rdp" and out["epsilon"] >= compute_epsilon(0.01, 1.5, 1000, 1e-5)
    capsys.readouterr()
    assert main(ACCOUNT) == 0
    text = capsys.readouterr().out
    assert "epsilon = " in text and "delta = 1e-05" in text and "steps T = 1000" in text


def test_account_without_noise_is_infinite(capsys):
    assert main(["account", "--sample-rate", "0.5", "--noise-multiplier", "0", "--steps", "3", "--delta", "1e-5",
                 "--json"]) == 0
    # Strict JSON has no infinity: written as the string "inf" (as in `dpqml train`'s results).
    assert json.loads(capsys.readouterr().out)["epsilon"] == "inf"


def test_calibrate_json_contract(capsys):
    assert main([*CALIBRATE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert CALIBRATE_KEYS <= set(out)
    assert out["epsilon"] <= out["target_epsilon"] == 2.0
    assert out["epsilon"] == compute_epsilon(0.01, out["noise_multiplier"], 1000, 1e-5)
    assert compute_epsilon(0.01, 0.99 * out["noise_multiplier"], 1000, 1e-5) > 2.0


def test_calibrate_human_output_rounds_sigma_up(capsys):
    assert main(CALIBRATE) == 0
    text = capsys.readouterr().out
    printed = float(text.split("sigma = ")[1].split()[0])
    assert "meets epsilon <= 2" in text
    assert compute_epsilon(0.01, printed, 1000, 1e-5) <= 2.0


@pytest.mark.parametrize(
    "argv,match",
    [
        (["account", "--sample-rate", "0", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5"],
         "--sample-rate must be a number in (0, 1]; got 0.0"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "-1", "--steps", "10", "--delta", "1e-5"],
         "--noise-multiplier must be a finite number >= 0; got -1.0"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "-1", "--delta", "1e-5"],
         "--steps must be an integer >= 0; got -1"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "1.5", "--delta", "1e-5"],
         "--steps must be an integer >= 0; got '1.5'"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "1"],
         "--delta must be a number in (0, 1); got 1.0"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5",
          "--accountant", "gdp"], "invalid choice: 'gdp'"),
        (["account", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5",
          "--accountant", "rdp", "--neighboring", "replace-one"], "use accountant='pld'"),
        (["account", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"], "--noise-multiplier"),
        (["calibrate", "--target-epsilon", "0", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"],
         "--target-epsilon must be a finite number > 0; got 0.0"),
        (["calibrate", "--target-epsilon", "1e-4", "--sample-rate", "1", "--steps", "10000", "--delta", "1e-5"],
         "unreachable"),
    ],
)
def test_bad_input_is_a_clear_error(argv, match, capsys):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert match in err
    assert "Traceback" not in err
