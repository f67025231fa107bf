"""The bound-following column of the tabular study's privacy grid: ``max_grad_norm = "bound"``
(quantum family; each step clips at C_t = G(θ_t) and adds noise σ·C_t), from the configuration to the report."""

import csv
import json
import re

import jax
import numpy as np
import pytest

from dpqml.cli import main
from dpqml.privacy.config import FOLLOW_BOUND
from dpqml.protocol.tabular import (
    TabularConfig,
    describe_plan,
    job_model,
    plan,
    run_learning_rate,
    run_tabular,
    tabular_job_label,
    tabular_preset,
)
from dpqml.report.tabular import FOLLOW_BOUND as REPORT_FOLLOW_BOUND
from dpqml.report.tabular import bound_column_differences, clip_order, summarize_cells


def _config(**kw):
    settings = dict(seeds=(0, 1), epochs=2, families=("quantum", "classical"), clipping_grid=None,
                    privacy_grid={"epsilon": [2.0], "max_grad_norm": [1.5, "bound"], "batch_size": 128})
    return tabular_preset("paper-tabular-clean", **{**settings, **kw})


def test_the_report_and_the_trainer_name_the_column_alike():
    assert REPORT_FOLLOW_BOUND == FOLLOW_BOUND == "bound"


@pytest.mark.parametrize("override, needle", [
    ({"clipping_grid": {"max_grad_norm": [1.0, "bound"], "batch_size": [64]}},
     "clipping_grid.max_grad_norm[1]: 'bound' is offered in privacy_grid.max_grad_norm only"),
    ({"privacy_grid": {"epsilon": [1.0], "max_grad_norm": [1.0, "bounds"], "batch_size": 64}},
     "privacy_grid.max_grad_norm[1] must be a number > 0 or 'bound' (clip at G(θ_t)); got 'bounds'"),
    ({"privacy_grid": {"epsilon": [1.0], "max_grad_norm": ["bound", "bound"], "batch_size": 64}},
     "privacy_grid.max_grad_norm: 'bound' is listed twice"),
    ({"families": ["classical"], "privacy_grid": {"epsilon": [1.0], "max_grad_norm": ["bound"], "batch_size": 64}},
     "it needs 'quantum' in families (got ['classical'])"),
])
def test_bad_bound_columns_name_the_key(override, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        TabularConfig(**override)


def test_the_plan_runs_the_column_for_the_quantum_family_alone_at_the_rule_of_its_initial_bound():
    specs, protocol = plan(_config())
    follow = [s for s in specs if s.get("follow_bound")]
    assert [s["family"] for s in follow] == ["quantum"]  # one job of its own: one compiled program per call
    assert all(r["max_grad_norm"] == FOLLOW_BOUND for r in follow[0]["runs"])
    assert all(r["max_grad_norm"] != FOLLOW_BOUND for s in specs if not s.get("follow_bound") for r in s["runs"])
    assert tabular_job_label(follow[0]) == "privacy-quantum-bound-B128-part0"
    initial = {e["seed"]: e["bound"] for e in protocol["bound_column"]["initial_bounds"]}
    sigma = protocol["sigmas"][0]
    cfg = _config()
    for r in follow[0]["runs"]:
        assert r["clip_at_init"] == initial[r["seed"]]
        assert r["learning_rate"] == pytest.approx(run_learning_rate(
            cfg, "quantum", initial[r["seed"]], sigma["noise_multiplier"], sigma["noise_multiplier_rdp"], 128))
    # G(θ_0) is the parameter-dependent bound's sum-of-squares relaxation (another search of it agrees
    # within 2%), well below the pairings' ...
    from dpqml.bounds.parametric import parameter_bound

    model = job_model({"family": "quantum", "quantum_layers": "auto"}, 16, 4)
    params = model.init(jax.random.PRNGKey(0))
    assert initial[0] == pytest.approx(parameter_bound(model, params, relaxation="sos").total, rel=0.02)
    assert initial[0] < 0.9 * parameter_bound(model, params).total
    assert {s["bound_relaxation"] for s in follow} == {"sos"} and protocol["bound_column"]["relaxation"] == "sos"
    # ... and depends on the initialisation seed, never on the data
    other = dict(cfg.data, random_state=7)
    _, protocol2 = plan(_config(data=other))
    assert protocol2["bound_column"]["initial_bounds"] == protocol["bound_column"]["initial_bounds"]
    assert describe_plan(cfg)["training_runs"] == (2 * 2 + 1 * 2)  # quantum 2 columns, classical 1, 2 seeds


def test_the_flag_adds_the_column_to_a_tabular_preset_and_refuses_the_others(capsys):
    assert main(["compare", "--preset", "paper-tabular-clean", "--bound-column", "--show-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["privacy_grid"]["max_grad_norm"] == [0.5, 1.5, 4.5, 10.0, "bound"]
    assert shown["training_runs"] == (16 + 16) * 3 * 10 + 4 * 10
    assert main(["compare", "--preset", "quick", "--bound-column", "--show-config"]) == 2
    assert "--bound-column is for the tabular study" in capsys.readouterr().err


def test_a_config_file_may_list_the_column(tmp_path, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text('preset = "paper-tabular-clean"\n[privacy_grid]\nepsilon = [1.0]\n'
                   'max_grad_norm = [1.5, "bound"]\nbatch_size = 64\n')
    assert main(["compare", "--config", str(cfg), "--show-config"]) == 0
    assert json.loads(capsys.readouterr().out)["privacy_grid"]["max_grad_norm"] == [1.5, "bound"]


@pytest.fixture(scope="module")
def bound_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bound-column")
    summary = run_tabular(_config(), out, workers=1, progress=False)
    return out, summary


def test_the_column_never_clips_and_spends_the_same_budget(bound_run):
    out, summary = bound_run
    assert summary["failed"] == [] and summary["runs"] == 6
    rows = json.loads((out / "results.json").read_text())
    follow = [r for r in rows if r["max_grad_norm"] == FOLLOW_BOUND]
    fixed = [r for r in rows if r["family"] == "quantum" and r["max_grad_norm"] == 1.5]
    assert {r["family"] for r in follow} == {"quantum"} and len(follow) == 2
    for r in follow:
        d = r["diagnostics_by_epoch"]
        assert all(e["clipped_fraction"] == 0 for e in d)  # C_t bounds every per-example norm
        assert all(e["max_grad_norm_observed"] <= e["clip_threshold_max"] for e in d)
        assert d[0]["clip_threshold_mean"] == pytest.approx(r["clip_at_init"], rel=0.05)  # C_t starts at G(θ_0)
        assert r["noise_multiplier"] == fixed[0]["noise_multiplier"]  # same σ, same accounting
        assert r["epsilon_spent"] == pytest.approx(fixed[0]["epsilon_spent"]) and r["epsilon_spent"] <= 2.0 + 1e-6
        assert r["steps_spent"] == fixed[0]["steps_spent"]
    assert all(e["clipped_fraction"] > 0.3 for r in fixed for e in r["diagnostics_by_epoch"])  # C = 1.5 bites


def test_the_report_shows_the_column_after_the_numbers(bound_run):
    out, _ = bound_run
    rows = json.loads((out / "results.json").read_text())
    quantum = [s for s in summarize_cells(rows, "test_accuracy") if s["family"] == "quantum"]
    assert [s["max_grad_norm"] for s in quantum] == [1.5, "bound"]
    assert sorted([10.0, "bound", 0.5], key=clip_order) == [0.5, 10.0, "bound"]
    with open(out / "summary.csv") as fh:
        lines = list(csv.DictReader(fh))
    assert {row["max_grad_norm"] for row in lines} == {"1.5", "bound"}
    with open(out / "bound_column.csv") as fh:
        diffs = list(csv.DictReader(fh))
    assert [(d["max_grad_norm"], d["metric"], d["n_pairs"]) for d in diffs] == [
        ("1.5", "best_val_accuracy", "2"), ("1.5", "test_accuracy", "2")]
    expected = np.mean([r["test_accuracy"] for r in rows if r["max_grad_norm"] == FOLLOW_BOUND]) - np.mean(
        [r["test_accuracy"] for r in rows if r["family"] == "quantum" and r["max_grad_norm"] == 1.5])
    assert bound_column_differences(rows, "test_accuracy")[0]["mean"] == pytest.approx(expected)
    html = (out / "report.html").read_text()
    assert '<table id="bound-column">' in html and "The bound-following column" in html
    assert "Bound-following column (quantum, C_t = G(θ_t)) at ε = 2, minus each constant C" in html
    assert "G(θ_t)" in html and (out / "heatmap_privacy_test_accuracy.png").exists()
    # the quantum − classical differences pair only the cells both ran: C = 1.5
    with open(out / "differences.csv") as fh:
        assert {row["max_grad_norm"] for row in csv.DictReader(fh)} == {"1.5"}
