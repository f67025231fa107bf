"""benchmarks/paper_training_step.py: bad input is refused before anything compiles."""

import pytest

from .scripts import assert_refused


@pytest.mark.parametrize("args", [["--runs", "0"], ["--epochs", "0"], ["--batch", "0"], ["--batch", "5000"]])
def test_bad_sizes_are_refused_naming_the_valid_ranges(args, capsys):
    assert_refused("paper_training_step", args, "--runs and --epochs must be >= 1, --batch in 1..1638", capsys)
