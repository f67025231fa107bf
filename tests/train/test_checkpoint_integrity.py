"""A checkpoint directory that was tampered with, damaged or shared is refused, never silently replaced:
the ledger can never report fewer steps than were taken."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.privacy.config import PrivacyConfig
from dpqml.privacy.ledger import LedgerError, PrivacyLedger
from dpqml.train import CheckpointError, FunctionModel, TrainConfig, train
from dpqml.train.checkpoint import directory_lock

N, STEPS = 20, 8


def _loss(p, xi, yi):
    return jax.nn.softplus(-(2.0 * yi - 1.0) * (p["w"] @ xi + p["b"]))


MODEL = FunctionModel(_loss, {"w": jnp.zeros(2), "b": jnp.zeros(())}, input_dim=2)
PRIVACY = PrivacyConfig(1.0, 1.0, 0.5, STEPS, 1e-3, N)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2))
    return x, (x[:, 0] > 0).astype(int)


def _finished_run(ckpt):
    x, y = _data()
    res = train(MODEL, x, y, PRIVACY, TrainConfig(checkpoint_dir=str(ckpt), checkpoint_every=3))
    assert res.steps_spent == STEPS
    return res


def _resume(ckpt, data_seed=0):
    x, y = _data(data_seed)
    return train(MODEL, x, y, PRIVACY, TrainConfig(checkpoint_dir=str(ckpt), checkpoint_every=3))


def test_a_deleted_ledger_is_refused_not_replaced(tmp_path):
    # Before: a fresh ledger, and epsilon = 0 reported for a finished run of 8 steps.
    _finished_run(tmp_path)
    (tmp_path / "ledger.jsonl").unlink()
    with pytest.raises(LedgerError, match=r"ledger.jsonl is missing, but the checkpoint beside it records 8 steps"):
        _resume(tmp_path)
    assert not (tmp_path / "ledger.jsonl").exists()  # nothing was written in its place


@pytest.mark.parametrize(("damage", "match"), [
    (lambda text: text.splitlines()[0] + "\n", r"counts 0 steps, but the checkpoint beside it records 8"),
    (lambda text: "\n".join(text.splitlines()[:2]) + "\n", r"counts 3 steps, but the checkpoint beside it records 8"),
    (lambda text: "", r"ledger.jsonl is empty"),
    (lambda text: text + '{"reserve": 3, "from_\n', r"ledger.jsonl, line 5, is damaged"),
    (lambda text: text.replace('"reserve": 3', '"reserve": -3', 1), r"line 2, is damaged"),
    (lambda text: "garbage\n" + text, r"line 1, is damaged"),
])
def test_a_truncated_or_damaged_ledger_is_refused(tmp_path, damage, match):
    _finished_run(tmp_path)
    path = tmp_path / "ledger.jsonl"
    before = damage(path.read_text())
    path.write_text(before)
    with pytest.raises(LedgerError, match=match):
        _resume(tmp_path)
    assert path.read_text() == before


@pytest.mark.parametrize(("name", "content", "match"), [
    ("state.npz", b"not a zip file", r"state.npz cannot be read"),
    ("state.json", b"{not json", r"state.json cannot be read"),
    ("state.json", b"{}", r"state.json lacks \['step'"),
    ("state.json", None, r"state.json is missing but .*state.npz exists"),
    ("state.npz", None, r"state.npz is missing but .*state.json exists"),
])
def test_a_damaged_checkpoint_names_the_file(tmp_path, name, content, match):
    _finished_run(tmp_path)
    if content is None:
        (tmp_path / name).unlink()
    else:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        _resume(tmp_path)


def test_resuming_on_other_data_is_refused(tmp_path):
    x, y = _data()
    train(MODEL, x, y, PRIVACY, TrainConfig(checkpoint_dir=str(tmp_path), checkpoint_every=3))
    with pytest.raises(CheckpointError, match="another training set"):
        _resume(tmp_path, data_seed=1)  # same size and shape, other rows
    assert _resume(tmp_path).resumed_from == STEPS  # the same data still resumes


def test_a_second_run_on_the_same_directory_is_refused(tmp_path):
    x, y = _data()
    with directory_lock(tmp_path, "held by the test"):
        with pytest.raises(ValueError, match="another training run is using the checkpoint directory"):
            train(MODEL, x, y, PRIVACY, TrainConfig(checkpoint_dir=str(tmp_path)))
    assert not (tmp_path / "ledger.jsonl").exists()
    train(MODEL, x, y, PRIVACY, TrainConfig(checkpoint_dir=str(tmp_path)))  # free again once released


def test_a_ledger_without_checkpoint_keeps_counting(tmp_path):
    # The checkpoint is lost but the ledger is not: the run starts over and epsilon covers both runs.
    _finished_run(tmp_path)
    for name in ("state.json", "state.npz"):
        (tmp_path / name).unlink()
    with pytest.warns(UserWarning) as caught:
        res = _resume(tmp_path)
    said = " ".join(str(w.message) for w in caught)
    assert "records 8 steps already spent, and there is no checkpoint" in said and "redone" in said
    assert res.resumed_from == 0 and res.steps_spent == 2 * STEPS
    assert res.epsilon == pytest.approx(PRIVACY.epsilon(2 * STEPS))
    assert PrivacyLedger.read(tmp_path)[1] == 2 * STEPS


def test_a_ledger_of_other_settings_is_refused(tmp_path):
    _finished_run(tmp_path)
    with pytest.raises(LedgerError, match="different privacy configuration"):
        PrivacyLedger(PrivacyConfig(2.0, 1.0, 0.5, STEPS, 1e-3, N), tmp_path)


def test_an_intact_directory_still_resumes_silently(tmp_path):
    first = _finished_run(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = _resume(tmp_path)
    assert again.resumed_from == STEPS and again.steps_spent == STEPS and again.epsilon == first.epsilon
