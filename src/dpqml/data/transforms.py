"""Fixed, data-independent feature transforms: pooling, flattening, clipping, angle scaling.

Every transform here is a function of constants known before any data is seen (an image
grid, a pixel range such as ``0..16`` or ``0..255``, a generator's bounding box), never of
statistics of the data. They are therefore free under differential privacy: applying them to
the private training set releases nothing (DESIGN.md, DP-SGD pitfall 8). Anything fitted to
data lives in :mod:`dpqml.data.fitted` and is refused on private data.
"""

from __future__ import annotations

import numpy as np


def check_range(value, what: str) -> tuple[float, float]:
    """``value`` as a pair ``(lo, hi)`` of finite floats with ``lo < hi``; ValueError otherwise."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (lo, hi) of numbers; got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{what} must be finite with lo < hi; got {value!r}")
    return lo, hi


def clip_to_box(x, lo, hi) -> np.ndarray:
    """Clip features into the fixed box ``[lo, hi]``.

    Args:
        x: ``(n_examples, n_features)`` features.
        lo, hi: scalars or ``(n_features,)`` arrays, constants fixed before seeing the data.

    Returns:
        ``(n_examples, n_features)`` float64 array with ``lo <= x <= hi``.
    """
    x = np.asarray(x, dtype=np.float64)
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), x.shape[-1:])
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), x.shape[-1:])
    if np.any(lo >= hi):
        raise ValueError(f"the box needs lo < hi in every feature; got lo={lo.tolist()}, hi={hi.tolist()}")
    return np.clip(x, lo, hi)


def scale_to_angles(x, lo, hi, angle_range=(0.0, np.pi), *, clip: bool = False) -> np.ndarray:
    """Fixed affine map of the box ``[lo, hi]`` onto ``angle_range = (a, b)``, per feature.

    ``φ = a + (x - lo) / (hi - lo) · (b - a)``, so ``lo ↦ a`` and ``hi ↦ b``. ``lo`` and ``hi``
    must be known before seeing the data (a pixel range, a generator's box); the data's own
    minimum and maximum would leak (use :class:`dpqml.data.fitted.MinMaxScaler` on a public
    split for that).

    Args:
        x: ``(n_examples, n_features)`` features.
        lo, hi: scalars or ``(n_features,)`` arrays with ``lo < hi``.
        angle_range: the output range ``(a, b)``, ``a < b``; default ``(0, π)``.
        clip: clip ``x`` into ``[lo, hi]`` first; if False, a feature outside the box is an error.

    Returns:
        ``(n_examples, n_features)`` float64 array in ``[a, b]``.
    """
    a, b = check_range(angle_range, "angle_range")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (n_examples, n_features); got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values; a fixed angle map needs finite features")
    clipped = clip_to_box(x, lo, hi)
    if not clip and not np.array_equal(clipped, x):
        raise ValueError(
            f"features lie in [{x.min():.6g}, {x.max():.6g}], outside the declared box "
            f"[{np.min(lo):.6g}, {np.max(hi):.6g}]; pass clip=True to clip them, or declare the true box"
        )
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), x.shape[-1:])
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), x.shape[-1:])
    return a + (clipped - lo) / (hi - lo) * (b - a)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def reachable_n_features(image_shape: tuple[int, int]) -> list[int]:
    """Feature counts that average pooling of ``(H, W)`` images onto a grid can give.

    A grid ``(gh, gw)`` is reachable when ``gh`` divides ``H`` and ``gw`` divides ``W``
    (non-overlapping blocks of ``H/gh × W/gw`` pixels); it gives ``gh · gw`` features.
    For 8×8 digits: ``[1, 2, 4, 8, 16, 32, 64]``; for 28×28 MNIST: ``[1, 2, 4, 7, 8, 14, ...]``.
    """
    h, w = image_shape
    return sorted({gh * gw for gh in _divisors(h) for gw in _divisors(w)})


def pool_grid(n_features: int, image_shape: tuple[int, int]) -> tuple[int, int]:
    """The pooling grid ``(gh, gw)`` that gives ``n_features = gh · gw`` features.

    Of the grids with ``gh | H`` and ``gw | W``, the most nearly square one is chosen, with
    ``gh <= gw`` on a tie (``n_features = 2`` on 8×8 images: ``(1, 2)``, left and right halves).
    ValueError, naming the reachable values, if there is none.
    """
    h, w = image_shape
    grids = [(gh, n_features // gh) for gh in _divisors(h)
             if n_features % gh == 0 and w % (n_features // gh) == 0]
    if not grids:
        raise ValueError(
            f"n_features={n_features} cannot be reached by average pooling {h}×{w} images onto a grid; "
            f"reachable values are {reachable_n_features(image_shape)}"
        )
    return min(grids, key=lambda g: (abs(g[0] - g[1]), g[0] > g[1]))


def average_pool(images, grid: tuple[int, int]) -> np.ndarray:
    """Average pooling (downsampling) of images onto a ``grid`` of non-overlapping blocks.

    Args:
        images: ``(n_images, H, W)``.
        grid: ``(gh, gw)`` with ``gh | H`` and ``gw | W``.

    Returns:
        ``(n_images, gh, gw)`` float64: entry ``[n, i, j]`` is the mean of the block of rows
        ``i·H/gh .. (i+1)·H/gh - 1`` and columns ``j·W/gw .. (j+1)·W/gw - 1`` of image ``n``.
        Means stay within the pixel range, so the fixed pixel range still bounds them.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be a 3-D array (n_images, H, W); got shape {images.shape}")
    n, h, w = images.shape
    gh, gw = (int(g) for g in grid)
    if gh < 1 or gw < 1 or h % gh or w % gw:
        raise ValueError(
            f"grid={tuple(grid)} does not tile {h}×{w} images: rows must divide {h} (one of {_divisors(h)}) "
            f"and columns must divide {w} (one of {_divisors(w)})"
        )
    return images.reshape(n, gh, h // gh, gw, w // gw).mean(axis=(2, 4))


def flatten_images(images) -> np.ndarray:
    """``(n_images, H, W)`` → ``(n_images, H · W)``, row-major (pixel ``[i, j]`` is feature ``i·W + j``)."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be a 3-D array (n_images, H, W); got shape {images.shape}")
    return images.reshape(images.shape[0], -1)
