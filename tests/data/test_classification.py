"""The paper's tabular set: make_classification, the fixed 1638/287/123 split, the four scalers.

Reference values come from scikit-learn called directly (make_classification, train_test_split,
sklearn.preprocessing.StandardScaler) with the paper's settings written out here, not from the
code under test.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler as SkStandardScaler

from dpqml.data import (
    PAPER_CLASSIFICATION,
    SCALERS,
    TABULAR_DATASETS,
    load_dataset,
    load_tabular,
    make_classification_data,
    paper_split,
    split_and_scale,
)

# The paper's notebook, written out independently of PAPER_CLASSIFICATION.
PAPER = dict(n_samples=2048, n_features=16, n_informative=16, n_redundant=0, n_repeated=0, n_classes=4,
             n_clusters_per_class=1, class_sep=0.8, flip_y=0.1, shift=1.0, scale=5.0, random_state=123)


@pytest.fixture(scope="module")
def raw():
    return make_classification(**PAPER)


@pytest.fixture(scope="module")
def reference_rows(raw):
    """Row indices of the paper's train / validation / test sets, from sklearn directly."""
    _, y = raw
    idx = np.arange(len(y))
    train, held = train_test_split(idx, test_size=0.2, stratify=y, random_state=123)
    val, test = train_test_split(held, test_size=0.3, stratify=y[held], random_state=123)
    return train, val, test


@pytest.fixture(scope="module")
def splits():
    return {s: load_tabular(scaler=s) for s in SCALERS}


def test_paper_instance_is_the_published_one(raw):
    assert PAPER_CLASSIFICATION == PAPER
    x, y = make_classification_data()
    assert x.shape == (2048, 16) and x.dtype == np.float64 and y.dtype == np.int64
    assert sorted(np.unique(y).tolist()) == [0, 1, 2, 3]
    np.testing.assert_array_equal(x, raw[0])
    np.testing.assert_array_equal(y, raw[1])


def test_every_generator_option_can_be_set():
    x, y = make_classification_data(n_samples=300, n_features=6, n_informative=3, n_redundant=2, n_repeated=1,
                                    n_classes=3, weights=[0.5, 0.3], hypercube=False, shift=None, scale=None,
                                    shuffle=False, random_state=7)
    ref_x, ref_y = make_classification(n_samples=300, n_features=6, n_informative=3, n_redundant=2, n_repeated=1,
                                       n_classes=3, n_clusters_per_class=1, weights=[0.5, 0.3], hypercube=False,
                                       class_sep=0.8, flip_y=0.1, shift=None, scale=None, shuffle=False,
                                       random_state=7)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)


def test_split_sizes_are_1638_287_123(splits):
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = paper_split(*make_classification(**PAPER))
    assert (len(x_tr), len(x_va), len(x_te)) == (1638, 287, 123)
    assert (len(y_tr), len(y_va), len(y_te)) == (1638, 287, 123)
    for s in ("all-rows-as-published", "fixed", "none"):
        assert (len(splits[s].x_train), len(splits[s].x_val), len(splits[s].x_test)) == (1638, 287, 123)
        assert splits[s].meta["split_sizes"] == {"train": 1638, "val": 287, "test": 123, "public": 0}
    assert splits["public-split"].meta["split_sizes"] == {"train": 1510, "val": 287, "test": 123, "public": 128}


def test_the_split_is_stratified(raw, splits):
    y_all = raw[1]
    p = np.bincount(y_all, minlength=4) / len(y_all)
    ds = splits["none"]
    for y in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y, minlength=4)
        # stratified: each class's count is within one row of its share of the part
        assert np.all(np.abs(counts - len(y) * p) <= 1), counts


def test_the_split_is_the_papers_and_the_same_for_every_call(raw, reference_rows, splits):
    x, y = raw
    train, val, test = reference_rows
    ds = splits["none"]
    np.testing.assert_array_equal(ds.x_train, x[train].astype(np.float32))
    np.testing.assert_array_equal(ds.y_val, y[val])
    np.testing.assert_array_equal(ds.x_test, x[test].astype(np.float32))
    again = load_tabular(scaler="none")
    assert again.fingerprint == ds.fingerprint
    # the rows chosen depend on the labels and random_state only, not on the features
    (_, y_tr), (_, y_va), _ = paper_split(np.zeros_like(x), y)
    np.testing.assert_array_equal(y_tr, y[train])
    np.testing.assert_array_equal(y_va, y[val])


def test_splits_are_float32_int32_and_read_only(splits):
    ds = splits["public-split"]
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.float32 and x.shape[1] == 16
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert y.dtype == np.int32
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 0.0


def test_all_rows_scaler_is_the_notebooks_and_is_not_covered_by_epsilon(raw, reference_rows, splits):
    x, _ = raw
    train, val, test = reference_rows
    z = SkStandardScaler().fit_transform(x)  # fitted on all 2048 rows before the split
    manual = (x - x.mean(axis=0)) / x.std(axis=0)
    np.testing.assert_allclose(z, manual, atol=1e-12)
    ds = splits["all-rows-as-published"]
    for mine, rows in ((ds.x_train, train), (ds.x_val, val), (ds.x_test, test)):
        np.testing.assert_allclose(mine, z[rows], rtol=1e-6, atol=1e-6)
    assert ds.meta["preprocessing_covered_by_epsilon"] is False
    assert "NOT covered by epsilon" in ds.meta["preprocessing_note"]
    assert ds.meta["n_public"] == 0
    for s in ("public-split", "fixed", "none"):
        assert splits[s].meta["preprocessing_covered_by_epsilon"] is True


