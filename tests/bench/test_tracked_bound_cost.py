"""benchmarks/tracked_bound_cost.py: bad input is refused before anything compiles."""

import pytest

from .scripts import assert_refused


@pytest.mark.parametrize("args", [["--runs", "0"], ["--epochs", "0"], ["--calls", "0"], ["--n", "10"]])
def test_bad_sizes_are_refused_naming_the_valid_ranges(args, capsys):
    assert_refused("tracked_bound_cost", args, "--runs, --epochs and --calls must be >= 1, --n >= 64", capsys)
