"""The API and the command line share their defaults."""

from __future__ import annotations

import json

from dpqml.cli import main
from dpqml.train.api import DEFAULT_EXPECTED_BATCH_SIZE, default_expected_batch_size, resolve_sample_rate
from dpqml.train.trainer import TrainConfig


def test_the_command_line_and_train_private_default_to_the_same_expected_batch(tmp_path):
    out = tmp_path / "r.json"
    assert main(["train", "--qubits", "2", "--layers", "1", "--epochs", "1", "--no-progress", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    n = result["n_train"]
    assert result["expected_batch_size"] == default_expected_batch_size(n) == min(DEFAULT_EXPECTED_BATCH_SIZE, n)
    assert resolve_sample_rate(n, None, None) == result["sample_rate"]
    assert result["max_grad_norm"] == 1.0 and TrainConfig().learning_rate == 0.05
