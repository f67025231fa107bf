"""benchmarks/paper_training_step.py: bad input is refused before anything compiles."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "paper_training_step.py"


@pytest.mark.parametrize("args", [["--runs", "0"], ["--epochs", "0"], ["--batch", "0"], ["--batch", "5000"]])
def test_bad_sizes_are_refused_naming_the_valid_ranges(args, capsys):
    spec = importlib.util.spec_from_file_location("paper_training_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as err:
        module.main(args)
    assert err.value.code == 2
    assert "--runs and --epochs must be >= 1, --batch in 1..1638" in capsys.readouterr().err
