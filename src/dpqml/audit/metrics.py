"""Membership-inference metrics of an attack's scores: AUROC and TPR at a fixed FPR.

Descriptive numbers to report next to an ε lower bound, not privacy guarantees: they carry no
confidence level. ``labels`` are True (or 1) for members, the positives; higher scores mean "member".
"""

from __future__ import annotations

import numpy as np

from dpqml.audit._validation import check_labels, check_scores


def _scores_and_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = check_scores("scores", scores)
    labels = check_labels("labels", labels, scores.size, "scores")
    if labels.all() or not labels.any():
        raise ValueError(f"labels must hold both members (True/1) and non-members (False/0); got "
                         f"{int(labels.sum())} members of {labels.size}")
    return scores, labels


def auroc(scores, labels) -> float:
    """The area under the ROC curve: ``P[S_member > S_non-member] + ½·P[S_member = S_non-member]``.

    ``scores`` and ``labels``: shape ``(n,)``. Computed with average ranks (Mann–Whitney U divided by
    ``n_members · n_non-members``), so tied scores count 1/2, as scikit-learn's ``roc_auc_score``.
    """
    from scipy.stats import rankdata

    scores, labels = _scores_and_labels(scores, labels)
    ranks = rankdata(scores)  # average ranks for ties
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def tpr_at_fpr(scores, labels, fpr: float) -> float:
    """The largest true-positive rate of a threshold test whose empirical false-positive rate is ≤ ``fpr``.

    Tests "member iff score ≥ t" for every threshold ``t`` (each distinct score, and +∞ which flags no one);
    no interpolation between thresholds (no randomised tests). ``fpr = 0`` therefore gives the fraction
    of members scoring strictly above every non-member. ``fpr`` in [0, 1]; ``scores``, ``labels``: ``(n,)``.
    """
    scores, labels = _scores_and_labels(scores, labels)
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 <= fpr <= 1:
        raise ValueError(f"fpr must be a number in [0, 1]; got {fpr!r}")
    members, others = np.sort(scores[labels]), np.sort(scores[~labels])
    thresholds = np.append(np.unique(scores), np.inf)
    tp = members.size - np.searchsorted(members, thresholds, side="left")
    fp = others.size - np.searchsorted(others, thresholds, side="left")
    allowed = fp / others.size <= fpr  # t = +∞ is always allowed
    return float(np.max(tp[allowed]) / members.size)
