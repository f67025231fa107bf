"""The benchmark scripts under ``benchmarks/`` (not a package), loaded as modules for their tests."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    """``benchmarks/<name>.py`` as a module (its ``main`` not run)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_refused(name: str, args: list, message: str, capsys) -> None:
    """``main(args)`` of the script exits with argparse's usage error and prints ``message``."""
    with pytest.raises(SystemExit) as err:
        load(name).main(args)
    assert err.value.code == 2
    assert message in capsys.readouterr().err
