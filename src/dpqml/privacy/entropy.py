"""The one source of the privacy mechanism's secret randomness: the operating system's CSPRNG.

Every secret draw of the library (secure Poisson sampling and noise, the per-run secret of
``randomness="fast"``, the vectorised trainer's run keys, the transform's noise key) takes its bytes
from :func:`secret_bytes`, so this module is the one place that says where they come from. The
test suite replaces it with a stream seeded per test, so that a test's outcome never depends on
a draw it cannot repeat. The library itself never seeds or replaces it.
"""

from __future__ import annotations

import os


def secret_bytes(n: int) -> bytes:
    """``n`` bytes from ``os.urandom`` (never seeded, never stored by the library)."""
    return os.urandom(n)
