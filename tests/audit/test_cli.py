"""dpqml audit: the JSON contract, the loud BROKEN GUARANTEE, and bad input refused with what is needed."""

import json

import pytest

from dpqml.cli import main

KEYS = {"mechanism", "epsilon_claimed", "epsilon_lower", "confidence", "canaries", "tpr_at_fpr", "auroc"}


def _run(capsys, *argv):
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract_dpsgd(capsys):
    code, out, err = _run(capsys, "--mechanism", "dpsgd", "--epsilon", "1", "--canaries", "500", "--json")
    d = json.loads(out)
    assert code == 0 and KEYS <= d.keys()
    assert d["mechanism"] == "dpsgd" and d["canaries"] == 500 and d["confidence"] == 0.95
    assert 0 < d["epsilon_claimed"] <= 1.0 and 0 <= d["epsilon_lower"] <= d["epsilon_claimed"]
    assert set(d["tpr_at_fpr"]) == {"0.001", "0.01", "0.1"} and 0 <= d["auroc"] <= 1
    assert "consistent" in err


def test_json_contract_device_noise_has_no_claim(capsys):
    code, out, err = _run(capsys, "--mechanism", "device-noise", "--noise", "nisq", "--canaries", "100", "--steps", "8",
                          "--confidence", "0.9", "--json")
    d = json.loads(out)
    assert code == 0 and d["epsilon_claimed"] is None and d["epsilon_lower"] > 2.0 and d["confidence"] == 0.9
    assert d["threat_model"] == "white-box-model" and d["auroc"] == 1.0
    assert "NO GUARANTEE" in err


def test_broken_guarantee_is_loud(capsys):
    code, out, err = _run(capsys, "--fault", "no-clip", "--canaries", "1000", "--json")
    d = json.loads(out)
    assert code == 3 and d["broken"] and d["epsilon_lower"] > d["epsilon_claimed"]
    assert "BROKEN GUARANTEE" in err and d["verdict"].startswith("BROKEN GUARANTEE")


@pytest.mark.parametrize(("argv", "match"), [
    (["--canaries", "5"], "canaries_needed = 16"),
    (["--canaries", "10", "--method", "multi-run"], "runs_needed = 46"),
    (["--confidence", "1.5"], r"confidence .*\(0, 1\)"),
    (["--confidence", "0"], r"confidence .*\(0, 1\)"),
    (["--noise", "depolarizing:1.5"], r"probability in \[0, 1\]"),
    (["--noise", "nisq:t1=10,t2=30"], r"T2 must be <= 2\*T1"),
    (["--noise", "nisq:readout=-0.1"], r"readout must be a probability in \[0, 1\]"),
    (["--mechanism", "device-noise"], "device-noise preset"),
    # the flag, not the Python parameter, is named
    (["--epsilon", "nan"], r"--epsilon must be a finite number > 0; got nan"),
    (["--confidence", "2"], r"--confidence must be a number in \(0, 1\); got 2.0"),
    (["--max-grad-norm", "-1"], r"--max-grad-norm must be"),
    (["--seed", "-1"], r"--seed must be an integer >= 0; got -1"),
])
def test_bad_input(capsys, argv, match):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert "dpqml audit: error:" in err
    import re

    assert re.search(match, err), err
