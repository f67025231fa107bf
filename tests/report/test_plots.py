"""The PNG plots: valid files, deterministic names, the right run per model, no global matplotlib state."""

import math
import struct

import matplotlib
import pytest

from dpqml.report import summarize
from dpqml.report.plots import (
    chance_level,
    plot_accuracy_vs_epsilon,
    plot_epsilon_vs_steps,
    plot_grad_norms,
    safe_name,
)

from .rows import make_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["accuracy_vs_epsilon_digits.png", "accuracy_vs_epsilon_moons.png", "epsilon_vs_steps.png",
         "grad_norms_digits.png", "grad_norms_moons.png"]


def test_every_plot_is_a_valid_png_of_real_size(report):
    paths, out = report
    assert sorted(p for p in paths if p.endswith(".png")) == NAMES
    assert sorted(p.name for p in out.glob("*.png")) == NAMES
    for name in NAMES:
        data = paths[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
        width, height = struct.unpack(">II", data[16:24])  # IHDR
        assert width >= 500 and height >= 400


def test_safe_file_names():
    assert safe_name("moons") == "moons"
    assert safe_name("my-set_1.v2") == "my-set_1.v2"
    odd = safe_name("a/b c")
    assert odd.startswith("a_b_c-") and "/" not in odd
    assert safe_name("a/b") != safe_name("a_b") and safe_name("a/b") != safe_name("a b")


def test_chance_level_from_the_dataset_options():
    protocol = {"datasets": [{"name": "blobs", "n_classes": 4}, {"name": "digits", "classes": [0, 1, 2]},
                             {"name": "mnist", "classes": "all"}, {"name": "moons"}]}
    assert chance_level(protocol, "blobs") == 0.25
    assert chance_level(protocol, "digits") == pytest.approx(1 / 3)
    assert chance_level(protocol, "mnist") == 0.1
    assert chance_level(protocol, "moons") == 0.5 and chance_level({}, "other") == 0.5


def test_gradient_norms_fall_back_to_the_last_epoch_with_quantiles(tmp_path):
    rows = make_rows(datasets=("moons",))
    for row in rows:
        row["history"][-1]["grad_norm_quantiles"] = None  # an epoch that saw no examples
    assert plot_grad_norms(rows, "moons", tmp_path / "g.png").path == tmp_path / "g.png"
    for row in rows:
        for record in row["history"]:
            record.pop("grad_norm_quantiles")
    plot = plot_grad_norms(rows, "moons", tmp_path / "h.png")
    assert plot.path is None and "quantiles" in plot.reason and not (tmp_path / "h.png").exists()


def test_plots_with_partial_data(tmp_path):
    finite_only = make_rows(datasets=("moons",), epsilons=(1.0, 4.0), seeds=(0,))
    assert plot_accuracy_vs_epsilon(summarize(finite_only), "moons", tmp_path / "a.png").path is not None
    only_inf = make_rows(datasets=("moons",), epsilons=(math.inf,), seeds=(0,))
    assert plot_accuracy_vs_epsilon(summarize(only_inf), "moons", tmp_path / "b.png").path is not None
    assert plot_epsilon_vs_steps(only_inf, tmp_path / "c.png").reason.startswith("every run is non-private")
    no_history = make_rows(datasets=("moons",), epsilons=(1.0,), seeds=(0,), history=False)
    assert "history" in plot_epsilon_vs_steps(no_history, tmp_path / "d.png").reason
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "d.png").exists()


def test_drawing_leaves_matplotlib_settings_alone(tmp_path):
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    rows = make_rows(datasets=("moons",), seeds=(0,))
    plot_epsilon_vs_steps(rows, tmp_path / "e.png")
    assert dict(matplotlib.rcParams) == before and matplotlib.get_backend() == backend


def test_names_with_dollar_signs_are_drawn_literally(tmp_path):
    rows = make_rows(datasets=("cost$\\frac{$",), epsilons=(1.0, math.inf), seeds=(0,))
    for row in rows:
        row["model"] = "$x^" + row["model"] + "$"  # bad TeX if matplotlib read it as mathtext
    assert plot_accuracy_vs_epsilon(summarize(rows), "cost$\\frac{$", tmp_path / "a.png").path is not None
    assert plot_grad_norms(rows, "cost$\\frac{$", tmp_path / "g.png").path is not None
