"""dpqml: differentially private training of hybrid quantum-classical models.

The short path::

    import dpqml
    data = dpqml.load_dataset("moons")
    model = dpqml.build_model(qubits=4, layers=2, input_dim=data.n_features)
    result = dpqml.train_private(model, data, target_epsilon=4.0, delta=1e-5, max_grad_norm=1.0)
    print(result.test_accuracy, result.epsilon)

Subpackages: :mod:`dpqml.quantum` (simulator), :mod:`dpqml.models`, :mod:`dpqml.engine`
(per-example gradients), :mod:`dpqml.privacy` (clipping, noise, sampling, accounting, ledger),
:mod:`dpqml.train`, :mod:`dpqml.data`.
"""

__version__ = "0.1.0"

_LAZY = {
    "build_model": ("dpqml.models", "build_model"),
    "build_classical": ("dpqml.models", "build_classical"),
    "load_dataset": ("dpqml.data", "load_dataset"),
    "train_private": ("dpqml.train", "train_private"),
    "train": ("dpqml.train", "train"),
    "FunctionModel": ("dpqml.train", "FunctionModel"),
    "TrainConfig": ("dpqml.train", "TrainConfig"),
    "PrivacyConfig": ("dpqml.privacy", "PrivacyConfig"),
    "compute_epsilon": ("dpqml.privacy", "compute_epsilon"),
    "calibrate_noise_multiplier": ("dpqml.privacy", "calibrate_noise_multiplier"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):  # the top-level API, imported on first use (keeps `import dpqml` light)
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'dpqml' has no attribute {name!r}")
