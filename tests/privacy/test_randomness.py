"""The mechanism's randomness is secret by default: nobody can replay a run from what it publishes."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.privacy.config import PrivacyConfig
from dpqml.privacy.randomness import RANDOMNESS, make_randomness
from dpqml.train import FunctionModel, TrainConfig, train


def _problem(n=24):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] > 0).astype(int)

    def loss(p, xi, yi):
        return jax.nn.softplus(-(2.0 * yi - 1.0) * (p["w"] @ xi + p["b"]))

    model = FunctionModel(loss, {"w": jnp.zeros(2), "b": jnp.zeros(())}, input_dim=2)
    return model, x, y, PrivacyConfig(1.0, 1.0, 0.5, 6, 1e-3, n)


def _flat(params):
    return np.concatenate([np.ravel(np.asarray(v)) for v in jax.tree_util.tree_leaves(params)])


@pytest.mark.parametrize("randomness", [None, "secure", "fast"])
def test_two_runs_with_the_same_seed_release_different_models(randomness):
    # The seed that everybody knows (default 0, written into every result) does not fix the noise.
    model, x, y, privacy = _problem()
    a = train(model, x, y, privacy, TrainConfig(seed=0, randomness=randomness))
    b = train(model, x, y, privacy, TrainConfig(seed=0, randomness=randomness))
    assert a.randomness == b.randomness == (randomness or "secure")
    assert not np.allclose(_flat(a.params), _flat(b.params))
    out = a.to_dict()
    assert out["randomness"] == (randomness or "secure")
    assert "noise_seed" not in out and "reproducible_noise_warning" not in out


def test_reproducible_noise_is_an_opt_in_that_every_result_states():
    model, x, y, privacy = _problem()
    a = train(model, x, y, privacy, TrainConfig(noise_seed=11))
    b = train(model, x, y, privacy, TrainConfig(noise_seed=11))
    np.testing.assert_array_equal(_flat(a.params), _flat(b.params))
    out = json.loads(json.dumps(a.to_dict()))
    assert out["randomness"] == "seeded" and out["noise_seed"] == 11
    assert "does NOT hold against" in out["reproducible_noise_warning"]


def test_fast_randomness_keeps_its_secret_in_the_checkpoint_only(tmp_path):
    """An interrupted "fast" run resumes with the secret of its checkpoint: it draws exactly the batches and
    the noise of an uninterrupted run under that secret (the seeded source with the same number)."""
    model, x, y, _ = _problem()
    privacy = PrivacyConfig(1.0, 1.0, 0.5, 8, 1e-3, len(x))
    config = TrainConfig(randomness="fast", checkpoint_dir=str(tmp_path), checkpoint_every=4)

    class StopError(Exception):
        pass

    def crash(rec):
        if rec["step"] == 6:  # inside the second block, after the first checkpoint
            raise StopError

    with pytest.raises(StopError):
        train(model, x, y, privacy, config, log=crash)
    state = json.loads((tmp_path / "state.json").read_text())
    secret = state["mechanism"]["secret"]
    with pytest.warns(UserWarning, match="redone"):
        resumed = train(model, x, y, privacy, config)
    assert resumed.resumed_from == 4 and resumed.steps_spent == 12  # the lost block counts too
    replay = train(model, x, y, privacy, TrainConfig(noise_seed=int(secret, 16)))
    np.testing.assert_allclose(_flat(resumed.params), _flat(replay.params), rtol=1e-12)
    # ... and nothing but the checkpoint holds it
    assert secret not in json.dumps(resumed.to_dict())
    assert secret not in (tmp_path / "ledger.jsonl").read_text()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"randomness": "seeded"}, "needs noise_seed"),
    ({"randomness": "secure", "noise_seed": 3}, "cannot be combined"),
    ({"randomness": "fast", "noise_seed": 3}, "cannot be combined"),
    ({"randomness": "urandom"}, r"randomness must be one of \['secure', 'fast', 'seeded'\]"),
    ({"noise_seed": -1}, "noise_seed must be an integer >= 0; got -1"),
])
def test_bad_randomness_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_every_source_draws_poisson_batches_and_noise_of_the_right_scale():
    for name in RANDOMNESS:
        src = make_randomness(name, noise_seed=5 if name == "seeded" else None)
        sizes = [len(src.sample(2000, 0.1, t)) for t in range(20)]
        assert 150 < np.mean(sizes) < 250  # Binomial(2000, 0.1): mean 200, sd 13
        z = np.asarray(src.noise(0, 20000, 3.0, jnp.float32))
        assert z.dtype == np.float32 and abs(z.std() - 3.0) < 0.1 and abs(z.mean()) < 0.1
    secure = make_randomness("secure")
    assert secure.state() is None and make_randomness("seeded", noise_seed=1).state() is None
    fast = make_randomness("fast")
    again = make_randomness("fast", saved=fast.state())
    np.testing.assert_array_equal(np.asarray(fast.noise(3, 8, 1.0, jnp.float32)),
                                  np.asarray(again.noise(3, 8, 1.0, jnp.float32)))
    assert make_randomness("fast").state() != fast.state()  # a fresh secret every run


@pytest.mark.os_entropy
def test_the_library_takes_its_secret_bytes_from_the_operating_system(monkeypatch):
    from dpqml.privacy import entropy

    assert len(entropy.secret_bytes(32)) == 32 and entropy.secret_bytes(16) != entropy.secret_bytes(16)
    monkeypatch.setattr(entropy.os, "urandom", lambda n: b"\x07" * n)
    assert entropy.secret_bytes(3) == b"\x07\x07\x07"


def test_every_secret_draw_goes_through_the_one_entropy_source(monkeypatch):
    """Secure sampling and noise, the fast source's secret, the transform's noise key and the
    vectorised trainer's run keys all ask :func:`dpqml.privacy.entropy.secret_bytes`."""
    from dpqml.privacy import entropy
    from dpqml.privacy.transform import _secret_key
    from dpqml.train.vectorized import _run_keys

    asked = []
    real = entropy.secret_bytes

    def counted(n):
        asked.append(n)
        return real(n)

    monkeypatch.setattr(entropy, "secret_bytes", counted)
    secure = make_randomness("secure")
    secure.sample(10, 0.5, 0)
    secure.noise(0, 3, 1.0, np.float32)
    make_randomness("fast")
    _secret_key()
    _run_keys([object(), object()], "fast")
    # 8 bytes per example; 2 × 4 × 8 per noise coordinate (Box-Muller, n_sum=4); 16; 16; 8 per run
    assert asked == [80, 96, 96, 16, 16, 16]
