"""What clipping and noise will cost, estimated before training from public quantities only.

DP-SGD's privatised mean gradient is ``ĝ = (Σ_i clip_C(g_i) + z) / (qN)`` with
``z ~ N(0, σ²C² I_p)``. Its noise has norm ``‖z‖/(qN) ≈ σC√p/(qN)`` (``√p`` for ``p``
parameters), while its signal (the mean clipped gradient) has norm at most ``min(G, C)``: every
per-example gradient is below the bound ``G`` and below ``C`` after clipping. The
noise-to-signal ratio ``σC√p / (qN · min(G, C))`` is therefore a *lower* bound on how noisy one
step is; averaging over ``T`` steps (as SGD does with a small learning rate) divides the noise
by about ``√T``. Nothing here looks at the private data.
"""

from __future__ import annotations

import math

import numpy as np


def clipping_cost(bound: float, clip: float, *, noise_multiplier: float, sample_rate: float, n_examples: int,
                  steps: int, n_params: int) -> dict:
    """Noise-to-signal estimates of DP-SGD for a model with gradient-norm bound ``G = bound``.

    Returns a dict with ``clipping_free`` (``C ≥ G``), ``worst_case_cut`` (the largest fraction of a
    gradient's norm clipping can remove, ``max(0, 1 − C/G)``), ``noise_std`` (per coordinate of the
    mean gradient, ``σC/(qN)``), ``noise_norm`` (``σC√p/(qN)``), ``signal_bound``
    (``min(G, C)``), ``noise_to_signal`` (per step, a lower bound), ``noise_to_signal_averaged``
    (over all ``T`` steps) and ``verdict``, a sentence on what it implies for learning.
    """
    for name, v, low in (("bound", bound, 0.0), ("clip", clip, 0.0), ("sample_rate", sample_rate, 0.0)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= low:
            raise ValueError(f"{name} must be a finite number > {low:g}; got {v!r}")
    if not isinstance(noise_multiplier, (int, float)) or not math.isfinite(noise_multiplier) or noise_multiplier < 0:
        raise ValueError(f"noise_multiplier must be a finite number >= 0; got {noise_multiplier!r}")
    if sample_rate > 1:
        raise ValueError(f"sample_rate must be in (0, 1]; got {sample_rate!r}")
    for name, v in (("n_examples", n_examples), ("steps", steps), ("n_params", n_params)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
    expected = sample_rate * n_examples
    noise_std = noise_multiplier * clip / expected
    noise_norm = noise_std * math.sqrt(n_params)
    signal = min(bound, clip)
    nsr = noise_norm / signal
    nsr_avg = nsr / math.sqrt(steps)
    if nsr_avg >= 1:
        verdict = ("noise dominates even averaged over all steps: expect little learning; raise the expected "
                   "batch size qN, the data set, or ε, or use fewer parameters")
    elif nsr >= 1:
        verdict = ("each step is mostly noise, but averaged over the run the signal can win: use a small "
                   "learning rate (or momentum) so that steps average out")
    else:
        verdict = ("at best (gradients at their bound) the signal exceeds the noise in each step; typical "
                   "gradients below the bound raise the ratio by the same factor (see synthetic norms)")
    return {
        "clipping_free": bound <= clip,
        "worst_case_cut": max(0.0, 1.0 - clip / bound),
        "expected_batch_size": expected,
        "noise_std": noise_std,
        "noise_norm": noise_norm,
        "signal_bound": signal,
        "noise_to_signal": nsr,
        "noise_to_signal_averaged": nsr_avg,
        "verdict": verdict,
    }


def synthetic_norms(model, bound: float, *, n: int = 256, seed: int = 0, feature_range=(0.0, math.pi)) -> dict:
    """Per-example gradient norms on *synthetic* inputs (uniform in ``feature_range``, random labels,
    freshly initialised parameters), as fractions of ``bound``: a privacy-free look at how much of
    the bound typical gradients use. Never pass private data here."""
    import jax
    import jax.numpy as jnp

    from ..engine import flatten_per_example, per_example_grads

    key_p, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = model.init(key_p)
    lo, hi = feature_range
    x = jax.random.uniform(key_x, (n, model.input_dim), jnp.float32, lo, hi)
    y = jax.random.randint(key_y, (n,), 0, model.n_classes)
    _, grads = per_example_grads(model.loss, params, x, y)
    norms = np.asarray(jnp.linalg.norm(flatten_per_example(grads), axis=1), np.float64) / bound
    return {"examples": n, "feature_range": [float(lo), float(hi)],
            "fraction_of_bound": {q: float(np.quantile(norms, float(q))) for q in ("0.5", "0.9", "0.99", "1.0")}}
