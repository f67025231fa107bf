"""Empirical lower bounds on ε: the statistics of a privacy audit.

A DP guarantee is an upper bound on ε; an audit attacks the trained model and turns the attack's
success into a lower bound that holds with a stated confidence. A lower bound above the claimed ε
means the claim (or its implementation) is wrong; one far below is merely inconclusive. This package
holds the estimators only (NumPy and SciPy, no JAX, no training)::

    from dpqml.audit import one_run_audit, canaries_needed
    report = one_run_audit(scores, included, delta=1e-5, confidence=0.95)
    report["epsilon_lower"]            # ε lower bound, valid at 95% over coins and training

Parts:

* :mod:`dpqml.audit.one_run`: one training run with ``m`` canaries, each included with probability 1/2
  (Steinke, Nasr & Jagielski 2023): :func:`one_run_epsilon_lower_bound` from counts,
  :func:`one_run_audit` from scores, :func:`one_run_p_value`, :func:`canaries_needed`.
* :mod:`dpqml.audit.multi_run`: many runs with and without one target, a threshold test and
  Clopper–Pearson intervals (Jagielski et al. 2020; Nasr et al. 2021):
  :func:`clopper_pearson_epsilon_lower_bound`, :func:`multi_run_audit`, :func:`runs_needed`,
  :func:`clopper_pearson_upper`.
* :mod:`dpqml.audit.metrics`: :func:`auroc` and :func:`tpr_at_fpr`, descriptive attack metrics.
* :mod:`dpqml.audit.pipeline`: :func:`audit_pipeline`, the game played against dpqml's own trainer
  (white-box Dirac gradient canaries or black-box mislabelled canaries), returning an
  :class:`AuditResult` (ε lower bound, claimed ε, TPR at low FPR, AUROC); ``dpqml audit`` on the command
  line. The games themselves are in :mod:`dpqml.audit.games`. JAX is imported only when a game is played.

Every function validates its inputs and raises ``ValueError`` naming the parameter and its valid
range. Importing this package does not load SciPy; it is imported on first use. See ``docs/audit.md``.
"""

from __future__ import annotations

from dpqml.audit.metrics import auroc, tpr_at_fpr
from dpqml.audit.multi_run import (
    clopper_pearson_epsilon_lower_bound,
    clopper_pearson_upper,
    multi_run_audit,
    runs_needed,
)
from dpqml.audit.one_run import (
    DEFAULT_GUESS_FRACTIONS,
    canaries_needed,
    one_run_audit,
    one_run_epsilon_lower_bound,
    one_run_p_value,
)
from dpqml.audit.pipeline import MECHANISMS, AuditResult, audit_pipeline, required_canaries

__all__ = [
    "one_run_epsilon_lower_bound", "one_run_audit", "one_run_p_value", "canaries_needed", "DEFAULT_GUESS_FRACTIONS",
    "clopper_pearson_epsilon_lower_bound", "multi_run_audit", "runs_needed", "clopper_pearson_upper",
    "auroc", "tpr_at_fpr",
    "audit_pipeline", "AuditResult", "required_canaries", "MECHANISMS",
]
