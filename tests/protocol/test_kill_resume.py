"""Kill `dpqml compare` midway: nothing finished is lost, nothing runs twice, the rest resumes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CONFIG = """
name = "kill"
epsilons = [1, 2, "inf"]
seeds = 4
epochs = 40
sample_rate = 0.25
models = ["logistic"]
[[datasets]]
name = "moons"
n_train = 40
n_test = 20
"""


def _compare(cfg, out):
    return [sys.executable, "-m", "dpqml.cli", "compare", "--config", str(cfg), "--out", str(out), "--workers", "1",
            "--no-progress"]


def _jobs(db):
    with sqlite3.connect(db) as c:
        return {k: (s, a, f) for k, s, a, f in c.execute("SELECT key, status, attempts, finished FROM jobs")}


def _children(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # fork + exec of the CLI, not a fork of JAX
def test_killed_sweep_resumes_without_losing_or_repeating_jobs(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    db = out / "results.sqlite"
    proc = subprocess.Popen(_compare(cfg, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done = {}
    while time.time() < deadline:
        if db.exists():
            try:
                jobs = _jobs(db)
            except sqlite3.OperationalError:
                jobs = {}
            done = {k: v for k, v in jobs.items() if v[0] == "done"}
            if len(done) >= 2:
                break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= len(done) < 12, "the kill must land midway"
    # the workers notice that the sweep is gone and stop (no orphan keeps writing)
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)
    after_kill = _jobs(db)
    assert {k for k, v in after_kill.items() if v[0] == "done"} >= set(done)

    rerun = subprocess.run(_compare(cfg, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    final = _jobs(db)
    assert len(final) == 12 and {v[0] for v in final.values()} == {"done"}
    for k, v in after_kill.items():
        if v[0] == "done":  # finished before the kill: kept as it was, not run again
            assert final[k] == v
    # a job interrupted while running was picked up again
    assert {v[1] for k, v in final.items() if after_kill[k][0] != "done"} <= {1, 2}
    assert "already done" in rerun.stderr and (out / "report.html").exists()
    assert os.path.getsize(out / "results.json") > 0
