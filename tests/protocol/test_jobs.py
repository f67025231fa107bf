"""Jobs: one per (data set, model, ε, seed), keyed by their full spec, run anywhere."""

import math

import pytest

from dpqml.data import load_dataset
from dpqml.protocol import ProtocolConfig, ResultStore, calibrate_sigmas, job_key, job_specs, run_job
from dpqml.protocol.families import build_family
from dpqml.protocol.jobs import run_job_safely

CONTRACT = ("dataset", "model", "family", "epsilon", "seed", "test_accuracy", "n_params", "noise_multiplier",
            "max_grad_norm")


def _config(**kw):
    base = dict(name="t", datasets=({"name": "moons", "n_train": 40, "n_test": 20},
                                    {"name": "digits", "classes": [0, 1], "n_train": 40, "n_test": 20}),
                models=("hea", "hea-noisy", "logistic", "cnn"), epsilons=(2.0, math.inf), seeds=2, epochs=1,
                sample_rate=0.25)
    return ProtocolConfig(**{**base, **kw})


def _datasets(cfg):
    return [load_dataset(d["name"], **{k: v for k, v in d.items() if k != "name"}) for d in cfg.datasets]


def test_one_job_per_dataset_model_epsilon_seed_and_cnn_only_on_images():
    cfg = _config()
    specs = job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    # moons: 3 models (no cnn), digits: 4; times 2 budgets times 2 seeds
    assert len(specs) == (3 + 4) * 2 * 2
    assert not [s for s in specs if s["model"] == "cnn" and s["dataset"]["name"] == "moons"]
    keys = [job_key(s) for s in specs]
    assert len(set(keys)) == len(keys)
    # every model of a budget gets the same σ, C, q and T: the protocol's point
    for eps, sigma in ((2.0, 1.5), (math.inf, 0.0)):
        same = {(s["noise_multiplier"], s["max_grad_norm"], s["sample_rate"], s["steps"])
                for s in specs if s["epsilon"] == eps}
        assert same == {(sigma, 1.0, 0.25, 4)}
    # the noise preset belongs to the noisy model only
    assert {s["noise"] for s in specs if s["model"] == "hea-noisy"} == {cfg.noise}
    assert {s["noise"] for s in specs if s["model"] != "hea-noisy"} == {"none"}


def test_job_keys_are_stable_and_change_with_the_spec():
    cfg = _config()
    a = job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    b = job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    assert [job_key(s) for s in a] == [job_key(s) for s in b]
    changed = dict(a[0], learning_rate=0.01)
    assert job_key(changed) != job_key(a[0])


def test_mlp_matched_has_about_the_quantum_parameter_count():
    import jax

    ds = load_dataset("moons", n_train=20, n_test=10)
    q = build_family("hea", ds, qubits=4, layers=2, noise="none", large_mlp_hidden=(8,))
    m = build_family("mlp-matched", ds, qubits=4, layers=2, noise="none", large_mlp_hidden=(8,))
    pq, pm = (x.n_params(x.init(jax.random.PRNGKey(0))) for x in (q, m))
    assert abs(pm - pq) <= 3 + 2  # one hidden unit of a 2-feature MLP is 4 parameters


def test_run_job_reports_the_contract_and_the_bound(tmp_path):
    cfg = _config(models=("hea",), datasets=({"name": "moons", "n_train": 40, "n_test": 20},))
    sigmas = calibrate_sigmas(cfg, 40)
    spec = job_specs(cfg, sigmas, _datasets(cfg))[0]
    out = run_job(spec, str(tmp_path / "job"), str(tmp_path / "job.log"))
    row = out["row"]
    for k in CONTRACT:
        assert k in row
    assert row["family"] == "quantum" and row["noise_multiplier"] == sigmas[2.0] and row["epsilon"] == 2.0
    assert row["steps_spent"] == 4 and 1.9 <= row["epsilon_spent"] <= 2.0  # calibrated: just under the target
    assert row["gradient_bound"] > 0 and 0 <= row["clipped_fraction"] <= 1
    assert row["noise_to_signal"] > 0
    log = (tmp_path / "job.log").read_text()
    assert "epoch" in log and "done: test accuracy" in log
    assert "NOT covered by epsilon" in log.splitlines()[0] and out["log"][0] == log.splitlines()[0]
    # the ledger of the job's directory counts its steps
    assert (tmp_path / "job" / "ledger.jsonl").exists()


def test_a_failed_jobs_log_starts_with_the_label_too(tmp_path):
    cfg = _config(models=("logistic",), datasets=({"name": "moons", "n_train": 40, "n_test": 20},))
    spec = dict(job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))[0], optimizer="broken")
    out = run_job_safely(spec, None, str(tmp_path / "job.log"))
    assert "optimizer" in out["error"]
    assert "NOT covered by epsilon" in out["log"][0]  # the log kept when the worker ran elsewhere
    assert "NOT covered by epsilon" in (tmp_path / "job.log").read_text().splitlines()[0]


