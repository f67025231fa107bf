"""DP-SGD in your own JAX loop: dpqml's privatisation as an optax transformation.

Run: python examples/private_jax_loop.py
"""
import jax
import jax.numpy as jnp
import optax
from sklearn.datasets import load_digits

from dpqml.privacy import PrivacyConfig, dp_sgd, poisson_sample

x, y = load_digits(n_class=2, return_X_y=True)
x, y = jnp.asarray(x / 16.0, jnp.float32), jnp.asarray(y, jnp.float32)  # a fixed scale, fitted on nothing
privacy = PrivacyConfig.from_target_epsilon(2.0, delta=1e-5, sample_rate=0.1, steps=100, max_grad_norm=1.0,
                                            n_examples=len(x))


def loss(p, xi, yi):
    return optax.sigmoid_binary_cross_entropy(xi @ p["w"] + p["b"], yi)


params = {"w": jnp.zeros(64), "b": jnp.zeros(())}
tx = optax.chain(dp_sgd(privacy), optax.adam(0.05))
state, per_example = tx.init(params), jax.jit(jax.vmap(jax.grad(loss), (None, 0, 0)))
for t in range(privacy.steps):  # exactly the steps the accounting counts, one update each
    mask = jnp.zeros(len(x)).at[poisson_sample(len(x), privacy.sample_rate, secure=True)].set(1.0)
    updates, state = tx.update(per_example(params, x, y), state, params, mask=mask)  # unsampled rows masked
    params = optax.apply_updates(params, updates)
print(f"epsilon = {privacy.epsilon():.2f} at delta = {privacy.delta:g}; "
      f"training accuracy {float(jnp.mean(((x @ params['w'] + params['b']) > 0) == y)):.3f}")
