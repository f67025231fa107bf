"""Does the clipping-cost estimate predict the paper grid's C axis?

For every cell (ε, C) of the paper's heatmap 2 (expected batch 64, clean set-up: 1,510 private
training rows, 100 epochs, δ = 1e-5, σ calibrated by PLD) this prints what ``dpqml bound`` would
predict before training (``dpqml.bounds.cost.clipping_cost``: the per-step noise-to-signal ratio
``σC√p / (qN · min(G, C))``) for three values of the gradient-norm bound G:

* the data-free bound of the paper's model (``PaperQuantumModel.gradient_bound``, 15.14);
* the parameter-dependent bound at the initial parameters (``parameter_bound``, mean over init
  seeds 0-9): what ``dpqml bound --model paper-quantum --at-init SEED`` reports;
* ``--observed-norm``: the largest per-example norm seen in training, if given (a diagnostic of
  the private data, not something a private run may use to choose C).

With ``--summary PATH`` (the ``summary.csv`` that ``dpqml compare --preset paper-tabular-clean``
writes), each cell's measured mean accuracy of the quantum family is printed beside the estimate,
with the rank correlation (Spearman) between the predicted ratio and the measured accuracy.

    python benchmarks/clipping_cost_vs_grid.py --observed-norm 2.9 [--summary out/summary.csv]
"""

from __future__ import annotations

import argparse
import csv
import math

import numpy as np

EPSILONS = (0.5, 1.0, 5.0, 10.0)
CLIPS = (0.5, 1.5, 4.5, 10.0)


def _measured(path: str) -> dict:
    out = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row.get("grid") == "privacy" and row.get("family") == "quantum":
                out[(float(row["epsilon"]), float(row["max_grad_norm"]))] = float(row["mean"])
    return out


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--observed-norm", type=float, help="largest per-example norm seen in training (diagnostic)")
    ap.add_argument("--summary", help="summary.csv of a paper-tabular-clean run")
    ap.add_argument("--n-examples", type=int, default=1510)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args(argv)

    import jax

    from dpqml.bounds import parameter_bound
    from dpqml.bounds.cost import clipping_cost
    from dpqml.models.paper import PaperQuantumModel
    from dpqml.privacy.config import PrivacyConfig

    model = PaperQuantumModel()
    n, b = args.n_examples, args.batch
    q, steps = b / n, args.epochs * -(-n // b)
    bounds = {"data-free": model.gradient_bound(),
              "G(θ_0)": float(np.mean([parameter_bound(model, model.init(jax.random.PRNGKey(s))).total
                                       for s in range(10)]))}
    if args.observed_norm:
        bounds["observed"] = args.observed_norm
    measured = _measured(args.summary) if args.summary else {}
    print(f"q = {q:.4f}, T = {steps}, p = {model.n_theta}; G: " + ", ".join(f"{k} {v:.3f}" for k, v in bounds.items()))
    print(f"{'ε':>5} {'C':>5} {'σ':>7}  " + "  ".join(f"{'NSR ' + k:>16}" for k in bounds)
          + ("  measured" if measured else ""))
    rows = []
    for eps in EPSILONS:
        sigma = PrivacyConfig.from_target_epsilon(eps, delta=1e-5, sample_rate=q, steps=steps, max_grad_norm=1.0,
                                                  n_examples=n).noise_multiplier
        for c in CLIPS:
            ratios = {k: clipping_cost(g, c, noise_multiplier=sigma, sample_rate=q, n_examples=n, steps=steps,
                                       n_params=model.n_theta)["noise_to_signal"] for k, g in bounds.items()}
            acc = measured.get((eps, c))
            rows.append((eps, c, ratios, acc))
            print(f"{eps:5g} {c:5g} {sigma:7.3f}  " + "  ".join(f"{r:16.3f}" for r in ratios.values())
                  + (f"  {acc:.3f}" if acc is not None else ""), flush=True)
    if measured:
        for k in bounds:
            pairs = [(math.log(r[k]), a) for _, _, r, a in rows if a is not None]
            print(f"Spearman(NSR with {k}, accuracy) = {_spearman(*zip(*pairs)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
