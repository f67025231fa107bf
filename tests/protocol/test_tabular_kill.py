"""Kill the tabular study midway: finished jobs are kept, the interrupted one resumes from its
checkpoint, and every run's ledger covers every step it ever took."""

import json
import signal
import subprocess
import time

import pytest

from tests.protocol.test_kill_resume import _alive, _children, _compare

CONFIG = """
preset = "paper-tabular-clean"
families = ["classical"]
seeds = [0, 1]
epochs = 40
checkpoint_every = 5
[clipping_grid]
max_grad_norm = [1.0]
batch_size = [32, 128]
[privacy_grid]
epsilon = [2.0]
max_grad_norm = [1.0]
batch_size = 64
"""


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # fork + exec of the CLI, not a fork of JAX
def test_a_killed_tabular_study_resumes_and_counts_every_step(tmp_path):
    cfg = tmp_path / "t.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    proc = subprocess.Popen(_compare(cfg, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline:  # kill once a job has checkpointed but is not done
        logs = list((out / "logs").glob("*.log")) if (out / "logs").exists() else []
        texts = [p.read_text() for p in logs]
        if any("epoch 10/40" in t and "done:" not in t for t in texts):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(200):  # the workers follow their parent
        if not any(_alive(w) for w in workers):
            break
        time.sleep(0.05)
    assert not (out / "results.json").exists()
    rerun = subprocess.run(_compare(cfg, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 3 * 2
    resumed = [r for r in rows if r["resumed_from_epoch"] > 0]
    assert resumed, "the interrupted job resumes from its checkpoint"
    for r in rows:
        assert r["steps_spent"] >= r["steps"]  # a block lost to the kill still counts
        if r["grid"] == "privacy":  # ε covers the steps spent: above the budget if a block was lost
            lost = r["steps_spent"] > r["steps"]
            assert (r["epsilon_spent"] > 2.0) if lost else (r["epsilon_spent"] <= 2.0 + 1e-6)
