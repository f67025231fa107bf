"""Student t intervals of a mean over seeds, as a small value object.

``mean ± t_{(1+c)/2, n−1} · s / √n`` with ``s`` the sample standard deviation (``ddof = 1``):
seeds are treated as independent draws of a whole training run (data order, initialisation, DP
noise). With one value there is no interval (``s`` is undefined) and none is invented. The ends
may be clipped to the range the quantity can take (an accuracy lies in [0, 1], a difference of
accuracies in [−1, 1]); with few seeds the raw interval can reach past it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dpqml.report.summary import mean_confidence_interval

ACCURACY_RANGE = (0.0, 1.0)
DIFFERENCE_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values and its interval ``[low, high]`` (both ``None`` when ``n == 1``)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def half_width(self) -> float | None:
        """Half the interval's width (after clipping); ``None`` without an interval."""
        return None if not self.has_interval else (self.high - self.low) / 2

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies wholly above or wholly below ``value`` (``False`` without one)."""
        return self.has_interval and (self.low > value or self.high < value)

    def describe(self, digits: int = 3) -> str:
        """``"0.812 [0.790, 0.834]"``, or ``"0.812 (n = 1: no interval)"``."""
        if not self.has_interval:
            return f"{self.mean:.{digits}f} (n = {self.n}: no interval)"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def t_interval(values: Sequence[float], confidence: float = 0.95,
               clip: tuple[float, float] | None = None) -> Interval:
    """The Student t interval of the mean of ``values`` at ``confidence`` (two-sided).

    ``clip``: ``(lower, upper)`` range the ends are cut to (:data:`ACCURACY_RANGE`,
    :data:`DIFFERENCE_RANGE`); ``None`` leaves them as computed. One value gives an
    :class:`Interval` with ``low = high = None``. Raises ``ValueError`` for no values, a
    non-finite value, or ``confidence`` outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence!r}")
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one number; got none")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite numbers; got {values!r}")
    mean, _, half = mean_confidence_interval(values, confidence)
    if half is None:
        return Interval(mean, None, None, len(values))
    low, high = mean - half, mean + half
    if clip is not None:
        low, high = max(low, clip[0]), min(high, clip[1])
    return Interval(mean, low, high, len(values))
