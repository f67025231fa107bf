"""Poisson subsampling, and padding the variable-size batches it draws to a few fixed shapes.

Poisson sampling is what the DP-SGD accountant assumes: at every step each of the N examples
joins the batch independently with probability q, so batch sizes vary (and can be zero).
Every distinct array shape makes XLA compile again, so a logical batch is cut into physical
batches whose sizes are powers of two up to a cap, padded with masked dummy rows: a run
compiles at most ``log2(cap) + 1`` times, and memory never exceeds one physical batch.
"""

from __future__ import annotations

import numpy as np

from . import entropy


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The sampling generator of one step: a pure function of ``(seed, step)``, so that a resumed
    run draws exactly the batches the interrupted one would have drawn."""
    return np.random.default_rng([int(seed), int(step)])


def poisson_sample(n_examples: int, sample_rate: float, rng: np.random.Generator | None = None,
                   *, secure: bool = False) -> np.ndarray:
    """Indices of one Poisson-sampled batch: each of ``n_examples`` independently with
    probability ``sample_rate``. Returns a sorted int array of variable length (maybe empty).

    ``secure=True`` draws the Bernoulli trials from the operating system's CSPRNG
    (``os.urandom``, 64 bits per example) instead of ``rng``.
    """
    if secure:
        bits = np.frombuffer(entropy.secret_bytes(8 * n_examples), dtype=np.uint64)
        # P(bits < t) = t / 2**64 with t = round(q · 2**64): q to within 2**-64.
        threshold = np.uint64(min(int(round(sample_rate * 2.0**64)), 2**64 - 1))
        chosen = bits < threshold if sample_rate < 1.0 else np.ones(n_examples, bool)
    else:
        chosen = rng.random(n_examples) < sample_rate
    return np.flatnonzero(chosen)


def padded_size(n: int, max_physical_batch: int) -> int:
    """The physical batch size that holds ``n`` examples: the next power of two, capped at
    ``max_physical_batch``."""
    return min(max_physical_batch, 1 << max(int(n) - 1, 0).bit_length())


def physical_batches(indices: np.ndarray, max_physical_batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut a logical batch into fixed-shape physical batches.

    Full chunks of ``max_physical_batch`` first, then the remainder padded up to the next power
    of two (capped at ``max_physical_batch``). Returns ``[(idx, mask), ...]`` where ``idx`` has
    padded slots set to 0 (a valid row, masked out) and ``mask`` is 1.0 for real examples. An
    empty logical batch gives an empty list (the step still adds noise and still counts).
    """
    out = []
    n = len(indices)
    full = n // max_physical_batch
    for k in range(full):
        chunk = indices[k * max_physical_batch:(k + 1) * max_physical_batch]
        out.append((chunk, np.ones(max_physical_batch, np.float32)))
    rest = indices[full * max_physical_batch:]
    if len(rest):
        size = padded_size(len(rest), max_physical_batch)
        idx = np.zeros(size, dtype=indices.dtype)
        idx[:len(rest)] = rest
        mask = np.zeros(size, np.float32)
        mask[:len(rest)] = 1.0
        out.append((idx, mask))
    return out


def physical_shapes(max_physical_batch: int) -> list[int]:
    """Every physical batch size :func:`physical_batches` can produce."""
    sizes = {max_physical_batch}
    s = 1
    while s < max_physical_batch:
        sizes.add(s)
        s *= 2
    return sorted(sizes)
