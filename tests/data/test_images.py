"""scikit-learn's 8×8 digits: pooled features are block means of the real images; class handling."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dpqml.data import load_dataset, parse_classes

DIGITS = load_digits()


def _source_index(row_64):
    """Which scikit-learn digit a 64-feature row is, by undoing the documented map 0..16 → 0..π."""
    pixels = np.rint(row_64.astype(np.float64) * 16 / np.pi).reshape(8, 8)
    matches = np.flatnonzero(np.all(DIGITS.images == pixels, axis=(1, 2)))
    assert matches.size >= 1
    return matches[0]


def test_pooled_digits_are_the_mean_of_the_4x4_blocks_mapped_to_angles():
    full = load_dataset("digits", n_features=64, seed=2)
    pooled = load_dataset("digits", n_features=4, seed=2)
    assert pooled.meta["grid"] == (2, 2)
    for row_full, row_pooled in zip(full.x_train[:25], pooled.x_train[:25]):
        img = DIGITS.images[_source_index(row_full)]
        blocks = np.array([img[:4, :4].mean(), img[:4, 4:].mean(), img[4:, :4].mean(), img[4:, 4:].mean()])
        np.testing.assert_allclose(row_pooled, blocks / 16 * np.pi, rtol=1e-6)


def test_default_is_the_binary_pair_0_1_with_a_quarter_held_out():
    ds = load_dataset("digits")
    assert ds.meta["classes"] == (0, 1) and ds.n_classes == 2
    n_pool = int(np.sum(np.isin(DIGITS.target, [0, 1])))
    assert ds.n_test == n_pool // 4 and ds.n_train == n_pool - n_pool // 4
    assert ds.x_train.shape[1] == 4 and ds.feature_range == pytest.approx((0.0, np.pi))


def test_a_binary_pair_is_relabelled_in_the_order_given():
    ds = load_dataset("digits", classes=(8, 3), n_features=64)
    for row, label in zip(ds.x_train[:20], ds.y_train[:20]):
        assert DIGITS.target[_source_index(row)] == (8, 3)[label]


def test_all_ten_classes_keep_their_digit_as_label():
    ds = load_dataset("digits", classes="all", n_features=16)
    assert ds.n_classes == 10 and ds.n_train + ds.n_test == len(DIGITS.target)
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_features_of_an_image_do_not_depend_on_which_other_images_are_loaded():
    """The map is fixed: the same image gets the same features in a pair or among all ten classes."""
    pair = load_dataset("digits", classes=(0, 1), n_features=64)
    every = load_dataset("digits", classes="all", n_features=64)
    rows = {tuple(r) for r in np.concatenate([every.x_train, every.x_test])}
    assert all(tuple(r) in rows for r in pair.x_train)


def test_split_is_deterministic_and_the_test_set_does_not_move_with_n_train():
    a = load_dataset("digits", n_train=50, seed=4)
    b = load_dataset("digits", n_train=50, seed=4)
    c = load_dataset("digits", n_train=100, n_test=a.n_test, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, c.x_test)
    assert not np.array_equal(a.x_test, load_dataset("digits", n_train=50, seed=5).x_test)


def test_angle_range_and_raw_pixels():
    ds = load_dataset("digits", angle_range=(-np.pi / 2, np.pi / 2))
    assert ds.x_train.min() >= -np.pi / 2 - 1e-6 and ds.x_train.max() <= np.pi / 2 + 1e-6
    raw = load_dataset("digits", angle_range=None)
    assert raw.feature_range == (0.0, 16.0) and raw.x_train.max() <= 16


def test_explicit_grid():
    ds = load_dataset("digits", n_features=8, grid=(4, 2))
    assert ds.meta["grid"] == (4, 2)
    with pytest.raises(ValueError, match=r"grid=\(4, 2\) gives 8 features, not n_features=4"):
        load_dataset("digits", n_features=4, grid=(4, 2))


def test_unreachable_n_features_names_the_reachable_values():
    with pytest.raises(ValueError, match=r"n_features=5 .*reachable values are \[1, 2, 4, 8, 16, 32, 64\]"):
        load_dataset("digits", n_features=5)


def test_too_many_examples_is_an_error_naming_the_pool():
    with pytest.raises(ValueError, match=r"has 360 images; n_train=400 \+ n_test=0"):
        load_dataset("digits", n_train=400)


@pytest.mark.parametrize("classes,message", [
    ((0, 10), r"classes must be digits in 0\.\.9; got \[10\]"),
    ((3, 3), r"classes must be distinct; got classes=\(3, 3\) with \[3\] repeated"),
    ((4,), "at least 2 digits"),
    ((0.5, 1), "classes must be integers"),
    ("zero,one", "classes must be 'all' or digits"),
])
def test_invalid_classes_are_refused(classes, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("digits", classes=classes)


def test_classes_accept_a_string_from_a_command_line():
    assert parse_classes("3,8") == (3, 8)
    assert parse_classes("all") == tuple(range(10))
    assert parse_classes(None) == (0, 1)