def test_public_split_scaler_is_fitted_on_the_public_rows_only(raw, reference_rows, splits):
    x, y = raw
    train, val, test = reference_rows
    public, private = train[:128], train[128:]
    mean, std = x[public].mean(axis=0), x[public].std(axis=0)
    ds = splits["public-split"]
    assert ds.meta["n_public"] == 128 and ds.meta["scaler"] == "public-split"
    # the public rows are gone from training; the private ones remain, scaled with public statistics
    np.testing.assert_array_equal(ds.y_train, y[private])
    np.testing.assert_allclose(ds.x_train, (x[private] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.x_val, (x[val] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (x[test] - mean) / std, rtol=1e-5, atol=1e-5)


def test_changing_a_private_row_changes_no_other_row_under_public_split(raw, reference_rows):
    x, y = raw
    train, _, _ = reference_rows
    victim = train[500]  # a private training row (the public ones are train[:128])
    x2 = x.copy()
    x2[victim] += 1000.0
    a = split_and_scale(x, y, PAPER, scaler="public-split")
    b = split_and_scale(x2, y, PAPER, scaler="public-split")
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    changed = np.flatnonzero(np.any(a.x_train != b.x_train, axis=1))
    assert changed.tolist() == [500 - 128]
    assert a.fingerprint != b.fingerprint
    # the notebook's scaler, by contrast, moves every row
    c = split_and_scale(x, y, PAPER, scaler="all-rows-as-published")
    d = split_and_scale(x2, y, PAPER, scaler="all-rows-as-published")
    assert np.all(c.x_test != d.x_test)


def test_fixed_scaler_undoes_the_generators_shift_and_scale(raw, splits):
    # make_classification returns (x0 + shift) * scale; the fixed map is x / scale - shift
    np.testing.assert_allclose(splits["fixed"].x_train, splits["none"].x_train / 5.0 - 1.0, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(splits["fixed"].y_test, splits["none"].y_test)
    with pytest.raises(ValueError, match=r'scaler="fixed" .* needs numeric shift and scale.*shift=None'):
        load_tabular({"shift": None}, scaler="fixed")


def test_fingerprint_changes_when_the_data_changes(splits):
    prints = {s: splits[s].fingerprint for s in SCALERS}
    assert len(set(prints.values())) == 4 and all(len(p) == 64 for p in prints.values())
    other = load_tabular({"random_state": 124}, scaler="none")
    assert other.fingerprint != prints["none"]
    assert load_tabular(scaler="public-split", n_public=100).fingerprint != prints["public-split"]


def test_classification_is_registered_with_a_pointer_to_load_tabular():
    assert TABULAR_DATASETS == ("classification",)
    with pytest.raises(ValueError, match=r"tabular data set .* load it with dpqml\.data\.load_tabular"):
        load_dataset("classification")


@pytest.mark.parametrize("options,message", [
    ({"n_sample": 10}, r"unknown make_classification option\(s\) \['n_sample'\]; valid options are .*'n_samples'"),
    ({"n_classes": 1}, r"n_classes must be an integer >= 2 .*got 1"),
    ({"n_samples": 0}, r"n_samples must be an integer >= 1; got 0"),
    ({"n_features": 8}, r"n_informative \+ n_redundant \+ n_repeated must be <= n_features=8"),
    ({"n_informative": 1}, r"n_classes \* n_clusters_per_class must be <= 2\*\*n_informative = 2"),
    ({"flip_y": 1.5}, r"flip_y .* must be in \[0, 1\]; got 1.5"),
    ({"class_sep": 0.0}, r"class_sep must be a number > 0; got 0.0"),
    ({"scale": -1.0}, r"scale must be a number > 0"),
    ({"shift": [1.0, 2.0]}, r"shift must be a finite number, an array of n_features=16"),
    ({"weights": [0.5, 0.5]}, r"weights must be None or 4 \(n_classes\) or 3"),
    ({"random_state": None}, r"random_state must be an integer in 0\.\.4294967295"),
    ({"shuffle": "yes"}, r"shuffle must be True or False"),
])
def test_bad_options_are_named_with_their_range(options, message):
    with pytest.raises(ValueError, match=message):
        make_classification_data(**options)
    with pytest.raises(ValueError, match=message):
        load_tabular(options)


@pytest.mark.parametrize("kw,message", [
    ({"scaler": "minmax"}, r"scaler must be one of \['all-rows-as-published', 'public-split', 'fixed', 'none'\]"),
    ({"n_public": 0}, r"n_public must be in 1\.\.1637 \(n_train=1638"),
    ({"n_public": 1638}, r"n_public must be in 1\.\.1637"),
    ({"n_public": 2.5}, r"n_public must be an integer in 1\.\.1637"),
    ({"split_random_state": -1}, r"split_random_state must be an integer in \[0, 4294967295\]; got -1"),
])
def test_bad_loader_arguments_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        load_tabular(**kw)
