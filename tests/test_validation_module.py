"""dpqml.validation: one way to check scalars, with messages that name the parameter and the range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpqml.validation import check_count, check_probability, check_scalar


def test_values_in_range_come_back_as_python_numbers():
    assert check_scalar(np.float32(0.5), "q", low=0.0, high=1.0, low_open=True) == 0.5
    assert isinstance(check_scalar(np.int64(3), "steps", integer=True, low=1), int)
    assert check_probability(1.0, "p") == 1.0 and check_count(0, "n") == 0


@pytest.mark.parametrize("call, match", [
    (lambda: check_scalar(0.0, "sample_rate", low=0.0, high=1.0, low_open=True),
     r"sample_rate must be a number in \(0, 1\]; got 0.0"),
    (lambda: check_scalar(2, "delta", low=0.0, high=1.0, high_open=True), r"delta must be a number in \[0, 1\); got 2"),
    (lambda: check_scalar(math.nan, "C", low=0.0, low_open=True), "C must be a finite number > 0; got nan"),
    (lambda: check_scalar(True, "steps", integer=True, low=1), "steps must be an integer >= 1; got True"),
    (lambda: check_scalar(2.5, "steps", integer=True, low=1), "steps must be an integer >= 1; got 2.5"),
    (lambda: check_scalar(5, "depth", high=4), "depth must be a finite number <= 4; got 5"),
    (lambda: check_scalar("x", "lr"), "lr must be a finite number; got 'x'"),
    (lambda: check_scalar(-1, "sigma", low=0.0, what="noise multiplier"),
     r"sigma must be a finite number >= 0 \(noise multiplier\); got -1"),
    (lambda: check_probability(1.5, "p"), r"p must be a number in \[0, 1\]; got 1.5"),
    (lambda: check_count(0, "trajectories", minimum=1), "trajectories must be an integer >= 1; got 0"),
])
def test_bad_values_name_the_parameter_and_the_range(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_privacy_and_training_settings_and_the_accountant_use_it():
    from dpqml.privacy import PrivacyConfig
    from dpqml.train import TrainConfig

    with pytest.raises(ValueError, match=r"sample_rate must be a number in \(0, 1\]; got 1.5"):
        PrivacyConfig(1.0, 1.0, 1.5, 10, 1e-5, 100)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0; got 0"):
        TrainConfig(learning_rate=0)
    from dpqml.privacy import compute_epsilon

    with pytest.raises(ValueError, match="noise_multiplier must be a finite number >= 0; got -1.0"):
        compute_epsilon(0.1, -1.0, 10, 1e-5)
