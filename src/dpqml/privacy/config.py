"""The one immutable privacy configuration of a DP-SGD run.

Everything here is public: it is fixed before training and does not depend on the data
(beyond the data-set size ``n_examples``, which DP-SGD treats as public, as Opacus and
jax-privacy do). The noise the trainer adds and the ε the accountant reports are both derived
from this one object, so they cannot drift apart.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

from ..validation import check_scalar
from .accounting import (
    calibrate_noise_multiplier,
    check_accountant,
    check_delta,
    compute_epsilon,
)

#: ``max_grad_norm`` value that clips each step at the parameter-dependent bound ``G(θ_t)``.
FOLLOW_BOUND = "bound"


@dataclass(frozen=True)
class PrivacyConfig:
    """DP-SGD's public parameters.

    Attributes:
        noise_multiplier: σ; Gaussian noise of standard deviation ``σ · max_grad_norm`` is added
            to the *sum* of clipped per-example gradients. ``0`` means no noise (ε = ∞).
        max_grad_norm: C, the L2 clip threshold of the flat per-example gradient of *all*
            trainable parameters; or ``"bound"`` (:data:`FOLLOW_BOUND`): each step ``t`` clips at
            ``C_t = G(θ_t)``, the parameter-dependent bound of :func:`dpqml.bounds.parameter_bound`
            (computed from the current parameters alone, so it costs no privacy and clipping
            never changes a gradient), and adds noise ``σ·C_t``; the accounting is unchanged
            (``docs/privacy.md``).
        sample_rate: q, each example joins each step's batch independently with probability q
            (Poisson sampling, the assumption of the accountant).
        steps: T, the number of DP-SGD steps planned.
        delta: δ of the (ε, δ) guarantee.
        n_examples: N, the training-set size; the noisy sum is divided by the expected batch
            size ``q · N``, never by the realized one.
        accountant: ``"pld"`` (tight, default) or ``"rdp"`` (fast, conservative).
        neighboring: the neighbouring relation of the guarantee: ``"add-remove"`` (one example
            added or removed; default) or ``"replace-one"`` (one example replaced; PLD only).
        allow_large_delta: accept δ ≥ 1/N for a private run (with a warning). By default it is
            refused: publishing one random example in full is (0, 1/N)-DP, so such a δ protects
            nobody (:func:`~dpqml.privacy.accounting.check_delta`).
    """

    noise_multiplier: float
    max_grad_norm: float | str
    sample_rate: float
    steps: int
    delta: float
    n_examples: int
    accountant: str = "pld"
    neighboring: str = "add-remove"
    allow_large_delta: bool = False

    def __post_init__(self):
        check_scalar(self.noise_multiplier, "noise_multiplier", low=0.0)
        if self.max_grad_norm != FOLLOW_BOUND:
            try:
                check_scalar(self.max_grad_norm, "max_grad_norm", low=0.0, low_open=True)
            except ValueError as exc:
                raise ValueError(f"{exc} (or {FOLLOW_BOUND!r}: clip at the parameter-dependent bound)") from None
        check_scalar(self.sample_rate, "sample_rate", low=0.0, high=1.0, low_open=True)
        check_scalar(self.steps, "steps", low=1, integer=True)
        check_scalar(self.delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
        check_scalar(self.n_examples, "n_examples", low=1, integer=True)
        check_accountant(self.accountant, self.neighboring)  # e.g. RDP does not support replace-one
        if not isinstance(self.allow_large_delta, bool):
            raise ValueError(f"allow_large_delta must be True or False; got {self.allow_large_delta!r}")
        if self.noise_multiplier > 0:  # without noise ε = ∞ whatever δ is
            check_delta(self.delta, self.n_examples, allow_large=self.allow_large_delta)
        numbers_ = ("noise_multiplier", "sample_rate", "delta") + (("max_grad_norm",) * self.clips_at_constant)
        for name in numbers_:
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "n_examples", int(self.n_examples))

    # -- derived quantities ------------------------------------------------------------------
    @property
    def expected_batch_size(self) -> float:
        """q · N, the public constant the noisy gradient sum is divided by."""
        return self.sample_rate * self.n_examples

    @property
    def clips_at_constant(self) -> bool:
        """Whether C is one number (False: ``max_grad_norm="bound"``, C follows the parameters)."""
        return self.max_grad_norm != FOLLOW_BOUND

    @property
    def noise_std(self) -> float:
        """σ · C, the standard deviation of the noise on each coordinate of the clipped sum (with
        ``max_grad_norm="bound"`` it changes every step: :meth:`noise_std_at`)."""
        if not self.clips_at_constant:
            raise ValueError("with max_grad_norm='bound' the noise std is sigma * C_t, new at every step; "
                             "use noise_std_at(C_t)")
        return self.noise_multiplier * self.max_grad_norm

    def noise_std_at(self, clip: float) -> float:
        """σ · ``clip``: the noise std of a step that clips at ``clip``."""
        return self.noise_multiplier * float(clip)

    @property
    def private(self) -> bool:
        return self.noise_multiplier > 0

    def epsilon(self, steps: int | None = None) -> float:
        """ε after ``steps`` steps (default: the planned ``steps``); ``inf`` without noise."""
        steps = self.steps if steps is None else steps
        if steps == 0:
            return 0.0
        if not self.private:
            return math.inf
        return compute_epsilon(self.sample_rate, self.noise_multiplier, steps, self.delta,
                               accountant=self.accountant, neighboring=self.neighboring)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_target_epsilon(cls, target_epsilon: float, *, delta: float, sample_rate: float, steps: int,
                            max_grad_norm: float, n_examples: int, accountant: str = "pld",
                            neighboring: str = "add-remove", allow_large_delta: bool = False) -> PrivacyConfig:
        """The configuration with the smallest σ whose ε after ``steps`` steps is ≤ ``target_epsilon``.

        ``target_epsilon = inf`` gives the non-private configuration (σ = 0, clipping kept).
        """
        if isinstance(target_epsilon, numbers.Real) and math.isinf(target_epsilon) and target_epsilon > 0:
            sigma = 0.0
        else:
            check_scalar(target_epsilon, "target_epsilon", low=0.0, low_open=True)
            # Validate the public parameters before the (slower) calibration.
            cls(1.0, max_grad_norm, sample_rate, steps, delta, n_examples, accountant, neighboring, allow_large_delta)
            sigma = calibrate_noise_multiplier(target_epsilon, delta, sample_rate, steps, accountant=accountant,
                                               neighboring=neighboring)
        return cls(sigma, max_grad_norm, sample_rate, steps, delta, n_examples, accountant, neighboring,
                   allow_large_delta)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PrivacyConfig:
        return cls(**d)
