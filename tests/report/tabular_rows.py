"""Synthetic runs of the tabular study, with accuracies chosen by the test.

The metric of a run is ``base[family] + offsets[family][seed]`` in every cell (``best_val_accuracy`` is
``test_accuracy + VAL_GAIN``), so each cell's mean is the family's base and the hand computations of
the tests stay short.
"""

from __future__ import annotations

import math

SEEDS = (0, 1, 2)
CLIPS = (0.5, 1.5)
BATCHES = (32, 64)
EPSILONS = (1.0, 8.0)
PRIVACY_BATCH = 64
SIGMAS = {1.0: (3.1, 3.4), 8.0: (0.9, 1.0)}  # ε: (σ PLD, σ RDP) at B = 64
BASE = {"quantum": 0.80, "classical": 0.75, "lipschitz": 0.70}
# Quantum spreads twice as wide as the others, so a paired difference (std 0.01) differs from an unpaired one.
OFFSETS = {"quantum": {0: -0.02, 1: 0.0, 2: 0.02}, "classical": {0: -0.01, 1: 0.0, 2: 0.01},
           "lipschitz": {0: -0.01, 1: 0.0, 2: 0.01}}
VAL_GAIN = 0.03
MODELS = {"quantum": "reuploading", "classical": "mlp", "lipschitz": "lipschitz-mlp"}
G_BOUND = 22.89


def _cells(grids):
    for grid in grids:
        if grid == "clipping":
            for clip in CLIPS:
                for batch in BATCHES:
                    yield grid, None, clip, batch
        else:
            for eps in EPSILONS:
                for clip in CLIPS:
                    yield grid, eps, clip, PRIVACY_BATCH


def _diagnostics(family, clip, epochs):
    norm = 1.0 if family == "quantum" else 3.0
    return [{"epoch": k, "clipped_fraction": 0.8 if clip < norm else 0.1, "mean_grad_norm": norm + 0.1 * k,
             "max_grad_norm_observed": 2 * norm, "clipping_bias_norm": 0.01, "clipping_cosine": 0.99,
             "loss_gap": 0.02} for k in range(1, epochs + 1)]


def make_tabular_rows(base=None, offsets=None, seeds=SEEDS, grids=("clipping", "privacy"), uncovered=(),
                      epochs=3) -> list[dict]:
    """One row per (cell, family, seed); ``uncovered``: families whose preprocessing ε does not cover."""
    base = BASE if base is None else base
    offsets = OFFSETS if offsets is None else offsets
    rows = []
    for grid, eps, clip, batch in _cells(grids):
        sigma, sigma_rdp = SIGMAS[eps] if eps is not None else (0.0, 0.0)
        for family, model in MODELS.items():
            for seed in seeds:
                test = base[family] + offsets[family].get(seed, 0.0)
                curve = [test - 0.1 + 0.05 * k for k in range(epochs)]
                covered = family not in uncovered
                rows.append({
                    "grid": grid, "family": family, "model": model, "seed": seed, "epsilon": eps, "delta": 1e-5,
                    "noise_multiplier": sigma, "noise_multiplier_rdp": sigma_rdp, "max_grad_norm": clip,
                    "expected_batch_size": batch, "sample_rate": batch / 1000, "steps": 30 * epochs,
                    "epochs": epochs, "learning_rate": 0.01, "lipschitz_k": 1.0 if family == "lipschitz" else None,
                    "best_val_accuracy": test + VAL_GAIN, "best_val_epoch": epochs, "test_accuracy": test,
                    "val_accuracy_by_epoch": [v + VAL_GAIN for v in curve], "test_accuracy_by_epoch": curve,
                    "scaler": "standard", "preprocessing_covered_by_epsilon": covered,
                    "preprocessing_note": None if covered else "StandardScaler fitted on the private training set",
                    "epsilon_spent": math.inf if eps is None else 0.99 * eps, "n_train": 1000, "n_val": 200,
                    "n_test": 200, "n_params": 48, "seconds": 2.0, "randomness": "secret",
                    "gradient_bound": G_BOUND if family == "quantum" else None,
                    "diagnostics_by_epoch": _diagnostics(family, clip, epochs),
                })
    return rows


def make_tabular_protocol(**extra) -> dict:
    """The study's protocol dict, plus ``extra`` keys."""
    return {"name": "tabular-quick", "grids": {"clipping": {"max_grad_norm": list(CLIPS),
                                                            "expected_batch_size": list(BATCHES)},
                                               "privacy": {"epsilon": list(EPSILONS), "max_grad_norm": list(CLIPS),
                                                           "expected_batch_size": PRIVACY_BATCH}},
            "families": list(MODELS), "seeds": list(SEEDS), "epochs": 3, "delta": 1e-5, "learning_rate": 0.01,
            "scaler": "standard", "metric_notes": {"best_val_accuracy": "as in the paper"},
            "sigmas": [{"epsilon": eps, "batch_size": PRIVACY_BATCH, "sample_rate": PRIVACY_BATCH / 1000,
                        "noise_multiplier": s[0], "noise_multiplier_rdp": s[1]} for eps, s in SIGMAS.items()],
            **extra}
