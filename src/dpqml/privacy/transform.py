"""DP-SGD's privatisation for your own JAX loop: one pure function, and an optax transformation.

The step is the trainer's, built from the same stages (:mod:`.dpsgd`): flatten each example's
gradient over *all* leaves, clip it to L2 norm ``C``, sum (:func:`~.dpsgd.clip_and_sum`), add
``N(0, σ²C²)`` once, divide by the expected batch size ``q·N``, a public constant
(:func:`~.dpsgd.privatize`). The trainer runs ``clip_and_sum`` once per physical batch and
``privatize`` once per logical step, so a step whose sample spans several physical batches, or
whose noise comes from the operating system's CSPRNG (``randomness="secure"``), still adds one
noise draw; with seeded noise and one physical batch per step its iterates equal an optax loop
with :func:`dp_sgd` (tested). :func:`private_gradient` does it for one batch;
:func:`dp_sgd` wraps it as an ``optax.GradientTransformation`` that takes per-example gradients
(every leaf with a leading batch axis) and chains with any optax optimizer::

    tx = optax.chain(dp_sgd(privacy), optax.adam(1e-2))   # privacy: a PrivacyConfig
    state = tx.init(params)
    grads = jax.vmap(jax.grad(loss), (None, 0, 0))(params, xb, yb)   # per-example
    updates, state = tx.update(grads, state, params, mask=mask)      # mask: padding rows 0
    params = optax.apply_updates(params, updates)

What it does not do for you: sample each batch by Poisson sampling with rate ``q``
(:func:`dpqml.privacy.poisson_sample`), give each logical step to ONE ``update`` (the noise is
added once per call: the simplest fixed shape is the whole training set with a 0/1 ``mask`` of
the sampled rows, as ``examples/private_jax_loop.py`` does; an empty sample still takes its step
and its noise), run exactly the steps the accounting counted, and report ε
(:meth:`PrivacyConfig.epsilon`). :func:`dpqml.train.train` does all of it, in physical batches.

**The noise key is secret.** ``init`` draws it from the operating system (``os.urandom``), so
the noise cannot be replayed from anything you publish; the key lives in the optimizer state,
which is then as private as the data (never publish it). ``noise_seed=S`` is the explicit,
labelled opt-in to reproducible noise: the guarantee does not hold against anyone who knows ``S``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ..validation import check_scalar
from . import entropy
from .config import PrivacyConfig
from .dpsgd import clip_and_sum, gaussian_noise, privatize
from .randomness import _noise_key


class DPSGDState(NamedTuple):
    """The transformation's state: the steps taken and the noise key (secret unless seeded)."""

    count: jax.Array
    key: jax.Array


def private_gradient(per_example_grads, *, max_grad_norm: float, noise_multiplier: float,
                     expected_batch_size: float, key, mask=None):
    """One DP-SGD aggregation of a batch: ``(noisy mean gradient, stats)``.

    Args:
        per_example_grads: a pytree whose every leaf has a leading batch axis ``B``.
        max_grad_norm: C > 0, the clip threshold of each example's flat gradient (all leaves).
        noise_multiplier: σ ≥ 0; the sum gets Gaussian noise of standard deviation ``σ·C``.
        expected_batch_size: ``q·N`` > 0, the public divisor.
        key: a ``jax.random`` key for the noise (keep it secret).
        mask: ``(B,)``, 1 for real examples, 0 for padding (default: all real).

    Returns:
        The noisy mean gradient (a pytree like one example's gradient) and ``stats`` from
        :func:`.dpsgd.clip_per_example` (``norms``, ``clipped``, ``nonfinite``).
    """
    leaves = jax.tree_util.tree_leaves(per_example_grads)
    if not leaves:
        raise ValueError("per_example_grads has no leaves: pass the per-example gradients of the parameters")
    batch = {jnp.shape(v)[0] if jnp.ndim(v) else None for v in leaves}
    if len(batch) != 1 or None in batch:
        raise ValueError(f"every leaf of per_example_grads needs the same leading batch axis; got leading sizes "
                         f"{sorted(map(str, batch))}")
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda v: v[0], per_example_grads))
    summed, stats = clip_and_sum(per_example_grads, max_grad_norm, mask)
    noise = gaussian_noise(key, summed.shape, noise_multiplier * max_grad_norm, summed.dtype)
    return unravel(privatize(summed, noise, expected_batch_size)), stats


def _secret_key():
    """A noise key from a 128-bit secret drawn from the OS, derived as ``randomness="fast"`` derives its."""
    return _noise_key(int.from_bytes(entropy.secret_bytes(16), "little"))


def dp_sgd(privacy: PrivacyConfig | None = None, *, max_grad_norm: float | None = None,
           noise_multiplier: float | None = None, expected_batch_size: float | None = None,
           noise_seed: int | None = None) -> optax.GradientTransformationExtraArgs:
    """DP-SGD's privatisation as an optax transformation (see the module docstring).

    Give a :class:`PrivacyConfig` (C, σ and ``q·N`` from it: the configuration the accounting
    used) or the three numbers. ``update(per_example_grads, state, params=None, mask=None)``
    returns the noisy mean gradient; step ``t`` draws its noise from ``fold_in(key, t)``.
    ``noise_seed``: reproducible noise (an opt-in; the guarantee does not hold against anyone who
    knows it). A configuration with ``max_grad_norm="bound"`` is refused (its threshold follows the
    parameters: :func:`dpqml.train.train` runs it).
    """
    if privacy is not None:
        if any(v is not None for v in (max_grad_norm, noise_multiplier, expected_batch_size)):
            raise ValueError("give a PrivacyConfig or max_grad_norm, noise_multiplier and expected_batch_size, "
                             "not both")
        if not privacy.clips_at_constant:
            raise ValueError("dp_sgd needs a constant max_grad_norm; max_grad_norm='bound' (C_t = G(theta_t)) "
                             "runs in dpqml.train.train")
        max_grad_norm, noise_multiplier = privacy.max_grad_norm, privacy.noise_multiplier
        expected_batch_size = privacy.expected_batch_size
    for name, value in (("max_grad_norm", max_grad_norm), ("noise_multiplier", noise_multiplier),
                        ("expected_batch_size", expected_batch_size)):
        if value is None:
            raise ValueError(f"dp_sgd needs {name} (or a PrivacyConfig)")
    check_scalar(max_grad_norm, "max_grad_norm", low=0.0, low_open=True)
    check_scalar(noise_multiplier, "noise_multiplier", low=0.0)
    check_scalar(expected_batch_size, "expected_batch_size", low=0.0, low_open=True)
    if noise_seed is not None:
        check_scalar(noise_seed, "noise_seed", low=0, integer=True)
    c, sigma, divisor = float(max_grad_norm), float(noise_multiplier), float(expected_batch_size)

    def init(params):
        key = _noise_key(noise_seed) if noise_seed is not None else _secret_key()
        return DPSGDState(jnp.zeros((), jnp.int32), key)

    def update(updates, state, params=None, *, mask=None, **extra):
        mean, _ = private_gradient(updates, max_grad_norm=c, noise_multiplier=sigma, expected_batch_size=divisor,
                                   key=jax.random.fold_in(state.key, state.count), mask=mask)
        return mean, DPSGDState(state.count + 1, state.key)

    return optax.GradientTransformationExtraArgs(init, update)
