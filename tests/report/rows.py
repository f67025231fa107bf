"""Synthetic finished-job rows and a protocol dict, with accuracies chosen by the test."""

from __future__ import annotations

import math

EPSILONS = (1.0, 4.0, math.inf)
SEEDS = (0, 1, 2)
MODELS = {"hea": "quantum", "reuploading": "quantum", "logistic": "classical"}
SIGMAS = {1.0: 2.5, 4.0: 0.9, math.inf: 0.0}
BOUNDS = {"hea": 0.8, "reuploading": 2.4}  # G: hea below C = 1 (never clipped), reuploading above

# Mean test accuracy per (model, ε); seeds add SEED_OFFSETS, so each mean is exactly the table value
# and the sample std is 0.01.
ACCURACY = {
    ("hea", 1.0): 0.80, ("hea", 4.0): 0.85, ("hea", math.inf): 0.90,
    ("reuploading", 1.0): 0.78, ("reuploading", 4.0): 0.88, ("reuploading", math.inf): 0.92,
    ("logistic", 1.0): 0.70, ("logistic", 4.0): 0.86, ("logistic", math.inf): 0.95,
}
SEED_OFFSETS = {0: -0.01, 1: 0.0, 2: 0.01}


def _history(model: str, epsilon: float, seed: int, epochs: int = 3, steps_per_epoch: int = 10) -> list[dict]:
    family = MODELS[model]
    scale = 0.3 if family == "quantum" else 1.5
    history = []
    for epoch in range(1, epochs + 1):
        spent = "inf" if math.isinf(epsilon) else epsilon * (epoch / epochs) ** 0.6 * 0.98
        q = {"0": 0.1 * scale, "0.05": 0.2 * scale, "0.25": 0.5 * scale, "0.5": 0.7 * scale,
             "0.75": 0.9 * scale, "0.95": 1.2 * scale, "1": 1.6 * scale}
        history.append({"epoch": epoch, "step": epoch * steps_per_epoch, "epsilon_spent": spent,
                        "loss": 0.7 - 0.05 * epoch, "accuracy": 0.6 + 0.05 * epoch,
                        "clipped_fraction": 0.0 if model == "hea" else 0.2, "grad_norm_mean": 0.7 * scale,
                        "grad_norm_max": 1.6 * scale, "grad_norm_quantiles": q})
    return history


def make_rows(datasets=("moons", "digits"), accuracy=None, seeds=SEEDS, epsilons=EPSILONS,
              seed_offsets=None, history=True) -> list[dict]:
    """2 datasets × 3 models (2 quantum, 1 classical) × ε ∈ {1, 4, ∞} × 3 seeds, accuracies from ``accuracy``."""
    accuracy = ACCURACY if accuracy is None else accuracy
    seed_offsets = SEED_OFFSETS if seed_offsets is None else seed_offsets
    rows = []
    for dataset in datasets:
        for model, family in MODELS.items():
            for epsilon in epsilons:
                for seed in seeds:
                    sigma = SIGMAS[epsilon]
                    bound = BOUNDS.get(model)
                    rows.append({
                        "job": f"{dataset}-{model}-{epsilon}-{seed}", "dataset": dataset, "model": model,
                        "family": family, "noise": "none", "seed": seed, "epsilon": epsilon,
                        "epsilon_spent": epsilon if math.isinf(epsilon) else 0.98 * epsilon, "delta": 1e-5,
                        "noise_multiplier": sigma, "max_grad_norm": 1.0, "sample_rate": 0.1, "steps": 30,
                        "epochs": 3, "learning_rate": 0.05, "optimizer": "adam", "n_train": 200, "n_test": 100,
                        "test_accuracy": accuracy[(model, epsilon)] + seed_offsets.get(seed, 0.0),
                        "train_accuracy": 0.9, "n_params": 24 if family == "quantum" else 3,
                        "gradient_bound": bound, "clipped_fraction": 0.0 if model == "hea" else 0.2,
                        "noise_to_signal": sigma * math.sqrt(24) / (0.1 * 200 * min(1.0, bound or math.inf)),
                        "seconds": 1.5,
                        "history": _history(model, epsilon, seed) if history else [],
                    })
    return rows


def make_protocol(**extra) -> dict:
    """A protocol dict as ``dpqml compare`` passes it, plus ``extra`` keys."""
    return {"name": "quick", "datasets": [{"name": "moons", "n_train": 200, "noise": 0.1},
                                          {"name": "digits", "classes": [0, 1]}],
            "models": list(MODELS), "epsilons": list(EPSILONS), "delta": 1e-5, "max_grad_norm": 1.0,
            "sample_rate": 0.1, "epochs": 3, "seeds": list(SEEDS), "optimizer": "adam", "learning_rate": 0.05,
            "noise": "depolarizing:0.01+readout:0.02", "fingerprint": "abc123",
            "sigmas": {str(k): v for k, v in SIGMAS.items()}, "steps": 30, **extra}
