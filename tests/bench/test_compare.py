"""Cross-framework comparison: every framework's per-example gradients agree with dpqml's."""

import numpy as np
import pytest

from dpqml.bench import compare as cmp

N, L, B = 3, 1, 4
ROW_KEYS = {"framework", "approach", "model", "qubits", "layers", "batch", "examples_per_second", "compile_seconds",
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
        assert (row["model"], row["qubits"], row["layers"], row["batch"]) == ("standard", N, L, B)
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
    with pytest.raises(ValueError, match="framework must be one of.*pennylane"):
        cmp.compare(N, L, B, frameworks=("qiskit",))
    with pytest.raises(ValueError, match="framework must be one of"):
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


# --------------------------------------------------------------------------- the paper's model


def _numpy_paper_f(theta, x, n_layers):
    """``sum_k w_k <Z_k>`` of the paper's circuit, a NumPy state vector written from the module
    docstring's text (no dpqml, no other framework): ``x / ||x||`` on 4 qubits (wire 0 the most
    significant), per layer ``RZ RY RZ`` with index ``m = 3 (i L + l)``, then the CNOT ring."""
    n = 4
    psi = (x / np.linalg.norm(x)).astype(complex).reshape((2,) * n)

    def gate(psi, u, i):
        return np.moveaxis(np.tensordot(u, psi, axes=([1], [i])), 0, i)

    def rz(a):
        return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])

    def ry(a):
        return np.array([[np.cos(a / 2), -np.sin(a / 2)], [np.sin(a / 2), np.cos(a / 2)]])

    for layer in range(n_layers):
        for i in range(n):
            m = 3 * (i * n_layers + layer)
            psi = gate(gate(gate(psi, rz(theta[m]), i), ry(theta[m + 1]), i), rz(theta[m + 2]), i)
        for c in range(n):
            t = (c + 1) % n
            psi = psi.copy()
            on = (slice(None),) * c + (1,)  # the half where the control is 1: flip the target there
            psi[on] = np.flip(psi[on], axis=t - (t > c))
    probs = np.abs(psi) ** 2
    z = [probs.take(0, axis=k).sum() - probs.take(1, axis=k).sum() for k in range(n)]
    return float(np.dot(cmp.PAPER_WEIGHTS, z))


def test_paper_dpqml_matches_a_numpy_parameter_shift_reference():
    theta, X = cmp._paper_inputs(4, 11, 2, seed=0)
    g = cmp.make_paper_dpqml(4, 11, 2)(theta, X)
    assert g.shape == (2, 132) and g.dtype == np.float32
    theta64 = theta.astype(np.float64)
    for k in range(132):  # every gate is a Pauli rotation: the parameter-shift rule is exact
        shift = np.zeros(132)
        shift[k] = np.pi / 2
        for b in range(2):
            ps = 0.5 * (_numpy_paper_f(theta64 + shift, X[b], 11) - _numpy_paper_f(theta64 - shift, X[b], 11))
            assert abs(ps - g[b, k]) < 1e-5, (b, k)


@pytest.fixture(scope="module")
def paper_run():
    """The paper's model in every installed framework, at 2 layers instead of 11: the same code
    and angle index ``3 (i L + l)``, but the peers compile 11 layers in minutes, 2 in seconds."""
    frameworks = [fw for fw in FRAMEWORK_MODULE if cmp.available(fw)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cmp, "PAPER_LAYERS", 2)
        return cmp.compare(4, 2, B, frameworks=frameworks, min_seconds=0.01, model="paper")


@pytest.mark.parametrize("approach", ["pennylane-broadcast", "pennylane-loop", "tensorcircuit"])
def test_paper_model_agrees_across_frameworks(approach, paper_run):
    pytest.importorskip(FRAMEWORK_MODULE[cmp.APPROACHES[approach].framework])
    (row,) = [r for r in paper_run if r["approach"] == approach]
    assert (row["model"], row["qubits"], row["layers"], row["noise"]) == ("paper", 4, 2, "none")
    assert row["max_abs_diff_vs_dpqml"] <= cmp.ATOL and row["agrees"] is True


def test_every_approach_builds_every_model():
    assert all(set(m.builders) == set(cmp.APPROACHES) for m in cmp.MODELS.values())


