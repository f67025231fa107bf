"""The DP-SGD trainer: one step against a hand computation, and each pitfall of DESIGN.md."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.models import build_model
from dpqml.privacy.config import PrivacyConfig
from dpqml.privacy.ledger import PrivacyLedger
from dpqml.train import FunctionModel, TrainConfig, train
from dpqml.train.api import privacy_config, train_private


def logreg_loss(params, x, y):
    s = (2.0 * y - 1.0) * (params["w"] @ x + params["b"])
    return jax.nn.softplus(-s)


def logreg_predict(params, x):
    return (params["w"] @ x + params["b"] > 0).astype(jnp.int32)


def tiny_problem(n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) * 3
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    params = {"w": jnp.array([0.3, -0.2]), "b": jnp.array(0.1)}
    return x, y, params


def hand_step(params, x, y, idx, C, noise, qN, lr):
    """DP-SGD by hand with NumPy: per-example logistic-regression gradients (σ(s)−y)·(x, 1)."""
    w, b = np.asarray(params["w"]), float(params["b"])
    total = np.zeros(3)
    for i in idx:
        p = 1 / (1 + np.exp(-(w @ x[i] + b)))
        g = (p - y[i]) * np.append(x[i], 1.0)
        total += g * min(1.0, C / np.linalg.norm(g))
    mean = (total + noise) / qN
    return w - lr * mean[:2], b - lr * mean[2]


def test_one_step_equals_a_hand_computed_reference():
    x, y, params = tiny_problem()
    cfg = PrivacyConfig(noise_multiplier=0.7, max_grad_norm=0.5, sample_rate=0.5, steps=1, delta=1e-3, n_examples=6)
    tc = TrainConfig(learning_rate=0.1, optimizer="sgd", seed=3, noise_seed=3)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    res = train(model, x, y, cfg, tc)
    # The documented reproducible randomness (docs/privacy.md): batch from numpy default_rng([noise_seed, step]),
    # noise from normal(fold_in(K, step)) scaled by σC, with K = SeedSequence([noise_seed, 0x401]).generate_state(2).
    idx = np.flatnonzero(np.random.default_rng([3, 0]).random(6) < 0.5)
    assert 0 < len(idx) < 6
    noise_key = jnp.asarray(np.random.SeedSequence([3, 0x401]).generate_state(2, np.uint32))
    noise = 0.7 * 0.5 * np.asarray(jax.random.normal(jax.random.fold_in(noise_key, 0), (3,), jnp.float64))
    noise = np.roll(noise, -1)  # drawn on the flat vector in pytree order (b, w0, w1); hand_step uses (w0, w1, b)
    w, b = hand_step(params, x, y, idx, 0.5, noise, 3.0, 0.1)
    np.testing.assert_allclose(np.asarray(res.params["w"]), w, rtol=1e-10)
    np.testing.assert_allclose(float(res.params["b"]), b, rtol=1e-10)
    assert res.steps_spent == 1 and res.epsilon == pytest.approx(cfg.epsilon(1))


def test_gradient_accumulation_equals_one_big_batch():
    x, y, params = tiny_problem(40, seed=1)
    cfg = PrivacyConfig(1.0, 1.0, 0.6, 5, 1e-3, 40)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    big = train(model, x, y, cfg, TrainConfig(max_physical_batch=64, seed=1, noise_seed=1))
    small = train(model, x, y, cfg, TrainConfig(max_physical_batch=3, seed=1, noise_seed=1))
    for k in ("w", "b"):
        np.testing.assert_allclose(np.asarray(small.params[k]), np.asarray(big.params[k]), rtol=1e-10)


def test_clip_covers_all_parameters_including_the_head():
    # A hybrid model's per-example clipped gradient, theta and head together, has norm <= C.
    from dpqml.train.trainer import _make_clipped_sum

    model = build_model(qubits=2, layers=1)
    params = model.init(jax.random.PRNGKey(0), jnp.float64)  # float64: compared to 1e-10
    params["head"]["a"] = jnp.array(40.0, jnp.float64)  # makes the gradients large
    from jax.flatten_util import ravel_pytree

    fn = _make_clipped_sum(model, None, "vmap")
    x = jnp.array([[0.3, 1.2]])
    y = jnp.array([int(jax.jit(model.apply)(params, x[0]) < 0)])  # the wrong label: the loss is not saturated
    s, _, stats = fn(params, x, y, jnp.ones(1), 0.25)
    raw = jax.jit(jax.grad(model.loss))(params, x[0], y[0])  # one compile, not one per operation
    raw_flat = ravel_pytree(raw)[0]
    assert float(stats["norms"][0]) == pytest.approx(float(jnp.linalg.norm(raw_flat)), rel=1e-10)
    assert float(jnp.linalg.norm(raw_flat)) > 0.25
    np.testing.assert_allclose(np.asarray(s), np.asarray(raw_flat) * 0.25 / float(jnp.linalg.norm(raw_flat)),
                               rtol=1e-10, atol=1e-12)  # atol: entries that are zero up to rounding


def test_empty_batches_still_add_noise_and_count():
    x, y, params = tiny_problem(10)
    # q = 0.01 over 10 examples: most batches are empty.
    cfg = PrivacyConfig(2.0, 1.0, 0.01, 20, 1e-3, 10)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    res = train(model, x, y, cfg, TrainConfig(optimizer="sgd", learning_rate=0.01, noise_seed=0))
    seen = sum(r["examples_seen"] for r in res.history)
    assert seen < 20  # some steps had no example
    assert res.steps_spent == 20
    assert not np.allclose(np.asarray(res.params["w"]), np.asarray(params["w"]))  # noise moved them


def test_nonfinite_gradients_are_zeroed_counted_and_warned():
    x, y, params = tiny_problem(8)
    x[3] = [1e30, 1e30]  # a poisoned example whose gradient is NaN

    def loss(p, xi, yi):  # d/db of the second term is 1e-40 / (x0 - 1e30): inf for the poisoned example only
        return logreg_loss(p, xi, yi) + p["b"] * 1e-40 / (xi[0] - 1e30)

    cfg = PrivacyConfig(0.0, 1.0, 1.0, 2, 1e-3, 8)
    model = FunctionModel(loss, params, logreg_predict, input_dim=2)
    with pytest.warns(UserWarning, match="NaN or infinite"):
        res = train(model, x, y, cfg, TrainConfig())
    assert sum(r["nonfinite_gradients"] for r in res.history) == 2
    assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree_util.tree_leaves(res.params))


def test_bad_models_and_data_are_refused_before_training(tmp_path):
    x, y, params = tiny_problem(8)
    cfg = PrivacyConfig(1.0, 1.0, 0.5, 2, 1e-3, 8)
    complex_model = FunctionModel(logreg_loss, {"w": jnp.array([1j, 0.0]), "b": jnp.array(0.0)}, input_dim=2)
    with pytest.raises(ValueError, match="real floating point"):
        train(complex_model, x, y, cfg)
    bn = FunctionModel(logreg_loss, {**params, "batch_stats": {"mean": jnp.zeros(2)}}, input_dim=2)
    with pytest.raises(ValueError, match="shared across examples"):
        train(bn, x, y, cfg)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    bad_x = x.copy()
    bad_x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        train(model, bad_x, y, cfg)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 1\]"):
        train(model, x, y + 1, cfg)
    with pytest.raises(ValueError, match="non-empty"):
        train(model, x[:0], y[:0], cfg)
    with pytest.raises(ValueError, match="n_examples=8"):
        train(model, x[:5], y[:5], cfg)
    with pytest.raises(ValueError, match="input_dim=2"):
        train(model, np.ones((8, 3)), y, cfg)
    # A checkpoint directory is not touched by a refused run.
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"noise_multiplier": -1.0}, "noise_multiplier"),
    ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"sample_rate": 0.0}, "sample_rate"),
    ({"sample_rate": 1.5}, "sample_rate"),
    ({"delta": 1.0}, "delta"),
    ({"delta": 0.0}, "delta"),
    ({"steps": 0}, "steps"),
    ({"accountant": "clt"}, "accountant"),
])
def test_privacy_config_rejects_bad_values(kwargs, match):
    base = {"noise_multiplier": 1.0, "max_grad_norm": 1.0, "sample_rate": 0.1, "steps": 10, "delta": 1e-5,
            "n_examples": 100}
    with pytest.raises(ValueError, match=match):
        PrivacyConfig(**{**base, **kwargs})


def test_target_epsilon_errors_and_a_large_delta_is_refused_unless_allowed():
    with pytest.raises(ValueError, match="target_epsilon"):
        privacy_config(100, target_epsilon=0.0)
    with pytest.raises(ValueError, match="target_epsilon"):
        privacy_config(100, target_epsilon=-1.0)
    x, y, params = tiny_problem(8)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    # δ >= 1/N protects nobody: refused before any work, with the way to accept it named
    with pytest.raises(ValueError, match=r"delta=0.5 >= 1/n_examples = 1/8.*allow_large_delta"):
        train_private(model, (x, y), noise_multiplier=1.0, delta=0.5, epochs=1, expected_batch_size=4)
    with pytest.raises(ValueError, match="allow_large_delta"):
        privacy_config(8, target_epsilon=1.0, delta=0.125, epochs=1, expected_batch_size=4)  # exactly 1/N
    with pytest.warns(UserWarning, match="1/N"):
        res = train_private(model, (x, y), noise_multiplier=1.0, delta=0.5, epochs=1, expected_batch_size=4,
                            allow_large_delta=True)
    assert res.privacy.allow_large_delta and res.to_dict()["delta"] == 0.5
    with pytest.raises(ValueError, match="delta"):  # δ >= 1 never
        privacy_config(8, noise_multiplier=1.0, delta=1.0, allow_large_delta=True)
    # without noise ε = ∞ whatever δ is: nothing to refuse
    assert privacy_config(8, target_epsilon=math.inf, delta=0.5).noise_multiplier == 0


def test_non_private_run_reports_infinite_epsilon():
    x, y, params = tiny_problem(8)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    res = train_private(model, (x, y), target_epsilon=math.inf, epochs=1, expected_batch_size=4)
    assert res.privacy.noise_multiplier == 0 and math.isinf(res.epsilon)
    assert res.to_dict()["epsilon"] == "inf"


def test_calibrated_run_spends_at_most_its_target():
    x, y, params = tiny_problem(50)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    res = train_private(model, (x, y), target_epsilon=2.0, delta=1e-3, epochs=2, expected_batch_size=10)
    assert res.steps == 10 and res.steps_spent == 10
    assert res.epsilon <= 2.0
    assert res.epsilon == pytest.approx(res.privacy.epsilon(10))


def test_resume_continues_the_ledger(tmp_path):
    x, y, params = tiny_problem(20)
    cfg = PrivacyConfig(1.0, 1.0, 0.5, 8, 1e-3, 20)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    full = train(model, x, y, cfg, TrainConfig(seed=2, noise_seed=2))
    tc = TrainConfig(seed=2, noise_seed=2, checkpoint_dir=str(tmp_path), checkpoint_every=3)
    first = train(model, x, y, PrivacyConfig(1.0, 1.0, 0.5, 8, 1e-3, 20), tc)
    assert first.steps_spent == 8
    # A finished run called again does nothing more, and its ledger is unchanged.
    again = train(model, x, y, cfg, tc)
    assert again.resumed_from == 8 and again.steps_spent == 8
    np.testing.assert_allclose(np.asarray(first.params["w"]), np.asarray(full.params["w"]), rtol=1e-10)
    # The stored ledger refuses a different configuration.
    with pytest.raises(ValueError, match="different privacy configuration"):
        PrivacyLedger(PrivacyConfig(2.0, 1.0, 0.5, 8, 1e-3, 20), tmp_path)
    with pytest.raises(ValueError, match="other training settings"):
        train(model, x, y, cfg, TrainConfig(seed=5, noise_seed=2, checkpoint_dir=str(tmp_path), checkpoint_every=3))


def test_private_quantum_model_learns_two_moons():
    from dpqml.data import load_dataset

    ds = load_dataset("moons", n_train=200, n_test=200, seed=0)
    model = build_model(qubits=4, layers=2, input_dim=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train_private(model, ds, target_epsilon=4.0, delta=1e-3, max_grad_norm=1.0, epochs=20,
                            expected_batch_size=40, learning_rate=0.2, seed=0, noise_seed=0)
    assert res.epsilon <= 4.0 and res.privacy.noise_multiplier > 1.0
    # Chance is 50% (balanced classes); a private 4-qubit model does clearly better.
    assert res.test_accuracy >= 0.75, res.test_accuracy


def test_no_clipping_when_the_clip_exceeds_every_gradient():
    x, y, params = tiny_problem(30)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    # |dℓ/dw| ≤ ‖(x, 1)‖ for logistic regression: C above every row's norm never clips.
    c = float(np.linalg.norm(np.c_[x, np.ones(len(x))], axis=1).max()) * 1.01
    res = train(model, x, y, PrivacyConfig(1.0, c, 0.5, 6, 1e-3, 30))
    assert all(r["clipped_fraction"] == 0.0 for r in res.history)
    assert all(r["grad_norm_max"] <= c for r in res.history)
    small = train(model, x, y, PrivacyConfig(1.0, 1e-3, 0.5, 6, 1e-3, 30))
    assert all(r["clipped_fraction"] == 1.0 for r in small.history)


def test_classical_cnn_and_mlp_train_with_the_same_trainer():
    from dpqml.data import load_dataset
    from dpqml.models import build_classical

    ds = load_dataset("digits", n_features=64, classes="all", n_train=300, seed=0)
    for model in (build_classical("cnn", 64, 10, channels=(4, 8)), build_classical("mlp", 64, 10, hidden=(16,))):
        res = train_private(model, ds, target_epsilon=8.0, delta=1e-4, epochs=4, expected_batch_size=50,
                            learning_rate=0.1, noise_seed=0)
        assert res.epsilon <= 8.0
        assert res.test_accuracy > 0.3  # ten classes: chance is 0.1
        assert res.history[-1]["accuracy"] is not None


@pytest.mark.parametrize(("privacy_kw", "lr", "match"), [
    ({"noise_multiplier": 1e39}, 0.1, r"noise_multiplier is too large: .* overflows the parameters' float32"),
    ({"max_grad_norm": 1e39}, 0.1, r"max_grad_norm is too large: .* overflows the parameters' float32"),
    ({"max_grad_norm": 1e37}, 0.1, r"max_grad_norm is too large: max_grad_norm \* n_examples"),
    ({}, 1e39, r"learning_rate is too large: .* overflows the parameters' float32"),
])
def test_settings_that_overflow_the_working_precision_are_refused(tmp_path, privacy_kw, lr, match):
    # Before: a model of NaN parameters, reported as a success with 50% accuracy.
    x, y, _ = tiny_problem(100)
    params32 = {"w": jnp.zeros(2, jnp.float32), "b": jnp.zeros((), jnp.float32)}
    model = FunctionModel(logreg_loss, params32, logreg_predict, input_dim=2)
    cfg = PrivacyConfig(**{"noise_multiplier": 1.0, "max_grad_norm": 1.0, "sample_rate": 0.5, "steps": 2,
                           "delta": 1e-3, "n_examples": 100, **privacy_kw})
    with pytest.raises(ValueError, match=match):
        train(model, x, y, cfg, TrainConfig(learning_rate=lr, checkpoint_dir=str(tmp_path / "ck")))
    assert not (tmp_path / "ck").exists()  # refused before any work


@pytest.mark.filterwarnings("ignore:.*NaN or infinite; they were zeroed")
def test_a_run_whose_parameters_become_nonfinite_stops_with_an_error(tmp_path):
    from dpqml.train import TrainingDivergedError

    x, y, _ = tiny_problem(8)
    params32 = {"w": jnp.zeros(2, jnp.float32), "b": jnp.zeros((), jnp.float32)}
    model = FunctionModel(logreg_loss, params32, logreg_predict, input_dim=2)
    # each setting fits float32, but the noise std times the step size does not
    cfg = PrivacyConfig(1e30, 1.0, 0.5, 4, 1e-3, 8)
    with pytest.raises(TrainingDivergedError, match=r"became NaN or infinite by step 2.*The 2 steps taken still count"):
        train(model, x, y, cfg, TrainConfig(learning_rate=1e10, optimizer="sgd", checkpoint_dir=str(tmp_path),
                                            checkpoint_every=2, noise_seed=0))
    assert not (tmp_path / "state.json").exists()  # no checkpoint of NaN parameters
    assert PrivacyLedger.read(tmp_path)[1] == 2  # the steps taken still count


def test_a_function_model_is_checked_on_the_data_before_calibration(monkeypatch):
    # Before: a FunctionModel without input_dim failed deep inside JAX, after sigma was calibrated.
    import dpqml.train.api as api

    x, y, params = tiny_problem(8)
    model = FunctionModel(logreg_loss, params, logreg_predict)  # no input_dim: w has 2 entries
    monkeypatch.setattr(api, "privacy_config", lambda *a, **k: pytest.fail("calibrated before checking the data"))
    with pytest.raises(ValueError, match=r"the model's loss fails on one training example \(features of shape "
                                         r"\(3,\), float64\): TypeError"):
        train_private(model, (np.ones((8, 3)), y), target_epsilon=1.0, epochs=1)
    vector_loss = FunctionModel(lambda p, xi, yi: p["w"] * xi, params, logreg_predict)
    with pytest.raises(ValueError, match=r"must return a scalar for one example; it returned shape \(2,\)"):
        train_private(vector_loss, (x, y), target_epsilon=1.0, epochs=1)


def test_a_run_the_accountant_cannot_account_for_is_refused_before_training(tmp_path):
    # A bare PrivacyConfig reaches the trainer without privacy_config's checks: ε is computed only after
    # training, so what the accountant would refuse then is refused first.
    x, y, params = tiny_problem(8)
    model = FunctionModel(logreg_loss, params, logreg_predict, input_dim=2)
    with pytest.raises(ValueError, match="noise_multiplier must be at least 0.1 with the pld accountant"):
        train(model, x, y, PrivacyConfig(0.01, 1.0, 0.5, 4, 1e-3, 8), TrainConfig(checkpoint_dir=str(tmp_path / "c")))
    assert not (tmp_path / "c").exists()
