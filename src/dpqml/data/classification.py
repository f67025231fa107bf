"""The paper's tabular data set: ``make_classification``, its fixed split, and four scalers.

The study's tabular task is an instance of ``sklearn.datasets.make_classification``
(:data:`PAPER_CLASSIFICATION`: 2,048 rows, 16 informative features, 4 classes). It is split
once, the same way for every training seed (:func:`paper_split`): a stratified 80/20
``train_test_split`` (1,638 training rows), then the 410 held-out rows split 70/30, stratified,
into a validation set (287 rows) and a test set (123 rows), all with ``random_state=123``.

One entry point::

    from dpqml.data import load_tabular
    splits = load_tabular()                      # the paper's instance, scaler="public-split"
    splits.x_train.shape, splits.x_val.shape     # (1510, 16), (287, 16)
    splits.meta["preprocessing_covered_by_epsilon"]  # True

Scalers (:data:`SCALERS`):

* ``"all-rows-as-published"``: a standard scaler (mean, population std) fitted on all 2,048
  rows *before* the split, as the paper's notebook did. Its means and standard deviations
  depend on every private training row and are released with the model; ε does not cover them
  (DESIGN.md, DP-SGD pitfall 8). Kept to reproduce the published numbers, and marked
  ``preprocessing_covered_by_epsilon=False``.
* ``"public-split"`` (default): the first ``n_public`` rows of the training split are declared
  public (:func:`dpqml.data.dataset.public_indices`), the scaler is fitted on them only
  (``StandardScaler.fit(..., fitted_on="public")``) and they are removed from the private
  training set. Covered by ε.
* ``"fixed"``: the generator's own affine map undone, ``x / scale - shift``, from the *options*
  ``shift`` and ``scale`` (public constants, no statistic of the data). make_classification
  draws the informative features around the vertices ``±class_sep`` of a hypercube, adds
  ``shift`` and multiplies by ``scale``; undoing that returns features of the order of the
  clusters' spread (a few units) for any ``shift`` and ``scale``. Needs numeric ``shift`` and
  ``scale`` (not ``None``, which sklearn draws at random, nor per-feature arrays, which its
  feature shuffle permutes). Covered by ε.
* ``"none"``: the raw features. Covered by ε.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..validation import check_choice, check_count, check_scalar
from .dataset import public_indices
from .fitted import StandardScaler

#: The paper's instance of ``sklearn.datasets.make_classification``.
PAPER_CLASSIFICATION = {
    "n_samples": 2048,
    "n_features": 16,
    "n_informative": 16,
    "n_redundant": 0,
    "n_repeated": 0,
    "n_classes": 4,
    "n_clusters_per_class": 1,
    "class_sep": 0.8,
    "flip_y": 0.1,
    "shift": 1.0,
    "scale": 5.0,
    "random_state": 123,
}
#: Every option :func:`make_classification_data` takes (those of make_classification, less
#: ``return_X_y``), with its default: the paper's value, else scikit-learn's.
CLASSIFICATION_DEFAULTS = {
    **PAPER_CLASSIFICATION,
    "weights": None,
    "hypercube": True,
    "shuffle": True,
}
#: The preprocessing choices of :func:`load_tabular`.
SCALERS = ("all-rows-as-published", "public-split", "fixed", "none")
#: The paper's split: held-out fraction, then the test fraction of the held-out rows.
PAPER_HELD_OUT_FRACTION = 0.2
PAPER_TEST_FRACTION_OF_HELD_OUT = 0.3
PAPER_SPLIT_RANDOM_STATE = 123

_NOTES = {
    "all-rows-as-published": (
        "standardized with the mean and population std of all {n} rows, fitted before the split as in "
        "the paper's notebook; these statistics depend on every private training row, are released with "
        "the model and are NOT covered by epsilon"
    ),
    "public-split": (
        "standardized with the mean and population std of {n_public} training rows declared public "
        "(the first rows of the training split), which are removed from the private training set; "
        "covered by epsilon"
    ),
    "fixed": (
        "the generator's known affine map undone, x / scale - shift with scale={scale!r} and "
        "shift={shift!r} (generator options, no statistic of the data); covered by epsilon"
    ),
    "none": "raw features of make_classification, no preprocessing; covered by epsilon",
}


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def _is_real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and bool(np.isfinite(value))


def _check_per_feature(opts: dict, name: str, positive: bool) -> None:
    value, d = opts[name], opts["n_features"]
    allowed = "a number > 0" if positive else "a finite number"
    if value is None:
        return
    if _is_real(value):
        if positive and value <= 0:
            raise ValueError(f"{name} must be {allowed}, an array of n_features={d} such numbers, or None; "
                             f"got {value!r}")
        return
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (d,) or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name} must be {allowed}, an array of n_features={d} such numbers, or None; "
                         f"got {value!r}")


def check_classification_options(options: dict | None = None) -> dict:
    """The full option set of make_classification: ``options`` over :data:`CLASSIFICATION_DEFAULTS`.

    Validated at the boundary, with scikit-learn's rules plus two of our own: ``n_classes >= 2``
    (a classifier's task) and an integer ``random_state`` (a reproducible data set). Raises
    ValueError naming the option, what was given and what is allowed (unknown names are listed
    with the valid ones).
    """
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ValueError(f"options must be a dict of make_classification options; got {options!r}")
    unknown = sorted(set(options) - set(CLASSIFICATION_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown make_classification option(s) {unknown}; valid options are "
                         f"{sorted(CLASSIFICATION_DEFAULTS)}")
    opts = {**CLASSIFICATION_DEFAULTS, **options}
    for name in ("n_samples", "n_features", "n_informative", "n_clusters_per_class"):
        check_count(opts[name], name, minimum=1)
    for name in ("n_redundant", "n_repeated"):
        check_count(opts[name], name)
    check_count(opts["n_classes"], "n_classes", minimum=2, what="a classification task needs two classes")
    used = opts["n_informative"] + opts["n_redundant"] + opts["n_repeated"]
    if used > opts["n_features"]:
        raise ValueError(
            f"n_informative + n_redundant + n_repeated must be <= n_features={opts['n_features']}; got "
            f"{opts['n_informative']} + {opts['n_redundant']} + {opts['n_repeated']} = {used} "
            "(unset options take the paper's values, PAPER_CLASSIFICATION)"
        )
    clusters = opts["n_classes"] * opts["n_clusters_per_class"]
    if clusters > 2 ** opts["n_informative"]:
        raise ValueError(
            f"n_classes * n_clusters_per_class must be <= 2**n_informative = {2 ** opts['n_informative']} "
            f"(one hypercube vertex per cluster); got {opts['n_classes']} * {opts['n_clusters_per_class']} = "
            f"{clusters}"
        )
    if not _is_real(opts["flip_y"]) or not 0 <= opts["flip_y"] <= 1:
        raise ValueError(f"flip_y (fraction of labels replaced at random) must be in [0, 1]; got {opts['flip_y']!r}")
    if not _is_real(opts["class_sep"]) or opts["class_sep"] <= 0:
        raise ValueError(f"class_sep must be a number > 0; got {opts['class_sep']!r}")
    for name in ("hypercube", "shuffle"):
        if not isinstance(opts[name], (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {opts[name]!r}")
    _check_per_feature(opts, "shift", positive=False)
    _check_per_feature(opts, "scale", positive=True)
    rs = opts["random_state"]
    if not _is_int(rs) or not 0 <= rs <= 2**32 - 1:
        raise ValueError(f"random_state must be an integer in 0..{2**32 - 1} (the data set must be "
                         f"reproducible); got {rs!r}")
    weights = opts["weights"]
    if weights is not None:
        k = opts["n_classes"]
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            w = None
        if w is None or w.ndim != 1 or len(w) not in (k, k - 1) or not np.all(np.isfinite(w)) \
                or np.any(w < 0) or w.sum() > 1 + 1e-9:
            raise ValueError(
                f"weights must be None or {k} (n_classes) or {k - 1} (n_classes - 1) class proportions in "
                f"[0, 1] summing to at most 1; got {weights!r}"
            )
    return opts


def make_classification_data(**options) -> tuple[np.ndarray, np.ndarray]:
    """Draw the data set: ``sklearn.datasets.make_classification`` with ``options``.

    Every option of make_classification may be set (:data:`CLASSIFICATION_DEFAULTS` lists them);
    unset ones take the paper's values (:data:`PAPER_CLASSIFICATION`), so
    ``make_classification_data()`` is the paper's instance.

    Returns:
        ``(x, y)``: features ``(n_samples, n_features)`` float64 and labels ``(n_samples,)``
        int64 in ``0..n_classes-1``.

    Raises:
        ValueError: an unknown or invalid option (:func:`check_classification_options`).
    """
    opts = check_classification_options(options)
    from sklearn.datasets import make_classification  # imported here: sklearn.datasets takes seconds

    x, y = make_classification(**opts)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def paper_split(x, y, random_state: int = PAPER_SPLIT_RANDOM_STATE):
    """The paper's split of ``(x, y)`` into training, validation and test sets.

    A stratified ``train_test_split`` with ``test_size=0.2`` (2,048 rows: 1,638 training, 410
    held out), then the held-out rows split with ``test_size=0.3``, stratified: the larger part
    (287) is the validation set, the smaller (123) the test set. Both splits use
    ``random_state``; the rows chosen depend only on ``y`` and ``random_state``, not on ``x``
    nor on a training seed.

    Args:
        x: ``(n, d)`` features; y: ``(n,)`` integer labels.

    Returns:
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``, rows in the order
        ``train_test_split`` returns them (shuffled).
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, d) and y (n,) with the same n; got shapes {x.shape} and {y.shape}")
    if not _is_int(random_state) or not 0 <= random_state <= 2**32 - 1:
        raise ValueError(f"random_state must be an integer in 0..{2**32 - 1}; got {random_state!r}")
    x_train, x_held, y_train, y_held = train_test_split(
        x, y, test_size=PAPER_HELD_OUT_FRACTION, stratify=y, random_state=random_state)
    x_val, x_test, y_val, y_test = train_test_split(
        x_held, y_held, test_size=PAPER_TEST_FRACTION_OF_HELD_OUT, stratify=y_held, random_state=random_state)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def fingerprint_arrays(arrays: dict) -> str:
    """sha256 hex digest of named arrays: names, dtypes, shapes and bytes, in the given order."""
    h = hashlib.sha256()
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class TabularSplits:
    """Training, validation and test sets of a tabular data set, preprocessed.

    Fields:
        x_train, x_val, x_test: ``(n_split, n_features)`` float32 features.
        y_train, y_val, y_test: ``(n_split,)`` int32 labels in ``0..n_classes-1``.
        meta: ``dataset``, ``source``, ``options`` (the generator's), ``split_random_state``,
            ``split_sizes`` (``train``, ``val``, ``test``, ``public``), ``scaler``,
            ``preprocessing_covered_by_epsilon``, ``preprocessing_note``, ``n_public`` (rows
            declared public and removed from training; 0 unless ``scaler="public-split"``),
            ``n_classes``.
        fingerprint: sha256 hex of the six arrays, computed here: a resumed run compares it
            to check it has the same data.

    The arrays are read-only copies.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict = field(default_factory=dict)
    fingerprint: str = field(init=False)

    def __post_init__(self):
        for name in _ARRAYS:
            dtype = np.float32 if name.startswith("x") else np.int32
            a = np.array(getattr(self, name), dtype=dtype, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 2 or y.shape != (x.shape[0],):
                raise ValueError(f"x_{part} must be (n, d) and y_{part} (n,); got {x.shape} and {y.shape}")
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "fingerprint", fingerprint_arrays({n: getattr(self, n) for n in _ARRAYS}))

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        return (f"TabularSplits(n_train={len(self.x_train)}, n_val={len(self.x_val)}, n_test={len(self.x_test)}, "
                f"n_features={self.n_features}, scaler={self.meta.get('scaler')!r}, "
                f"fingerprint={self.fingerprint[:12]}...)")


def _fixed_map(options: dict | None):
    shift = None if options is None else options.get("shift")
    scale = None if options is None else options.get("scale")
    if not (_is_real(shift) and _is_real(scale)):
        raise ValueError(
            f'scaler="fixed" undoes the generator\'s map x / scale - shift and needs numeric shift and scale '
            f"options; got shift={shift!r}, scale={scale!r} (None is drawn at random by make_classification, "
            'per-feature arrays are permuted by its feature shuffle); use scaler="public-split" or "none"'
        )
    return float(shift), float(scale)


def _check_split_args(scaler, split_random_state) -> None:
    check_choice(scaler, "scaler", SCALERS)
    check_scalar(split_random_state, "split_random_state", integer=True, low=0, high=2**32 - 1)


def split_and_scale(x, y, options: dict | None = None, *, scaler: str = "public-split", n_public: int = 128,
                    split_random_state: int = PAPER_SPLIT_RANDOM_STATE) -> TabularSplits:
    """Split ``(x, y)`` as the paper did (:func:`paper_split`) and preprocess with ``scaler``.

    Args:
        x: ``(n, d)`` raw features; y: ``(n,)`` labels ``0..K-1``.
        options: the generator options that made ``(x, y)``; recorded in ``meta``, and
            ``shift``/``scale`` are what ``scaler="fixed"`` undoes.
        scaler: one of :data:`SCALERS` (see the module docstring).
        n_public: ``scaler="public-split"`` only: the first ``n_public`` rows of the training
            split are public, in ``1..n_train-1``; ignored by the other scalers.
        split_random_state: the split's ``random_state`` (the paper: 123, for every seed).

    Returns:
        a :class:`TabularSplits`.
    """
    _check_split_args(scaler, split_random_state)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if scaler == "all-rows-as-published":
        # As published: fitted on every row, private ones included; dp=False says we know.
        x = StandardScaler().fit_transform(x, fitted_on="private", dp=False)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = paper_split(x, y, split_random_state)
    n_split_train = len(x_train)
    public_rows = 0
    if scaler == "public-split":
        # train_test_split shuffled the training rows, so its first n_public rows are a random subset.
        pub, priv = public_indices(n_split_train, n_public, seed=None)
        fitted = StandardScaler().fit(x_train[pub], fitted_on="public")
        x_train, y_train = fitted.transform(x_train[priv]), y_train[priv]
        x_val, x_test = fitted.transform(x_val), fitted.transform(x_test)
        public_rows = int(n_public)
    elif scaler == "fixed":
        shift, scale = _fixed_map(options)
        x_train, x_val, x_test = (z / scale - shift for z in (x_train, x_val, x_test))
    note = _NOTES[scaler].format(n=len(x), n_public=public_rows,
                                 shift=None if options is None else options.get("shift"),
                                 scale=None if options is None else options.get("scale"))
    meta = {
        "dataset": "classification",
        "source": "sklearn.datasets.make_classification",
        "options": None if options is None else {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                                 for k, v in options.items()},
        "split_random_state": split_random_state,
        "split_sizes": {"train": len(x_train), "val": len(x_val), "test": len(x_test), "public": public_rows},
        "scaler": scaler,
        "preprocessing_covered_by_epsilon": scaler != "all-rows-as-published",
        "preprocessing_note": note,
        "n_public": public_rows,
        "n_classes": int(np.max(y)) + 1 if options is None else int(options["n_classes"]),
    }
    return TabularSplits(x_train, y_train, x_val, y_val, x_test, y_test, meta=meta)


def load_tabular(options: dict | None = None, *, scaler: str = "public-split", n_public: int = 128,
                 split_random_state: int = PAPER_SPLIT_RANDOM_STATE) -> TabularSplits:
    """The paper's tabular data set, split and preprocessed: the entry point.

    Args:
        options: make_classification options over the paper's (:data:`PAPER_CLASSIFICATION`);
            ``None``: the paper's instance.
        scaler: ``"public-split"`` (default), ``"all-rows-as-published"`` (the paper's, not
            covered by ε), ``"fixed"`` or ``"none"`` (:data:`SCALERS`).
        n_public: rows of the training split declared public for ``"public-split"``
            (default 128, in ``1..n_train-1``).
        split_random_state: the split's ``random_state`` (default 123, as in the paper).

    Returns:
        a :class:`TabularSplits`; for the paper's instance and the default scaler, 1,510 private
        training rows, 287 validation rows and 123 test rows of 16 features.

    Raises:
        ValueError: an unknown or invalid option, scaler or ``n_public`` (the message names it).
    """
    _check_split_args(scaler, split_random_state)
    opts = check_classification_options(options)
    x, y = make_classification_data(**opts)
    return split_and_scale(x, y, opts, scaler=scaler, n_public=n_public, split_random_state=split_random_state)