@pytest.mark.parametrize("args, kwargs, needle", [
    ((8, 11, B), {}, "n_qubits must be 4 for the paper model"),
    ((4, 6, B), {}, "n_layers must be 11 for the paper model"),
    ((4, 11, 0), {}, "batch must be an integer >= 1"),
    ((4, 11, B), {"noise": "depolarizing:0.01"}, "noise: the paper model is compared noiseless only"),
])
def test_paper_model_refuses_other_sizes_and_noise(args, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        cmp.compare(*args, model="paper", **kwargs)
    with pytest.raises(ValueError, match=needle):
        cmp.make_paper_tensorcircuit(*args, **kwargs)  # refused before TensorCircuit is imported


def test_unknown_model():
    with pytest.raises(ValueError, match=r"model must be one of \['standard', 'paper'\]; got 'qcnn'"):
        cmp.compare(N, L, B, model="qcnn")


def test_cli_paper_model_is_benchmarked_and_compared(tmp_path, monkeypatch, capsys):
    import json

    from dpqml.cli import main

    calls = []

    def fake_compare(*args, **kwargs):
        calls.append((args, kwargs))
        return [{"approach": "pennylane-broadcast", "skipped": "not run in this test"}]

    monkeypatch.setattr(cmp, "compare", fake_compare)
    out = tmp_path / "b.json"
    assert main(["bench", "--model", "paper-quantum", "--batch", "2", "--min-seconds", "0.01",
                 "--compare", "pennylane", "--json", str(out)]) == 0
    row = json.loads(out.read_text())
    assert (row["model"], row["qubits"], row["layers"], row["n_params"]) == ("paper-quantum", 4, 11, 132)
    assert calls == [((4, 11, 2), {"frameworks": ["pennylane"], "min_seconds": 0.01, "seed": 0, "model": "paper",
                                      "loop_steps": 0})]


def test_compiled_loop_computes_each_steps_gradient():
    """The looped call (what ``loop_steps`` times) gives, at every step, the gradient a separate
    call gives for that step's angles and inputs: the loop measures the same work."""
    import jax.numpy as jnp

    fn = cmp.make_dpqml(N, L, B)
    pairs = [cmp._inputs(N, L, B, seed=s) for s in (1, 2, 3)]
    thetas = jnp.asarray(np.stack([t for t, _ in pairs]))
    Xs = jnp.asarray(np.stack([x for _, x in pairs]))
    looped = np.asarray(fn.looped()(thetas, Xs))
    assert looped.shape == (3, B, 2 * N * L)
    for r, (theta, X) in enumerate(pairs):
        np.testing.assert_allclose(looped[r], fn(theta, X), atol=1e-6)
    assert not np.allclose(looped[0], looped[1])  # each step its own inputs


def test_loop_steps_rows(monkeypatch):
    monkeypatch.setattr(cmp, "available", lambda fw: fw == "dpqml")
    m = cmp.measure("dpqml", N, L, B, min_seconds=0.01, loop_steps=3)
    assert m.loop_steps == 3 and m.loop_timing is not None and m.loop_examples_per_second > 0
    assert cmp.measure("dpqml", N, L, B, min_seconds=0.01).loop_examples_per_second is None
    rows = cmp.compare(N, L, B, frameworks=("pennylane",), min_seconds=0.01, loop_steps=2)
    assert rows[0]["loop_steps"] == 2 and rows[0]["ratio_dpqml_over_this_loop"] == 1.0
    assert rows[0]["loop_examples_per_second"] > 0 and rows[0]["loop_compile_seconds"] >= 0
    assert all("skipped" in r for r in rows[1:])
    assert "loop_steps" not in cmp.compare(N, L, B, frameworks=(), min_seconds=0.01)[0]


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_loop_steps_must_be_a_count(bad):
    with pytest.raises(ValueError, match="loop_steps must be an integer >= 0"):
        cmp.compare(N, L, B, frameworks=(), loop_steps=bad)


def test_cli_loop_steps_needs_compare_and_is_passed_on(monkeypatch, capsys):
    from dpqml.cli import main

    assert main(["bench", "--qubits", "2", "--layers", "1", "--loop-steps", "4"]) == 2
    assert "--loop-steps times the --compare frameworks" in capsys.readouterr().err
    calls = []

    def fake_compare(*args, **kwargs):
        calls.append(kwargs)
        return [{"approach": "dpqml", "examples_per_second": 10.0, "compile_seconds": 0.1,
                 "ratio_dpqml_over_this": 1.0, "agrees": True, "max_abs_diff_vs_dpqml": 0.0,
                 "loop_steps": 4, "loop_examples_per_second": 40.0, "ratio_dpqml_over_this_loop": 1.0}]

    monkeypatch.setattr(cmp, "compare", fake_compare)
    assert main(["bench", "--qubits", "2", "--layers", "1", "--batch", "2", "--min-seconds", "0.01",
                 "--compare", "pennylane", "--loop-steps", "4"]) == 0
    assert calls[0]["loop_steps"] == 4
    assert "in a compiled loop of 4 batches" in capsys.readouterr().out
