"""Training with a clip threshold at the bound: the reported clipped fraction is exactly zero."""

import numpy as np

from dpqml.bounds import gradient_bound
from dpqml.models import build_model
from dpqml.privacy.config import PrivacyConfig
from dpqml.train import TrainConfig, train


def test_clipping_never_happens_when_clip_is_at_least_the_bound():
    model = build_model(qubits=3, layers=2)
    # Adam moves each parameter by at most about lr per step: 12 steps at lr 0.02 keep |a| < 1.5.
    bound = gradient_bound(model, head_scale=1.5).total
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, size=(60, 3)).astype(np.float32)
    y = (x.sum(axis=1) > 1.5 * np.pi).astype(int)
    res = train(model, x, y, PrivacyConfig(1.0, bound, 0.5, 12, 1e-3, 60),
                TrainConfig(learning_rate=0.02, seed=0, noise_seed=0))
    assert abs(float(res.params["head"]["a"])) < 1.5
    assert sum(r["examples_seen"] for r in res.history) > 0
    assert all(r["clipped_fraction"] == 0.0 for r in res.history)
    assert all(r["grad_norm_max"] <= bound for r in res.history)
    # The same run clipped at a tenth of the bound does clip: the diagnostic is not trivially zero.
    small = train(model, x, y, PrivacyConfig(1.0, bound / 10, 0.5, 12, 1e-3, 60),
                  TrainConfig(learning_rate=0.02, seed=0, noise_seed=0))
    assert max(r["clipped_fraction"] for r in small.history) > 0
