"""train_runs: many DP-SGD runs in one vectorised program, checked against hand-written DP-SGD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dpqml.models.classical import MLP, LogisticRegression
from dpqml.train.checkpoint import CheckpointError
from dpqml.train.vectorized import RunSettings, physical_chunk, train_runs


def _data(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.int32)
    return x, y


def _reference_sgd(model, params, x, y, *, steps, lr, c, momentum, wd):
    """Full-batch DP-SGD without noise, written out: clip each example's flat gradient to c, sum,
    divide by the batch size, add weight decay, PyTorch momentum."""
    flat, unravel = ravel_pytree(params)
    flat = np.asarray(flat, np.float64)
    buf = np.zeros_like(flat)
    grad = jax.grad(lambda th, xi, yi: model.loss(unravel(th), xi, yi))
    for _ in range(steps):
        total = np.zeros_like(flat)
        for xi, yi in zip(x, y):
            g = np.asarray(grad(jnp.asarray(flat, jnp.float32), xi, yi), np.float64)
            total += g * min(1.0, c / max(np.linalg.norm(g), 1e-30))
        g = total / len(x) + wd * flat
        buf = momentum * buf + g
        flat = flat - lr * buf
    return flat


@pytest.mark.parametrize("c", [100.0, 0.05])
def test_noise_free_full_batch_runs_match_hand_written_dpsgd(c):
    x, y = _data()
    model = MLP(input_dim=3, hidden=(4,))
    runs = [RunSettings(max_grad_norm=c, noise_multiplier=0.0, learning_rate=0.3, seed=s) for s in (0, 1)]
    # B = N: the sample rate is 1, every example joins every step, so the run is deterministic
    res = train_runs(model, runs, x, y, batch_size=len(x), epochs=3, delta=1e-5, momentum=0.9, weight_decay=0.01)
    for i, r in enumerate(runs):
        params = model.init(jax.random.PRNGKey(r.seed))
        want = _reference_sgd(model, params, x, y, steps=3, lr=0.3, c=c, momentum=0.9, wd=0.01)
        np.testing.assert_allclose(res.params[i], want, rtol=2e-4, atol=2e-5)
    assert res.steps_per_epoch == 1 and res.epsilon == [float("inf")] * 2
    if c < 1:
        assert np.all(res.diagnostics["clipped_fraction"] == 1.0)


def test_noise_has_std_sigma_c_over_b_on_the_mean_gradient():
    # one step at q = 1 without momentum or decay: θ1 - θ1(σ=0) = -lr σ C ξ / B
    x, y = _data(n=16)
    model = LogisticRegression(input_dim=3)
    sigma, c, lr, b = 2.0, 0.5, 1.0, 16
    noisy = [RunSettings(c, sigma, lr, seed=0, noise_seed=k) for k in range(300)]
    clean = train_runs(model, [RunSettings(c, 0.0, lr, seed=0)], x, y, batch_size=b, epochs=1, delta=1e-5,
                       momentum=0.0)
    res = train_runs(model, noisy, x, y, batch_size=b, epochs=1, delta=1e-5, momentum=0.0, randomness="seeded")
    dev = (res.params - clean.params[0]).ravel()
    assert abs(dev.std() / (lr * sigma * c / b) - 1) < 0.08
    assert abs(dev.mean()) < 4 * lr * sigma * c / b / np.sqrt(dev.size)


def test_poisson_batches_have_the_expected_size_and_seeded_runs_repeat():
    x, y = _data(n=200)
    model = LogisticRegression(input_dim=3)
    runs = [RunSettings(1.0, 1.0, 0.1, seed=s, noise_seed=10 + s) for s in range(4)]
    a = train_runs(model, runs, x, y, batch_size=20, epochs=5, delta=1e-5, randomness="seeded")
    b = train_runs(model, runs, x, y, batch_size=20, epochs=5, delta=1e-5, randomness="seeded")
    np.testing.assert_array_equal(a.params, b.params)
    per_step = a.diagnostics["examples_sampled"].sum(axis=1) / (5 * a.steps_per_epoch)
    assert np.all(np.abs(per_step - 20) < 3), per_step  # 50 steps: sd of the mean ≈ 0.6
    assert len({tuple(p) for p in a.params}) == 4
    fast = train_runs(model, runs[:1] * 2, x, y, batch_size=20, epochs=1, delta=1e-5)
    assert not np.array_equal(fast.params[0], fast.params[1])  # secret keys: two runs never share noise


def test_a_batch_larger_than_one_chunk_is_gathered_in_several_and_nothing_is_dropped(monkeypatch):
    import dpqml.train.vectorized as vec

    x, y = _data(n=40)
    assert 20 < physical_chunk(20, 40) <= 40
    model = MLP(input_dim=3, hidden=(4,))
    runs = [RunSettings(0.3, 0.0, 0.2, seed=0)]
    one = train_runs(model, runs, x, y, batch_size=40, epochs=2, delta=1e-5)  # q = 1: one chunk of 40
    monkeypatch.setattr(vec, "physical_chunk", lambda b, n: 8)  # now five chunks per step
    five = train_runs(model, runs, x, y, batch_size=40, epochs=2, delta=1e-5)
    np.testing.assert_allclose(five.params, one.params, rtol=1e-5, atol=1e-6)
    assert five.diagnostics["examples_sampled"].tolist() == [[40, 40]]


def test_interrupted_runs_resume_and_the_ledger_covers_every_step(tmp_path):
    x, y = _data(n=32)
    model = LogisticRegression(input_dim=3)
    runs = [RunSettings(1.0, 1.0, 0.1, seed=s, noise_seed=s) for s in range(2)]
    kw = dict(batch_size=8, epochs=4, delta=1e-5, randomness="seeded", checkpoint_every=1)
    whole = train_runs(model, runs, x, y, **kw)

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_runs(model, runs, x, y, checkpoint_dir=tmp_path, progress=stop, **kw)
    res = train_runs(model, runs, x, y, checkpoint_dir=tmp_path, **kw)
    assert res.resumed_from_epoch == 2
    np.testing.assert_allclose(res.params, whole.params, rtol=1e-6, atol=1e-7)
    assert res.steps_spent == [16, 16] and res.epsilon == whole.epsilon
    # done: the checkpoint (it holds the secret keys) is gone, the ledgers stay and go on counting
    assert not (tmp_path / "runs_state.npz").exists() and (tmp_path / "runs" / "0" / "ledger.jsonl").exists()
    again = train_runs(model, runs, x, y, checkpoint_dir=tmp_path, **kw)
    assert again.resumed_from_epoch == 0 and again.steps_spent == [32, 32]
    for name in res.accuracy:
        np.testing.assert_allclose(res.accuracy[name], whole.accuracy[name])


def test_a_lost_block_still_counts_and_other_data_is_refused(tmp_path):
    x, y = _data(n=32)
    model = LogisticRegression(input_dim=3)
    runs = [RunSettings(1.0, 1.0, 0.1, seed=0)]
    kw = dict(batch_size=8, epochs=4, delta=1e-5, checkpoint_every=2)

    def crash(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_runs(model, runs, x, y, checkpoint_dir=tmp_path, progress=crash, **kw)
    # the checkpoint holds 2 epochs; simulate a crash inside the next block: reserve it by hand
    from dpqml.privacy.config import PrivacyConfig
    from dpqml.privacy.ledger import PrivacyLedger
    cfg = PrivacyConfig(1.0, 1.0, 8 / 32, 16, 1e-5, 32, "pld")
    PrivacyLedger(cfg, tmp_path / "runs" / "0").reserve(8, 8)
    with pytest.raises(CheckpointError, match="other data"):  # the checkpoint never resumes on other data
        train_runs(model, runs, x + 1, y, checkpoint_dir=tmp_path, **kw)
    res = train_runs(model, runs, x, y, checkpoint_dir=tmp_path, **kw)
    assert res.steps_spent == [24]  # 16 steps run + the 8 of the lost block


def test_eval_sets_are_measured_before_each_epoch_and_after_the_last():
    x, y = _data(n=32)
    model = MLP(input_dim=3, hidden=(4,))
    runs = [RunSettings(10.0, 0.0, 0.5, seed=0)]
    w = np.linspace(1, 2, 32)
    res = train_runs(model, runs, x, y, batch_size=32, epochs=3, delta=1e-5,
                     eval_sets={"train": (x, y), "weighted": (x, y, w / w.sum())})
    assert res.accuracy["train"].shape == (1, 4)
    params = model.init(jax.random.PRNGKey(0))
    pred = np.asarray(jax.vmap(lambda xi: model.predict(params, xi))(x))
    assert res.accuracy["train"][0, 0] == pytest.approx(np.mean(pred == y))
    assert res.accuracy["weighted"][0, 0] == pytest.approx(np.sum((pred == y) * w) / w.sum(), abs=1e-6)


@pytest.mark.parametrize("kw, match", [
    (dict(batch_size=33), "batch_size must be an integer in \\[1, 32\\]"),
    (dict(batch_size=0), "batch_size"),
    (dict(epochs=0), "epochs must be"),
    (dict(randomness="secure"), "randomness must be one of"),
])
def test_bad_settings_are_refused_before_any_work(kw, match):
    x, y = _data(n=32)
    args = dict(batch_size=8, epochs=1, delta=1e-5) | kw
    with pytest.raises(ValueError, match=match):
        train_runs(LogisticRegression(input_dim=3), [RunSettings(1.0, 0.0, 0.1, seed=0)], x, y, **args)


@pytest.mark.parametrize("field, value", [("max_grad_norm", 0.0), ("learning_rate", -1.0),
                                          ("noise_multiplier", -0.5)])
def test_bad_run_settings_name_the_field(field, value):
    x, y = _data(n=32)
    kw = dict(max_grad_norm=1.0, noise_multiplier=0.0, learning_rate=0.1, seed=0) | {field: value}
    with pytest.raises(ValueError, match=f"runs\\[0\\].{field}"):
        train_runs(LogisticRegression(input_dim=3), [RunSettings(**kw)], x, y, batch_size=8, epochs=1, delta=1e-5)


def test_a_models_own_per_example_gradients_give_the_same_runs_as_vmap_of_grad():
    from dpqml.models.paper import PaperQuantumModel

    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 16)).astype(np.float32)
    y = rng.integers(0, 4, 24).astype(np.int32)
    model = PaperQuantumModel(layers=2)

    class Plain:  # the same model without per_example_grads: train_runs falls back to vmap(grad)
        init, apply, task, default_loss = model.init, model.apply, model.task, model.default_loss

    runs = [RunSettings(0.5, 1.0, 0.1, seed=s, noise_seed=s) for s in range(2)]
    kw = dict(batch_size=8, epochs=2, delta=1e-5, randomness="seeded")
    fast = train_runs(model, runs, x, y, **kw)
    plain = train_runs(Plain(), runs, x, y, **kw)
    np.testing.assert_allclose(fast.params, plain.params, rtol=1e-4, atol=1e-5)
    for key in ("clipped_fraction", "mean_grad_norm"):
        np.testing.assert_allclose(fast.diagnostics[key], plain.diagnostics[key], rtol=1e-4, atol=1e-6)
