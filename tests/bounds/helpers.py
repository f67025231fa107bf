"""Shared by the bound tests: compiled per-example gradient norms of a model, cached."""

import jax
import jax.numpy as jnp
import numpy as np

from dpqml.engine import flatten_per_example, make_per_example_grads
from dpqml.models import build_model

_CACHE: dict = {}


def model_and_norms(loss=None, **flags):
    """``(model, norms)`` where ``norms(params, x, y)`` gives the ``(B,)`` per-example gradient
    norms over every trainable parameter (what DP-SGD clips)."""
    key = (loss, tuple(sorted(flags.items())))
    if key not in _CACHE:
        model = build_model(**flags)
        grads = make_per_example_grads(lambda p, x, y: model.loss(p, x, y, loss))

        @jax.jit
        def norms(params, x, y):
            return jnp.linalg.norm(flatten_per_example(grads(params, x, y)[1]), axis=1)

        _CACHE[key] = (model, norms)
    return _CACHE[key]


def random_batch(model, rng, batch, x_bound):
    """Inputs in the domain (amplitude: any non-zero vector) and labels of every class."""
    d = model.input_dim
    if model.circuit.state_prep == "amplitude" and not model.pre:
        x = rng.normal(size=(batch, d)) * rng.uniform(0.1, 3.0)
    else:
        x = rng.uniform(-x_bound, x_bound, (batch, d))
        x[: batch // 4] = rng.choice([-x_bound, x_bound], (batch // 4, d))  # corners of the domain
    y = rng.integers(0, model.n_classes, batch)
    return jnp.asarray(x), jnp.asarray(y)


def random_params(model, rng, a_max=1.0):
    """Random angles, head ``|a| <= a_max``, random ``b`` (and the init's classical layers)."""
    params = model.init(jax.random.PRNGKey(int(rng.integers(2**31))), jnp.float64)
    params["theta"] = jnp.asarray(rng.uniform(-2 * np.pi, 2 * np.pi, model.circuit.n_params))
    if "head" in params:
        params["head"] = {"a": jnp.asarray(rng.uniform(-a_max, a_max)),
                          "b": jnp.asarray(rng.normal(size=np.shape(params["head"]["b"])))}
    return params


CHANNELS = ("Depolarizing", "AmplitudeDamping", "PhaseDamping", "BitFlip")


def random_wire_ops(rng, n, count, params, *, noisy, rot_until, fixed_until):
    """``count`` random one-wire operations: with ``r`` uniform, RX/RY/RZ of a fresh parameter
    while ``r < 0.55``, a Rot of three while ``r < rot_until``, else H or S while ``r <
    fixed_until`` (always when not ``noisy``), else a channel. ``params`` yields parameter indices."""
    from dpqml.quantum import Angle, Operation

    ops = []
    for _ in range(count):
        w = int(rng.integers(n))
        r = rng.uniform()
        if r < 0.55:
            ops.append(Operation(str(rng.choice(["RX", "RY", "RZ"])), (w,), (Angle(weight=next(params)),)))
        elif r < rot_until:
            ops.append(Operation("Rot", (w,), tuple(Angle(weight=next(params)) for _ in range(3))))
        elif r < fixed_until or not noisy:
            ops.append(Operation(str(rng.choice(["H", "S"])), (w,)))
        else:
            ops.append(Operation(str(rng.choice(CHANNELS)), (w,), prob=float(rng.uniform(0.05, 0.3))))
    return ops
