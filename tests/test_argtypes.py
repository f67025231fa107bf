"""The shared argparse types: errors name the flag, the value and what is allowed."""

import argparse

import pytest

from dpqml.argtypes import nonnegative_float, probability


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "abc"])
def test_nonnegative_float_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"--noise-multiplier must be a (finite )?number >= 0"):
        nonnegative_float("--noise-multiplier")(text)


@pytest.mark.parametrize("text", ["0", "-0.5", "1.01", "nan", "inf", "x"])
def test_probability_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"--sample-rate must be a number in \(0, 1\]"):
        probability("--sample-rate")(text)


def test_accepted_values():
    assert nonnegative_float("--x")("0") == 0.0 and probability("--q")("1") == 1.0 and probability("--q")("1e-6")
