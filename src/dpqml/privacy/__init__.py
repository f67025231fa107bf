"""dpqml.privacy: the stages of DP-SGD and its accounting. Knows nothing of quantum mechanics.

* :mod:`.config`: :class:`PrivacyConfig`, the one immutable public configuration (σ, C, q, T, δ, N);
* :mod:`.sampling`: Poisson subsampling and fixed-shape physical batches;
* :mod:`.dpsgd`: per-example clipping, Gaussian noise (seeded or secure), normalisation;
* :mod:`.accounting`: ε and calibration with Google's dp-accounting (PLD default, RDP);
* :mod:`.randomness`: where sampling and noise draw from (secret by default; reproducible on request);
* :mod:`.ledger`: :class:`PrivacyLedger`, every step ever taken, written before it runs;
* :mod:`.transform`: the privatisation for your own JAX loop (:func:`private_gradient`, and
  :func:`dp_sgd`, an optax transformation).

See ``docs/privacy.md``.
"""

from .accounting import (
    ACCOUNTANTS,
    MAX_NOISE_MULTIPLIER,
    NEIGHBORING_RELATIONS,
    calibrate_noise_multiplier,
    check_delta,
    compute_delta,
    compute_epsilon,
    dp_sgd_event,
    make_accountant,
)
from .config import PrivacyConfig
from .dpsgd import clip_and_sum, clip_per_example, flatten_per_example, gaussian_noise, privatize, secure_gaussian_noise
from .ledger import LedgerError, PrivacyLedger
from .randomness import RANDOMNESS, REPRODUCIBLE_NOISE_WARNING, make_randomness
from .sampling import physical_batches, poisson_sample, step_rng
from .transform import DPSGDState, dp_sgd, private_gradient

__all__ = [
    "ACCOUNTANTS",
    "DPSGDState",
    "LedgerError",
    "MAX_NOISE_MULTIPLIER",
    "NEIGHBORING_RELATIONS",
    "RANDOMNESS",
    "REPRODUCIBLE_NOISE_WARNING",
    "PrivacyConfig",
    "PrivacyLedger",
    "calibrate_noise_multiplier",
    "check_delta",
    "clip_and_sum",
    "clip_per_example",
    "compute_delta",
    "compute_epsilon",
    "dp_sgd",
    "dp_sgd_event",
    "flatten_per_example",
    "gaussian_noise",
    "make_accountant",
    "make_randomness",
    "physical_batches",
    "poisson_sample",
    "private_gradient",
    "privatize",
    "secure_gaussian_noise",
    "step_rng",
]
