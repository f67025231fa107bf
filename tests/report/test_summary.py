"""Aggregation over seeds and the quantum-versus-classical comparison."""

import json
import math

import pytest

from dpqml.report import compare_families, mean_confidence_interval, summarize, to_jsonable

from .rows import ACCURACY, make_rows

# Two-sided 95% Student t quantiles t_{0.975, df} from a printed table (df = 2, 3).
T_TABLE = {2: 4.303, 3: 3.182}


def test_interval_matches_a_hand_computation():
    values = [0.6, 0.7, 0.9, 1.0]
    # mean 0.8; squared deviations 0.04 + 0.01 + 0.01 + 0.04 = 0.1; s² = 0.1 / 3
    s = math.sqrt(0.1 / 3)
    mean, std, half = mean_confidence_interval(values)
    assert mean == pytest.approx(0.8, abs=1e-12)
    assert std == pytest.approx(s, abs=1e-12)
    assert half == pytest.approx(T_TABLE[3] * s / 2, rel=2e-4)


def test_summary_interval_over_three_seeds():
    entry = summarize(make_rows())[0]  # digits, ε = 1, hea: 0.79, 0.80, 0.81
    assert entry["test_accuracy_mean"] == pytest.approx(0.80, abs=1e-12)
    assert entry["test_accuracy_std"] == pytest.approx(0.01, abs=1e-12)
    half = T_TABLE[2] * 0.01 / math.sqrt(3)
    assert entry["ci_half_width"] == pytest.approx(half, rel=2e-4)
    assert entry["ci_low"] == pytest.approx(0.80 - half, rel=1e-3)
    assert entry["ci_high"] == pytest.approx(0.80 + half, rel=1e-3)


def test_intervals_on_accuracies_stay_inside_0_1():
    rows = [r for r in make_rows() if r["dataset"] == make_rows()[0]["dataset"]]
    for r, acc in zip(rows, (0.97, 1.0, 1.0, 0.0, 0.03, 0.0) * 10):
        r["test_accuracy"] = acc
    for entry in summarize(rows):
        assert 0.0 <= entry["ci_low"] <= entry["test_accuracy_mean"] <= entry["ci_high"] <= 1.0
    assert any(e["ci_high"] == 1.0 and e["test_accuracy_mean"] + e["ci_half_width"] > 1.0 for e in summarize(rows))


def test_one_seed_gives_no_interval():
    entry = summarize(make_rows(seeds=(0,)))[0]
    assert entry["n_seeds"] == 1
    assert entry["ci_half_width"] is None and entry["ci_low"] is None and entry["ci_high"] is None
    assert math.isnan(entry["test_accuracy_std"])


def test_summary_groups_and_sorts():
    summary = summarize(make_rows())
    assert len(summary) == 2 * 3 * 3  # datasets × models × ε
    keys = [(s["dataset"], s["epsilon"], s["model"]) for s in summary]
    per_eps = ["hea", "reuploading", "logistic"]  # quantum first, then by name
    expected = [(d, eps, m) for d in ("digits", "moons") for eps in (1.0, 4.0, math.inf) for m in per_eps]
    assert keys == expected
    assert all(s["n_seeds"] == 3 and s["seeds"] == [0, 1, 2] for s in summary)
    hea, logistic = summary[0], summary[2]
    assert hea["gradient_bound"] == 0.8 and hea["bound_ratio"] == pytest.approx(0.8)
    assert logistic["gradient_bound"] is None and logistic["bound_ratio"] is None
    assert hea["noise_multiplier"] == 2.5 and hea["epsilon_spent_mean"] == pytest.approx(0.98)
    assert summary[6]["epsilon_spent_mean"] == math.inf


def test_rows_read_back_from_json_summarize_the_same():
    rows = make_rows()
    reloaded = json.loads(json.dumps(to_jsonable(rows)))  # ε = ∞ is now the string "inf"
    assert reloaded[6]["epsilon"] == "inf"  # rows run over seeds fastest, then ε
    assert [s["epsilon"] for s in summarize(reloaded)] == [s["epsilon"] for s in summarize(rows)]


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("test_accuracy"), "rows\\[0\\] lacks test_accuracy"),
    (lambda r: r.update(family="hybrid"), "rows\\[0\\]\\['family'\\] must be one of"),
])
def test_invalid_rows_are_named(change, message):
    rows = make_rows()
    change(rows[0])
    with pytest.raises(ValueError, match=message):
        summarize(rows)
    with pytest.raises(ValueError, match="empty"):
        summarize([])


def _cell(comparisons, dataset, epsilon):
    return next(c for c in comparisons if c["dataset"] == dataset and c["epsilon"] == epsilon)


def test_clearly_separated_and_overlapping_comparisons():
    comparisons = compare_families(summarize(make_rows()))
    low = _cell(comparisons, "moons", 1.0)  # hea 0.80 ± 0.025 versus logistic 0.70 ± 0.025
    assert low["quantum"]["model"] == "hea" and low["classical"]["model"] == "logistic"
    assert low["difference"] == pytest.approx(0.10)
    assert low["overlap"] is False and low["verdict"] == "quantum higher"
    assert low["quantum_drop"] == pytest.approx(0.90 - 0.80)
    assert low["classical_drop"] == pytest.approx(0.95 - 0.70)
    mid = _cell(comparisons, "moons", 4.0)  # reuploading 0.88 beats hea 0.85; logistic 0.86 within the intervals
    assert mid["quantum"]["model"] == "reuploading"
    assert mid["difference"] == pytest.approx(0.02)
    assert mid["overlap"] is True and mid["verdict"] == "not distinguishable"
    top = _cell(comparisons, "moons", math.inf)
    assert "quantum_drop" not in top and top["verdict"] == "not distinguishable"  # 0.95 vs 0.92: gap 0.03 < 2·0.025


def test_classical_ahead_and_single_seed_verdicts():
    accuracy = {**ACCURACY, ("logistic", 1.0): 0.95}
    cell = _cell(compare_families(summarize(make_rows(accuracy=accuracy))), "digits", 1.0)
    assert cell["verdict"] == "classical higher" and cell["difference"] == pytest.approx(-0.15)
    cell = _cell(compare_families(summarize(make_rows(seeds=(0,)))), "digits", 1.0)
    assert cell["overlap"] is None and cell["verdict"] == "no interval"
    cell = _cell(compare_families(summarize(make_rows(epsilons=(1.0,)))), "digits", 1.0)
    assert cell["quantum_drop"] is None and cell["classical_drop"] is None  # no ε = ∞ run
