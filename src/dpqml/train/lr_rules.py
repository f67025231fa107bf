"""Learning-rate rules: a learning rate fixed from public settings alone, before any data is seen.

A rule maps ``(family, C, σ, B)`` to a learning rate. Every input is a public constant of the
run (the model family, the clip threshold ``C``, the noise multiplier ``σ`` and the expected
batch size ``B``), so choosing the rate costs no privacy. Rules are looked up by name in
:data:`LR_RULES`:

* ``paper-rule``: the per-family rule of the paper's companion notebook (``tabular/heatmap.ipynb``
  of ``tigran-sedrakyan/private-qml``: ``lr_for_clip``, ``lr_with_cap``, ``lr_for_lipschitz``),
  tuned there by its authors:

  - quantum and classical: a base rate ``lr(C)`` that runs geometrically from the private rate
    times a stability factor at ``C_ref = 1.5`` up to the non-private rate at ``C_unclip``
    (above ``C_unclip``: the non-private rate; below ``C_ref``: ``lr(C_ref) · C_ref / C``), then
    scaled by ``B / 64`` and, with noise, capped at ``0.0015 · B / (σ C)``;
  - lipschitz: ``0.025 · (B / 64) / C`` without noise, ``0.04 · (B / 64) / (σ C)`` with noise.

* a number: that fixed rate for every family and cell; a ``{family: rate}`` table: one fixed rate
  per family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

#: Families the paper's rule knows.
PAPER_RULE_FAMILIES = ("quantum", "classical", "lipschitz")


def _table(values: dict):
    return field(default_factory=lambda: MappingProxyType(values))


@dataclass(frozen=True)
class PaperRule:
    """The notebook's constants (``Config`` of ``heatmap.ipynb``)."""

    private_rate: MappingProxyType = _table({"quantum": 0.015, "classical": 0.05})
    nonprivate_rate: MappingProxyType = _table({"quantum": 0.02, "classical": 0.08})
    stability_factor: MappingProxyType = _table({"quantum": 1.0, "classical": 0.5})
    c_unclip: MappingProxyType = _table({"quantum": 2.0, "classical": 6.0})
    c_ref: float = 1.5
    reference_batch: int = 64
    noise_cap: float = 0.0015
    lipschitz_no_noise: float = 0.025
    lipschitz_with_noise: float = 0.04

    def clip_rate(self, family: str, c: float) -> float:
        """``lr_for_clip``: the rate at clip threshold ``c`` before batch scaling and the noise cap."""
        unclipped = self.nonprivate_rate[family]
        clipped = self.private_rate[family] * self.stability_factor[family]
        c_unclip = self.c_unclip[family]
        if c >= c_unclip:
            return unclipped
        if c >= self.c_ref:  # geometric interpolation between C_ref and C_unclip
            frac = (c - self.c_ref) / (c_unclip - self.c_ref)
            return math.exp(math.log(clipped) + (math.log(unclipped) - math.log(clipped)) * frac)
        return clipped * (self.c_ref / c)

    def __call__(self, family: str, max_grad_norm: float, noise_multiplier: float, batch_size: int) -> float:
        c, sigma, b = max_grad_norm, noise_multiplier, batch_size
        scale = b / self.reference_batch
        if family == "lipschitz":
            if sigma > 0:
                return self.lipschitz_with_noise * scale / max(sigma * c, 1e-9)
            return self.lipschitz_no_noise * scale / max(c, 1e-9)
        rate = self.clip_rate(family, c) * scale
        if sigma <= 0:
            return rate
        return min(rate, self.noise_cap * b / max(sigma * c, 1e-9))


PAPER_RULE = PaperRule()

#: Named rules, name -> what it is (a fixed rate is given as a number, or a table per family).
LR_RULES = MappingProxyType({
    "paper-rule": "the per-family rule lr(family, C, σ, B) of the paper's notebook",
})


def check_learning_rate(value, key: str = "learning_rate"):
    """``value`` is ``"paper-rule"``, a positive finite number, or a ``{family: rate}`` mapping of them;
    returns it normalised (numbers as floats). The error names ``key`` and the valid values."""
    if isinstance(value, str):
        if value not in LR_RULES:
            raise ValueError(f"{key}: unknown learning-rate rule {value!r}; valid values are 'paper-rule', "
                             "a positive number, or a table of positive numbers per family")
        return value
    if isinstance(value, dict):
        return {str(f): _positive_rate(v, f"{key}.{f}") for f, v in value.items()}
    return _positive_rate(value, key)


def _positive_rate(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{key} must be a positive finite number (or 'paper-rule'); got {value!r}")
    return float(value)


def learning_rate(rule, family: str, *, max_grad_norm: float, noise_multiplier: float, batch_size: int) -> float:
    """The learning rate of a run of ``family`` at clip threshold ``max_grad_norm`` (C), noise
    multiplier ``noise_multiplier`` (σ; 0 without noise) and expected batch size ``batch_size`` (B).

    ``rule`` is ``"paper-rule"``, a number (``fixed``: that rate) or a ``{family: rate}`` table.
    """
    rule = check_learning_rate(rule)
    if isinstance(rule, float):
        return rule
    if isinstance(rule, dict):
        if family not in rule:
            raise ValueError(f"learning_rate: no rate for family {family!r}; the table has {sorted(rule)}")
        return rule[family]
    if family not in PAPER_RULE_FAMILIES:
        raise ValueError(f"learning_rate 'paper-rule' knows the families {list(PAPER_RULE_FAMILIES)}; "
                         f"got {family!r}")
    return PAPER_RULE(family, float(max_grad_norm), float(noise_multiplier), int(batch_size))
