"""dpqml.data: data sets with a declared bounded feature domain, and DP-safe preprocessing.

One entry point::

    from dpqml.data import load_dataset
    ds = load_dataset("digits", n_features=4, classes=(0, 1), seed=0)
    ds.x_train.shape, ds.feature_range        # (270, 4), (0.0, 3.14159...)

Names (:data:`DATASETS`) and their fixed, data-independent feature maps:

* ``moons``, ``circles``, ``xor``, ``blobs``, ``linear``: generated (scikit-learn's
  generators where they exist); clipped to the generator's known box, mapped onto ``[0, π]``.
* ``teacher``: angles uniform in ``[0, π]`` labelled by a random circuit of the standard model.
* ``digits``: scikit-learn's 8×8 digits (shipped, no download); ``mnist``, ``fashion-mnist``:
  read from local IDX or NPZ files (``path=``). Average pooling onto a grid, then the pixel
  range (``0..16`` or ``0..255``) mapped onto ``[0, π]``.

The paper's tabular set (:data:`TABULAR_DATASETS`: ``classification``, scikit-learn's
``make_classification``) has a validation split and unbounded features, so it has its own
entry point, :func:`load_tabular` -> :class:`TabularSplits`, with the paper's fixed split
(:func:`paper_split`) and a choice of scaler (:data:`SCALERS`; the paper's own, fitted on all
rows, is marked ``preprocessing_covered_by_epsilon=False``).

Nothing is ever fitted to the data by the loaders. Transforms fitted to data
(:class:`StandardScaler`, :class:`MinMaxScaler`, :class:`PCA`) need a declaration
``fitted_on="public" | "private"`` and refuse private data while DP is on (DESIGN.md, DP-SGD
pitfall 8); :func:`public_split` declares part of a training set public.
"""

from .classification import (
    CLASSIFICATION_DEFAULTS,
    PAPER_CLASSIFICATION,
    SCALERS,
    TabularSplits,
    check_classification_options,
    load_tabular,
    make_classification_data,
    paper_split,
    split_and_scale,
)
from .dataset import Dataset, public_indices, public_split
from .fitted import FITTED_ON, PCA, FittedTransform, MinMaxScaler, StandardScaler
from .idx import read_idx, write_idx
from .images import DIGITS_PIXEL_RANGE, MNIST_PIXEL_RANGE, parse_classes
from .mnist_files import load_mnist_files, read_npz
from .registry import DATASETS, TABULAR_DATASETS, dataset_options, load_dataset
from .transforms import (
    average_pool,
    clip_to_box,
    flatten_images,
    pool_grid,
    reachable_n_features,
    scale_to_angles,
)

__all__ = [
    "CLASSIFICATION_DEFAULTS",
    "DATASETS",
    "DIGITS_PIXEL_RANGE",
    "FITTED_ON",
    "MNIST_PIXEL_RANGE",
    "PAPER_CLASSIFICATION",
    "PCA",
    "SCALERS",
    "TABULAR_DATASETS",
    "Dataset",
    "FittedTransform",
    "MinMaxScaler",
    "StandardScaler",
    "TabularSplits",
    "average_pool",
    "check_classification_options",
    "clip_to_box",
    "dataset_options",
    "flatten_images",
    "load_dataset",
    "load_mnist_files",
    "load_tabular",
    "make_classification_data",
    "paper_split",
    "parse_classes",
    "pool_grid",
    "public_indices",
    "public_split",
    "reachable_n_features",
    "read_idx",
    "read_npz",
    "scale_to_angles",
    "split_and_scale",
    "write_idx",
]
