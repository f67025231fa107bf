"""Fitted transforms refuse private data under DP; fitted on public data they match scikit-learn."""

import numpy as np
import pytest
import sklearn.decomposition
import sklearn.preprocessing

from dpqml.data import FITTED_ON, PCA, Dataset, MinMaxScaler, StandardScaler, public_split


def _data(n=40, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)


@pytest.mark.parametrize("make", [lambda: StandardScaler(), lambda: PCA(2), lambda: MinMaxScaler()])
def test_fitting_on_private_data_under_dp_is_refused_and_says_how_to_fix_it(make):
    x = _data()
    with pytest.raises(ValueError) as err:
        make().fit(x, fitted_on="private")
    msg = str(err.value)
    assert "private" in msg and "leaks" in msg
    assert "public_split" in msg and "fitted_on='public'" in msg
    with pytest.raises(ValueError, match="leaks"):
        make().fit_transform(x, fitted_on="private", dp=True)


def test_fitted_on_must_be_declared_explicitly():
    assert FITTED_ON == ("public", "private")
    with pytest.raises(TypeError):
        StandardScaler().fit(_data())  # no default: the caller must say where the data comes from
    with pytest.raises(ValueError, match=r"fitted_on must be one of \['public', 'private'\]"):
        StandardScaler().fit(_data(), fitted_on="train")


def test_private_fit_is_allowed_for_a_non_private_baseline():
    x = _data()
    z = StandardScaler().fit_transform(x, fitted_on="private", dp=False)
    np.testing.assert_allclose(z, sklearn.preprocessing.StandardScaler().fit_transform(x), atol=1e-12)


def test_transform_before_fit_is_an_error():
    with pytest.raises(ValueError, match="not fitted"):
        PCA(2).transform(_data())


def test_standard_scaler_fitted_on_public_matches_scikit_learn():
    pub, priv = _data(seed=1), _data(seed=2)
    ours = StandardScaler().fit(pub, fitted_on="public")
    ref = sklearn.preprocessing.StandardScaler().fit(pub)
    np.testing.assert_allclose(ours.transform(priv), ref.transform(priv), atol=1e-12)


def test_pca_fitted_on_public_matches_scikit_learn_up_to_sign():
    pub, priv = _data(seed=1), _data(seed=2)
    ours = PCA(3).fit(pub, fitted_on="public").transform(priv)
    ref = sklearn.decomposition.PCA(3).fit(pub).transform(priv)
    signs = np.sign(np.sum(ours * ref, axis=0))
    np.testing.assert_allclose(ours, ref * signs, atol=1e-10)
    with pytest.raises(ValueError, match="n_components=6 exceeds"):
        PCA(6).fit(pub, fitted_on="public")


def test_min_max_scaler_output_stays_in_the_declared_range():
    pub, priv = _data(seed=1), 3 * _data(seed=2)
    z = MinMaxScaler((0.0, np.pi)).fit(pub, fitted_on="public").transform(priv)
    assert z.min() >= 0.0 and z.max() <= np.pi


def test_public_split_then_fit_on_public_then_train_on_private():
    rng = np.random.default_rng(3)
    ds = Dataset(rng.uniform(0, 1, (20, 4)), np.arange(20) % 2, rng.uniform(0, 1, (5, 4)), np.arange(5) % 2,
                 n_classes=2, name="toy", feature_range=(0.0, 1.0))
    public, private = public_split(ds, 8, seed=0)
    pca = PCA(2).fit(public.x_train, fitted_on="public")
    assert pca.transform(private.x_train).shape == (12, 2)
