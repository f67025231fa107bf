"""Per-example gradients of any model, for a whole batch in one compiled computation.

``loss_fn(params, x, y) -> scalar`` is the loss of ONE example; params is any pytree (the
quantum angles and classical weights together). Methods:

* ``"vmap"`` (default): ``jit(vmap(value_and_grad(loss_fn)))``, the batch mapped over
  examples with the parameters shared;
* ``"expand"``: per-example parameter expansion: every example gets its own copy of the
  parameters, the per-example losses are summed, and one ordinary reverse pass yields
  every per-example gradient (the gradient of the sum w.r.t. copy ``i`` is example ``i``'s);
* ``"loop"``: a Python loop of single-example gradients (the slow reference).

Quantum models inside ``loss_fn`` pick their own circuit differentiation (adjoint or
backprop, see :mod:`dpqml.quantum.simulate`); both give exact gradients.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..validation import check_choice

PER_EXAMPLE_METHODS = ("vmap", "expand", "loop")


def _vmap_grads(loss_fn, params, x, y):
    return jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0, 0))(params, x, y)


def _expand_grads(loss_fn, params, x, y):
    b = x.shape[0]
    expanded = jax.tree_util.tree_map(lambda p: jnp.broadcast_to(p, (b, *jnp.shape(p))), params)

    def total(ps):
        losses = jax.vmap(loss_fn)(ps, x, y)
        return jnp.sum(losses), losses

    (_, losses), grads = jax.value_and_grad(total, has_aux=True)(expanded)
    return losses, grads


def make_per_example_grads(loss_fn, method: str = "vmap"):
    """A jitted ``f(params, x, y) -> (losses (B,), grads)`` where each leaf of ``grads`` has a
    leading batch axis ``B``."""
    check_choice(method, "method", PER_EXAMPLE_METHODS)
    if method == "vmap":
        return jax.jit(partial(_vmap_grads, loss_fn))
    if method == "expand":
        return jax.jit(partial(_expand_grads, loss_fn))
    single = jax.jit(jax.value_and_grad(loss_fn))

    def loop(params, x, y):
        outs = [single(params, x[i], y[i]) for i in range(x.shape[0])]
        losses = jnp.stack([o[0] for o in outs])
        grads = jax.tree_util.tree_map(lambda *g: jnp.stack(g), *[o[1] for o in outs])
        return losses, grads

    return loop


#: Compiled functions of :func:`per_example_grads`, by ``(loss_fn, method)``, most recent last.
_COMPILED: OrderedDict = OrderedDict()
_COMPILED_MAX = 32


def _compiled(loss_fn, method: str):
    try:
        key = (loss_fn, method)
        hash(key)
    except TypeError:  # an unhashable callable: compiled afresh on every call
        return make_per_example_grads(loss_fn, method)
    fn = _COMPILED.get(key)
    if fn is None:
        fn = _COMPILED[key] = make_per_example_grads(loss_fn, method)
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return fn


def per_example_grads(loss_fn, params, x, y, method: str = "vmap"):
    """Per-example losses ``(B,)`` and gradients (pytree of ``(B, ...)``) of ``loss_fn``.

    The compiled function is kept per ``(loss_fn, method)`` (the 32 most recent), so calling this
    in a loop with the same loss compiles once, not on every call (a bound method such as
    ``model.loss`` is the same key each time it is read). In a hot loop,
    :func:`make_per_example_grads` returns the compiled function itself, with no lookup.
    """
    return _compiled(loss_fn, method)(params, x, y)


def flatten_per_example(grads):
    """Concatenate every leaf of a per-example gradient pytree into a ``(B, P)`` matrix.

    This is the flat gradient of *all* trainable parameters that DP-SGD clips.
    """
    leaves = jax.tree_util.tree_leaves(grads)
    b = leaves[0].shape[0]
    return jnp.concatenate([jnp.reshape(g, (b, -1)) for g in leaves], axis=1)


def validate_batch(x, y=None, *, n_features: int, name: str = "x"):
    """Check a batch at the boundary: shape ``(B, n_features)``, finite values; return NumPy arrays."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (batch, {n_features}); got {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x).all(axis=1)))
        raise ValueError(f"{name} has NaN or infinite features in {bad} example(s); features must be finite")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},); got {y.shape}")
    return x, y
