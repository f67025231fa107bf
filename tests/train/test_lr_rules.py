"""The paper's learning-rate rule, checked against values worked out by hand from the notebook's formulas."""

import math

import pytest

from dpqml.train.lr_rules import check_learning_rate, learning_rate


def paper(family, c, sigma=0.0, b=64):
    return learning_rate("paper-rule", family, max_grad_norm=c, noise_multiplier=sigma, batch_size=b)


@pytest.mark.parametrize("family, c, want", [
    ("quantum", 0.5, 0.015 * 1.0 * 1.5 / 0.5),       # below C_ref: lr(C_ref) · C_ref / C
    ("quantum", 1.5, 0.015),                          # at C_ref: private rate × stability 1.0
    ("quantum", 1.75, math.sqrt(0.015 * 0.02)),       # halfway (geometric) to C_unclip = 2
    ("quantum", 4.5, 0.02),                           # above C_unclip: the non-private rate
    ("classical", 1.5, 0.05 * 0.5),
    ("classical", 4.5, 0.025 ** (1 / 3) * 0.08 ** (2 / 3)),  # 2/3 of the way from 1.5 to 6
    ("classical", 10.0, 0.08),
    ("classical", 0.5, 0.025 * 3),
])
def test_clip_only_rates(family, c, want):
    assert paper(family, c) == pytest.approx(want, rel=1e-12)


def test_batch_scaling_and_noise_cap():
    assert paper("quantum", 1.5, b=128) == pytest.approx(0.03)
    assert paper("quantum", 1.5, sigma=2.0) == pytest.approx(0.015)         # cap 0.0015·64/3 = 0.032
    assert paper("quantum", 1.5, sigma=10.0) == pytest.approx(0.0015 * 64 / 15)  # the cap binds
    assert paper("classical", 10.0, sigma=1.0, b=32) == pytest.approx(min(0.04, 0.0015 * 32 / 10))


def test_lipschitz_rates():
    assert paper("lipschitz", 1.5, b=128) == pytest.approx(0.025 * 2 / 1.5)
    assert paper("lipschitz", 1.5, sigma=2.0, b=128) == pytest.approx(0.04 * 2 / 3)


def test_fixed_rates_and_tables():
    assert learning_rate(0.01, "quantum", max_grad_norm=1, noise_multiplier=1, batch_size=64) == 0.01
    table = {"quantum": 0.02, "classical": 0.1}
    assert learning_rate(table, "classical", max_grad_norm=1, noise_multiplier=0, batch_size=8) == 0.1
    with pytest.raises(ValueError, match="no rate for family 'lipschitz'"):
        learning_rate(table, "lipschitz", max_grad_norm=1, noise_multiplier=0, batch_size=8)


@pytest.mark.parametrize("value, match", [
    ("paper", "unknown learning-rate rule 'paper'"), (0.0, "positive finite"), (-1, "positive finite"),
    (float("nan"), "positive finite"), (True, "positive finite"), ({"quantum": 0}, "learning_rate.quantum"),
])
def test_bad_rates_name_the_key(value, match):
    with pytest.raises(ValueError, match=match):
        check_learning_rate(value)


def test_unknown_family_for_the_paper_rule():
    with pytest.raises(ValueError, match="knows the families"):
        paper("cnn", 1.0)
