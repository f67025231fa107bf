"""The command line: contract of `dpqml bench`, clear errors for bad input."""

import json
import os
import subprocess
import sys

import pytest

from dpqml.cli import main

REQUIRED = {"qubits", "layers", "batch", "examples_per_second", "compile_seconds", "peak_memory_bytes", "backend"}


def test_bench_json_contract(capsys):
    code = main(["bench", "--qubits", "2", "--layers", "1", "--batch", "4", "--json", "--min-seconds", "0.01"])
    assert code == 0
    row = json.loads(capsys.readouterr().out)
    assert REQUIRED <= set(row)
    assert (row["qubits"], row["layers"], row["batch"]) == (2, 1, 4)
    assert row["examples_per_second"] > 0 and row["compile_seconds"] > 0
    assert row["peak_memory_bytes"] > 0 and row["backend"] == "cpu"


def test_bench_noisy_model_runs_in_the_pauli_basis_or_the_density_matrix(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "--qubits", "2", "--layers", "1", "--batch", "2", "--noise", "depolarizing",
                 "--json", str(out), "--min-seconds", "0.01"])
    assert code == 0
    row = json.loads(out.read_text())
    assert row["simulation"] == "pauli-basis" and row["circuit_gradient"] == "heisenberg"
    assert row["noise"] == "depolarizing"
    code = main(["bench", "--qubits", "2", "--layers", "1", "--batch", "2", "--noise", "depolarizing",
                 "--method", "backprop", "--json", str(out), "--min-seconds", "0.01"])
    assert code == 0
    row = json.loads(out.read_text())
    assert row["simulation"] == "density-matrix" and row["circuit_gradient"] == "backprop"


def test_bench_method_all_times_every_method_of_the_registry_that_runs_the_circuit(tmp_path, capsys):
    from dpqml.models import build_model
    from dpqml.quantum.methods import applicable

    out = tmp_path / "b.json"
    for noise in ("none", "depolarizing"):
        code = main(["bench", "--qubits", "2", "--layers", "1", "--batch", "2", "--noise", noise,
                     "--method", "all", "--json", str(out), "--min-seconds", "0.01"])
        assert code == 0
        rows = json.loads(out.read_text())
        expected = applicable(build_model(qubits=2, layers=1, noise=noise).circuit)
        assert [r["circuit_gradient"] for r in rows] == expected and len(expected) >= 2
        assert all(r["method"] == r["circuit_gradient"] and r["examples_per_second"] > 0 for r in rows)


def test_bench_times_sampled_trajectories_and_says_so(tmp_path, capsys):
    out = tmp_path / "t.json"
    code = main(["bench", "--qubits", "3", "--layers", "1", "--batch", "4", "--noise", "amplitude-damping",
                 "--method", "trajectories", "--json", str(out), "--min-seconds", "0.01"])
    assert code == 0
    row = json.loads(out.read_text())
    assert row["simulation"] == "trajectories" and row["circuit_gradient"] == "trajectories"
    assert row["trajectories_per_example"] == 1 and row["examples_per_second"] > 0
    assert main(["bench", "--qubits", "2", "--layers", "1", "--method", "trajectories", "--json", str(out),
                 "--min-seconds", "0.01"]) == 2
    assert "method='trajectories' needs noise channels" in capsys.readouterr().err


def test_train_takes_sampled_trajectories(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["train", "--noise", "depolarizing:0.05", "--qubits", "2", "--layers", "1", "--trajectories", "2",
                 "--epochs", "1", "--no-progress", "--json", str(out)])
    assert code == 0
    assert json.loads(out.read_text())["trajectories"] == 2
    assert "averaged over 2 sampled noise trajectories" in capsys.readouterr().err
    assert main(["train", "--trajectories", "2", "--shots", "10", "--epochs", "1"]) == 2
    assert "not both" in capsys.readouterr().err


def _exit_code(argv):
    """main()'s return code, or argparse's exit code for flags it rejects itself."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "argv,match",
    [
        (["bench", "--qubits", "0"], "--qubits must be an integer >= 1"),
        (["bench", "--noise", "fog"], "valid presets"),
        (["bench", "--readout", "z:9"], "out of range"),
        (["bench", "--qubits", "40", "--layers", "6"], "GiB"),
        (["bench", "--compare", "qiskit"], "valid frameworks"),
        (["bench", "--compare", "pennylane", "--ansatz", "strongly-entangling"], "standard model only"),
        (["bench", "--model", "paper-quantum", "--qubits", "8"], "--model paper-quantum is a fixed circuit "
                                                                 "(4 qubits, 11 layers, noiseless); drop --qubits"),
        (["bench", "--model", "paper-quantum", "--noise", "depolarizing", "--grid", "quick"],
         "drop --noise, --grid"),
    ],
)
def test_bench_bad_input_is_a_clear_error(argv, match, capsys):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert match in err
    assert "Traceback" not in err


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command gets as far as its long work (benchmark, training, audit, comparison)."""
    import dpqml.audit.pipeline
    import dpqml.bench.run
    import dpqml.protocol.runner
    import dpqml.train.trainer

    def refuse(*args, **kwargs):
        raise AssertionError("the command started its work before refusing a bad flag")

    for module, name in ((dpqml.bench.run, "bench_one"), (dpqml.train.trainer, "train"),
                         (dpqml.audit.pipeline, "audit_pipeline"), (dpqml.protocol.runner, "run_protocol")):
        monkeypatch.setattr(module, name, refuse)


