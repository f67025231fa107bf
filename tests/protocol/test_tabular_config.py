"""The paper's tabular study: its presets, its plan (σ per ε, learning rates, jobs) and its refusals."""

import json
import re

import pytest

from dpqml.cli import main
from dpqml.protocol.tabular import TabularConfig, plan, tabular_preset
from dpqml.train.lr_rules import learning_rate


def test_show_config_prints_the_whole_published_grid(capsys):
    assert main(["compare", "--preset", "paper-tabular", "--show-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["clipping_grid"] == {"max_grad_norm": [0.5, 1.5, 4.5, 10.0], "batch_size": [32, 64, 128, 512]}
    assert cfg["privacy_grid"] == {"epsilon": [0.5, 1.0, 5.0, 10.0], "max_grad_norm": [0.5, 1.5, 4.5, 10.0],
                                   "batch_size": 64}
    assert cfg["families"] == ["quantum", "classical", "lipschitz"] and cfg["seeds"] == list(range(10))
    assert cfg["epochs"] == 100 and cfg["delta"] == 1e-5 and cfg["momentum"] == 0.9 and cfg["weight_decay"] == 1e-4
    assert cfg["scaler"] == "all-rows-as-published" and cfg["learning_rate"] == "paper-rule"
    assert cfg["training_runs"] == (16 + 16) * 3 * 10
    assert cfg["data"]["n_samples"] == 2048 and cfg["data"]["class_sep"] == 0.8


def test_the_clean_preset_changes_only_the_clean_choices():
    a, b = tabular_preset("paper-tabular").to_dict(), tabular_preset("paper-tabular-clean").to_dict()
    changed = {k for k in a if a[k] != b[k]}
    assert changed == {"name", "scaler", "lr_sigma", "headline_metric", "val_weighting"}
    assert b["scaler"] == "public-split" and b["headline_metric"] == "test_accuracy"


def test_plan_calibrates_sigma_per_epsilon_and_sets_the_paper_rule():
    cfg = tabular_preset("paper-tabular", seeds=(0, 1))
    specs, protocol = plan(cfg)
    assert protocol["n_train"] == 1638
    sig = {s["epsilon"]: s for s in protocol["sigmas"]}
    assert sorted(sig) == [0.5, 1.0, 5.0, 10.0]
    for s in sig.values():
        assert s["steps"] == 100 * 26 and s["sample_rate"] == pytest.approx(64 / 1638)
        assert s["noise_multiplier"] < s["noise_multiplier_rdp"]  # PLD is tighter than RDP
    assert sig[0.5]["noise_multiplier"] > sig[10.0]["noise_multiplier"]
    runs = [(s, r) for s in specs for r in s["runs"]]
    assert len(runs) == 32 * 3 * 2
    for spec, r in runs:
        if spec["grid"] == "clipping":
            assert r["noise_multiplier"] == 0 and r["epsilon"] is None
        seen = r["noise_multiplier_rdp"] if r["noise_multiplier"] > 0 else 0.0  # the notebook's rule sees RDP σ
        assert r["learning_rate"] == pytest.approx(learning_rate(
            "paper-rule", spec["family"], max_grad_norm=r["max_grad_norm"], noise_multiplier=seen,
            batch_size=spec["batch_size"]))
        assert r["lipschitz_k"] == (r["max_grad_norm"] if spec["family"] == "lipschitz" else None)
    assert {len(s["runs"]) for s in specs if s["family"] == "quantum"} == {8}  # 8 and 32 runs: parts of 8
    assert {len(s["runs"]) for s in specs if s["family"] == "classical"} == {8, 32}


@pytest.mark.parametrize("override, needle", [
    ({"clipping_grid": {"max_grad_norm": [0.0, 1.0], "batch_size": [64]}},
     "clipping_grid.max_grad_norm[0] must be a finite number > 0; got 0.0"),
    ({"clipping_grid": {"max_grad_norm": [1.0], "batch_size": [0]}},
     "clipping_grid.batch_size[0] must be an integer >= 1 (an expected batch size); got 0"),
    ({"privacy_grid": {"epsilon": [-1.0], "max_grad_norm": [1.0], "batch_size": 64}}, "privacy_grid.epsilon"),
    ({"lipschitz_k": 0.0}, "lipschitz_k must be a finite number > 0; got 0.0"),
    ({"learning_rate": -0.1}, "learning_rate must be a positive"),
    ({"learning_rate": "tuned"}, "unknown learning-rate rule 'tuned'"),
    ({"scaler": "standard"}, "scaler: unknown scaler 'standard'; valid scalers are"),
    ({"families": ["quantum", "cnn"]}, "families[1] must be one of ['quantum'"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"seeds": [0, 0]}, "seeds: 0 is listed twice"),
])
def test_bad_settings_name_the_key(override, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        TabularConfig(**override)


def test_a_batch_larger_than_the_training_set_is_refused_before_any_job(tmp_path, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text('preset = "paper-tabular"\nprivacy_grid = false\n'.replace("privacy_grid = false\n", "")
                   + '[clipping_grid]\nmax_grad_norm = [1.0]\nbatch_size = [64, 2000]\n')
    code = main(["compare", "--config", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "clipping_grid.batch_size: the expected batch size 2000 exceeds the training set (1638" in err
    assert not (tmp_path / "out").exists()


def test_config_files_start_from_a_tabular_preset(tmp_path, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text('preset = "paper-tabular-clean"\nseeds = [0, 1]\nepochs = 3\nbogus = 1\n')
    code = main(["compare", "--config", str(cfg), "--show-config"])
    assert code == 2 and "unknown key(s) ['bogus']; valid keys of a tabular study are" in capsys.readouterr().err
    cfg.write_text('preset = "paper-tabular-clean"\nseeds = [0, 1]\nepochs = 3\n')
    assert main(["compare", "--config", str(cfg), "--show-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["seeds"] == [0, 1] and shown["epochs"] == 3 and shown["scaler"] == "public-split"
