"""A Lipschitz-constrained network: the paper's baseline that needs no gradient clipping.

:class:`LipschitzMLP` follows the ``LipschitzNet`` of the paper's tabular notebook
(``tabular/heatmap.ipynb`` of ``tigran-sedrakyan/private-qml``, built there from deel-torchlip
layers), for one example ``x`` of shape ``(input_dim,)``:

1. project ``x`` into the unit ball: ``x · min(1, 1/‖x‖₂)`` (the notebook does this to the data
   set, ``clip_by_norm(X, 1)``; here it is part of the model, so every input obeys it);
2. ``h = GroupSort2(Ŵ₁ x + b₁)`` (``input_dim -> hidden[0]``);
3. ``h = Ŵ₂ h + b₂``, ``h = Ŵ₃ h + b₃`` (no activation: the notebook has GroupSort2 after the
   first layer only);
4. ``logits = k · Ŵ₄ h + b₄`` (``-> n_classes``), ``k`` the Lipschitz constant (the notebook's
   ``K``, set to the clipping threshold ``C`` it is compared with).

Every ``Ŵ`` is its trainable weight divided by its largest singular value (computed exactly,
``jnp.linalg.norm(W, 2)``; Miyato et al. 2018, "Spectral normalization for generative
adversarial networks"), so each linear layer is 1-Lipschitz in ``‖·‖₂``; GroupSort2 (sort each
pair of units, ascending; Anil et al. 2019, "Sorting out Lipschitz function approximation") and
the projection onto the unit ball are 1-Lipschitz too, so ``‖f(x) - f(x')‖₂ ≤ k ‖x - x'‖₂``.
Biases are free. With ``weight_norm="bjorck"`` each spectrally normalised weight is further
orthonormalised by 15 Björck iterations (``W ← 1.5 W - 0.5 W Wᵀ W``; Björck & Bowie 1971), as
torchlip's ``SpectralLinear`` does (all singular values → 1; still 1-Lipschitz).

``params = {"layers": [{"w": (n_out, n_in), "b": (n_out,)}, ...]}`` (raw weights; the
normalisation is applied in the forward pass, so gradients flow through it). Topology 16-4-4-4-4:
68 + 20 + 20 + 20 = 128 parameters, the same count as the paper's tanh MLP. Initialisation as
torchlip: orthogonal weights, zero biases. Nothing mixes examples (no batch statistics, no state
carried between calls such as a power-iteration vector), so per-example gradients are exact.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp

from ..validation import check_count
from .classical import _ClassicalBase, mlp_param_count, sizes

#: How a raw weight becomes a 1-Lipschitz one.
WEIGHT_NORMS = ("spectral", "bjorck")
BJORCK_ITERATIONS = 15


def spectral_normalise(w):
    """``w / σ_max(w)``: the weight scaled to spectral norm 1 (exact singular value)."""
    return w / jnp.linalg.norm(w, 2)


def bjorck_orthonormalise(w, n_iter: int = BJORCK_ITERATIONS):
    """Björck's iteration ``W ← 1.5 W - 0.5 W Wᵀ W`` from a weight of spectral norm ≤ 1: every
    singular value moves towards 1 and none exceeds 1."""
    for _ in range(n_iter):
        w = 1.5 * w - 0.5 * w @ (w.T @ w)
    return w


def group_sort2(h):
    """GroupSort with groups of 2: each pair ``(h[2j], h[2j+1])`` sorted ascending (a
    permutation of the inputs, hence 1-Lipschitz and gradient-norm preserving). Needs an even
    width."""
    pairs = h.reshape(-1, 2)
    return jnp.stack([jnp.min(pairs, axis=1), jnp.max(pairs, axis=1)], axis=1).reshape(h.shape)


def project_unit_ball(x):
    """``x · min(1, 1/‖x‖₂)``: the input projected into the unit ball (NaN-free at ``x = 0``)."""
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x), 1.0))


@dataclass(frozen=True, eq=False)
class LipschitzMLP(_ClassicalBase):
    """The paper's Lipschitz network (see the module docstring): a ``lipschitz_k``-Lipschitz
    map from ``(input_dim,)`` to logits ``(n_classes,)``.

    :meth:`apply_k` takes the constant per call (a sweep over ``K`` reuses one model);
    :meth:`apply` uses ``lipschitz_k``.
    """

    input_dim: int = 16
    n_classes: int = 4
    hidden: tuple[int, ...] = (4, 4, 4)
    lipschitz_k: float = 1.0
    weight_norm: str = "spectral"
    meta: dict = field(default_factory=dict)
    family: ClassVar[str] = "lipschitz"
    name: ClassVar[str] = "lipschitz-mlp"

    def __post_init__(self):
        object.__setattr__(self, "input_dim", check_count(self.input_dim, "input_dim", minimum=1))
        object.__setattr__(self, "n_classes", check_count(self.n_classes, "n_classes", minimum=2))
        object.__setattr__(self, "hidden", sizes(self.hidden, "hidden"))
        if self.hidden[0] % 2:
            raise ValueError(f"GroupSort2 sorts pairs: hidden[0] must be even; got hidden={self.hidden}")
        k = self.lipschitz_k
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 < k < math.inf:
            raise ValueError(f"lipschitz_k must be a finite number > 0; got {k!r}")
        object.__setattr__(self, "lipschitz_k", float(k))
        if self.weight_norm not in WEIGHT_NORMS:
            raise ValueError(f"unknown weight_norm {self.weight_norm!r}; valid values are {list(WEIGHT_NORMS)}")
        self._record_spec()

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.input_dim, *self.hidden, self.n_outputs)

    def init(self, key, dtype=jnp.float32) -> dict:
        """Orthogonal weights (as torchlip's ``SpectralLinear``), zero biases."""
        orthogonal = jax.nn.initializers.orthogonal()
        keys = jax.random.split(key, len(self.sizes) - 1)
        return {"layers": [{"w": orthogonal(k, (n, m), dtype), "b": jnp.zeros((n,), dtype)}
                           for k, (m, n) in zip(keys, zip(self.sizes[:-1], self.sizes[1:]))]}

    def normalised_weights(self, params) -> list:
        """The 1-Lipschitz weights ``Ŵ`` the forward pass uses (before the last layer's ``k``)."""
        ws = [spectral_normalise(layer["w"]) for layer in params["layers"]]
        if self.weight_norm == "bjorck":
            ws = [bjorck_orthonormalise(w) for w in ws]
        return ws

    def apply_k(self, params, x, k):
        """Logits ``(n_classes,)`` (binary: a scalar logit) of one example with Lipschitz
        constant ``k`` (the last layer's scale; a float or a traced scalar)."""
        self._check_example(x)
        ws = self.normalised_weights(params)
        bs = [layer["b"] for layer in params["layers"]]
        h = group_sort2(ws[0] @ project_unit_ball(x) + bs[0])
        for w, b in zip(ws[1:-1], bs[1:-1]):
            h = w @ h + b
        return self._output(k * (ws[-1] @ h) + bs[-1])

    def apply(self, params, x):
        """:meth:`apply_k` with ``k = lipschitz_k``."""
        return self.apply_k(params, x, self.lipschitz_k)

    def param_count(self) -> int:
        return mlp_param_count(self.input_dim, self.n_outputs, self.hidden)

    def _sizes(self) -> dict:
        return {"hidden": list(self.hidden), "lipschitz_k": self.lipschitz_k, "weight_norm": self.weight_norm}

    def describe(self) -> dict:
        """:meth:`_ClassicalBase.describe` plus the fixed design: activation and input projection."""
        return {**super().describe(), "activation": "groupsort2 after the first layer only",
                "input_projection": "unit ball"}
