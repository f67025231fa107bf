"""DP-SGD with finite-shot parameter-shift gradients: ``TrainConfig(method="parameter-shift", shots=S)``,
``dpqml train --shots S``, the hardware cost each reports, and bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dpqml.cli import main
from dpqml.models import build_classical, build_model
from dpqml.privacy import PrivacyConfig
from dpqml.train import TrainConfig, train
from dpqml.train.api import train_private

N, Q, T, SHOTS, SEED = 16, 0.25, 3, 50, 4

# One model object for every run here: the trainer compiles its pieces once per model object.
MODEL = build_model(qubits=1, layers=1)  # RY(x0), then RY(θ0) RZ(θ1); readout <Z0>


def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, size=(N, 1))
    return x, (x[:, 0] > np.pi / 2).astype(int)


def run(sigma: float, steps: int = T):
    x, y = data()
    privacy = PrivacyConfig(noise_multiplier=sigma, max_grad_norm=1e-3, sample_rate=Q, steps=steps, delta=1e-3,
                            n_examples=N)
    cfg = TrainConfig(method="parameter-shift", shots=SHOTS, optimizer="sgd", learning_rate=0.1, seed=SEED,
                      noise_seed=SEED,
                      max_physical_batch=1)  # one physical shape: one compilation
    return train(MODEL, x, y, privacy, cfg, params=MODEL.init(jax.random.PRNGKey(0), jnp.float64))


def test_a_private_run_clips_adds_full_noise_and_reports_the_hardware_cost():
    res = run(0.8)
    # Clipping: C = 1e-3 is far below every per-example gradient norm.
    (rec,) = res.history
    assert rec["clipped_fraction"] == 1.0 and rec["grad_norm_quantiles"]["0"] > 1e-3
    # Noise: one step with σ = 0.8 and one with σ = 0 draw the same batch and the same measurement
    # samples (shot keys depend on seed and step only), so they differ by the noise alone,
    # -lr · σC z / (qN) with z from normal(fold_in(K, 0)), K = SeedSequence([noise_seed, 0x401]).generate_state(2,
    # uint32) (docs/privacy.md):
    # σ is the configured one, not reduced for the shot noise.
    delta = ravel_pytree(run(0.8, steps=1).params)[0] - ravel_pytree(run(0.0, steps=1).params)[0]
    noise_key = jnp.asarray(np.random.SeedSequence([SEED, 0x401]).generate_state(2, np.uint32))
    z = jax.random.normal(jax.random.fold_in(noise_key, 0), delta.shape, jnp.float64)
    np.testing.assert_allclose(np.asarray(delta), -0.1 * 0.8 * 1e-3 * np.asarray(z) / (Q * N), rtol=1e-8, atol=1e-14)
    assert res.privacy.noise_multiplier == 0.8 and np.isfinite(res.epsilon)
    # Cost, by hand: 2 shifted angles (θ0, θ1; the encoding angle x0 is data) → 1 + 2·2 = 5 circuit
    # evaluations of 1 measurement setting (Z0) per example; expected examples q·N·T = 0.25·16·3 = 12.
    out = res.to_dict()
    assert out["shots"] == SHOTS
    assert out["circuit_executions"] == 12 * 5 == 60
    assert out["shots_total"] == 60 * SHOTS == 3000
    per = out["hardware_cost"]["per_example"]
    assert (per["circuit_evaluations"], per["measurement_settings"], per["shifted_angles"]) == (5, 1, 2)
    # The realised count: the batches of docs/privacy.md, default_rng([seed, t]) < q.
    seen = sum(int(np.sum(np.random.default_rng([SEED, t]).random(N) < Q)) for t in range(T))
    assert seen != 12  # the realised count differs from the expectation here
    assert out["hardware_cost"]["circuit_executions_realized"] == 5 * seen
    assert out["hardware_cost"]["shots_total_realized"] == 5 * seen * SHOTS
    assert "NOT covered by epsilon" in out["hardware_cost"]["note"]
    json.dumps(out)
    # Reproducible: the same seed gives the same measurement samples, hence the same parameters.
    np.testing.assert_array_equal(ravel_pytree(run(0.8).params)[0], ravel_pytree(res.params)[0])


def test_exact_settings_keep_their_identity():
    cfg = TrainConfig()
    assert cfg.shots is None and "shots" not in cfg.identity()  # checkpoints written before shots still resume
    assert TrainConfig(method="parameter-shift", shots=10).identity()["shots"] == 10


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "parameter-shift"}, "needs shots"),
    ({"method": "parameter-shift", "shots": 0}, "shots must be an integer >= 1"),
    ({"method": "parameter-shift", "shots": -5}, "shots must be an integer >= 1"),
    ({"method": "parameter-shift", "shots": 2.5}, "shots must be an integer >= 1"),
    ({"method": "parameter-shift", "shots": True}, "shots must be an integer >= 1"),
    ({"shots": 100}, "only used with method='parameter-shift'"),
    ({"method": "vmap", "shots": 100}, "only used with method='parameter-shift'"),
    ({"method": "shots"}, "method must be one of"),
])
def test_bad_shot_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_models_without_a_shiftable_circuit_are_refused_before_any_work(tmp_path):
    x, y = data()
    privacy = PrivacyConfig(1.0, 1.0, Q, T, 1e-3, N)
    cfg = TrainConfig(method="parameter-shift", shots=10, checkpoint_dir=str(tmp_path / "ck"))
    with pytest.raises(ValueError, match="no circuit"):
        train(build_classical("logistic", 1, 2), x, y, privacy, cfg)
    amplitude = build_model(qubits=2, layers=1, encoding="amplitude", pre=(3,), input_dim=1)
    with pytest.raises(ValueError, match="amplitude encoding of trainable features"):
        train(amplitude, x, y, privacy, cfg)
    with pytest.raises(ValueError, match="no circuit"):
        train_private(build_classical("logistic", 1, 2), (x, y), noise_multiplier=1.0, method="parameter-shift",
                      shots=10)
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--shots", "0"], "--shots must be an integer >= 1"),
    (["--shots", "-3"], "--shots must be an integer >= 1"),
    (["--shots", "10", "--model", "logistic"], "--shots"),
])
def test_cli_bad_shots_exit_2_before_writing(tmp_path, capsys, flags, message):
    ck = tmp_path / "ck"
    assert main(["train", *flags, "--no-progress", "--checkpoint-dir", str(ck)]) == 2
    err = capsys.readouterr().err
    assert "dpqml train: error:" in err and message in err
    assert not ck.exists()


def test_cli_shots_selects_parameter_shift_and_says_what_hardware_would_need(tmp_path, capsys, monkeypatch):
    """The CLI layer: ``--shots`` reaches the trainer as ``method="parameter-shift"`` and the summary and JSON
    carry the cost (the training itself is the test above; here it is replaced by a recorded result)."""
    import dpqml.train.trainer as trainer
    from dpqml.engine import parameter_shift_cost

    seen = {}

    def fake_train(model, x, y, privacy, config, **kw):
        seen["config"], seen["model"] = config, model
        history = [{"examples_seen": 7}]
        return trainer.TrainResult(
            params=None, privacy=privacy, steps=privacy.steps, steps_spent=privacy.steps, epsilon=1.0,
            train_accuracy=0.5, test_accuracy=0.5, n_params=6, history=history,
            hardware_cost=trainer.hardware_cost(parameter_shift_cost(model, config.shots), privacy, history))

    monkeypatch.setattr(trainer, "train", fake_train)
    out = tmp_path / "r.json"
    flags = ["--dataset", "moons", "--n-train", "16", "--n-test", "8", "--qubits", "2", "--layers", "1",
             "--epochs", "0.5", "--expected-batch-size", "4", "--shots", "20", "--target-epsilon", "8"]
    assert main(["train", *flags, "--no-progress", "--json", str(out)]) == 0
    assert seen["config"].method == "parameter-shift" and seen["config"].shots == 20
    res = json.loads(out.read_text())
    err = capsys.readouterr().err
    # 2 qubits, 1 hea layer: 4 shifted angles → 1 + 2·4 = 9 evaluations of <Z0>; q·N·T = 4 · 2 steps = 8.
    assert res["steps"] == 2 and res["shots"] == 20
    assert res["circuit_executions"] == 8 * 9 and res["shots_total"] == 8 * 9 * 20
    assert res["hardware_cost"]["circuit_executions_realized"] == 7 * 9
    assert "parameter-shift rule, every circuit expectation from 20 shots" in err
    assert "on hardware: 72 circuit executions and 1,440 shots expected" in err
    assert "63 executions, 1,260 shots (diagnostic, not covered by ε)" in err
