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
          "--accountant", "rdp", "--neighboring", "replace-one"], "use --accountant pld"),
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


@pytest.mark.parametrize(
    "argv,match",
    [
        (["account", "--sample-rate", "0.01", "--noise-multiplier", "1", "--steps", "1000001", "--delta", "1e-5"],
         "--steps must be at most 1,000,000 with the pld accountant; got 1,000,001"),
        (["calibrate", "--target-epsilon", "1", "--sample-rate", "0.01", "--steps", "1000000001", "--delta", "1e-5",
          "--accountant", "rdp"], "--steps must be at most 1,000,000,000 with the rdp accountant"),
        (["account", "--sample-rate", "0.01", "--noise-multiplier", "1e-9", "--steps", "1000", "--delta", "1e-5"],
         "--noise-multiplier must be at least 0.1 with the pld accountant; got 1e-09"),
        (["account", "--sample-rate", "1", "--noise-multiplier", "1", "--steps", "100000", "--delta", "1e-5"],
         "--noise-multiplier 1 is too small for the pld accountant"),
        (["calibrate", "--target-epsilon", "1", "--sample-rate", "0.01", "--steps", "1000", "--delta", "1e-300"],
         "--delta must be at least 1.5e-15 with the pld accountant; got 1e-300"),
    ],
)
def test_requests_beyond_the_accountants_limits_name_the_flag(argv, match, capsys):
    # before: minutes of work, or an allocation error deep in dp_accounting; now a refusal that says what to do
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    if "--accountant" not in argv:
        assert "--accountant rdp" in err  # the way out, as a flag


def test_account_says_why_epsilon_is_infinite(capsys):
    argv = ["account", "--sample-rate", "0.01", "--noise-multiplier", "1", "--steps", "1000", "--delta", "1e-300"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # dp_accounting's PLD counts truncated tail mass >= 1e-15 as infinite loss: no finite epsilon below it
    assert out["epsilon"] == "inf"
    assert "below the smallest delta the pld accountant can certify" in out["epsilon_note"]
    assert "--delta 1.5e-15 or more" in out["epsilon_note"] and "--accountant rdp" in out["epsilon_note"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "epsilon = inf" in text and "epsilon is infinite: delta = 1e-300 is below the smallest delta" in text
    assert main([*argv, "--accountant", "rdp", "--json"]) == 0  # rdp certifies a (looser) epsilon at any delta
    out = json.loads(capsys.readouterr().out)
    assert out["epsilon"] != "inf" and "epsilon_note" not in out
    assert main(["account", "--sample-rate", "0.5", "--noise-multiplier", "0", "--steps", "3", "--delta", "1e-5",
                 "--json"]) == 0
    assert "no noise" in json.loads(capsys.readouterr().out)["epsilon_note"]
