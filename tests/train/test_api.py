"""``privacy_config``: a run the accountant cannot account for is refused before calibration and training."""

import math

import pytest

from dpqml.privacy.accounting import MAX_STEPS
from dpqml.train.api import privacy_config


def test_epochs_beyond_the_accountants_step_limit_are_refused_with_the_steps():
    # 1e9 epochs at q = 32/1000 are 31,250,000,000 steps: calibrating sigma for them hung for minutes
    with pytest.raises(ValueError, match=r"epochs 1e\+09 at sample rate 0.032 means 31,250,000,000 DP-SGD steps "
                                         r"\(epochs / sample rate\), more than the rdp accountant's limit of "
                                         r"1,000,000,000 steps; use fewer epochs or a larger batch"):
        privacy_config(1_000, target_epsilon=4.0, epochs=1e9, expected_batch_size=32, accountant="rdp")
    with pytest.raises(ValueError, match=r"epochs 40000 at sample rate 0.032 means 1,250,000 DP-SGD steps .* pld "
                                         r"accountant's limit of 1,000,000 steps; .*accountant='rdp'"):
        privacy_config(1_000, noise_multiplier=1.0, epochs=40_000, expected_batch_size=32)
    assert MAX_STEPS["pld"] < 1_250_000 <= MAX_STEPS["rdp"]


def test_a_non_private_run_has_no_step_limit():
    config = privacy_config(1_000, target_epsilon=math.inf, epochs=1e9, expected_batch_size=32)
    assert config.steps == 31_250_000_000 and config.noise_multiplier == 0.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"noise_multiplier": 0.01}, r"noise_multiplier must be at least 0.1 with the pld accountant"),
    ({"noise_multiplier": 1.0, "sample_rate": 1.0, "epochs": 100_000}, r"noise_multiplier 1 is too small for the pld"),
    ({"noise_multiplier": 1.0, "delta": 1e-300}, r"delta must be at least 1.5e-15 with the pld accountant"),
])
def test_a_given_noise_multiplier_is_checked_before_training(kwargs, match):
    # epsilon is computed after training: what the accountant would refuse then is refused now
    args = {"epochs": 1.0, "expected_batch_size": 32, **kwargs}
    if "sample_rate" in args:
        del args["expected_batch_size"]
    with pytest.raises(ValueError, match=match):
        privacy_config(1_000, **args)
    privacy_config(1_000, **{**args, "accountant": "rdp"})  # rdp accounts for all of them
