"""dpqml.validation: one way to check scalars, with messages that name the parameter and the range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpqml.validation import check_choice, check_count, check_list, check_probability, check_scalar


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


def test_choices_and_lists():
    assert check_choice("adam", "optimizer", ("sgd", "adam")) == "adam"
    assert check_choice("b", "x", {"a": 1, "b": 2}) == "b"  # a dict's keys
    with pytest.raises(ValueError, match=r"optimizer must be one of \['sgd', 'adam'\]; got 'lbfgs'"):
        check_choice("lbfgs", "optimizer", ("sgd", "adam"))
    with pytest.raises(ValueError, match=r"x must be one of \['a'\]; got \[1\]"):
        check_choice([1], "x", {"a": 1})  # unhashable: refused, not a TypeError
    with pytest.raises(ValueError, match=r"randomness must be one of \['fast'\] \(no host draws\); got 'secure'"):
        check_choice("secure", "randomness", ["fast"], what="no host draws")
    assert check_list((3, 1), "seeds", item=check_count) == [3, 1]
    assert check_list([], "audits", empty_ok=True) == []
    for bad, match in [("ab", "seeds must be a list; got 'ab'"), (3, "seeds must be a list; got 3"),
                       ([], "seeds must not be empty"), ([0, -1], r"seeds\[1\] must be an integer >= 0; got -1"),
                       ([2, 2], r"seeds: 2 is listed twice \(\[2, 2\]\)")]:
        with pytest.raises(ValueError, match=match):
            check_list(bad, "seeds", item=check_count, unique=True)


def test_the_library_uses_one_wording_for_choices():
    from dpqml.models.classical import MLP
    from dpqml.privacy import compute_epsilon
    from dpqml.protocol.config import ProtocolConfig

    with pytest.raises(ValueError, match=r"activation must be one of \['tanh'"):
        MLP(4, 2, activation="gelu")
    with pytest.raises(ValueError, match=r"accountant must be one of \['pld', 'rdp'\]; got 'gdp'"):
        compute_epsilon(0.1, 1.0, 10, 1e-5, accountant="gdp")
    with pytest.raises(ValueError, match=r"models\[0\] must be one of \['hea'"):
        ProtocolConfig(models=["qcnn"])
