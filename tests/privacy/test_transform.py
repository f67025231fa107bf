"""DP-SGD's privatisation for users' own loops: the pure step and the optax transformation."""

from __future__ import annotations

import runpy
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dpqml.privacy import PrivacyConfig, dp_sgd, private_gradient


def _grads(seed=0, batch=6):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.normal(size=(batch, 3, 2)) * 2.0), "b": jnp.asarray(rng.normal(size=(batch,)))}


def test_the_step_clips_the_flat_gradient_of_all_leaves_sums_and_divides_by_the_expected_batch():
    grads = _grads()
    mask = jnp.asarray([1, 1, 1, 1, 0, 1.0])
    mean, stats = private_gradient(grads, max_grad_norm=1.5, noise_multiplier=0.0, expected_batch_size=4.0,
                                   key=jax.random.PRNGKey(0), mask=mask)
    flat = np.concatenate([np.asarray(grads["w"]).reshape(6, -1), np.asarray(grads["b"])[:, None]], axis=1)
    norms = np.linalg.norm(flat, axis=1)
    expected = (flat * np.minimum(1.0, 1.5 / norms)[:, None] * np.asarray(mask)[:, None]).sum(axis=0) / 4.0
    np.testing.assert_allclose(np.concatenate([np.asarray(mean["w"]).ravel(), [float(mean["b"])]]), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(stats["norms"], norms * np.asarray(mask), rtol=1e-12)
    assert mean["w"].shape == (3, 2) and mean["b"].shape == ()


def test_the_noise_has_std_sigma_c_on_the_sum():
    grads = {"w": jnp.zeros((4, 2000))}
    tx = dp_sgd(max_grad_norm=2.0, noise_multiplier=0.7, expected_batch_size=5.0, noise_seed=3)
    state = tx.init({"w": jnp.zeros(2000)})
    draws = []
    for _ in range(3):
        mean, state = tx.update(grads, state)
        draws.append(np.asarray(mean["w"]) * 5.0)  # the noise on the sum
    draws = np.concatenate(draws)
    assert abs(draws.std() / (0.7 * 2.0) - 1.0) < 0.03 and abs(draws.mean()) < 0.05
    assert int(state.count) == 3


def test_the_noise_key_is_secret_unless_a_seed_is_asked_for():
    params = {"w": jnp.zeros(3)}
    grads = {"w": jnp.ones((2, 3))}

    def first(tx):
        return np.asarray(tx.update(grads, tx.init(params))[0]["w"])

    secret = dp_sgd(max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=2.0)
    assert not np.allclose(first(secret), first(secret))  # a fresh secret key per init
    seeded = dp_sgd(max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=2.0, noise_seed=9)
    np.testing.assert_array_equal(first(seeded), first(seeded))
    state = seeded.init(params)
    one, state = seeded.update(grads, state)
    two, _ = seeded.update(grads, state)
    assert not np.allclose(one["w"], two["w"])  # a new draw every step


def test_it_takes_the_privacy_configuration_of_the_accounting_and_chains_with_optax():
    privacy = PrivacyConfig.from_target_epsilon(3.0, delta=1e-5, sample_rate=0.25, steps=20, max_grad_norm=0.5,
                                                n_examples=40)
    tx = optax.chain(dp_sgd(privacy, noise_seed=0), optax.sgd(0.1))
    params = {"w": jnp.zeros(2)}
    grads = {"w": jnp.tile(jnp.asarray([3.0, 4.0]), (10, 1))}
    updates, _ = tx.update(grads, tx.init(params), params, mask=jnp.ones(10))
    reference, _ = private_gradient(grads, max_grad_norm=0.5, noise_multiplier=privacy.noise_multiplier,
                                    expected_batch_size=10.0,
                                    key=jax.random.fold_in(dp_sgd(privacy, noise_seed=0).init(params).key, 0))
    np.testing.assert_allclose(updates["w"], -0.1 * reference["w"], rtol=1e-6)


def test_the_trainer_and_an_optax_loop_with_dp_sgd_take_the_same_steps():
    """With seeded noise and every example sampled (q = 1, one physical batch), the trainer's
    iterates equal those of ``optax.chain(dp_sgd(...), optax.sgd(lr))``: one mechanism, two doors."""
    from dpqml.engine import make_per_example_grads
    from dpqml.models import LogisticRegression
    from dpqml.train import TrainConfig, train

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)) * 3.0, rng.integers(0, 2, 12).astype(np.int32)
    model = LogisticRegression(3, 2)
    privacy = PrivacyConfig(0.8, 0.5, 1.0, 4, 1e-5, 12)
    params0 = model.init(jax.random.PRNGKey(0))
    result = train(model, x, y, privacy, TrainConfig(learning_rate=0.3, optimizer="sgd", randomness="seeded",
                                                     noise_seed=5, checkpoint_every=None), params=params0)
    tx = optax.chain(dp_sgd(privacy, noise_seed=5), optax.sgd(0.3))
    grads_of = make_per_example_grads(model.loss, "vmap")
    params, state = params0, tx.init(params0)
    for _ in range(privacy.steps):
        _, grads = grads_of(params, jnp.asarray(x), jnp.asarray(y))
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    for a, b in zip(jax.tree_util.tree_leaves(result.params), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    moved = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a, b: a - b, params, params0))
    assert max(float(jnp.abs(v).max()) for v in moved) > 0.05  # the runs went somewhere


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_grad_norm=0.0, noise_multiplier=1.0, expected_batch_size=2.0), "max_grad_norm"),
    (dict(max_grad_norm=1.0, noise_multiplier=-1.0, expected_batch_size=2.0), "noise_multiplier"),
    (dict(max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=0.0), "expected_batch_size"),
    (dict(max_grad_norm=1.0, noise_multiplier=1.0), "dp_sgd needs expected_batch_size"),
    (dict(max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=2.0, noise_seed=-1), "noise_seed"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dp_sgd(**kwargs)


def test_a_bound_following_configuration_and_mixed_arguments_are_refused():
    bound = PrivacyConfig(1.0, "bound", 0.1, 10, 1e-5, 100)
    with pytest.raises(ValueError, match="needs a constant max_grad_norm"):
        dp_sgd(bound)
    constant = PrivacyConfig(1.0, 1.0, 0.1, 10, 1e-5, 100)
    with pytest.raises(ValueError, match="not both"):
        dp_sgd(constant, max_grad_norm=2.0)
    with pytest.raises(ValueError, match="same leading batch axis"):
        private_gradient({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}, max_grad_norm=1.0, noise_multiplier=0.0,
                         expected_batch_size=1.0, key=jax.random.PRNGKey(0))


def test_the_example_trains_a_plain_jax_model_privately(capsys):
    path = Path(__file__).resolve().parents[2] / "examples" / "private_jax_loop.py"
    assert sum(1 for line in path.read_text().splitlines() if line.strip()) <= 25
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "epsilon = 2.00" in out
    assert float(out.rsplit("training accuracy", 1)[1]) > 0.9
