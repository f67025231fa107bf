"""Per-example gradients from sampled simulations: keys that keep each example's gradient its own,
and gradients averaged over sampled noise trajectories.

**Keys by content.** Where a gradient is estimated from random draws (finite shots, sampled
trajectories), example ``i`` of a batch draws from ``fold_in(key, h(x_i, y_i))``, a hash of the
example's own bits, never from its position in the batch. DP-SGD's sensitivity argument needs
each example's clipped gradient to be a function of that example alone (and of public values):
with keys by position, adding or removing one example would shift the others' positions and so
change *their* draws, and an adversary who knows the public seed could see more than one
example's worth of change. Keyed by content, the per-example gradient at step ``t`` is a fixed
function ``g_t(θ; x, y)`` and the guarantee is DP-SGD's, unchanged. (Two identical examples
draw the same samples: they are still two examples, each clipped on its own.)

**Trajectories.** :func:`make_trajectory_grads` estimates a noisy circuit's expectations from
``trajectories`` sampled state vectors (:func:`dpqml.quantum.trajectory_expectations`: unbiased,
variance at most ``B² / M`` per Pauli term) and differentiates the loss at the estimate with
JAX's reverse mode; the gradient of ``<O>`` is unbiased, that of a loss nonlinear in ``<O>``
(cross-entropy) has a bias ``O(1/M)``, as training from finite shots does.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..models.hybrid import QuantumModel
from ..models.task import per_example_loss, predicted_class
from ..quantum.simulate import check_trajectories, trajectory_expectations, why_not

#: Public odd multipliers of the two 32-bit hashes of an example's bits (any fixed values work:
#: the hash only has to be a function of the example alone).
_HASH_SEED = 0x7A3B


def _multipliers(n: int, which: int) -> np.ndarray:
    rng = np.random.default_rng([_HASH_SEED, which, n])
    return (rng.integers(0, 2**31, n, dtype=np.uint32) * 2 + 1).astype(np.uint32)


def _words(a) -> jax.Array:
    """The bits of one example's array as ``uint32`` words (floats bit for bit, integers by value)."""
    a = jnp.asarray(a)
    if jnp.issubdtype(a.dtype, jnp.floating):
        if a.dtype.itemsize < 4:
            a = a.astype(jnp.float32)
        a = jnp.where(a == 0, jnp.zeros((), a.dtype), a)  # -0.0 and 0.0 are the same feature value
        return jax.lax.bitcast_convert_type(a, jnp.uint32).reshape(-1)  # float64: two words each
    return a.astype(jnp.uint32).reshape(-1)


def content_key(key, x, y):
    """The key one example draws from: ``key`` folded with two 32-bit hashes of ``(x, y)``."""
    words = jnp.concatenate([_words(x), _words(y)])
    out = key
    for which in (0, 1):
        h = jnp.sum(words * jnp.asarray(_multipliers(words.shape[0], which)), dtype=jnp.uint32)
        out = jax.random.fold_in(out, h)
    return out


def content_keys(key, x, y):
    """:func:`content_key` of every example of a batch ``x (B, ...)``, ``y (B,)``."""
    return jax.vmap(content_key, in_axes=(None, 0, 0))(key, x, y)


def trajectory_loss(model: QuantumModel, trajectories: int, loss: str | None = None):
    """``loss_fn(params, x, y, key)``: the loss of ONE example at its circuit expectations
    estimated from ``trajectories`` sampled trajectories."""
    trajectories = check_trajectories(trajectories)
    if not isinstance(model, QuantumModel):
        raise ValueError(f"trajectory gradients need a quantum model with a circuit (dpqml.build_model); got "
                         f"{type(model).__name__}, which has no circuit: use method='vmap' for it")
    refusal = why_not(model.circuit, "trajectories")
    if refusal is not None:
        raise ValueError(f"{refusal}; this model's circuit has none (use method='vmap')")
    loss_name = loss or model.default_loss

    def loss_fn(params, x, y, key):
        xc = model.circuit_inputs(params, x)
        f = trajectory_expectations(model.circuit, params["theta"], xc, key=key, trajectories=trajectories)
        return per_example_loss(model.from_expectations(params, f), y, loss_name, model.task)

    return loss_fn


#: The key of predictions from sampled trajectories (evaluation is not part of the mechanism).
PREDICT_SEED = 0x9E0


def trajectory_predict(model: QuantumModel, trajectories: int):
    """``predict(params, x)``: the class of one example from its expectations estimated over
    ``trajectories`` sampled trajectories (drawn from :func:`content_key` of a fixed key and the
    example, so a prediction is a function of the parameters and the example)."""
    trajectory_loss(model, trajectories)  # the same refusals
    key = jax.random.PRNGKey(PREDICT_SEED)

    def predict(params, x):
        xc = model.circuit_inputs(params, x)
        k = content_key(key, x, jnp.zeros((), jnp.int32))
        out = model.from_expectations(params, trajectory_expectations(model.circuit, params["theta"], xc, key=k,
                                                                      trajectories=trajectories))
        return predicted_class(out, model.task)

    return predict


def make_trajectory_grads(model: QuantumModel, trajectories: int, loss: str | None = None):
    """A jitted ``f(params, x (B, d), y (B,), key) -> (losses (B,), grads)``: per-example losses and
    gradients, each example's expectations averaged over ``trajectories`` sampled trajectories
    drawn from :func:`content_key` ``(key, x_i, y_i)``."""
    return jax.jit(partial(sampled_grads, trajectory_loss(model, trajectories, loss)))


def sampled_grads(loss_fn, params, x, y, key):
    """Per-example ``value_and_grad`` of ``loss_fn(params, x, y, key)``, example ``i`` keyed by
    :func:`content_key` ``(key, x_i, y_i)``."""
    keys = content_keys(key, x, y)
    return jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0, 0, 0))(params, x, y, keys)
