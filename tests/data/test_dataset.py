"""Dataset: the declared feature domain is enforced, bad arrays are refused, public splits."""

import numpy as np
import pytest

from dpqml.data import Dataset, public_split


def _ds(**overrides):
    rng = np.random.default_rng(0)
    fields = {
        "x_train": rng.uniform(0, np.pi, (10, 3)),
        "y_train": np.arange(10) % 2,
        "x_test": rng.uniform(0, np.pi, (4, 3)),
        "y_test": np.array([0, 1, 1, 0]),
        "n_classes": 2,
        "name": "toy",
        "feature_range": (0.0, np.pi),
    }
    return Dataset(**{**fields, **overrides})


def test_fields_are_float32_features_and_int_labels_and_read_only():
    ds = _ds()
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert np.issubdtype(ds.y_train.dtype, np.integer) and np.issubdtype(ds.y_test.dtype, np.integer)
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (10, 4, 3, 2)
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 1.0  # a Dataset is a value: its arrays cannot be changed in place


def test_integral_float_and_bool_labels_are_accepted_as_ints():
    ds = _ds(y_train=(np.arange(10) % 2).astype(float), y_test=np.array([False, True, True, False]))
    np.testing.assert_array_equal(ds.y_train, np.arange(10) % 2)
    np.testing.assert_array_equal(ds.y_test, [0, 1, 1, 0])


def test_nan_features_are_refused_naming_the_array():
    x = np.zeros((10, 3))
    x[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"x_train contains NaN.*row 7"):
        _ds(x_train=x)


def test_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"y_test has labels outside 0\.\.1.*\[2\]"):
        _ds(y_test=np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"y_train has labels outside"):
        _ds(y_train=-(np.arange(10) % 2))
    with pytest.raises(ValueError, match="integer class labels"):
        _ds(y_train=np.full(10, 0.5))


def test_empty_training_set_is_refused():
    with pytest.raises(ValueError, match="training set is empty"):
        _ds(x_train=np.zeros((0, 3)), y_train=np.zeros(0, dtype=int))


def test_empty_test_set_is_allowed():
    ds = _ds(x_test=np.zeros((0, 3)), y_test=np.zeros(0, dtype=int))
    assert ds.n_test == 0


def test_features_outside_the_declared_range_are_refused():
    x = np.full((10, 3), 1.0)
    x[3, 2] = 4.0
    with pytest.raises(ValueError, match="outside the declared feature_range"):
        _ds(x_train=x)
    with pytest.raises(ValueError, match="feature_range must be finite with lo < hi"):
        _ds(feature_range=(1.0, 1.0))


def test_shape_mismatches_are_refused():
    with pytest.raises(ValueError, match="x_test has 2 features but x_train has 3"):
        _ds(x_test=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"y_train must be a 1-D array with one label per example \(10\)"):
        _ds(y_train=np.zeros(9, dtype=int))
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        _ds(n_classes=1, y_train=np.zeros(10, dtype=int), y_test=np.zeros(4, dtype=int))


def test_public_split_partitions_the_training_set_and_keeps_the_test_set():
    ds = _ds()
    public, private = public_split(ds, 3, seed=1)
    assert (public.n_train, private.n_train) == (3, 7)
    both = np.concatenate([public.x_train, private.x_train])
    # every training example lands in exactly one part
    assert sorted(map(tuple, both)) == sorted(map(tuple, ds.x_train))
    np.testing.assert_array_equal(public.x_test, ds.x_test)
    assert public.meta["split"] == "public" and private.meta["split"] == "private"
    again, _ = public_split(ds, 3, seed=1)
    np.testing.assert_array_equal(again.x_train, public.x_train)
    with pytest.raises(ValueError, match=r"n_public must be in 1\.\.9"):
        public_split(ds, 10)
