"""benchmarks/paper_path.py: the paper's model's per-example gradients agree across dpqml and PennyLane."""

import json

import pytest

from .scripts import load

pytest.importorskip("pennylane")


# PennyLane's JAX interface calls a deprecated JAX function (its warning, not ours)
@pytest.mark.filterwarnings("ignore:jax.core.is_concrete is deprecated:DeprecationWarning")
def test_every_approach_agrees_with_dpqml_and_the_script_reports_rates(tmp_path):
    module = load("paper_path")
    out = tmp_path / "r.json"
    assert module.main(["--batch", "4", "--repeats", "1", "--loop-examples", "2", "--layers", "2",
                        "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    ran = {r["approach"]: r for r in rows if "skipped" not in r}
    assert {"dpqml adjoint", "dpqml vmap(grad)", "pennylane jax loop", "pennylane autograd loop"} <= set(ran)
    for r in ran.values():
        assert r["agrees"] and r["max_abs_diff_vs_adjoint"] < 1e-4 and r["examples_per_second"] > 0