def test_store_refuses_another_protocol_and_keeps_inf(tmp_path):
    db = tmp_path / "results.sqlite"
    store = ResultStore(db, "aaa", {"name": "one"})
    store.add_jobs([("k1", "label", {"epsilon": math.inf})])
    store.add_jobs([("k1", "label", {"epsilon": math.inf})])  # idempotent
    store.mark_running("k1")
    store.mark_done("k1", {"epsilon": math.inf, "test_accuracy": 0.5})
    assert store.rows() == [{"epsilon": math.inf, "test_accuracy": 0.5}]
    assert store.job("k1")["attempts"] == 1
    store.close()
    again = ResultStore(db, "aaa", {"name": "one"})
    assert again.counts() == {"done": 1}
    again.close()
    with pytest.raises(ValueError, match="holds the results of a different protocol \\('one'"):
        ResultStore(db, "bbb", {"name": "two"})


def test_quick_default_non_private_quantum_model_learns_moons():
    # The target, on the quick preset's own jobs: the non-private hea model on two moons
    # reaches >= 85% mean test accuracy over the preset's seeds (so the private columns mean something).
    import dataclasses

    from dpqml.protocol import preset

    cfg = dataclasses.replace(preset("quick"), reproducible_noise=True)  # a test: the same batches every run
    moons = [d for d in cfg.datasets if d["name"] == "moons"]
    sigmas = {e: 0.0 if math.isinf(e) else 1.0 for e in cfg.epsilons}  # ε = ∞: σ = 0, as calibration gives
    specs = [s for s in job_specs(cfg, sigmas, _datasets(cfg)[:1])
             if s.get("model") == "hea" and s["dataset"] == moons[0] and math.isinf(s["epsilon"])]
    assert len(specs) == len(cfg.seeds) == 3
    accs = [run_job(s)["row"]["test_accuracy"] for s in specs]
    assert sum(accs) / len(accs) >= 0.85, accs


def test_chunks_group_by_dataset_and_model_and_hand_out_the_longest_first():
    from dpqml.protocol.runner import _chunks, estimated_seconds

    cfg = _config(audits=("none", "device-noise"))
    specs = job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    todo = [(job_key(s), s) for s in specs]
    chunks = _chunks(todo, workers=2)
    # every job exactly once; a chunk holds one (data set, model) or one audit mechanism
    assert sorted(k for c in chunks for k, _ in c) == sorted(k for k, _ in todo)
    for c in chunks:
        assert len({(str(s.get("dataset")), s.get("model"), s.get("mechanism")) for _, s in c}) == 1
    costs = [estimated_seconds(c) for c in chunks]
    assert costs == sorted(costs, reverse=True)
    # the one-minute device-noise audit goes first, the noisy quantum models before the classical ones
    assert chunks[0][0][1].get("mechanism") == "device-noise"
    order = [c[0][1].get("model") for c in chunks]
    assert max(i for i, m in enumerate(order) if m == "hea-noisy") < min(
        i for i, m in enumerate(order) if m == "logistic")


def test_the_mechanisms_randomness_reaches_every_job_and_a_seed_only_on_request():
    cfg = _config(models=("logistic",), datasets=({"name": "moons", "n_train": 40, "n_test": 20},))
    specs = job_specs(cfg, {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    assert {s["randomness"] for s in specs} == {"secure"} and not any("noise_seed" in s for s in specs)
    fast = job_specs(_config(models=("logistic",), randomness="fast"), {2.0: 1.5, math.inf: 0.0}, _datasets(cfg))
    assert {s["randomness"] for s in fast} == {"fast"}
    seeded = job_specs(_config(models=("logistic",), reproducible_noise=True), {2.0: 1.5, math.inf: 0.0},
                       _datasets(cfg))
    assert all(s["randomness"] == "seeded" and s["noise_seed"] == s["seed"] for s in seeded)


def test_a_large_delta_runs_only_when_the_protocol_allows_it():
    # 40 training rows: δ = 0.05 >= 1/40
    cfg = _config(models=("logistic",), datasets=({"name": "moons", "n_train": 40, "n_test": 20},), delta=0.05,
                  epsilons=(2.0,), seeds=1, allow_large_delta=True)
    with pytest.warns(UserWarning, match="too weak"):
        sigmas = calibrate_sigmas(cfg, 40)
    (spec,) = job_specs(cfg, sigmas, _datasets(cfg))
    out = run_job(spec)
    assert out["row"]["delta"] == 0.05 and out["row"]["epsilon_spent"] <= 2.0
    assert any("too weak" in line for line in out["log"])  # the job's log keeps the warning
    with pytest.raises(ValueError, match="allow_large_delta"):
        run_job(dict(spec, allow_large_delta=False))


def test_a_job_whose_ledger_was_lost_fails_instead_of_reporting_fewer_steps(tmp_path):
    # Before: the job resumed with a fresh ledger and reported steps_spent below the planned steps.
    cfg = _config(models=("logistic",), datasets=({"name": "moons", "n_train": 40, "n_test": 20},))
    spec = job_specs(cfg, calibrate_sigmas(cfg, 40), _datasets(cfg))[0]
    work = tmp_path / "job"
    assert run_job(spec, str(work))["row"]["steps_spent"] == spec["steps"]
    (work / "ledger.jsonl").unlink()
    out = run_job_safely(spec, str(work), str(tmp_path / "job.log"))
    assert "row" not in out and "ledger.jsonl is missing" in out["error"]
    assert "ledger.jsonl is missing" in (tmp_path / "job.log").read_text()
