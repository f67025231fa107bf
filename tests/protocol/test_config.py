"""The protocol's configuration: presets, TOML/YAML files, and errors that name the bad key."""

import math

import pytest

from dpqml.protocol import PRESETS, ProtocolConfig, config_from_dict, load_config, preset


def test_quick_preset_is_the_issue_default():
    cfg = preset("quick")
    assert [d["name"] for d in cfg.datasets] == ["moons", "digits"]
    assert cfg.datasets[1]["classes"] == [0, 1]
    assert cfg.qubits == 4 and cfg.seeds == (0, 1, 2) and cfg.epsilons == (1.0, 4.0, math.inf)
    assert {"hea", "reuploading", "hea-noisy", "reuploading-noisy", "logistic", "mlp-matched", "mlp-large",
            "cnn"} == set(cfg.models)
    assert cfg.audits == ("none", "dpsgd")  # the report's auditing section


def test_paper_preset_has_the_full_grid():
    cfg = preset("paper")
    assert cfg.epsilons == (0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
    assert len(cfg.seeds) >= 5
    assert set(PRESETS) == {"quick", "paper"}


def test_toml_and_yaml_give_the_same_protocol(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('name = "x"\nepsilons = [0.5, 2, inf]\nseeds = [3, 4]\nmodels = ["hea", "logistic"]\n'
                    '[[datasets]]\nname = "moons"\nn_train = 100\n')
    yaml = tmp_path / "p.yaml"
    yaml.write_text("name: x\nepsilons: [0.5, 2, .inf]\nseeds: [3, 4]\nmodels: [hea, logistic]\n"
                    "datasets:\n  - name: moons\n    n_train: 100\n")
    a, b = load_config(toml), load_config(yaml)
    assert a == b
    assert a.epsilons == (0.5, 2.0, math.inf) and a.seeds == (3, 4)
    assert a.fingerprint() == b.fingerprint()


def test_a_file_can_start_from_a_preset(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('preset = "quick"\nseeds = 5\n')
    cfg = load_config(f)
    assert cfg.seeds == tuple(range(5)) and cfg.datasets == preset("quick").datasets


def test_fingerprint_changes_with_any_setting():
    base = preset("quick")
    assert base.fingerprint() == preset("quick").fingerprint()
    others = {config_from_dict({"preset": "quick", k: v}).fingerprint()
              for k, v in [("learning_rate", 0.01), ("seeds", 4), ("max_grad_norm", 2.0), ("noise", "depolarizing")]}
    assert base.fingerprint() not in others and len(others) == 4


def test_steps_follow_epochs_and_sample_rate():
    assert ProtocolConfig(epochs=3, sample_rate=0.25).steps == 12


@pytest.mark.parametrize("raw, needle", [
    ({"learning_rte": 0.1}, "unknown key(s) ['learning_rte']"),
    ({"models": ["hea", "transformer"]}, "models[1] must be one of ['hea'"),
    ({"datasets": [{"name": "iris"}]}, "datasets[0].name: unknown data set 'iris'; valid names are"),
    ({"datasets": [{"name": "moons", "colour": 1}]}, "datasets[0]: unknown key(s) ['colour']"),
    ({"epsilons": [1, 0]}, "epsilons[1] must be a finite number > 0 (or 'inf' for non-private); got 0"),
    ({"epsilons": [-1]}, "epsilons[0] must be a finite number > 0"),
    ({"epsilons": [1, 1]}, "epsilons: 1.0 is listed twice"),
    ({"delta": 1.5}, "delta must be a number in (0, 1)"),
    ({"max_grad_norm": 0}, "max_grad_norm must be a finite number > 0; got 0"),
    ({"sample_rate": 2}, "sample_rate must be a number in (0, 1]"),
    ({"seeds": 0}, "seeds must be a count >= 1"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"noise": "cosmic-rays"}, "noise: unknown noise preset 'cosmic-rays'"),
    ({"noise": "none"}, "noise is 'none' but models has noisy quantum models"),
    ({"preset": "huge"}, "preset: unknown preset 'huge'"),
    ({"qubits": 0}, "qubits must be an integer >= 1"),
    ({"audits": ["magic"]}, "audits[0] must be one of ['none', 'device-noise'"),
    ({"audits": ["device-noise"], "noise": "none", "models": ["hea"]}, "audits: device-noise needs a device-noise"),
])
def test_bad_settings_name_the_key(raw, needle):
    with pytest.raises(ValueError) as e:
        config_from_dict(raw, "p.toml")
    assert needle in str(e.value) and str(e.value).startswith("p.toml: ")


def test_unreadable_or_malformed_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read it"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epsilons = [1,\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(bad)
    bad = tmp_path / "bad.yaml"
    bad.write_text("epsilons: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(bad)
    other = tmp_path / "p.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match=r"must end in \.toml, \.yaml or \.yml"):
        load_config(other)


def test_datasets_are_labelled_distinctly():
    from dpqml.protocol.config import dataset_label

    assert [dataset_label(d) for d in preset("paper").datasets] == ["moons", "circles", "digits-0v1", "digits-3v5"]
    assert dataset_label({"name": "digits", "classes": [0, 1], "label": "zeros-ones"}) == "zeros-ones"
    with pytest.raises(ValueError, match=r"datasets\[0\] and datasets\[1\] are both labelled 'moons'"):
        ProtocolConfig(datasets=({"name": "moons"}, {"name": "moons", "n_train": 100}))
    ProtocolConfig(datasets=({"name": "moons"}, {"name": "moons", "n_train": 100, "label": "moons-100"}))


def test_user_defined_noise_presets(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('noise = "my-device"\n[noise_presets]\nmy-device = "nisq:t1=50,t2=40+readout:0.03"\n')
    assert load_config(f).noise == "nisq:t1=50,t2=40+readout:0.03"
    f.write_text('noise = "my-device"\n[noise_presets]\nmy-device = "nisq:t1=5,t2=40"\n')
    with pytest.raises(ValueError, match=r"noise_presets.my-device: .*T2 must be <= 2\*T1"):
        load_config(f)
