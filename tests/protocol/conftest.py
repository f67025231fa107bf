import os

import pytest

TINY = """
name = "tiny"
epsilons = [2, "inf"]
seeds = 2
epochs = 2
sample_rate = 0.25
models = ["hea", "logistic"]
reproducible_noise = true  # the tests compare runs; the default (secret noise) has its own test
[[datasets]]
name = "moons"
n_train = 48
n_test = 32
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def require(module: str):
    """Import ``module`` or skip; under CI (CI=true) a missing module fails instead of skipping."""
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is required under CI (it is in the test extra)")
        pytest.skip(f"{module} is not installed")
