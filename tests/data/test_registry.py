"""load_dataset: the registry of names and validation at the boundary."""

import numpy as np
import pytest

from dpqml.data import DATASETS, Dataset, dataset_options, load_dataset


def test_the_registry_lists_every_documented_name():
    assert set(DATASETS) == {"moons", "circles", "xor", "blobs", "linear", "teacher", "digits", "mnist",
                             "fashion-mnist"}


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown data set 'iris'; valid names are \['moons', 'circles'"):
        load_dataset("iris")


def test_names_ignore_case_and_underscores():
    assert isinstance(load_dataset("MOONS", n_train=5, n_test=0), Dataset)
    with pytest.raises(ValueError, match="path is required"):
        load_dataset("Fashion_MNIST")


@pytest.mark.parametrize("kw,message", [
    ({"n_train": 0}, "n_train must be an integer >= 1; got 0"),
    ({"n_train": 2.5}, "n_train must be an integer >= 1; got 2.5"),
    ({"n_test": -1}, "n_test must be an integer >= 0; got -1"),
    ({"n_features": 0}, "n_features must be an integer >= 1; got 0"),
    ({"seed": -3}, "seed must be an integer >= 0; got -3"),
    ({"n_train": True}, "n_train must be an integer >= 1; got True"),
    ({"angle_range": (np.pi, 0)}, "angle_range must be finite with lo < hi"),
])
def test_invalid_common_parameters_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        load_dataset("moons", **kw)


def test_options_a_set_does_not_take_are_refused():
    with pytest.raises(ValueError, match=r"classes applies only to \['digits', 'mnist', 'fashion-mnist'\]"):
        load_dataset("moons", classes=(0, 1))
    with pytest.raises(ValueError, match=r"path applies only to \['mnist', 'fashion-mnist'\]"):
        load_dataset("digits", path="/tmp")
    with pytest.raises(TypeError, match=r"'moons' takes no option \['factor'\]; its own options are \['noise'\]"):
        load_dataset("moons", factor=0.3)


def test_dataset_options_lists_defaults():
    assert dataset_options("circles")["factor"] == 0.5
    assert dataset_options("teacher")["label_threshold"] == "median"


def test_empty_test_split_is_allowed():
    ds = load_dataset("xor", n_train=10, n_test=0)
    assert ds.n_test == 0 and ds.x_test.shape == (0, 2)
