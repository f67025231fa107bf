"""One way to validate, for the whole library: checks that name the parameter, the value given
and the valid range, raised as ``ValueError`` before any long work starts (in the spirit of
scikit-learn's ``check_scalar``).

* :func:`check_scalar`: a number (or an integer) in an interval, open or closed at each end;
* :func:`check_probability`: a number in ``[0, 1]`` (either end may be open);
* :func:`check_count`: an integer ``>= minimum`` (NumPy integers accepted, bools refused);
* :func:`check_choice`: one of a fixed set of names (``"optimizer must be one of ['sgd', 'adam'];
  got 'lbfgs'"``);
* :func:`check_list`: a non-empty list (not a string), each item checked, optionally without repeats.

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
    ``low``/``high`` (``None``: unbounded; ``*_open``: excluded), else a ``ValueError`` that names
    the parameter, the valid values and the value given, the same for a wrong type and a value out
    of range: ``"sample_rate must be a number in (0, 1]; got 1.5"``, ``"max_grad_norm must be a
    finite number > 0; got nan"``, ``"steps must be an integer >= 1; got 2.5"``. ``what`` adds a
    description in parentheses."""
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    ok = not isinstance(value, bool) and ok_type and (integer or math.isfinite(float(value)))
    if ok:
        lo_bad = low is not None and (value <= low if low_open else value < low)
        hi_bad = high is not None and (value >= high if high_open else value > high)
        ok = not (lo_bad or hi_bad)
    if not ok:
        raise ValueError(f"{name} must be {_valid(integer, low, high, low_open, high_open)}"
                         f"{f' ({what})' if what else ''}; got {value!r}")
    return int(value) if integer else float(value)


def _num(v) -> str:
    """A bound as written: whole numbers in full (``4294967295``, ``0``), others by ``:g``."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else f"{v:g}"


def _valid(integer, low, high, low_open, high_open) -> str:
    kind = "an integer" if integer else "a finite number"
    if low is not None and high is not None:
        return (f"{'an integer' if integer else 'a number'} in {'(' if low_open else '['}{_num(low)}, "
                f"{_num(high)}{')' if high_open else ']'}")
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {_num(high)}"
    return kind


def check_probability(value, name: str, *, low_open: bool = False, high_open: bool = False, what: str = "") -> float:
    """``value`` as a float in ``[0, 1]`` (ends excluded as asked)."""
    return check_scalar(value, name, low=0.0, high=1.0, low_open=low_open, high_open=high_open, what=what)


def check_count(value, name: str, *, minimum: int = 0, what: str = "") -> int:
    """``value`` as an int ``>= minimum`` (``"n_train must be an integer >= 1; got 0"``)."""
    return check_scalar(value, name, integer=True, low=minimum, what=what)


def check_choice(value, name: str, allowed, *, what: str = ""):
    """``value`` unchanged if it is one of ``allowed`` (any iterable; a dict's keys), else a
    ``ValueError``: ``"optimizer must be one of ['sgd', 'adam']; got 'lbfgs'"``. ``what`` adds a
    hint in parentheses after the valid values."""
    allowed = list(allowed)  # a list compares by ==, so an unhashable value is refused, not a TypeError
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}{f' ({what})' if what else ''}; got {value!r}")
    return value


def check_list(value, name: str, *, item=None, unique: bool = False, empty_ok: bool = False) -> list:
    """``value`` (a list, tuple or other iterable, but not a string or mapping) as a list. Each item
    is passed through ``item(v, f"{name}[{i}]")`` when given (a checker such as ``check_count``
    with its keywords bound, whose result replaces the item). ``unique``: an item listed twice is an
    error naming it. ``empty_ok``: an empty list is allowed."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a list; got {value!r}")
    out = list(value)
    if not out and not empty_ok:
        raise ValueError(f"{name} must not be empty")
    if item is not None:
        out = [item(v, f"{name}[{i}]") for i, v in enumerate(out)]
    if unique:
        seen = []
        for v in out:
            if v in seen:
                raise ValueError(f"{name}: {v!r} is listed twice ({out})")
            seen.append(v)
    return out


__all__ = ["check_choice", "check_count", "check_list", "check_probability", "check_scalar"]
