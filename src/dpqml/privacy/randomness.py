"""Where the randomness of the privacy mechanism comes from: Poisson sampling and Gaussian noise.

DP-SGD's guarantee holds against an adversary who does not know the mechanism's random draws.
If the batches and the noise can be rebuilt from something published (a seed in a result file),
replaying them removes the noise, and neighbouring data sets become distinguishable with
certainty. So by default the randomness comes from the operating system and is fresh for every
run; reproducible noise is an explicit, labelled opt-in.

Three sources, each an object with the same small interface (``sample``, ``noise``, ``state``):

* ``"secure"`` (default): every step draws from ``os.urandom``: 64 bits per example for the
  Bernoulli trials of Poisson sampling, and the noise by the floating-point-hardened sampler of
  :func:`~dpqml.privacy.dpsgd.secure_gaussian_noise`. Nothing to keep, nothing to replay; a
  resumed run draws fresh. Its cost, about 0.3 µs per parameter per step on this project's machine
  (3 ms at 10⁴ parameters), is why ``"fast"`` exists.
* ``"fast"``: one 128-bit secret from ``os.urandom`` per run, never published; step ``t`` samples
  with NumPy's PCG64 seeded by ``SeedSequence([secret, t])`` and draws the noise with JAX's
  Threefry-2x32 (a keyed, counter-based generator built from the Threefish block cipher; Salmon
  et al. 2011) under a 64-bit key derived from the secret. Without the secret nobody can replay
  it (2⁶⁴ keys). The secret lives in the run's checkpoint (``state.json``) only, so a resumed run
  redraws exactly the batches and noise the interrupted one would have drawn: a checkpoint
  directory is as secret as the data. Not hardened against floating-point attacks on the noise.
* ``"seeded"`` (``noise_seed=S``): as ``"fast"`` with the public seed ``S`` in place of the secret.
  Reproducible, for research and tests only: **the guarantee does not hold against anyone who
  knows the seed**, and every result of such a run says so (:data:`REPRODUCIBLE_NOISE_WARNING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from ..validation import check_choice
from . import entropy
from .dpsgd import gaussian_noise, secure_gaussian_noise
from .sampling import poisson_sample, step_rng

#: Mechanism randomness sources by name, each with a one-line description.
RANDOMNESS: Mapping[str, str] = MappingProxyType({
    "secure": "OS CSPRNG every step, floating-point-hardened Gaussian (default; not reproducible)",
    "fast": "JAX Threefry under a secret 128-bit seed from the OS, kept in the checkpoint only",
    "seeded": "reproducible from a public noise_seed: NO guarantee against anyone who knows the seed",
})

#: What every result of a run with reproducible noise says.
REPRODUCIBLE_NOISE_WARNING = (
    "reproducible noise (noise_seed given): anyone who knows the seed can replay the Poisson sampling and the "
    "Gaussian noise of this run, and the (epsilon, delta) guarantee does NOT hold against them; for research and "
    "tests only")

#: Mixed into the seed of the noise key, so that the noise and the sampling streams differ.
_NOISE_STREAM = 0x401


def _noise_key(seed: int):
    """A raw Threefry key (``uint32[2]``) from an integer seed of any size."""
    return jnp.asarray(np.random.SeedSequence([int(seed), _NOISE_STREAM]).generate_state(2, np.uint32))


class SecureRandomness:
    """Sampling and noise straight from ``os.urandom`` at every step (nothing kept)."""

    name = "secure"

    def sample(self, n_examples: int, sample_rate: float, step: int) -> np.ndarray:
        return poisson_sample(n_examples, sample_rate, secure=True)

    def noise(self, step: int, n_params: int, noise_std: float, dtype) -> jax.Array:
        return jnp.asarray(secure_gaussian_noise((n_params,), noise_std, np.dtype(dtype)))

    def state(self) -> dict | None:
        return None


class KeyedRandomness:
    """Sampling and noise as pure functions of ``(seed, step)``: a secret seed (``"fast"``) or a
    public one (``"seeded"``). Step ``t`` samples with ``default_rng([seed, t])`` and adds
    ``noise_std · normal(fold_in(key, t))`` with ``key`` derived from ``seed``."""

    def __init__(self, seed: int, *, secret: bool):
        self.seed = int(seed)
        self.name = "fast" if secret else "seeded"
        self._key = _noise_key(self.seed)

    def sample(self, n_examples: int, sample_rate: float, step: int) -> np.ndarray:
        return poisson_sample(n_examples, sample_rate, step_rng(self.seed, step))

    def noise(self, step: int, n_params: int, noise_std: float, dtype) -> jax.Array:
        return _step_noise(self._key, step, jnp.asarray(noise_std, dtype), n_params)

    def state(self) -> dict | None:
        """What a checkpoint keeps to resume: the secret (``"fast"``); nothing for a public seed."""
        return {"secret": format(self.seed, "x")} if self.name == "fast" else None


@partial(jax.jit, static_argnums=3)
def _step_noise(key, step, noise_std, n_params: int):
    """The noise of step ``step``: N(0, noise_std²) per coordinate, from ``fold_in(key, step)``."""
    return gaussian_noise(jax.random.fold_in(key, step), (n_params,), 1.0, noise_std.dtype) * noise_std


def check_randomness(name: str, noise_seed: int | None) -> None:
    """Refuse an unknown source, or a ``noise_seed`` that does not go with it."""
    check_choice(name, "randomness", RANDOMNESS)
    if name == "seeded" and noise_seed is None:
        raise ValueError("randomness='seeded' needs noise_seed (an integer >= 0)")
    if name != "seeded" and noise_seed is not None:
        raise ValueError(f"noise_seed makes the noise reproducible; it cannot be combined with randomness={name!r}")


def make_randomness(name: str, *, noise_seed: int | None = None, saved: Mapping | None = None):
    """The source ``name`` (a key of :data:`RANDOMNESS`).

    ``noise_seed`` is required for ``"seeded"`` and refused otherwise. ``saved`` is what
    :meth:`state` returned in an earlier run of the same checkpoint (``"fast"`` resumes with its
    secret; otherwise a fresh secret is drawn from ``os.urandom``).
    """
    check_randomness(name, noise_seed)
    if name == "seeded":
        return KeyedRandomness(noise_seed, secret=False)
    if name == "secure":
        return SecureRandomness()
    if saved and "secret" in saved:
        return KeyedRandomness(int(saved["secret"], 16), secret=True)
    return KeyedRandomness(int.from_bytes(entropy.secret_bytes(16), "little"), secret=True)
