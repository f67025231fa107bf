"""AUROC and TPR at a fixed FPR: hand examples and scikit-learn as the reference."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from dpqml.audit import auroc, tpr_at_fpr


def test_auroc_hand_examples():
    # members 0.35, 0.8 against non-members 0.1, 0.4: 0.35 beats 0.1, 0.8 beats both: 3 of 4 pairs
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # members {1, 2}, non-members {1, 0}: the tie 1 = 1 counts 1/2, the other three pairs are wins
    assert auroc([1.0, 1.0, 2.0, 0.0], [True, False, True, False]) == pytest.approx(0.875)
    assert auroc([3.0, 3.0, 3.0], [1, 0, 1]) == pytest.approx(0.5)  # all tied
    assert auroc([0.0, 1.0], [0, 1]) == 1.0 and auroc([0.0, 1.0], [1, 0]) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.4
    scores = np.round(rng.normal(size=500) + 0.7 * labels, 1)  # rounding makes many ties
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)


# members 0.9, 0.8, 0.4, 0.3; non-members 0.85, 0.5, 0.2, 0.1
HAND_SCORES = [0.9, 0.8, 0.4, 0.3, 0.85, 0.5, 0.2, 0.1]
HAND_LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize(("fpr", "tpr"), [
    (0.0, 0.25),  # only 0.9 lies above every non-member
    (0.2, 0.25),  # one false positive is already 25% > 20%
    (0.25, 0.5),  # threshold in (0.5, 0.8]: flags 0.9, 0.8 and the non-member 0.85
    (0.49, 0.5),
    (0.5, 1.0),  # threshold in (0.2, 0.3]: every member, and the non-members 0.85 and 0.5
    (1.0, 1.0),
])
def test_tpr_at_fpr_hand_cases(fpr, tpr):
    assert tpr_at_fpr(HAND_SCORES, HAND_LABELS, fpr) == pytest.approx(tpr)


def test_tpr_at_fpr_with_a_tie_across_classes():
    # the member ties the top non-member: at FPR 0 no threshold flags it without flagging the non-member too
    assert tpr_at_fpr([0.5, 0.5, 0.1], [1, 0, 0], 0.0) == 0.0
    assert tpr_at_fpr([0.5, 0.5, 0.1], [1, 0, 0], 0.5) == 1.0


@pytest.mark.parametrize("fpr", [0.0, 0.001, 0.01, 0.1, 0.33, 0.5])
def test_tpr_at_fpr_matches_scikit_learns_roc_points(fpr):
    rng = np.random.default_rng(4)
    labels = rng.random(1000) < 0.5
    scores = np.round(rng.normal(size=1000) + labels, 2)
    fprs, tprs, _ = roc_curve(labels, scores, drop_intermediate=False)
    assert tpr_at_fpr(scores, labels, fpr) == pytest.approx(tprs[fprs <= fpr].max(), rel=1e-12)
