"""benchmarks/tracked_bound_cost.py: bad input is refused before anything compiles."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tracked_bound_cost.py"


@pytest.mark.parametrize("args", [["--runs", "0"], ["--epochs", "0"], ["--calls", "0"], ["--n", "10"]])
def test_bad_sizes_are_refused_naming_the_valid_ranges(args, capsys):
    spec = importlib.util.spec_from_file_location("tracked_bound_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as err:
        module.main(args)
    assert err.value.code == 2
    assert "--runs, --epochs and --calls must be >= 1, --n >= 64" in capsys.readouterr().err