SMALL = ["--qubits", "2", "--layers", "1", "--batch", "2"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["bench", *SMALL, "--min-seconds", "-5"], "--min-seconds must be a finite number > 0; got -5"),
        (["bench", *SMALL, "--min-seconds", "nan"], "--min-seconds must be a finite number > 0; got nan"),
        (["bench", *SMALL, "--min-seconds", "inf"], "--min-seconds must be a finite number > 0; got inf"),
        (["bench", *SMALL, "--memory-budget", "0"], "--memory-budget must be a finite number > 0; got 0"),
        (["bench", *SMALL, "--memory-budget", "-1"], "--memory-budget must be a finite number > 0; got -1"),
        (["bench", *SMALL, "--memory-budget", "nan"], "--memory-budget must be a finite number > 0; got nan"),
        (["bench", *SMALL, "--seed", "-1"], "--seed must be an integer >= 0; got -1"),
        (["bound", "--clip", "nan"], "--clip must be a finite number > 0; got nan"),
        (["bound", "--clip", "1", "--noise-multiplier", "nan", "--sample-rate", "0.1", "--n-examples", "10",
          "--steps", "10"], "--noise-multiplier must be a finite number >= 0; got nan"),
        (["bound", "--clip", "1", "--noise-multiplier", "1", "--sample-rate", "2", "--n-examples", "10",
          "--steps", "10"], "--sample-rate must be a number in (0, 1]; got 2"),
    ],
)
def test_bench_and_bound_numbers_are_checked_at_the_boundary(argv, match, capsys, no_work):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


ACCOUNT = ["account", "--sample-rate", "0.01", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5"]
CALIBRATE = ["calibrate", "--target-epsilon", "2", "--sample-rate", "0.01", "--steps", "10", "--delta", "1e-5"]
OUTPUT_COMMANDS = {
    "account": ACCOUNT, "calibrate": CALIBRATE, "bound": ["bound", "--clip", "1"], "bench": ["bench", *SMALL],
    "train": ["train", "--no-progress"], "audit": ["audit"], "compare": ["compare", "--no-progress"],
}


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_json_path_that_cannot_be_written_is_refused_before_any_work(command, tmp_path, capsys, no_work):
    # before: `train --json missing/dir/x.json` trained fully, then failed and lost the result
    missing = tmp_path / "missing" / "result.json"
    assert _exit_code([*OUTPUT_COMMANDS[command], "--json", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--json {missing}: the directory {missing.parent} does not exist" in err
    assert _exit_code([*OUTPUT_COMMANDS[command], "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path}: is a directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing created


@pytest.mark.parametrize("command,flag", [("train", "--checkpoint-dir"), ("compare", "--out")])
def test_output_directory_that_cannot_be_created_is_refused_before_any_work(command, flag, tmp_path, capsys,
                                                                            no_work):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _exit_code([*OUTPUT_COMMANDS[command], flag, str(blocker / "sub")]) == 2
    assert f"{flag} {blocker / 'sub'}: cannot be created: {blocker} is not a directory" in capsys.readouterr().err
    assert _exit_code([*OUTPUT_COMMANDS[command], flag, str(blocker)]) == 2
    assert f"{flag} {blocker}: exists and is not a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_json_in_a_read_only_directory_is_refused_before_any_work(tmp_path, capsys, no_work):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert _exit_code(["train", "--no-progress", "--json", str(ro / "x.json")]) == 2
        assert f"--json {ro / 'x.json'}: the directory {ro} is not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_json_may_go_into_the_directory_the_command_creates(tmp_path, no_work):
    # the checkpoint directory is created by the run: a result file inside it passes the check
    ck = tmp_path / "run"
    with pytest.raises(AssertionError, match="started its work"):
        main(["train", "--no-progress", "--epochs", "1", "--checkpoint-dir", str(ck), "--json", str(ck / "r.json")])


def test_bench_memory_budget_reduces_batch_for_twenty_qubits():
    from dpqml.bench.run import fit_batch
    from dpqml.models import ModelSpec

    # the target: n=20, L=2, batch 16 fits 8 GB
    assert fit_batch(ModelSpec(qubits=20, layers=2), 16) == 16
    # noisy 10-qubit density matrices need a smaller batch than 64 within 8 GiB; the Pauli basis
    # (auto's choice for this encode-then-train circuit) fits the whole batch
    noisy = ModelSpec(qubits=10, layers=2, noise="depolarizing")
    assert fit_batch(noisy, 64, method="backprop") < 64
    assert fit_batch(noisy, 64) == 64


def test_circuit_command_prints_every_gate(capsys):
    assert main(["circuit", "--qubits", "2", "--layers", "1"]) == 0
    out = capsys.readouterr().out
    assert "RY(x[0]) @ [0]" in out and "CNOT @ [1,0]" in out and "measure: 1*Z0" in out


def test_console_script_help_runs():
    res = subprocess.run([sys.executable, "-m", "dpqml", "bench", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    assert "--qubits" in res.stdout and "--compare" in res.stdout and "paper-quantum" in res.stdout
