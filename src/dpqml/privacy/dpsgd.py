"""The stages of a DP-SGD step, each a small pure function (Abadi et al. 2016, Algorithm 1).

    per-example gradients (B, P) ──► clip_per_example ──► sum (over physical batches)
        ──► add noise N(0, σ²C²) once per logical step ──► divide by q·N ──► optimizer

* :func:`flatten_per_example` turns per-example gradients (a pytree, every leaf with a leading
  batch axis) into the ``(batch, n_params)`` matrix of flat gradients over *all* leaves;
  :func:`clip_and_sum` flattens, clips and sums them: the part of a step done per physical batch;
* :func:`clip_per_example` clips the *flat* gradient of all trainable parameters of each
  example to L2 norm ``C``; rows that are padding (mask 0) or non-finite are zeroed first, and
  the non-finite ones are counted. The sensitivity of the sum is then exactly ``C``.
* :func:`gaussian_noise` (seeded JAX PRNG, reproducible) or :func:`secure_gaussian_noise` (the
  operating system's CSPRNG with the floating-point mitigation below) draw the noise.
* :func:`privatize` adds the noise to the clipped sum and divides by the *expected* batch size,
  a public constant (dividing by the realized size would leak it).

These are the semantics of Opacus and jax-privacy, so figures compare.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import entropy


def clip_per_example(grads, max_grad_norm, mask=None):
    """Clip every row of a per-example gradient matrix to L2 norm ``max_grad_norm``.

    Args:
        grads: ``(batch, n_params)``, the flat gradient of all trainable parameters per example.
        max_grad_norm: C > 0.
        mask: ``(batch,)``, 1 for real examples and 0 for padding (default: all real).

    Returns:
        ``(clipped, stats)``: ``clipped`` is ``(batch, n_params)`` with every row of norm ≤ C
        (padding and non-finite rows are zero); ``stats`` holds per-example ``norms`` (``(batch,)``,
        0 for padding, ``inf`` for non-finite rows), ``clipped`` (1 where the clip changed the
        row), and ``nonfinite`` (1 where the row had a NaN or inf and was zeroed).
    """
    grads = jnp.asarray(grads)
    if mask is None:
        mask = jnp.ones(grads.shape[0], grads.dtype)
    mask = jnp.asarray(mask, grads.dtype)
    finite = jnp.all(jnp.isfinite(grads), axis=1)
    keep = (mask > 0) & finite
    safe = jnp.where(keep[:, None], grads, 0.0)
    norms = jnp.sqrt(jnp.sum(safe * safe, axis=1))
    # min(1, C/‖g‖) without dividing by zero.
    scale = jnp.minimum(1.0, max_grad_norm / jnp.maximum(norms, jnp.finfo(grads.dtype).tiny))
    clipped = safe * scale[:, None]
    real = mask > 0
    stats = {
        "norms": jnp.where(real & ~finite, jnp.inf, norms),
        "clipped": (real & finite & (norms > max_grad_norm)).astype(grads.dtype),
        "nonfinite": (real & ~finite).astype(grads.dtype),
    }
    return clipped, stats


def flatten_per_example(per_example_grads):
    """``(batch, n_params)``: each example's gradient flattened over every leaf, in
    ``ravel_pytree``'s order (so one row unravels to the parameters' structure)."""
    return jax.vmap(lambda g: ravel_pytree(g)[0])(per_example_grads)


def clip_and_sum(per_example_grads, max_grad_norm, mask=None):
    """``(Σ clipped rows (n_params,), stats)``: :func:`flatten_per_example`, then
    :func:`clip_per_example`, summed over the batch. The sum has L2 sensitivity ``C`` in each
    example; the trainer calls this once per physical batch and :func:`privatize` once per step."""
    clipped, stats = clip_per_example(flatten_per_example(per_example_grads), max_grad_norm, mask)
    return clipped.sum(axis=0), stats


def gaussian_noise(key, shape, noise_std: float, dtype=jnp.float32):
    """Noise of standard deviation ``noise_std`` from a JAX PRNG key (reproducible)."""
    return noise_std * jax.random.normal(key, shape, dtype)


def _urandom_uniform(n: int) -> np.ndarray:
    """``n`` uniforms in (0, 1) with 53 random bits each, from ``os.urandom``."""
    bits = np.frombuffer(entropy.secret_bytes(8 * n), dtype=np.uint64) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * 2.0**-53


def secure_gaussian_noise(shape, noise_std: float, dtype=np.float32, n_sum: int = 4) -> np.ndarray:
    """Gaussian noise from the operating system's CSPRNG, with the floating-point mitigation.

    Textbook samplers on floats leave gaps and a non-uniform low-order-bit pattern that can
    reveal the unnoised value (Mironov 2012; Holohan & Braghin 2021). Mitigations used here, as
    in Opacus's secure mode: uniforms come from ``os.urandom`` (not a seeded PRNG); normals are
    drawn by Box–Muller in float64; and each output is the sum of ``n_sum`` independent normals
    divided by √n_sum (same distribution, much denser support), rounded to ``dtype`` only at the end.
    """
    size = int(np.prod(shape)) if len(shape) else 1
    m = n_sum * size
    u1, u2 = _urandom_uniform(m), _urandom_uniform(m)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    z = z.reshape(n_sum, size).sum(axis=0) / math.sqrt(n_sum)
    return (noise_std * z).reshape(shape).astype(dtype)


def privatize(clipped_sum, noise, expected_batch_size: float):
    """The noisy mean gradient: ``(Σ clipped + noise) / (q·N)``."""
    return (clipped_sum + noise) / expected_batch_size
