"""How far the cross-entropy's observable can spread when the logits are Pauli expectations.

For logits ``z_k = ⟨Z_k⟩`` (``k < K``, each in ``[-1, 1]``) and the cross-entropy with label
``y``, the loss's derivative in any circuit angle is the derivative of one observable,
``O_r = Σ_k r_k Z_k`` with ``r = softmax(z) − e_y`` held at its value. Robertson's inequality
bounds a rotation's derivative by the observable's standard deviation in the same state
(``docs/bounds.md``, "The paper's model"), and

    sd(O_r) ≤ Σ_k |r_k| sd(Z_k) = (1 − p_y) √(1 − z_y²) + Σ_{k≠y} p_k √(1 − z_k²) =: h(z)

because covariances are at most the product of standard deviations and ``Z_k² = 1``. This module
computes ``h* ≥ sup_z h(z)`` with a certificate: the supremum over ``[-1, 1]^K`` reduces to two
variables, and a grid of interval bounds over those two gives an upper bound.

Reduction. With ``u_k = e^{z_k}`` and ``E = Σ_{k≠y} u_k``, ``h = (E s_y + Σ_{k≠y} φ(u_k)) /
(e^{z_y} + E)`` where ``s_y = √(1 − z_y²)`` and ``φ(u) = u √(1 − ln² u)``. ``φ`` is concave on
``[1/e, e]`` (``φ''(u) = (t³ − t − 1) / (u (1 − t²)^{3/2}) < 0`` with ``t = ln u ∈ (-1, 1)``), so
for fixed ``z_y`` and ``E`` the sum is largest with every ``u_k`` equal (Jensen): every other
logit equal to one value ``t``, and

    h ≤ q(z_y, t) = w(z_y, t) (√(1 − z_y²) + √(1 − t²)),   w = (K − 1) e^t / (e^{z_y} + (K − 1) e^t).
"""

from __future__ import annotations

import functools

import numpy as np

from ..validation import check_count

#: Grid cells per axis of the certificate; the certified value exceeds the grid's best point by
#: at most about 3e-3 (tests/bounds/test_softmax_spread.py measures the gap).
CELLS = 2048


def _sd_max(lo, hi):
    """Largest ``√(1 − v²)`` over ``v ∈ [lo, hi] ⊂ [-1, 1]``: 1 if the cell holds 0, else at the
    end nearer 0."""
    near = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return np.sqrt(np.clip(1.0 - near**2, 0.0, None))


@functools.cache
def cross_entropy_spread(n_classes: int) -> float:
    """``h*``: a certified upper bound on ``sd(Σ_k r_k Z_k)`` for the cross-entropy over
    ``n_classes`` logits ``⟨Z_k⟩`` (module docstring), in any state and for any label.

    Each of the grid's cells bounds ``q`` from above by monotonicity (``w`` rises with ``t`` and
    falls with ``z_y``; each root at its largest over the cell), so the largest cell bound is an
    upper bound on ``sup q ≥ sup h``. For 4 classes: 1.6135 (the best grid point: 1.6130).
    """
    k = check_count(n_classes, "n_classes", minimum=2)
    edges = np.linspace(-1.0, 1.0, CELLS + 1)
    lo, hi = edges[:-1], edges[1:]
    a_lo, a_hi = lo[:, None], hi[:, None]  # z_y
    t_lo, t_hi = lo[None, :], hi[None, :]  # the other logits
    w = (k - 1) / ((k - 1) + np.exp(a_lo - t_hi))
    return float((w * (_sd_max(a_lo, a_hi) + _sd_max(t_lo, t_hi))).max())


def spread_at(z, label: int) -> float:
    """``h(z)`` at logits ``z`` and a label: the bound on ``sd(O_r)`` the certificate covers."""
    z = np.asarray(z, dtype=float)
    p = np.exp(z - z.max())
    p /= p.sum()
    r = p.copy()
    r[label] -= 1.0
    return float(np.sum(np.abs(r) * np.sqrt(np.clip(1.0 - z**2, 0.0, None))))
