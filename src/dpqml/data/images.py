"""Image data sets: scikit-learn's 8×8 digits (embedded) and MNIST / Fashion-MNIST (local files).

Feature map, fixed before seeing any data: average-pool each ``H×W`` image onto a grid of
``gh × gw`` blocks (``n_features = gh · gw``), flatten row-major, then map the *known pixel
range* onto the angle range: digits ``[0, 16] → [0, π]``, MNIST ``[0, 255] → [0, π]``. A
block mean stays in the pixel range, so the output lies in ``angle_range`` by construction.

Classes: ``classes=(a, b)`` keeps digits ``a`` and ``b`` and relabels them ``0`` and ``1``
(in the order given); ``classes="all"`` keeps all ten with their own labels.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset
from .mnist_files import load_mnist_files
from .transforms import average_pool, check_range, flatten_images, pool_grid, scale_to_angles

DIGITS_PIXEL_RANGE = (0.0, 16.0)
MNIST_PIXEL_RANGE = (0.0, 255.0)
DEFAULT_CLASSES = (0, 1)


def parse_classes(classes) -> tuple[int, ...]:
    """``classes`` as a tuple of >= 2 distinct digits in ``0..9``; ``None`` → ``(0, 1)``, ``"all"`` → ``0..9``."""
    if classes is None:
        return DEFAULT_CLASSES
    if isinstance(classes, str):
        if classes == "all":
            return tuple(range(10))
        try:
            classes = [int(c) for c in classes.replace(",", " ").split()]
        except ValueError:
            raise ValueError(
                f"classes must be 'all' or digits in 0..9 such as (0, 1) or '3,8'; got {classes!r}"
            ) from None
    try:
        values = list(classes)
    except TypeError:
        raise ValueError(f"classes must be a sequence of digits in 0..9, such as (0, 1); got {classes!r}") from None
    if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in values):
        raise ValueError(f"classes must be integers in 0..9; got {classes!r}")
    values = [int(c) for c in values]
    bad = [c for c in values if not 0 <= c <= 9]
    if bad:
        raise ValueError(f"classes must be digits in 0..9; got {bad} in classes={tuple(values)}")
    if len(set(values)) != len(values):
        dup = sorted({c for c in values if values.count(c) > 1})
        raise ValueError(f"classes must be distinct; got classes={tuple(values)} with {dup} repeated")
    if len(values) < 2:
        raise ValueError(f"classes needs at least 2 digits (a classifier needs 2 classes); got {tuple(values)}")
    return tuple(values)


def select_classes(images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...]):
    """Keep the images whose digit is in ``classes``; relabel digit ``classes[k]`` as ``k``.

    Returns ``(images[kept], new_labels)`` with ``new_labels`` in ``0..len(classes)-1``.
    """
    lookup = np.full(10, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    new = lookup[np.asarray(labels, dtype=np.int64)]
    keep = new >= 0
    return images[keep], new[keep]


def images_to_features(images, *, n_features: int, pixel_range, angle_range=(0.0, np.pi), grid=None,
                       source: str = "images"):
    """The fixed feature map: average pooling onto a grid, flattening, pixel range → angles.

    Args:
        images: ``(N, H, W)`` with every pixel in ``pixel_range``.
        n_features: ``gh · gw``; must be reachable (see :func:`reachable_n_features`).
        pixel_range: ``(lo, hi)`` known before seeing data (digits ``(0, 16)``, MNIST ``(0, 255)``).
        angle_range: output range; ``None`` keeps pooled pixel values.
        grid: ``(gh, gw)`` to override the most nearly square grid.

    Returns:
        ``(features (N, n_features) float64, grid, feature_range)``.
    """
    images = np.asarray(images)
    h, w = images.shape[1:]
    lo, hi = check_range(pixel_range, "pixel_range")
    if images.size:
        if not np.all(np.isfinite(images)):
            raise ValueError(f"{source}: images contain NaN or infinite pixels")
        mn, mx = float(images.min()), float(images.max())
        if mn < lo or mx > hi:
            raise ValueError(
                f"{source}: pixels lie in [{mn:g}, {mx:g}], outside pixel_range=({lo:g}, {hi:g}); pass the "
                "range the pixels are known to have, e.g. pixel_range=(0, 1) for images stored as fractions"
            )
    if grid is None:
        grid = pool_grid(n_features, (h, w))
    else:
        grid = tuple(int(g) for g in grid)
        if len(grid) != 2 or grid[0] * grid[1] != n_features:
            raise ValueError(f"grid={grid} gives {np.prod(grid)} features, not n_features={n_features}")
    x = flatten_images(average_pool(images, grid))
    if angle_range is None:
        return x, grid, (lo, hi)
    a, b = check_range(angle_range, "angle_range")
    return scale_to_angles(x, lo, hi, (a, b)), grid, (a, b)


def _feature_map_text(pixel_range, grid, image_shape, angle_range) -> str:
    h, w = image_shape
    text = (f"average pooling of {h}×{w} images onto a {grid[0]}×{grid[1]} grid of {h // grid[0]}×{w // grid[1]} "
            f"blocks, flattened row-major")
    if angle_range is None:
        return text + f"; pixel values in [{pixel_range[0]:g}, {pixel_range[1]:g}] kept"
    return (text + f"; fixed map [{pixel_range[0]:g}, {pixel_range[1]:g}] → "
            f"[{angle_range[0]:.6g}, {angle_range[1]:.6g}]")


def load_digits_dataset(*, n_features: int = 4, n_train: int | None = None, n_test: int | None = None,
                        seed: int = 0, classes=None, angle_range=(0.0, np.pi), grid=None) -> Dataset:
    """scikit-learn's 8×8 handwritten digits (1797 images, pixels 0..16, shipped with the package).

    The images of ``classes`` are shuffled by a permutation seeded with ``seed``; the first
    ``n_test`` (default a quarter) form the test set, the next ``n_train`` (default: all the
    rest) the training set, so the test set does not move when ``n_train`` changes.
    """
    from sklearn.datasets import load_digits

    classes = parse_classes(classes)
    digits = load_digits()
    images, labels = select_classes(digits.images, digits.target, classes)
    n_pool = images.shape[0]
    if n_test is None:
        n_test = n_pool // 4 if n_train is None else min(n_pool // 4, max(n_pool - n_train, 0))
    if n_train is None:
        n_train = n_pool - n_test
    if n_train < 1 or n_train + n_test > n_pool:
        raise ValueError(
            f"digits with classes={classes} has {n_pool} images; n_train={n_train} + n_test={n_test} must be "
            f"at most {n_pool} with n_train >= 1"
        )
    perm = np.random.default_rng(seed).permutation(n_pool)
    test_idx, train_idx = perm[:n_test], perm[n_test:n_test + n_train]
    x, grid, feature_range = images_to_features(images, n_features=n_features, pixel_range=DIGITS_PIXEL_RANGE,
                                                angle_range=angle_range, grid=grid, source="digits")
    meta = {"source": "sklearn.datasets.load_digits", "classes": classes, "grid": grid, "seed": seed,
            "pixel_range": DIGITS_PIXEL_RANGE,
            "feature_map": _feature_map_text(DIGITS_PIXEL_RANGE, grid, (8, 8), angle_range)}
    return Dataset(x[train_idx], labels[train_idx], x[test_idx], labels[test_idx], n_classes=len(classes),
                   name="digits", feature_range=feature_range, meta=meta)


def load_mnist_dataset(*, name: str = "mnist", path=None, n_features: int = 4, n_train: int | None = None,
                       n_test: int | None = None, seed: int = 0, classes=None, angle_range=(0.0, np.pi), grid=None,
                       pixel_range=MNIST_PIXEL_RANGE) -> Dataset:
    """MNIST or Fashion-MNIST from local files (see :mod:`dpqml.data.mnist_files`).

    The files' own train/test split is kept. ``n_train`` (``n_test``) images of ``classes``
    are drawn without replacement from the training (test) file by a generator seeded with
    ``seed``; ``None`` takes them all.
    """
    classes = parse_classes(classes)
    raw = load_mnist_files(path)
    rng = np.random.default_rng(seed)
    parts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = select_classes(raw[f"x_{split}"], raw[f"y_{split}"], classes)
        n_pool = images.shape[0]
        if n is None:
            n = n_pool
        if n > n_pool:
            raise ValueError(f"{path}: the {split} file has {n_pool} images of classes={classes}; "
                             f"n_{split}={n} exceeds it")
        idx = rng.permutation(n_pool)[:n]
        parts[split] = (images[idx], labels[idx])
    if parts["train"][0].shape[0] < 1:
        raise ValueError(f"{path}: no training images of classes={classes}; the training set would be empty")
    xs = {}
    for split, (images, _) in parts.items():
        xs[split], used_grid, feature_range = images_to_features(
            images, n_features=n_features, pixel_range=pixel_range, angle_range=angle_range, grid=grid,
            source=f"{path} (x_{split})")
    image_shape = parts["train"][0].shape[1:]
    meta = {"source": str(path), "classes": classes, "grid": used_grid, "seed": seed,
            "pixel_range": tuple(float(v) for v in pixel_range),
            "feature_map": _feature_map_text(pixel_range, used_grid, image_shape, angle_range)}
    return Dataset(xs["train"], parts["train"][1], xs["test"], parts["test"][1], n_classes=len(classes),
                   name=name, feature_range=feature_range, meta=meta)
