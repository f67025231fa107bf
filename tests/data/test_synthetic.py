"""Synthetic sets: documented geometry, fixed box → [0, π] map, seeding, and the quantum teacher."""

import jax
import numpy as np
import pytest

from dpqml.data import load_dataset
from dpqml.models import build_model

SYNTHETIC = ["moons", "circles", "xor", "blobs", "linear", "teacher"]


def _raw(ds):
    """Undo the documented affine map box → [0, π] with the box recorded in meta."""
    lo, hi = np.array(ds.meta["box"]).T
    return lo + ds.x_train.astype(np.float64) / np.pi * (hi - lo)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_sets_have_the_documented_shapes_and_domain(name):
    ds = load_dataset(name, n_train=60, n_test=30, seed=0)
    assert ds.name == name
    assert ds.x_train.shape == (60, 4 if name == "teacher" else 2) and ds.x_test.shape[0] == 30
    assert ds.x_train.dtype == np.float32
    assert ds.feature_range == pytest.approx((0.0, np.pi))
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= np.float32(np.pi)
    assert set(np.unique(ds.y_train)) == {0, 1}
    assert "feature_map" in ds.meta


@pytest.mark.parametrize("name", SYNTHETIC)
def test_same_seed_same_data_other_seed_other_data(name):
    a = load_dataset(name, n_train=20, n_test=10, seed=5)
    b = load_dataset(name, n_train=20, n_test=10, seed=5)
    c = load_dataset(name, n_train=20, n_test=10, seed=6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", ["moons", "xor", "linear"])
def test_the_test_set_does_not_move_when_n_train_changes(name):
    a = load_dataset(name, n_train=20, n_test=10, seed=1)
    b = load_dataset(name, n_train=50, n_test=10, seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_noise_free_moons_lie_on_the_two_half_circles():
    ds = load_dataset("moons", n_train=50, noise=0.0)
    x1, x2 = _raw(ds).T
    outer = ds.y_train == 0
    # make_moons: outer moon on the unit circle, inner moon on the unit circle centred at (1, 0.5)
    np.testing.assert_allclose(x1[outer] ** 2 + x2[outer] ** 2, 1.0, atol=1e-5)
    np.testing.assert_allclose((x1[~outer] - 1) ** 2 + (x2[~outer] - 0.5) ** 2, 1.0, atol=1e-5)
    assert ds.meta["box"] == [(-1.0, 2.0), (-0.5, 1.0)]


def test_noise_free_circles_have_radius_one_and_factor():
    ds = load_dataset("circles", n_train=40, noise=0.0, factor=0.3)
    r = np.linalg.norm(_raw(ds), axis=1)
    np.testing.assert_allclose(r[ds.y_train == 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(r[ds.y_train == 1], 0.3, atol=1e-5)


def test_moons_map_is_the_fixed_box_not_the_data_range():
    """Two noise-free points, (1, 0) and (0, 0.5), map through the box [-1, 2] × [-0.5, 1] (by hand);
    a min/max scaling fitted to these two points would have sent them to 0 and π instead."""
    ds = load_dataset("moons", n_train=2, n_test=0, noise=0.0)
    by_label = {int(y): x for x, y in zip(ds.x_train, ds.y_train)}
    np.testing.assert_allclose(by_label[0], [2 / 3 * np.pi, 1 / 3 * np.pi], rtol=1e-6)
    np.testing.assert_allclose(by_label[1], [1 / 3 * np.pi, 2 / 3 * np.pi], rtol=1e-6)
    noisy = load_dataset("moons", n_train=2, noise=0.3)
    assert noisy.meta["box"] == [(pytest.approx(-1.9), pytest.approx(2.9)), (pytest.approx(-1.4), pytest.approx(1.9))]


@pytest.mark.parametrize("d", [2, 3])
def test_xor_label_is_the_parity_of_the_signs(d):
    ds = load_dataset("xor", n_features=d, n_train=100)
    raw = _raw(ds)
    np.testing.assert_array_equal(ds.y_train, np.sum(raw > 0, axis=1) % 2)


def test_linear_set_is_separated_by_the_recorded_hyperplane_with_the_margin():
    ds = load_dataset("linear", n_features=3, n_train=200, margin=0.2)
    w = np.array(ds.meta["w"])
    s = _raw(ds) @ w
    np.testing.assert_array_equal(ds.y_train, (s > 0).astype(int))
    assert np.abs(s).min() >= 0.2 - 1e-5


def test_blobs_have_n_classes_balanced_and_fixed_centres():
    ds = load_dataset("blobs", n_features=3, n_classes=3, n_train=90, cluster_std=0.5)
    assert ds.n_classes == 3
    np.testing.assert_array_equal(np.bincount(ds.y_train), [30, 30, 30])
    other_seed = load_dataset("blobs", n_features=3, n_classes=3, n_train=90, cluster_std=0.5, seed=9)
    assert other_seed.meta["centers"] == ds.meta["centers"]  # same task, different sample
    raw, centers = _raw(ds), np.array(ds.meta["centers"])
    nearest = np.argmin(np.linalg.norm(raw[:, None, :] - centers[None], axis=2), axis=1)
    assert np.mean(nearest == ds.y_train) > 0.9


def test_teacher_labels_are_the_teacher_circuit_logit_above_its_median():
    ds = load_dataset("teacher", n_features=4, n_train=40, n_test=10, layers=2, task_seed=4)
    model = build_model(qubits=4, layers=2)
    params = model.init(jax.random.PRNGKey(4))
    apply_one = jax.jit(model.apply)  # one example at a time: no vmap, no chunking, no padding
    logits = np.array([float(apply_one(params, x)) for x in ds.x_train[:12]])
    t = ds.meta["threshold"]
    np.testing.assert_array_equal(ds.y_train[:12], (logits > t).astype(int))
    assert ds.meta["label_threshold"] == "median"
    assert 0.25 < ds.y_train.mean() < 0.75  # the median threshold balances the classes


def test_teacher_zero_threshold_and_angle_range():
    ds = load_dataset("teacher", n_train=30, label_threshold="zero", angle_range=(0, 2 * np.pi))
    assert ds.meta["threshold"] == 0.0
    assert ds.feature_range == pytest.approx((0.0, 2 * np.pi)) and ds.x_train.max() > np.pi
    with pytest.raises(ValueError, match=r"label_threshold must be one of \['median', 'zero'\]"):
        load_dataset("teacher", label_threshold="mean")


def test_raw_features_without_an_angle_map_stay_in_the_box():
    ds = load_dataset("blobs", angle_range=None, n_train=50)
    assert ds.feature_range == (-8.0, 8.0)
    assert ds.x_train.min() >= -8 and ds.x_train.max() <= 8


def test_synthetic_option_errors_name_the_parameter():
    with pytest.raises(ValueError, match="moons has exactly 2 features; got n_features=4"):
        load_dataset("moons", n_features=4)
    with pytest.raises(ValueError, match="xor n_features must be an integer >= 2"):
        load_dataset("xor", n_features=1)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0; got"):
        load_dataset("moons", noise=-0.1)
    with pytest.raises(ValueError, match=r"factor .* must be in \(0, 1\)"):
        load_dataset("circles", factor=1.5)
    with pytest.raises(ValueError, match=r"margin must be in \[0, 1\)"):
        load_dataset("linear", margin=1.0)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        load_dataset("blobs", n_classes=1)
