"""How tight is the parameter-dependent bound G(θ)? Measured along real DP-SGD trajectories of the
paper's tabular quantum model, and at random parameters of the standard presets.

At each point: ``G(θ)`` (``dpqml.bounds.parameter_bound``, both relaxations: the default
``pairings`` and ``sos``), the largest per-example gradient norm
Adam ascent over the inputs finds at that ``θ`` (``dpqml.bounds.search.largest_gradient_norm_at``:
a lower bound on the true supremum, so ``found / G`` understates the tightness), the largest norm
on the training rows at that ``θ`` (diagnostic, private data), and the data-free bound.

The trajectory: the paper's model (4 qubits, 11 layers, 132 angles) trained with DP-SGD on the
paper's tabular data (public-split scaler), ``C = 1.5``, ``σ = 1.0``, expected batch 64, SGD at
the paper's learning-rate rule, one epoch per point (each epoch its own ``train`` call, continuing
from the previous parameters).

    python benchmarks/parametric_bound.py --epochs 10 --json benchmarks/results-parametric-bound.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np


def _norms_on(model, params, x, y, chunk=256) -> float:
    from dpqml.engine import flatten_per_example, make_per_example_grads

    grads = make_per_example_grads(lambda p, xi, yi: model.loss(p, xi, yi))
    out = 0.0
    for i in range(0, len(x), chunk):
        g = flatten_per_example(grads(params, jnp.asarray(x[i:i + chunk]), jnp.asarray(y[i:i + chunk]))[1])
        out = max(out, float(jnp.max(jnp.linalg.norm(g, axis=1))))
    return out


def _point(model, params, label, x=None, y=None, **search) -> dict:
    from dpqml.bounds import gradient_bound, parameter_bound
    from dpqml.bounds.search import largest_gradient_norm_at

    t0 = time.perf_counter()
    g = parameter_bound(model, params).total
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    g_sos = parameter_bound(model, params, relaxation="sos").total
    sos_seconds = time.perf_counter() - t0
    found = largest_gradient_norm_at(model, params, **search)
    free = (model.gradient_bound() if hasattr(model, "gradient_bound")
            else gradient_bound(model, feature_bound=4.0, params=params).total)
    row = {"point": label, "bound": g, "found": found, "found_over_bound": found / g, "data_free": free,
           "bound_seconds": seconds, "bound_sos": g_sos, "found_over_bound_sos": found / g_sos,
           "bound_sos_seconds": sos_seconds}
    if x is not None:
        row["train_max_norm"] = _norms_on(model, params, x, y)
    print(f"{label:28s} G(θ)={g:7.4f}  sos={g_sos:7.4f}  found={found:7.4f}  found/G={found / g:5.3f}  "
          f"found/G_sos={found / g_sos:5.3f}  data-free={free:7.3f}"
          + (f"  train max={row['train_max_norm']:6.3f}" if x is not None else "") + f"  ({seconds:.2f} s)", flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--starts", type=int, default=12, help="search starts per label")
    ap.add_argument("--steps", type=int, default=150, help="search steps")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)

    from dpqml.models import build_model
    from dpqml.models.paper import PaperQuantumModel
    from dpqml.privacy.config import PrivacyConfig
    from dpqml.protocol.tabular import load_splits, tabular_preset
    from dpqml.train import TrainConfig, train
    from dpqml.train.lr_rules import learning_rate

    search = {"starts": args.starts, "steps": args.steps}
    rows = []
    for flags in ({"qubits": 3, "layers": 2}, {"qubits": 4, "layers": 2}, {"qubits": 4, "layers": 6},
                  {"qubits": 4, "layers": 2, "readout": "z", "n_classes": 4},
                  {"qubits": 4, "layers": 2, "noise": "depolarizing"}, {"qubits": 4, "layers": 2, "noise": "nisq"}):
        model = build_model(**flags)
        for seed in range(2):
            rows.append({"model": flags, **_point(model, model.init(jax.random.PRNGKey(seed)), f"{flags} seed {seed}",
                                                  **search)})

    data = load_splits(tabular_preset("paper-tabular"))
    model = PaperQuantumModel()
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    n, b, c, sigma = len(x), 64, 1.5, 1.0
    lr = learning_rate("paper-rule", "quantum", max_grad_norm=c, noise_multiplier=sigma, batch_size=b)
    params = model.init(jax.random.PRNGKey(0))
    steps = math.ceil(n / b)
    for epoch in range(args.epochs + 1):
        rows.append({"model": "paper-quantum", "epoch": epoch,
                     **_point(model, params, f"paper-quantum epoch {epoch}", x, y, **search)})
        if epoch < args.epochs:
            res = train(model, x, y, PrivacyConfig(sigma, c, b / n, steps, 1e-5, n),
                        TrainConfig(learning_rate=lr, optimizer="sgd", seed=epoch, progress=False), params=params)
            params = res.params
    out = {"machine": platform.processor() or platform.machine(), "jax": jax.__version__, "rows": rows,
           "command": "python benchmarks/parametric_bound.py " + " ".join(argv or [])}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
