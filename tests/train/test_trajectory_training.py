"""DP-SGD on sampled noise trajectories: the settings, the accounting, and per-example draws keyed
by each example's content (so one example's gradient never depends on which others were sampled)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.engine import make_parameter_shift_grads
from dpqml.engine.sampled import content_key, content_keys, make_trajectory_grads
from dpqml.models import build_model
from dpqml.models.classical import LogisticRegression
from dpqml.train import TrainConfig, train_private
from dpqml.train.trainer import check_training_memory


def _data(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32)


def test_settings_are_checked_by_name():
    with pytest.raises(ValueError, match="method='trajectories' needs trajectories"):
        TrainConfig(method="trajectories")
    with pytest.raises(ValueError, match="trajectories=4 is only used with method='trajectories'"):
        TrainConfig(trajectories=4)
    with pytest.raises(ValueError, match="trajectories must be an integer >= 1"):
        TrainConfig(method="trajectories", trajectories=0)
    assert "trajectories" not in TrainConfig().identity()  # older checkpoints still resume
    assert TrainConfig(method="trajectories", trajectories=3).identity()["trajectories"] == 3


def test_models_without_noise_channels_are_refused_before_any_work():
    x, y = _data()
    with pytest.raises(ValueError, match="needs noise channels.*use method='vmap'"):
        train_private(build_model(qubits=3, layers=1), (x, y), target_epsilon=2.0, epochs=1,
                      method="trajectories", trajectories=2)
    with pytest.raises(ValueError, match="need a quantum model with a circuit"):
        train_private(LogisticRegression(input_dim=3), (x, y), target_epsilon=2.0, epochs=1,
                      method="trajectories", trajectories=2)


def test_training_on_trajectories_keeps_the_accounting_and_records_the_setting():
    x, y = _data()
    model = build_model(qubits=3, layers=1, noise="amplitude-damping:0.05")
    common = dict(target_epsilon=2.0, epochs=2, expected_batch_size=8, noise_seed=1, seed=0)
    sampled = train_private(model, (x, y), method="trajectories", trajectories=3, **common)
    exact = train_private(model, (x, y), **common)
    assert sampled.epsilon == exact.epsilon and sampled.privacy == exact.privacy
    out = sampled.to_dict()
    assert out["trajectories"] == 3 and "trajectories" not in exact.to_dict()
    assert sampled.train_accuracy is not None and 0.0 <= sampled.train_accuracy <= 1.0
    # same sampling and noise (seeded), different gradients: the trajectories really ran
    assert not np.allclose(np.asarray(sampled.params["theta"]), np.asarray(exact.params["theta"]))


def test_the_memory_check_counts_every_trajectory():
    model = build_model(qubits=10, layers=1, noise="depolarizing")
    check_training_memory(model, 8, 8, trajectories=4)
    with pytest.raises(MemoryError, match="times 4096 trajectories"):
        check_training_memory(model, 256, 256, trajectories=4096)


def test_content_keys_depend_on_the_example_alone():
    key = jax.random.PRNGKey(3)
    x = jnp.asarray([[0.0, 1.5], [-0.0, 1.5], [0.25, 1.5]], jnp.float32)
    y = jnp.asarray([1, 1, 1])
    keys = np.asarray(content_keys(key, x, y))
    np.testing.assert_array_equal(keys[0], keys[1])  # -0.0 and 0.0 are one feature value
    assert not np.array_equal(keys[0], keys[2])
    assert not np.array_equal(content_key(key, x[0], 0), content_key(key, x[0], 1))  # the label counts
    assert not np.array_equal(content_key(key, x[0], 1), content_key(jax.random.PRNGKey(4), x[0], 1))


@pytest.mark.parametrize("how", ["trajectories", "parameter-shift"])
def test_an_examples_sampled_gradient_does_not_depend_on_the_rest_of_the_batch(how):
    # DP-SGD's sensitivity argument: removing one example from the batch changes no other
    # example's clipped gradient (keys by position would shift every later example's draws)
    model = build_model(qubits=2, layers=1, noise="depolarizing:0.1")
    params = model.init(jax.random.PRNGKey(0))
    x, y = _data(n=4, d=2, seed=5)
    grads = (make_trajectory_grads(model, 4) if how == "trajectories" else make_parameter_shift_grads(model, 50))
    key = jax.random.PRNGKey(11)
    _, full = grads(params, jnp.asarray(x), jnp.asarray(y), key)
    _, rest = grads(params, jnp.asarray(x[1:]), jnp.asarray(y[1:]), key)
    for leaf_full, leaf_rest in zip(jax.tree.leaves(full), jax.tree.leaves(rest)):
        np.testing.assert_allclose(np.asarray(leaf_full)[1:], np.asarray(leaf_rest), rtol=1e-6, atol=1e-7)
    _, other = grads(params, jnp.asarray(x), jnp.asarray(y), jax.random.PRNGKey(12))
    assert not np.allclose(np.asarray(full["theta"]), np.asarray(other["theta"]))  # the draws are random


def test_on_step_sees_every_released_iterate_and_the_white_box_game_trains_once(monkeypatch):
    import dpqml.train as train_module
    from dpqml.audit.games import white_box_scores
    from dpqml.privacy import PrivacyConfig
    from dpqml.train import train

    x, y = _data(n=16, d=3)
    model = build_model(qubits=3, layers=1)
    privacy = PrivacyConfig(1.0, 1.0, 0.25, 5, 1e-5, 16)
    seen = []
    result = train(model, x, y, privacy, TrainConfig(noise_seed=0), on_step=lambda t, p: seen.append((t, p)))
    assert [t for t, _ in seen] == list(range(5))
    np.testing.assert_array_equal(np.asarray(seen[-1][1]["theta"]), np.asarray(result.params["theta"]))
    assert not np.allclose(np.asarray(seen[0][1]["theta"]), np.asarray(seen[-1][1]["theta"]))
    # the white-box audit game: one trainer run of T steps (it once replayed every prefix: T runs)
    calls = []
    real_train = train_module.train

    def counting(*args, **kwargs):
        calls.append(args[3].steps)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", counting)
    claimed = PrivacyConfig(1.0, 1.0, 0.5, 6, 1e-5, 4)
    scores = white_box_scores(4, np.array([1, 0, 1, 1], bool), claimed, claimed, seed=3, max_physical_batch=8)
    assert calls == [6] and scores.shape == (4,) and np.all(np.isfinite(scores))
