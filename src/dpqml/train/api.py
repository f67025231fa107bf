"""One call from a model and data to a privately trained model::

    import dpqml
    data = dpqml.load_dataset("moons", n_train=400)
    model = dpqml.build_model(qubits=4, layers=2)
    result = dpqml.train_private(model, data, target_epsilon=4.0, delta=1e-5,
                                 max_grad_norm=1.0, epochs=10, expected_batch_size=32)
    print(result.test_accuracy, result.epsilon)
"""

from __future__ import annotations

import math

from ..privacy.accounting import MAX_STEPS, check_accounting_limits
from ..privacy.config import PrivacyConfig
from ..validation import check_scalar
from .trainer import TrainConfig, TrainResult, check_inputs, train

#: The expected batch size ``q·N`` when neither ``sample_rate`` nor ``expected_batch_size`` is given
#: (capped at ``N``), shared by :func:`train_private` and ``dpqml train``.
DEFAULT_EXPECTED_BATCH_SIZE = 64


def default_expected_batch_size(n_examples: int) -> int:
    """``min(DEFAULT_EXPECTED_BATCH_SIZE, N)``: the default ``q·N`` of the API and the command line."""
    return min(DEFAULT_EXPECTED_BATCH_SIZE, int(n_examples))


def steps_for_epochs(epochs: float, sample_rate: float) -> int:
    """DP-SGD steps for ``epochs`` passes at sample rate q: ``max(1, round(epochs / q))``."""
    check_scalar(epochs, "epochs", low=0.0, low_open=True)
    return max(1, round(epochs / sample_rate))


def resolve_sample_rate(n_examples: int, sample_rate: float | None, expected_batch_size: float | None) -> float:
    """q from either ``sample_rate`` or ``expected_batch_size / N`` (exactly one may be given)."""
    if sample_rate is not None and expected_batch_size is not None:
        raise ValueError("give sample_rate or expected_batch_size, not both")
    if sample_rate is None:
        if expected_batch_size is None:
            expected_batch_size = default_expected_batch_size(n_examples)
        check_scalar(expected_batch_size, "expected_batch_size", low=0.0, high=n_examples, low_open=True)
        sample_rate = expected_batch_size / n_examples
    check_scalar(sample_rate, "sample_rate", low=0.0, high=1.0, low_open=True)
    return float(sample_rate)


def privacy_config(n_examples: int, *, target_epsilon: float | None = None, noise_multiplier: float | None = None,
                   delta: float = 1e-5, max_grad_norm: float | str = 1.0, epochs: float = 10,
                   sample_rate: float | None = None, expected_batch_size: float | None = None,
                   accountant: str = "pld", allow_large_delta: bool = False) -> PrivacyConfig:
    """The :class:`PrivacyConfig` for a run of ``epochs`` epochs over ``n_examples`` examples, with σ
    given directly or calibrated to ``target_epsilon`` (``math.inf`` for a non-private run)."""
    if (target_epsilon is None) == (noise_multiplier is None):
        raise ValueError("give exactly one of target_epsilon (σ is calibrated) and noise_multiplier")
    q = resolve_sample_rate(n_examples, sample_rate, expected_batch_size)
    steps = steps_for_epochs(epochs, q)
    private = noise_multiplier != 0 if noise_multiplier is not None else not (
        isinstance(target_epsilon, (int, float)) and math.isinf(target_epsilon) and target_epsilon > 0)
    limit = MAX_STEPS.get(accountant)
    if private and limit is not None and steps > limit:  # before the calibration or the training it would stall
        raise ValueError(f"epochs {epochs:g} at sample rate {q:.4g} means {steps:,} DP-SGD steps (epochs / sample "
                         f"rate), more than the {accountant} accountant's limit of {limit:,} steps; use fewer epochs "
                         f"or a larger batch" + (" (or accountant='rdp', up to 10^9 steps)" if accountant == "pld"
                                                 else ""))
    if noise_multiplier is not None:
        config = PrivacyConfig(noise_multiplier, max_grad_norm, q, steps, delta, n_examples, accountant,
                               allow_large_delta=allow_large_delta)
        if config.private:  # ε is computed after training: refuse now what the accountant cannot do then
            check_accounting_limits(q, config.noise_multiplier, steps, delta=config.delta, accountant=accountant)
        return config
    return PrivacyConfig.from_target_epsilon(target_epsilon, delta=delta, sample_rate=q, steps=steps,
                                             max_grad_norm=max_grad_norm, n_examples=n_examples,
                                             accountant=accountant, allow_large_delta=allow_large_delta)


def train_private(model, data, *, target_epsilon: float | None = None, noise_multiplier: float | None = None,
                  delta: float = 1e-5, max_grad_norm: float | str = 1.0, epochs: float = 10,
                  sample_rate: float | None = None, expected_batch_size: float | None = None,
                  accountant: str = "pld", learning_rate: float = 0.05, optimizer: str = "adam",
                  seed: int = 0, allow_large_delta: bool = False, **train_options) -> TrainResult:
    """Train ``model`` on ``data`` with DP-SGD at a target ε (or a given σ).

    Args:
        model: a model from :func:`dpqml.build_model`, a classical baseline, or a
            :class:`~dpqml.train.FunctionModel` wrapping your own ``loss_fn(params, x, y)``.
        data: a :class:`dpqml.data.Dataset` (train and test splits) or a tuple ``(x, y)``.
        target_epsilon: ε to reach after ``epochs`` epochs; σ is calibrated (PLD accountant by
            default) to the smallest value that meets it. ``math.inf``: no noise (clipping kept).
        noise_multiplier: σ, instead of ``target_epsilon``.
        delta: δ of the guarantee; δ ≥ 1/N is refused unless ``allow_large_delta=True``.
        max_grad_norm: C, the per-example clip threshold; or ``"bound"``: each step clips at
            ``G(θ_t)``, the gradient-norm bound of the current parameters (:func:`dpqml.bounds.parameter_bound`;
            no privacy cost, no gradient ever clipped), with noise ``σ·G(θ_t)``.
        epochs, sample_rate, expected_batch_size: T = round(epochs / q) Poisson-sampled steps;
            q defaults to ``min(64, N) / N``.
        learning_rate, optimizer, seed, **train_options: see :class:`~dpqml.train.TrainConfig`
            (``seed`` seeds the initialisation; the sampling and noise are secret, from the OS,
            unless ``noise_seed`` asks for reproducible noise).

    Returns:
        :class:`~dpqml.train.TrainResult` with ``params``, ``epsilon`` (covering every step taken),
        ``test_accuracy`` and per-epoch diagnostics.
    """
    if isinstance(data, tuple):
        x, y = data
        x_test = y_test = None
    else:
        x, y, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    config = TrainConfig(learning_rate=learning_rate, optimizer=optimizer, seed=seed, **train_options)
    check_inputs(model, x, y, config, x_test=x_test, y_test=y_test)  # model and data, before calibrating σ
    privacy = privacy_config(len(x), target_epsilon=target_epsilon, noise_multiplier=noise_multiplier, delta=delta,
                             max_grad_norm=max_grad_norm, epochs=epochs, sample_rate=sample_rate,
                             expected_batch_size=expected_batch_size, accountant=accountant,
                             allow_large_delta=allow_large_delta)
    return train(model, x, y, privacy, config, x_test=x_test, y_test=y_test)


__all__ = ["DEFAULT_EXPECTED_BATCH_SIZE", "default_expected_batch_size", "privacy_config", "resolve_sample_rate",
           "steps_for_epochs", "train_private"]
