"""One way to validate, for the whole library: checks that name the parameter, the value given
and the valid range, raised as ``ValueError`` before any long work starts (in the spirit of
scikit-learn's ``check_scalar``).

* :func:`check_scalar`: a number (or an integer) in an interval, open or closed at each end;
* :func:`check_probability`: a number in ``[0, 1]`` (either end may be open);
* :func:`check_count`: an integer ``>= minimum`` (NumPy integers accepted, bools refused).

Each returns the value as a Python ``int`` or ``float``. The library's own checks are built on
these: ``PrivacyConfig``, ``TrainConfig``, ``train_private``'s sampling rules, ``dp_sgd``, shots,
trajectories, the data generators and loaders, the classical and paper models, the audit's counts.
"""

from __future__ import annotations

import math
import numbers


def check_scalar(value, name: str, *, integer: bool = False, low=None, high=None, low_open: bool = False,
                 high_open: bool = False, what: str = ""):
    """``value`` as an ``int`` (``integer=True``) or a finite ``float`` in the interval given by
    ``low``/``high`` (``None``: unbounded; ``*_open``: excluded), else a ``ValueError`` such as
    ``"sample_rate must be in (0.0, 1.0]; got 1.5"``. ``what`` adds a description in parentheses."""
    note = f" ({what})" if what else ""
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(float(value))):
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind}{note}; got {value!r}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "" if low is None else (f"({low}" if low_open else f"[{low}")
        hi = "" if high is None else (f"{high})" if high_open else f"{high}]")
        if low is not None and high is not None:
            rng = f"in {lo}, {hi}"
        elif low is not None:
            rng = f"> {low}" if low_open else f">= {low}"
        else:
            rng = f"< {high}" if high_open else f"<= {high}"
        raise ValueError(f"{name} must be {rng}{note}; got {value!r}")
    return int(value) if integer else float(value)


def check_probability(value, name: str, *, low_open: bool = False, high_open: bool = False, what: str = "") -> float:
    """``value`` as a float in ``[0, 1]`` (ends excluded as asked)."""
    return check_scalar(value, name, low=0.0, high=1.0, low_open=low_open, high_open=high_open, what=what)


def check_count(value, name: str, *, minimum: int = 0, what: str = "") -> int:
    """``value`` as an int ``>= minimum``, else ``"n_train must be an integer >= 1; got 0"`` (the
    same message for a wrong type and a value out of range)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        note = f" ({what})" if what else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{note}; got {value!r}")
    return int(value)


__all__ = ["check_count", "check_probability", "check_scalar"]
