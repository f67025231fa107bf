"""Bad input: every public function of dpqml.audit raises ValueError naming the parameter and the valid range."""

import math

import numpy as np
import pytest

from dpqml.audit import (
    auroc,
    canaries_needed,
    clopper_pearson_epsilon_lower_bound,
    multi_run_audit,
    one_run_audit,
    one_run_epsilon_lower_bound,
    one_run_p_value,
    runs_needed,
    tpr_at_fpr,
)

SCORES = np.linspace(0.0, 1.0, 10)
INCLUDED = np.arange(10) % 2 == 0


@pytest.mark.parametrize(("call", "match"), [
    # confidence outside (0, 1)
    (lambda: one_run_epsilon_lower_bound(5, 10, 10, confidence=1.0), r"confidence .*\(0, 1\).*1\.0"),
    (lambda: one_run_epsilon_lower_bound(5, 10, 10, confidence=0), r"confidence .*\(0, 1\)"),
    (lambda: one_run_audit(SCORES, INCLUDED, confidence=1.5), r"confidence .*\(0, 1\)"),
    (lambda: clopper_pearson_epsilon_lower_bound(1, 1, 1, 1, confidence=-0.1), r"confidence .*\(0, 1\)"),
    (lambda: multi_run_audit(SCORES, SCORES, confidence=math.nan), r"confidence .*\(0, 1\)"),
    (lambda: canaries_needed(1.0, confidence=1.0), r"confidence .*\(0, 1\)"),
    (lambda: runs_needed(1.0, confidence=0.0), r"confidence .*\(0, 1\)"),
    # delta outside [0, 1)
    (lambda: one_run_epsilon_lower_bound(5, 10, 10, delta=1.0), r"delta .*\[0, 1\)"),
    (lambda: one_run_epsilon_lower_bound(5, 10, 10, delta=-1e-5), r"delta .*\[0, 1\)"),
    (lambda: one_run_p_value(5, 10, 10, 1.0, delta=2.0), r"delta .*\[0, 1\)"),
    (lambda: one_run_audit(SCORES, INCLUDED, delta=math.nan), r"delta .*\[0, 1\)"),
    (lambda: clopper_pearson_epsilon_lower_bound(1, 1, 1, 1, delta=1.0), r"delta .*\[0, 1\)"),
    (lambda: multi_run_audit(SCORES, SCORES, delta=-0.5), r"delta .*\[0, 1\)"),
    (lambda: canaries_needed(1.0, delta=1.0), r"delta .*\[0, 1\)"),
    (lambda: runs_needed(1.0, delta=-1.0), r"delta .*\[0, 1\)"),
    # counts negative, non-integer or inconsistent
    (lambda: one_run_epsilon_lower_bound(-1, 10, 10), r"correct .*>= 0"),
    (lambda: one_run_epsilon_lower_bound(11, 10, 20), r"correct must be <= guesses \(10\)"),
    (lambda: one_run_epsilon_lower_bound(5, 20, 10), r"guesses must be <= canaries \(10\)"),
    (lambda: one_run_epsilon_lower_bound(0, 0, 0), r"canaries .*>= 1"),
    (lambda: one_run_epsilon_lower_bound(5.5, 10, 10), r"correct .*integer"),
    (lambda: one_run_epsilon_lower_bound(True, 10, 10), r"correct .*integer"),
    (lambda: one_run_p_value(5, 10, 10, -1.0), r"epsilon .*>= 0"),
    (lambda: clopper_pearson_epsilon_lower_bound(-1, 1, 1, 1), r"tp .*>= 0"),
    (lambda: clopper_pearson_epsilon_lower_bound(0, 0, 1, 1), r"tp \+ fn .*>= 1"),
    (lambda: clopper_pearson_epsilon_lower_bound(1, 1, 0, 0), r"fp \+ tn .*>= 1"),
    (lambda: one_run_audit(SCORES, INCLUDED, k_pos=6, k_neg=5), r"k_pos \+ k_neg .*<= .*\(10\)"),
    (lambda: one_run_audit(SCORES, INCLUDED, k_pos=-1), r"k_pos .*>= 0"),
    (lambda: one_run_audit(SCORES, INCLUDED, grid=[3, 6]), r"grid .*2k <= .*\(10\)"),
    (lambda: one_run_audit(SCORES, INCLUDED, grid=[0]), r"grid .*>= 1"),
    (lambda: one_run_audit([1.0], [True]), r"grid"),
    (lambda: multi_run_audit(SCORES, SCORES, seed=-1), r"seed .*>= 0"),
    # empty, mismatched or non-finite scores
    (lambda: one_run_audit([], []), r"scores .*at least 1"),
    (lambda: one_run_audit(SCORES, INCLUDED[:5]), r"included .*same length as scores \(10\)"),
    (lambda: one_run_audit(SCORES, np.arange(10)), r"included .*booleans or the integers 0 and 1"),
    (lambda: one_run_audit(np.where(INCLUDED, np.nan, SCORES), INCLUDED), r"scores .*finite.*scores\[0\]"),
    (lambda: one_run_audit(SCORES.reshape(2, 5), INCLUDED), r"scores .*1-D"),
    (lambda: one_run_audit(["a"] * 10, INCLUDED), r"scores .*finite real"),
    (lambda: multi_run_audit([], SCORES, threshold=0.5), r"scores_in .*at least 1"),
    (lambda: multi_run_audit([1.0], SCORES), r"scores_in .*at least 2"),
    (lambda: multi_run_audit(SCORES, [0.0, math.inf]), r"scores_out .*finite"),
    (lambda: multi_run_audit(SCORES, SCORES, threshold=math.nan), r"threshold"),
    (lambda: auroc(SCORES, INCLUDED[:3]), r"labels .*same length as scores"),
    (lambda: auroc(SCORES, np.ones(10)), r"labels .*both members"),
    (lambda: auroc([0.1, -math.inf], [0, 1]), r"scores .*finite"),
    (lambda: tpr_at_fpr(SCORES, INCLUDED, 1.5), r"fpr .*\[0, 1\]"),
    (lambda: tpr_at_fpr(SCORES, INCLUDED, -0.1), r"fpr .*\[0, 1\]"),
    # sample-size targets
    (lambda: canaries_needed(0.0), r"epsilon .*> 0"),
    (lambda: canaries_needed(math.inf), r"epsilon .*finite"),
    (lambda: canaries_needed(1.0, guess_fraction=0.0), r"guess_fraction .*\(0, 1\]"),
    (lambda: canaries_needed(1.0, guess_fraction=1.5), r"guess_fraction .*\(0, 1\]"),
    (lambda: runs_needed(-1.0), r"epsilon .*> 0"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numpy_integers_and_integer_labels_are_accepted():
    assert one_run_epsilon_lower_bound(np.int64(9), np.int32(10), np.int64(10)) >= 0.0
    assert auroc(np.array([0.1, 0.9]), np.array([0, 1], dtype=np.int8)) == 1.0
