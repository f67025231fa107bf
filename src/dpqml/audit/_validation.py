"""The array checks at the boundary of :mod:`dpqml.audit` (scores and labels); the scalar ones come
from :mod:`dpqml.validation`. Each raises ``ValueError`` naming the parameter, the value given and the
valid range, so that the estimators themselves can trust their inputs."""

from __future__ import annotations

import numpy as np


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
