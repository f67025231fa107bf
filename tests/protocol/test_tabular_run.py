"""The tabular study end to end on a tiny grid: jobs, rows, report, resume, and what each row claims."""

import json
import math

import numpy as np
import pytest

from dpqml.protocol.tabular import run_tabular, tabular_preset


def _tiny(name="paper-tabular", **kw):
    settings = dict(seeds=(0, 1), epochs=2, clipping_grid={"max_grad_norm": [1.5], "batch_size": [64, 256]},
                    privacy_grid={"epsilon": [2.0], "max_grad_norm": [0.5, 10.0], "batch_size": 128})
    return tabular_preset(name, **{**settings, **kw})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tabular")
    summary = run_tabular(_tiny(), out, workers=1, progress=False)
    return out, summary


def test_every_run_becomes_a_row_and_the_report_is_written(tiny_run):
    out, summary = tiny_run
    assert summary["failed"] == [] and summary["runs"] == (2 + 2) * 3 * 2
    for name in ("report.html", "summary.csv", "results.csv", "protocol.json"):
        assert (out / name).exists(), name
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 24
    assert {r["family"] for r in rows} == {"quantum", "classical", "lipschitz"}
    assert {r["n_params"] for r in rows} == {132, 128}
    for r in rows:
        val = r["val_accuracy_by_epoch"]
        assert len(val) == 3 and r["best_val_accuracy"] == max(val[:2])  # epochs 0..E-1, before their steps
        assert r["test_accuracy"] == r["test_accuracy_by_epoch"][-1]
        assert r["preprocessing_covered_by_epsilon"] is False and "NOT covered" in r["preprocessing_note"]
        assert r["steps_spent"] == r["steps"] == 2 * math.ceil(1638 / r["expected_batch_size"])
        assert r["lipschitz_k"] == (r["max_grad_norm"] if r["family"] == "lipschitz" else None)
        if r["grid"] == "privacy":
            assert r["noise_multiplier"] > 0 and r["epsilon_spent"] <= 2.0 + 1e-6
            assert r["epsilon_spent"] > 1.9  # calibrated to the budget, not far below it
        else:
            assert r["noise_multiplier"] == 0 and r["epsilon_spent"] == "inf"
        assert (r["gradient_bound"] is not None) == (r["family"] == "quantum")
        assert len(r["diagnostics_by_epoch"]) == 2 and "diagnostics_by_epoch" in r["diagnostics"]
        assert r["randomness"] == "fast" and "noise_seed" not in r  # the default's keys are secret
    quantum_small_c = [r for r in rows if r["family"] == "quantum" and r["max_grad_norm"] == 0.5]
    assert all(d["clipped_fraction"] > 0.5 for r in quantum_small_c for d in r["diagnostics_by_epoch"])
    html = (out / "report.html").read_text()
    assert "not covered by ε" in html


def test_a_rerun_skips_finished_jobs(tiny_run):
    out, first = tiny_run
    again = run_tabular(_tiny(), out, workers=1, progress=False)
    assert again["ran"] == 0 and again["skipped"] == first["jobs"]
    with pytest.raises(ValueError, match="different protocol"):
        run_tabular(_tiny(epochs=3), out, workers=1, progress=False)


def test_the_clean_preset_trains_without_private_preprocessing(tmp_path):
    cfg = tabular_preset("paper-tabular-clean", seeds=(0,), epochs=1, families=("classical",),
                         clipping_grid={"max_grad_norm": [1.0], "batch_size": [64]}, privacy_grid=None)
    run_tabular(cfg, tmp_path, workers=1, progress=False)
    rows = json.loads((tmp_path / "results.json").read_text())
    assert [r["preprocessing_covered_by_epsilon"] for r in rows] == [True]
    assert rows[0]["n_train"] == 1638 - 128 and rows[0]["scaler"] == "public-split"
    assert np.isfinite(rows[0]["test_accuracy"])


def test_seeded_noise_is_a_labelled_opt_in_that_repeats(tmp_path):
    cfg = tabular_preset("paper-tabular-clean", seeds=(0, 1), epochs=2, families=("classical",),
                         randomness="seeded", clipping_grid=None,
                         privacy_grid={"epsilon": [4.0], "max_grad_norm": [0.5, 1.0], "batch_size": 64})
    run_tabular(cfg, tmp_path / "a", workers=1, progress=False)
    run_tabular(cfg, tmp_path / "b", workers=1, progress=False)
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [r["val_accuracy_by_epoch"] for r in a] == [r["val_accuracy_by_epoch"] for r in b]
    assert all(r["randomness"] == "seeded" for r in a)
    assert len({r["noise_seed"] for r in a}) == 4  # no two runs share a noise stream
