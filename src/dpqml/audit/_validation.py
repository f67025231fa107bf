"""Checks at the boundary of :mod:`dpqml.audit`: each raises ``ValueError`` naming the parameter, the value
given and the valid range, so that the estimators themselves can trust their inputs."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..validation import check_count as _check_count


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in the open interval (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in the open interval (0, 1); got {confidence!r}")
    return float(confidence)


def check_delta_value(delta: float) -> float:
    """``delta`` as a float in [0, 1) (a value check only; :func:`dpqml.privacy.check_delta` is the
    other check, of δ against 1/N)."""
    if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 <= delta < 1:
        raise ValueError(f"delta must be a number in [0, 1); got {delta!r}")
    return float(delta)


def check_epsilon(epsilon: float) -> float:
    """``epsilon`` as a finite float > 0 (the ε a planned audit should be able to certify)."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, Real) or not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0; got {epsilon!r}")
    return float(epsilon)


def check_count(name: str, value: int, *, minimum: int = 0) -> int:
    """``value`` as a Python int ≥ ``minimum``: :func:`dpqml.validation.check_count`."""
    return _check_count(value, name, minimum=minimum)


def check_scores(name: str, scores, *, minimum: int = 1) -> np.ndarray:
    """``scores`` as a 1-D float64 array of at least ``minimum`` finite values."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D array of finite real numbers; got {type(scores).__name__}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of finite real numbers; got shape {array.shape}")
    if array.size < minimum:
        raise ValueError(f"{name} must hold at least {minimum} score(s); got {array.size}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"{name} must hold finite real numbers; {name}[{bad[0]}] is {array[bad[0]]!r} "
                         f"({bad.size} non-finite value(s) in all)")
    return array


def check_labels(name: str, labels, size: int, size_name: str) -> np.ndarray:
    """``labels`` as a boolean array of length ``size``; accepts booleans or the integers 0 and 1."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.size != size:
        raise ValueError(f"{name} must be a 1-D array of the same length as {size_name} ({size}); "
                         f"got shape {array.shape}")
    if array.dtype != np.bool_:
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"{name} must hold booleans or the integers 0 and 1; got values "
                             f"{np.unique(array)[:5].tolist()}")
        array = array.astype(bool)
    return array
