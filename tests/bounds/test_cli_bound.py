"""`dpqml bound`: the JSON contract, agreement with the library, and clear errors."""

import json

import pytest

from dpqml.bounds import gradient_bound
from dpqml.cli import main
from dpqml.models import build_model


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse rejects some flags itself
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract_for_the_standard_model(capsys):
    code, out, _ = _run(["bound", "--clip", "1.0", "--json"], capsys)
    assert code == 0
    row = json.loads(out)
    g = gradient_bound(build_model()).total
    assert row["bound"] == pytest.approx(g) and row["suggested_clip"] == pytest.approx(g)
    assert row["clip"] == 1.0 and row["clipping_free"] is False
    assert row["worst_case_cut"] == pytest.approx(1 - 1.0 / g)
    assert set(row["groups"]) == {"theta", "head"} and row["parameter_free"] is True
    assert row["head_scale"] == 1.0


def test_clip_above_the_bound_is_clipping_free(capsys):
    code, out, _ = _run(["bound", "--qubits", "2", "--layers", "1", "--clip", "10", "--json"], capsys)
    row = json.loads(out)
    assert code == 0 and row["clipping_free"] is True and row["worst_case_cut"] == 0.0


def test_model_flags_and_feature_bound_reach_the_bound(capsys):
    argv = ["bound", "--qubits", "3", "--layers", "2", "--ansatz", "reuploading", "--noise", "depolarizing",
            "--feature-bound", "2", "--clip", "3", "--json"]
    code, out, _ = _run(argv, capsys)
    model = build_model(qubits=3, layers=2, ansatz="reuploading", noise="depolarizing")
    assert code == 0
    assert json.loads(out)["bound"] == pytest.approx(gradient_bound(model, feature_bound=2.0).total)


def test_human_readable_output(capsys):
    code, out, _ = _run(["bound", "--clip", "100"], capsys)
    assert code == 0 and "G =" in out and "never happens" in out


@pytest.mark.parametrize("clip", ["0", "-1", "nan"])
def test_non_positive_clip_is_refused(clip, capsys):
    code, _, err = _run(["bound", "--clip", clip], capsys)
    assert code == 2 and "--clip" in err


def test_trainable_encoding_without_feature_bound_is_refused(capsys):
    code, _, err = _run(["bound", "--ansatz", "reuploading", "--clip", "1"], capsys)
    assert code == 2 and "--feature-bound" in err


def test_at_init_reports_the_parameter_dependent_bound_where_bound_following_starts(capsys):
    import jax

    from dpqml.bounds import parameter_bound

    code, out, _ = _run(["bound", "--clip", "1.0", "--at-init", "3", "--json"], capsys)
    assert code == 0
    row = json.loads(out)
    model = build_model()
    expected = parameter_bound(model, model.init(jax.random.PRNGKey(3))).total
    assert row["at_init"] == {"seed": 3, "bound": pytest.approx(expected), "relaxation": "pairings"}
    assert row["at_init"]["bound"] < row["bound"]  # below the data-free bound
    code, out, _ = _run(["bound", "--clip", "1.0", "--at-init", "3", "--relaxation", "sos", "--json"], capsys)
    tight = json.loads(out)["at_init"]
    assert code == 0 and tight["relaxation"] == "sos"
    assert tight["bound"] == pytest.approx(parameter_bound(model, model.init(jax.random.PRNGKey(3)),
                                                           relaxation="sos").total)
    assert tight["bound"] < row["at_init"]["bound"]
    code, out, _ = _run(["bound", "--clip", "1", "--ansatz", "reuploading", "--feature-bound", "3", "--at-init", "0"],
                        capsys)
    assert code == 0 and "at the initial parameters: parameter_bound needs a circuit that encodes" in out
    code, _, err = _run(["bound", "--clip", "1", "--at-init", "-1"], capsys)
    assert code == 2 and "--at-init" in err


def test_a_saved_model_is_bounded_at_its_saved_parameters(tmp_path, capsys):
    import jax

    from dpqml.bounds import gradient_bound, parameter_bound
    from dpqml.interop import save_model

    model = build_model()
    params = jax.tree_util.tree_map(lambda v: v + 0.3, model.init(jax.random.PRNGKey(1)))  # "trained"
    path = save_model(tmp_path / "m.json", model, params)
    code, out, _ = _run(["bound", "--clip", "1.0", "--model-file", str(path), "--qubits", "7", "--json"], capsys)
    assert code == 0
    row = json.loads(out)
    assert row["bound"] == pytest.approx(gradient_bound(model).total)  # the file's model, not the flags'
    assert row["at_saved"] == {"file": str(path), "bound": pytest.approx(parameter_bound(model, params).total),
                               "relaxation": "pairings"}
    assert row["at_saved"]["bound"] != pytest.approx(parameter_bound(model, model.init(jax.random.PRNGKey(1))).total)
    code, out, _ = _run(["bound", "--clip", "1.0", "--model-file", str(path)], capsys)
    assert code == 0 and f"at the saved parameters ({path}): G(θ) = " in out
    code, _, err = _run(["bound", "--clip", "1", "--model-file", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and "--model-file: cannot read" in err
    code, _, err = _run(["bound", "--clip", "1", "--model-file", str(path), "--model", "paper-quantum"], capsys)
    assert code == 2 and "not both" in err


def test_the_output_says_when_the_head_and_a_layer_share_one_bound(capsys):
    code, out, _ = _run(["bound", "--clip", "1.0", "--json"], capsys)
    row = json.loads(out)
    assert code == 0 and row["joint_head"] is True
    assert row["bound"] < (row["groups"]["theta"] ** 2 + row["groups"]["head"] ** 2) ** 0.5
    code, out, _ = _run(["bound", "--clip", "1.0"], capsys)
    assert "the head's scale and the first product-state layer share one bound" in out
    code, out, _ = _run(["bound", "--model", "paper-quantum", "--clip", "1.0", "--json"], capsys)
    assert code == 0 and json.loads(out)["joint_head"] is False
