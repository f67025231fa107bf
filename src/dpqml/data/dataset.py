"""The :class:`Dataset` container: a train/test split with a declared, bounded feature domain.

Every loader in :mod:`dpqml.data` returns a :class:`Dataset`. Its ``feature_range`` is a
promise made *before* seeing the data (the output range of a fixed map such as pixels
``[0, 16] → [0, π]``), because the gradient-norm bounds of trainable encodings grow with
``‖x‖`` and so need a bounded feature domain; the constructor checks the promise is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# float32 rounding of a bound such as π may land just outside it (float32(π) > π).
_RANGE_TOL = 1e-6


def _as_features(x, what: str) -> np.ndarray:
    x = np.array(x, dtype=np.float32, copy=True)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n_examples, n_features); got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise ValueError(
            f"{what} contains NaN or infinite values ({int(bad.sum())} entries, first in row {row}); "
            "remove or repair those examples before building a Dataset"
        )
    x.setflags(write=False)
    return x


def _as_labels(y, n_examples: int, n_classes: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype == bool:
        y = y.astype(np.int64)
    if y.ndim != 1 or y.shape[0] != n_examples:
        raise ValueError(f"{what} must be a 1-D array with one label per example ({n_examples}); got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{what} must hold integer class labels 0..{n_classes - 1}; got dtype {y.dtype}")
    y = np.array(y, dtype=np.int64, copy=True)
    out = (y < 0) | (y >= n_classes)
    if out.any():
        found = sorted({int(v) for v in y[out]})[:5]
        raise ValueError(
            f"{what} has labels outside 0..{n_classes - 1} (n_classes={n_classes}): found {found}; "
            "labels must be consecutive integers starting at 0"
        )
    y = y.astype(np.int32)
    y.setflags(write=False)
    return y


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features and labels of one data set, split into train and test.

    Fields:
        x_train: ``(n_train, n_features)`` float32 features, ``n_train >= 1``.
        y_train: ``(n_train,)`` int32 labels in ``0..n_classes-1``.
        x_test: ``(n_test, n_features)`` float32 features (``n_test`` may be 0).
        y_test: ``(n_test,)`` int32 labels.
        n_classes: number of classes ``K >= 2``.
        name: the data set's registry name (``"moons"``, ``"digits"``, ...).
        feature_range: ``(lo, hi)``: every feature of every example, train and test, lies in
            ``[lo, hi]``. Declared from constants known before seeing the data (by default the
            angle range ``(0, π)`` of the fixed feature map), checked here.
        meta: how the set was made: ``source``, ``feature_map`` (in words), ``seed``, and
            per-set entries (``classes``, ``grid``, ``box``, ...).

    The arrays are copies and read-only: a Dataset is a value, not a buffer.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str
    feature_range: tuple[float, float]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2; got {self.n_classes!r}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        try:
            lo, hi = (float(v) for v in self.feature_range)
        except (TypeError, ValueError):
            raise ValueError(f"feature_range must be a pair (lo, hi) of numbers; got {self.feature_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"feature_range must be finite with lo < hi; got {self.feature_range!r}")
        object.__setattr__(self, "feature_range", (lo, hi))
        x_train = _as_features(self.x_train, "x_train")
        x_test = _as_features(self.x_test, "x_test")
        if x_train.shape[0] < 1:
            raise ValueError("the training set is empty (x_train has 0 rows); a Dataset needs n_train >= 1")
        if x_train.shape[1] < 1:
            raise ValueError("x_train has 0 features; a Dataset needs n_features >= 1")
        if x_test.shape[1] != x_train.shape[1]:
            raise ValueError(
                f"x_test has {x_test.shape[1]} features but x_train has {x_train.shape[1]}; they must match"
            )
        tol = _RANGE_TOL * max(1.0, hi - lo)
        for what, x in (("x_train", x_train), ("x_test", x_test)):
            if x.size and (x.min() < lo - tol or x.max() > hi + tol):
                raise ValueError(
                    f"{what} has features in [{x.min():.6g}, {x.max():.6g}], outside the declared "
                    f"feature_range ({lo:.6g}, {hi:.6g}); use a fixed map with clipping (scale_to_angles) "
                    "or declare the true bounded range"
                )
        object.__setattr__(self, "x_train", x_train)
        object.__setattr__(self, "x_test", x_test)
        object.__setattr__(self, "y_train", _as_labels(self.y_train, x_train.shape[0], self.n_classes, "y_train"))
        object.__setattr__(self, "y_test", _as_labels(self.y_test, x_test.shape[0], self.n_classes, "y_test"))
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        lo, hi = self.feature_range
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}, feature_range=({lo:.4g}, {hi:.4g}))"
        )


def public_indices(n_train: int, n_public: int, *, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``n_train`` training rows are declared public: ``(public, private)`` row indices.

    ``seed``: an integer chooses the ``n_public`` public rows by a permutation seeded with it;
    ``None`` takes the first ``n_public`` rows (for a training set that is already in a random
    order, such as the training part of a shuffled train/test split). Both index arrays are
    sorted, disjoint and cover ``0..n_train-1``. ``n_public`` must be in ``1..n_train-1``: at
    least one example stays private.
    """
    if isinstance(n_public, bool) or not isinstance(n_public, (int, np.integer)):
        raise ValueError(f"n_public must be an integer in 1..{n_train - 1}; got {n_public!r}")
    if not 1 <= n_public <= n_train - 1:
        raise ValueError(
            f"n_public must be in 1..{n_train - 1} (n_train={n_train}, and at least one example "
            f"must stay private); got {n_public}"
        )
    order = np.arange(n_train) if seed is None else np.random.default_rng(seed).permutation(n_train)
    return np.sort(order[:n_public]), np.sort(order[n_public:])


def public_split(ds: Dataset, n_public: int, *, seed: int | None = 0) -> tuple[Dataset, Dataset]:
    """Declare ``n_public`` training examples public; return ``(public, private)``.

    Use this only when those examples really are public (released data, a consenting
    subset, a different source): whatever is fitted on ``public`` (a scaler, a PCA) is then
    free under DP, while ``private`` (the remaining ``n_train - n_public`` examples) is what a
    DP run trains on. The examples are chosen by a permutation seeded with ``seed``
    (``None``: the first ``n_public`` training examples; see :func:`public_indices`); both
    results keep ``ds``'s test set. ``public.meta["split"] == "public"``,
    ``private.meta["split"] == "private"``, and both record ``n_public``.
    """
    pub, priv = public_indices(ds.n_train, n_public, seed=seed)
    common = {"n_public": int(n_public), "public_split_seed": seed}
    public = replace(ds, x_train=ds.x_train[pub], y_train=ds.y_train[pub],
                     meta={**ds.meta, **common, "split": "public"})
    private = replace(ds, x_train=ds.x_train[priv], y_train=ds.y_train[priv],
                      meta={**ds.meta, **common, "split": "private"})
    return public, private
