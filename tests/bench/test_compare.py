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


@pytest.mark.parametrize("noise", ["depolarizing:0.05", "amplitude-damping:0.1"])
def test_noisy_circuits_agree_across_frameworks(noise):
    frameworks = [fw for fw in FRAMEWORK_MODULE if cmp.available(fw)]
    if not frameworks:
        pytest.skip("no other framework installed")
    rows = cmp.compare(2, 1, 3, frameworks=frameworks, min_seconds=0.01, noise=noise)
    ran = [r for r in rows if "skipped" not in r]
    assert len(ran) >= 2 and all(r["noise"] == noise for r in rows)
    assert all(r["agrees"] and r["max_abs_diff_vs_dpqml"] < 1e-5 for r in ran), ran
    clean = cmp.make_dpqml(2, 1, 3)(*cmp._inputs(2, 1, 3, seed=0))
    noisy = cmp.make_dpqml(2, 1, 3, noise)(*cmp._inputs(2, 1, 3, seed=0))
    assert not np.allclose(noisy, clean)  # the channel is really applied


@pytest.mark.parametrize("noise, needle", [("nisq", "one channel after every gate"),
                                           ("depolarizing:2", "must be in \\[0, 1\\]"),
                                           ("depolarizing+readout", "one channel")])
def test_noise_the_other_frameworks_are_not_built_with_is_refused(noise, needle):
    with pytest.raises(ValueError, match=needle):
        cmp.parse_peer_noise(noise)


def test_cli_refuses_such_noise_before_measuring(capsys):
    from dpqml.cli import main

    assert main(["bench", "--qubits", "2", "--layers", "1", "--noise", "nisq", "--compare", "pennylane"]) == 2
    assert "--compare with --noise runs one channel after every gate" in capsys.readouterr().err
