"""``load_dataset(name, ...)``: the one entry point, with a registry of data-set names.

Tabular sets (:data:`TABULAR_DATASETS`: ``classification``) are registered by name but loaded
with :func:`dpqml.data.load_tabular`: they have a validation split and unbounded features,
which a :class:`Dataset` (train and test, a declared bounded feature range) does not hold, so
``load_dataset`` answers their names with a pointer there.
"""

from __future__ import annotations

import inspect
from functools import partial

import numpy as np

from ..validation import check_count
from .classification import load_tabular
from .dataset import Dataset
from .images import load_digits_dataset, load_mnist_dataset
from .synthetic import load_blobs, load_circles, load_linear, load_moons, load_teacher, load_xor
from .transforms import check_range

_REGISTRY = {
    "moons": load_moons,
    "circles": load_circles,
    "xor": load_xor,
    "blobs": load_blobs,
    "linear": load_linear,
    "teacher": load_teacher,
    "digits": load_digits_dataset,
    "mnist": partial(load_mnist_dataset, name="mnist"),
    "fashion-mnist": partial(load_mnist_dataset, name="fashion-mnist"),
}
#: The names :func:`load_dataset` accepts.
DATASETS = tuple(_REGISTRY)
# Tabular sets: name -> loader, returning a TabularSplits (train, validation, test).
_TABULAR = {"classification": load_tabular}
#: The tabular data sets, loaded with :func:`dpqml.data.load_tabular`, not :func:`load_dataset`.
TABULAR_DATASETS = tuple(_TABULAR)
_COMMON = ("n_features", "n_train", "n_test", "seed", "angle_range", "classes", "path")


def _options(loader) -> dict[str, inspect.Parameter]:
    params = inspect.signature(loader).parameters
    return {k: p for k, p in params.items() if k != "name"}


def dataset_options(name: str) -> dict:
    """The keyword options of data set ``name`` with their defaults (``None``: see the loader)."""
    loader = _REGISTRY[_normalize(name)]
    return {k: (None if p.default is inspect.Parameter.empty else p.default) for k, p in _options(loader).items()}


def _normalize(name) -> str:
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {list(DATASETS)}; got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key in _TABULAR:
        raise ValueError(
            f"{name!r} is a tabular data set (training, validation and test splits, unbounded features), "
            f"which load_dataset's Dataset does not hold; load it with "
            f"dpqml.data.{_TABULAR[key].__name__}(options=None, scaler='public-split', n_public=128)"
        )
    if key not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; valid names are {list(DATASETS)} "
                         f"(tabular, with load_tabular: {list(TABULAR_DATASETS)})")
    return key




def load_dataset(name: str, *, n_features: int | None = None, n_train: int | None = None,
                 n_test: int | None = None, seed: int = 0, classes=None, path=None,
                 angle_range=(0.0, np.pi), **kw) -> Dataset:
    """Load data set ``name`` (one of :data:`DATASETS`) as a :class:`Dataset`.

    Args:
        name: ``moons``, ``circles``, ``xor``, ``blobs``, ``linear``, ``teacher``, ``digits``,
            ``mnist`` or ``fashion-mnist`` (case and ``_``/``-`` do not matter).
        n_features: features per example; ``None`` takes the set's default (2 for the
            2-D synthetic sets, 4 for ``teacher`` and the images: 2×2 pooling).
        n_train, n_test: examples in each split; ``None`` takes the set's default (synthetic:
            400 and 200; digits: the rest after a quarter for testing; MNIST: all).
        seed: seeds the sample and the train/test split; the same seed gives the same Dataset.
        classes: image sets only: digits to keep, e.g. ``(0, 1)`` (the default) or ``"all"``.
        path: ``mnist`` and ``fashion-mnist`` only: a local directory of IDX files or an NPZ.
        angle_range: the fixed map's output range, the declared ``feature_range`` (default
            ``(0, π)``); ``None`` keeps raw (but still bounded) features.
        **kw: per-set options (``noise``, ``factor``, ``n_classes``, ``cluster_std``,
            ``margin``, ``layers``, ``label_threshold``, ``task_seed``, ``grid``,
            ``pixel_range``); :func:`dataset_options` lists them.

    Returns:
        a :class:`Dataset` with float32 features in ``feature_range`` and int labels.

    Raises:
        ValueError: a parameter is invalid (the message names it and the valid values).
        FileNotFoundError: ``path`` does not exist.
        TypeError: an option the data set does not take.
    """
    key = _normalize(name)
    loader = _REGISTRY[key]
    options = _options(loader)
    given = {"n_features": n_features, "n_train": n_train, "n_test": n_test, "classes": classes, "path": path}
    for what, value in (("classes", classes), ("path", path)):
        if value is not None and what not in options:
            takes = [n for n, f in _REGISTRY.items() if what in _options(f)]
            raise ValueError(f"{what} applies only to {takes}; data set {key!r} does not take it")
    unknown = sorted(set(kw) - set(options))
    if unknown:
        extra = sorted(set(options) - set(_COMMON))
        raise TypeError(f"data set {key!r} takes no option {unknown}; its own options are {extra}")
    if n_features is not None:
        check_count(n_features, "n_features", minimum=1)
    if n_train is not None:
        check_count(n_train, "n_train", minimum=1)
    if n_test is not None:
        check_count(n_test, "n_test", minimum=0)
    check_count(seed, "seed", minimum=0)
    if angle_range is not None:
        angle_range = check_range(angle_range, "angle_range")
    args = {k: v for k, v in given.items() if v is not None}
    return loader(seed=seed, angle_range=angle_range, **args, **kw)
