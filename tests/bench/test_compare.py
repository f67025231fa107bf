"""Cross-framework comparison: every framework's per-example gradients agree with dpqml's."""

import numpy as np
import pytest

from dpqml.bench import compare as cmp

N, L, B = 3, 1, 4
ROW_KEYS = {"framework", "approach", "qubits", "layers", "batch", "examples_per_second", "compile_seconds",
            "max_abs_diff_vs_dpqml", "agrees", "ratio_dpqml_over_this"}
FRAMEWORK_MODULE = {"pennylane": "pennylane", "tensorcircuit": "tensorcircuit"}


def _tc_state():
    try:
        import tensorcircuit as tc
    except ImportError:
        return None
    import jax

    return tc.backend.name, tc.dtypestr, bool(jax.config.jax_enable_x64)


@pytest.fixture(scope="module")
def run():
    """One comparison over every installed framework, and TensorCircuit's globals around it."""
    frameworks = [fw for fw in FRAMEWORK_MODULE if cmp.available(fw)]
    before = _tc_state()
    rows = cmp.compare(N, L, B, frameworks=frameworks, min_seconds=0.05)
    return frameworks, rows, before, _tc_state()


def test_dpqml_reference_matches_parameter_shift():
    import jax

    from dpqml.models import standard_circuit
    from dpqml.quantum import expectations

    theta, X = cmp._inputs(N, L, B, seed=0)
    g = cmp.make_dpqml(N, L, B)(theta, X)
    assert g.shape == (B, 2 * N * L) and g.dtype == np.float32
    f = jax.jit(lambda t, x: expectations(standard_circuit(N, L), t, x)[0])
    for k in (0, 3):  # every gate is a Pauli rotation: the parameter-shift rule is exact
        shift = np.zeros_like(theta)
        shift[k] = np.pi / 2
        for b in range(B):
            ps = 0.5 * (float(f(theta + shift, X[b])) - float(f(theta - shift, X[b])))
            assert abs(ps - g[b, k]) < 1e-5


@pytest.mark.parametrize("approach", ["pennylane-broadcast", "pennylane-loop", "tensorcircuit"])
def test_approach_agrees_with_dpqml(approach, run):
    pytest.importorskip(FRAMEWORK_MODULE[cmp.APPROACHES[approach].framework])
    _, rows, _, _ = run
    (row,) = [r for r in rows if r["approach"] == approach]
    assert row["max_abs_diff_vs_dpqml"] <= cmp.ATOL and row["agrees"] is True


def test_rows(run):
    frameworks, rows, _, _ = run
    assert [r["approach"] for r in rows] == ["dpqml"] + [
        name for name, a in cmp.APPROACHES.items() if a.framework in frameworks]
    for row in rows:
        assert ROW_KEYS <= row.keys()
        assert row["examples_per_second"] > 0 and row["compile_seconds"] >= 0
        assert (row["qubits"], row["layers"], row["batch"]) == (N, L, B)
    assert rows[0]["ratio_dpqml_over_this"] == 1.0 and rows[0]["max_abs_diff_vs_dpqml"] == 0.0


def test_tensorcircuit_leaves_global_state_alone(run):
    pytest.importorskip("tensorcircuit")
    _, _, before, after = run
    assert before == after


def test_missing_framework_is_skipped(monkeypatch):
    monkeypatch.setattr(cmp, "available", lambda fw: fw == "dpqml")
    rows = cmp.compare(1, 1, 2, frameworks=("pennylane",), min_seconds=0.01)
    assert [r["approach"] for r in rows] == ["dpqml", "pennylane-broadcast", "pennylane-loop"]
    assert all(r["skipped"] == cmp.INSTALL_HINT for r in rows[1:])


def test_unknown_framework():
    with pytest.raises(ValueError, match="valid frameworks.*pennylane"):
        cmp.compare(N, L, B, frameworks=("qiskit",))
    with pytest.raises(ValueError, match="valid frameworks"):
        cmp.available("qiskit")
