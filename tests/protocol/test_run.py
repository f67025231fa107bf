"""run_protocol end to end: results, report, a rerun that skips, Ray, and refusals."""

import csv
import json
import math
from pathlib import Path

import pytest

from dpqml.protocol import ResultStore, load_config, run_protocol

from .conftest import require

CONTRACT = ("dataset", "model", "family", "epsilon", "seed", "test_accuracy", "n_params", "noise_multiplier",
            "max_grad_norm")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny protocol, run once on the local pool (1 worker)."""
    from .conftest import TINY

    d = tmp_path_factory.mktemp("run")
    (d / "tiny.toml").write_text(TINY)
    cfg = load_config(d / "tiny.toml")
    summary = run_protocol(cfg, d / "out", workers=1, progress=False)
    return cfg, d / "out", summary


def test_every_job_runs_and_the_files_are_written(finished):
    cfg, out, summary = finished
    assert summary["jobs"] == 2 * 2 * 2 and summary["ran"] == 8 and not summary["failed"]
    for name in ("results.json", "results.csv", "summary.csv", "report.html", "results.sqlite",
                 "accuracy_vs_epsilon_moons.png", "grad_norms_moons.png", "epsilon_vs_steps.png"):
        assert (out / name).stat().st_size > 0, name
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 8
    for row in rows:
        for k in CONTRACT:
            assert k in row
        assert row["family"] == ("quantum" if row["model"] == "hea" else "classical")
    # same ε -> same σ and C for every model
    for eps in (2, "inf"):
        assert len({(r["noise_multiplier"], r["max_grad_norm"]) for r in rows if r["epsilon"] == eps}) == 1
    assert {r["noise_multiplier"] for r in rows if r["epsilon"] == "inf"} == {0.0}
    assert all(r["epsilon_spent"] <= 2.0 for r in rows if r["epsilon"] == 2)
    assert len(list((out / "logs").glob("*.log"))) == 8
    assert summary["report"].endswith("report.html")


def test_a_default_sweep_publishes_nothing_that_replays_its_noise(tmp_path):
    # Before: every job's sampling and noise came from its seed, and results.json lists the seeds.
    from dpqml.protocol import ProtocolConfig

    cfg = ProtocolConfig(name="secret", datasets=({"name": "moons", "n_train": 32, "n_test": 16},),
                         models=("logistic",), epsilons=(2.0,), seeds=(0,), epochs=2, sample_rate=0.25)
    runs = []
    for out in (tmp_path / "a", tmp_path / "b"):
        run_protocol(cfg, out, workers=1, progress=False)
        (row,) = json.loads((out / "results.json").read_text())
        assert row["randomness"] == "secure" and row["seed"] == 0
        runs.append([epoch["loss"] for epoch in row["history"]])
        for name in ("results.json", "results.csv"):
            text = (out / name).read_text()
            assert "noise_seed" not in text and "reproducible" not in text.lower(), name
        assert 'id="reproducible-noise"' not in (out / "report.html").read_text()
        with (out / "summary.csv").open() as f:
            (line,) = csv.DictReader(f)
        assert line["randomness"] == "secure" and line["reproducible_noise_warning"] == ""
        for log in (out / "logs").glob("*.log"):
            assert "noise_seed" not in log.read_text()
    assert runs[0] != runs[1]  # the same job, the same seed: other batches and noise


def test_a_reproducible_sweep_says_so_in_every_file(finished):
    _, out, _ = finished
    rows = json.loads((out / "results.json").read_text())
    assert all(r["randomness"] == "seeded" and r["noise_seed"] == r["seed"] for r in rows)
    assert all("does NOT hold" in r["reproducible_noise_warning"] for r in rows)
    for name in ("results.csv", "summary.csv"):
        header, *lines = (out / name).read_text().splitlines()
        assert "reproducible_noise_warning" in header and all("does NOT hold" in line for line in lines), name
    assert 'id="reproducible-noise"' in (out / "report.html").read_text()


def test_every_file_of_the_run_labels_what_epsilon_does_not_cover(finished):
    import sqlite3

    _, out, _ = finished
    for log in (out / "logs").glob("*.log"):
        first, *rest = log.read_text().splitlines()
        assert "NOT covered by epsilon" in first and "'epoch' lines except epoch, step, epsilon_spent" in first
        assert any(" epoch {" in line for line in rest)  # the lines it speaks of are there
    rows = json.loads((out / "results.json").read_text())
    assert all({"train_accuracy", "clipped_fraction", "history"} <= set(r["diagnostics"]) for r in rows)
    db = sqlite3.connect(out / "results.sqlite")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    db.close()
    assert "train_accuracy" in json.loads(meta["diagnostics"]) and "NOT covered by epsilon" in meta["diagnostics_note"]


def test_a_rerun_skips_finished_jobs(finished):
    cfg, out, _ = finished
    store = ResultStore(out / "results.sqlite", cfg.fingerprint(), {})
    before = {k: store.job(k)["finished"] for k in _keys(store)}
    store.close()
    again = run_protocol(cfg, out, workers=1, progress=False)
    assert again["ran"] == 0 and again["skipped"] == 8
    store = ResultStore(out / "results.sqlite", cfg.fingerprint(), {})
    assert {k: store.job(k)["finished"] for k in _keys(store)} == before
    assert {store.job(k)["attempts"] for k in _keys(store)} == {1}
    store.close()


def test_a_different_protocol_is_refused_in_the_same_directory(finished, tmp_path):
    cfg, out, _ = finished
    other = tmp_path / "other.toml"
    other.write_text(cfg_text(cfg).replace("seeds = 2", "seeds = 3"))
    with pytest.raises(ValueError, match="holds the results of a different protocol"):
        run_protocol(load_config(other), out, workers=1, progress=False)


def test_ray_runs_the_same_jobs_with_the_same_results(finished, tmp_path):
    require("ray")
    cfg, out, _ = finished
    summary = run_protocol(cfg, tmp_path / "ray", executor="ray", workers=2, progress=False)
    assert summary["ran"] == 8 and not summary["failed"] and summary["executor"].startswith("Ray")
    local = {r["job"]: r["test_accuracy"] for r in json.loads((out / "results.json").read_text())}
    remote = {r["job"]: r["test_accuracy"] for r in json.loads((tmp_path / "ray" / "results.json").read_text())}
    assert remote == local  # same spec, same seed: same result wherever it ran


def test_a_ray_address_that_does_not_answer_is_a_clear_error(finished, tmp_path):
    require("ray")
    cfg, _, _ = finished
    out = tmp_path / "dead"
    with pytest.raises(ValueError, match="no Ray cluster answers there"):
        run_protocol(cfg, out, executor="ray", address="127.0.0.1:9", progress=False)
    store = ResultStore(out / "results.sqlite", cfg.fingerprint(), {})
    assert store.counts() == {}  # nothing registered, nothing run
    store.close()


def _keys(store):
    return [k for (k,) in store.db.execute("SELECT key FROM jobs")]


def cfg_text(cfg):
    from .conftest import TINY

    assert cfg.name == "tiny" and math.inf in cfg.epsilons
    return TINY


class _Handle:
    def __init__(self, kind, payload):
        self.kind, self.payload = kind, payload


class _FlakyExecutor:
    """Runs chunks in this process; the first chunk's worker 'dies' after its first job, and one job
    of another chunk raises: the sweep must record both as failed and go on."""

    name = "flaky"
    description = "in-process (test)"
    workers = 1

    def __init__(self):
        self.calls = 0

    def submit(self, chunk):
        from dpqml.protocol.jobs import run_chunk

        self.calls += 1
        if self.calls == 1:
            run_chunk(chunk[:1])  # the first job finishes (its outcome file is written) ...
            return _Handle("died", chunk)  # ... then the worker dies
        bad = [(k, dict(s, optimizer="broken"), w, lg) if i == 0 else (k, s, w, lg)
               for i, (k, s, w, lg) in enumerate(chunk)]
        return _Handle("ok", run_chunk(bad))

    def wait(self, handles, timeout):
        return handles

    def result(self, handle):
        if handle.kind == "died":
            raise RuntimeError("worker killed")
        return handle.payload

    def close(self, cancel=False):
        pass


def test_failed_jobs_are_recorded_the_rest_reported_and_a_rerun_retries_them(tiny_config, tmp_path):
    import io

    from dpqml.protocol import runner

    cfg = load_config(tiny_config)
    specs, protocol = runner._prepare(cfg)
    out = tmp_path / "flaky"
    out.mkdir()
    store = ResultStore(out / "results.sqlite", cfg.fingerprint(), protocol)
    summary = runner._sweep(cfg, specs, store, protocol, out, _FlakyExecutor(), False, io.StringIO(), 0.0)
    counts = store.counts()
    store.close()
    # chunk 1 (hea, 4 jobs): 1 finished before the worker died, 3 lost with it; chunk 2: 1 job raised
    assert counts == {"done": 8 - 4, "failed": 4}
    assert len(summary["failed"]) == 4 and all(f["log"].endswith(".log") for f in summary["failed"])
    assert any("optimizer" in Path(f["log"]).read_text() for f in summary["failed"])
    assert (out / "report.html").exists()  # the report covers what finished
    again = run_protocol(cfg, out, workers=1, progress=False)
    assert again["ran"] == 4 and again["skipped"] == 4 and not again["failed"]


def test_audits_become_a_section_of_the_report(tmp_path):
    from dpqml.protocol import ProtocolConfig

    cfg = ProtocolConfig(name="audited", datasets=({"name": "moons", "n_train": 40, "n_test": 20},),
                         models=("logistic",), epsilons=(2.0, math.inf), seeds=1, epochs=1, sample_rate=0.25,
                         audits=("none", "dpsgd"))
    summary = run_protocol(cfg, tmp_path / "a", workers=1, progress=False)
    assert summary["jobs"] == 2 + 2 and not summary["failed"]
    audits = {a["mechanism"]: a for a in json.loads((tmp_path / "a" / "audit.json").read_text())}
    # no DP-SGD noise: no guarantee, and the canaries show it; DP-SGD at ε = 2 holds its promise
    assert audits["none"]["epsilon_claimed"] is None and audits["none"]["epsilon_lower"] > 2.0
    assert 1.9 < audits["dpsgd"]["epsilon_claimed"] <= 2.0
    assert audits["dpsgd"]["epsilon_lower"] <= audits["dpsgd"]["epsilon_claimed"] and not audits["dpsgd"]["broken"]
    html = (tmp_path / "a" / "report.html").read_text()
    assert "Auditing: device noise is not privacy" in html and html.count("<tr class=") >= 2
    rows = json.loads((tmp_path / "a" / "results.json").read_text())
    assert len(rows) == 2 and all("kind" not in r for r in rows)  # training rows only
    # the audits train on synthetic canaries only: nothing in their results or logs is a diagnostic
    assert all("diagnostics" not in a for a in audits.values())
    for log in (tmp_path / "a" / "logs").glob("audit-*.log"):
        assert log.read_text().splitlines()[0].endswith("diagnostics: none in this log (an audit trains on its own "
                                                        "synthetic canaries, not on the data sets)")


@pytest.mark.parametrize("models, audits, needle", [
    (("logistic", "hea-noisy"), (), "model hea-noisy on moons (qubits = 40): simulating 40 qubits (density "
                                    "matrices) for a batch of 64 needs about"),
    (("logistic",), ("device-noise",), "audits: device-noise trains the quantum model at qubits = 40: simulating "
                                       "40 qubits (density matrices) for a batch of 256"),
    (("logistic",), ("shots",), "audits: shots trains the quantum model at qubits = 40: the parameter-shift rule "
                                "simulates"),
])
def test_a_model_too_large_for_memory_is_refused_before_anything_is_written(tmp_path, models, audits, needle):
    from dpqml.protocol import ProtocolConfig

    cfg = ProtocolConfig(datasets=({"name": "moons", "n_train": 40, "n_test": 20},), models=models, qubits=40,
                         epsilons=(2.0,), seeds=1, epochs=1, sample_rate=0.25, audits=audits)
    with pytest.raises(MemoryError) as caught:
        run_protocol(cfg, tmp_path / "out", workers=1, progress=False)
    assert needle in str(caught.value) and "fewer qubits" in str(caught.value)
    assert not (tmp_path / "out").exists()  # no results.sqlite, no directory
