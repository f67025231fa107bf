"""argparse types shared by every ``dpqml`` command: each error names the flag and the valid range."""

from __future__ import annotations

import argparse
import math


def number(name: str, *, inf_ok: bool = False):
    """Any number (``inf`` parses too; ``inf_ok`` only says so in the error message)."""
    hint = " (or 'inf')" if inf_ok else ""

    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number{hint}; got {text!r}") from None

    return parse


def int_at_least(name: str, minimum: int):
    """An integer >= ``minimum``."""

    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}; got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}; got {v}")
        return v

    return parse


def positive_int(name: str):
    return int_at_least(name, 1)


def positive_float(name: str):
    """A finite number > 0."""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number > 0; got {text!r}") from None
        if not math.isfinite(v) or v <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0; got {text}")
        return v

    return parse


def nonnegative_float(name: str):
    """A finite number >= 0."""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number >= 0; got {text!r}") from None
        if not math.isfinite(v) or v < 0:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number >= 0; got {text}")
        return v

    return parse


def probability(name: str):
    """A number in (0, 1], such as a sample rate."""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in (0, 1]; got {text!r}") from None
        if not 0 < v <= 1:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{name} must be a number in (0, 1]; got {text}")
        return v

    return parse
