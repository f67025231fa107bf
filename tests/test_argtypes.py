"""The shared argparse types and output-path checks: errors name the flag, the value and what is allowed."""

import argparse
import os

import pytest

from dpqml.argtypes import check_output_dir, check_output_file, nonnegative_float, probability


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "abc"])
def test_nonnegative_float_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"--noise-multiplier must be a (finite )?number >= 0"):
        nonnegative_float("--noise-multiplier")(text)


@pytest.mark.parametrize("text", ["0", "-0.5", "1.01", "nan", "inf", "x"])
def test_probability_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"--sample-rate must be a number in \(0, 1\]"):
        probability("--sample-rate")(text)


def test_accepted_values():
    assert nonnegative_float("--x")("0") == 0.0 and probability("--q")("1") == 1.0 and probability("--q")("1e-6")


def test_an_existing_writable_file_passes_untouched(tmp_path):
    f = tmp_path / "old.json"
    f.write_text("kept")
    before = f.stat().st_mtime_ns
    check_output_file(str(f), "--json")
    assert f.read_text() == "kept" and f.stat().st_mtime_ns == before


def test_a_file_in_a_directory_the_command_creates(tmp_path):
    run = tmp_path / "run"
    check_output_dir(str(run / "deeper"), "--checkpoint-dir")  # created with its parents later
    check_output_file(str(run / "r.json"), "--json", created_dirs=(str(run),))
    with pytest.raises(ValueError, match=r"--json .*r\.json: the directory .*run does not exist"):
        check_output_file(str(run / "r.json"), "--json")
    assert list(tmp_path.iterdir()) == []  # the checks create nothing


def test_a_path_through_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(ValueError, match=r"--json .*: .*f is not a directory"):
        check_output_file(str(f / "x.json"), "--json")
    with pytest.raises(ValueError, match=r"--out .*: cannot be created: .*f is not a directory"):
        check_output_dir(str(f / "a" / "b"), "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_places(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.json").write_text("")
    (ro / "old.json").chmod(0o444)
    ro.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            check_output_file(str(ro / "new.json"), "--json")
        with pytest.raises(ValueError, match="the file exists and is not writable"):
            check_output_file(str(ro / "old.json"), "--json")
        with pytest.raises(ValueError, match="cannot be created: the directory .* is not writable"):
            check_output_dir(str(ro / "ck"), "--checkpoint-dir")
    finally:
        ro.chmod(0o755)
