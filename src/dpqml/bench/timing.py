"""Timing helpers shared by every benchmark: compile time, steady-state time, peak memory."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    first_call_seconds: float  # first call: tracing + compilation + one run
    seconds_per_call: float  # median of the steady-state calls
    calls: int

    @property
    def compile_seconds(self) -> float:
        """First call minus one steady-state call: the cost of tracing and compiling."""
        return max(self.first_call_seconds - self.seconds_per_call, 0.0)


def block(value):
    """Wait for asynchronous results (JAX arrays) inside any pytree."""
    try:
        import jax

        jax.block_until_ready(value)
    except ImportError:  # pragma: no cover
        pass
    return value


def time_call(fn, *, min_seconds: float = 1.0, max_calls: int = 1000, min_calls: int = 3) -> Timing:
    """Call ``fn()`` once (compile), then repeatedly for at least ``min_seconds``; median per call."""
    t0 = time.perf_counter()
    block(fn())
    first = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() - start < min_seconds):
        t = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - t)
    times.sort()
    return Timing(first, times[len(times) // 2], len(times))


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
