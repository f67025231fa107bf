"""A training process killed mid-run and resumed: the ledger counts every step ever taken."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

#: Steps of the run, steps per checkpoint (and ledger block), and the step inside the third block
#: at which the first process stops and waits to be killed.
STEPS, EVERY, KILL_AT = 16, 4, 10

SCRIPT = textwrap.dedent('''
    import sys, time, json, os
    import jax, jax.numpy as jnp, numpy as np
    from dpqml.privacy.config import PrivacyConfig
    from dpqml.train import FunctionModel, TrainConfig, train

    ckpt, steps_log, pause_at, go, steps, every = sys.argv[1:7]
    # Started ahead of time (its imports overlap the other run): train only once `go` exists.
    while go != "-" and not os.path.exists(go):
        time.sleep(0.01)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = (x[:, 0] > 0).astype(int)

    def loss(p, xi, yi):
        return jax.nn.softplus(-(2.0 * yi - 1.0) * (p["w"] @ xi + p["b"]))

    model = FunctionModel(loss, {"w": jnp.zeros(2), "b": jnp.zeros(())}, input_dim=2)
    # q = 1: every step is an epoch, so the log callback sees every step.
    privacy = PrivacyConfig(1.0, 1.0, 1.0, int(steps), 1e-3, 30)
    config = TrainConfig(seed=1, checkpoint_dir=ckpt, checkpoint_every=int(every))

    def log(rec):
        with open(steps_log, "a") as f:
            f.write(json.dumps(rec["step"]) + "\\n")
        if rec["step"] == int(pause_at):
            time.sleep(600)  # mid-block, after a checkpoint: wait here to be killed

    res = train(model, x, y, privacy, config, log=log)
    print(json.dumps({"steps_spent": res.steps_spent, "epsilon": res.epsilon, "resumed_from": res.resumed_from}))
''')


def _run(script, ckpt, steps_log, pause_at, go="-"):
    # (the processes inherit the suite's fast-compile XLA settings from the environment: tests/conftest.py)
    return subprocess.Popen([sys.executable, str(script), str(ckpt), str(steps_log), str(pause_at), str(go),
                             str(STEPS), str(EVERY)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_run_resumes_and_the_ledger_counts_every_step(tmp_path):
    from dpqml.privacy.config import PrivacyConfig
    from dpqml.privacy.ledger import PrivacyLedger

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ckpt, steps_log, go = tmp_path / "ckpt", tmp_path / "steps.log", tmp_path / "go"
    proc = _run(script, ckpt, steps_log, KILL_AT)
    resumed = _run(script, ckpt, steps_log, 0, go)  # waits for `go`, given after the kill
    try:
        deadline = time.time() + 120
        # Kill it (SIGKILL: no clean-up) once it has checkpointed and is inside a later block.
        while time.time() < deadline:
            if (ckpt / "state.json").exists() and steps_log.exists():
                done = len(steps_log.read_text().split())
                if done >= KILL_AT:
                    break
            if proc.poll() is not None:
                pytest.fail(f"training ended before it could be killed: {proc.stderr.read()}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = [int(s) for s in steps_log.read_text().split()]
        assert len(before) == KILL_AT and KILL_AT % EVERY != 0 and KILL_AT > 2 * EVERY  # inside the third block
        checkpointed = json.loads((ckpt / "state.json").read_text())["step"]
        assert 0 < checkpointed < STEPS and len(before) > checkpointed  # some steps were lost with the process

        go.touch()
        out, err = resumed.communicate(timeout=300)
    finally:
        for p in (proc, resumed):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert resumed.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    executed = [int(s) for s in steps_log.read_text().split()]
    assert result["resumed_from"] == checkpointed
    # The run finished its steps, and the ledger counts the lost steps too.
    assert sorted(set(executed)) == list(range(1, STEPS + 1))
    config, spent = PrivacyLedger.read(ckpt)
    assert spent == result["steps_spent"]
    assert spent >= len(executed) > STEPS
    assert result["epsilon"] == pytest.approx(config.epsilon(spent))
    assert result["epsilon"] > PrivacyConfig.from_dict(config.to_dict()).epsilon(STEPS)
    assert "redone" in err  # the user is told that the run spent more than planned
    assert Path(ckpt / "ledger.jsonl").read_text().count("reserve") >= STEPS // EVERY + 1
