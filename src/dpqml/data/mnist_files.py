"""MNIST-style image files read from a local path: four IDX files or one NPZ archive.

Nothing is downloaded. ``path`` is either

* a directory holding the four classic IDX files, each optionally gzip-compressed::

      train-images-idx3-ubyte   train-labels-idx1-ubyte
      t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

  (the names of both MNIST and Fashion-MNIST; ``train-images.idx3-ubyte`` with a dot is
  accepted too), or
* an ``.npz`` archive with arrays ``x_train, y_train, x_test, y_test``, as keras'
  ``mnist.npz``; images ``(N, H, W)``, or ``(N, H·W)`` with a square ``H·W``.

The file type is recognised from the content (zip, gzip or IDX magic bytes), not the name.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .idx import parse_idx, read_bytes

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _candidates(stem: str) -> list[str]:
    dotted = stem.replace("-idx", ".idx")
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def read_npz(path) -> dict[str, np.ndarray]:
    """Read ``x_train, y_train, x_test, y_test`` from an NPZ archive (no pickled objects).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not an NPZ (zip) archive, holds object arrays, or lacks a key
            (the message names the file and the keys it has).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NPZ file {str(path)!r} does not exist (or is not a file)")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head not in _ZIP_MAGIC:
        raise ValueError(f"{path}: not an NPZ archive: an NPZ file is a zip archive starting with 'PK', "
                         f"this one starts with {head!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            arrays = {k: np.asarray(npz[k]) for k in NPZ_KEYS if k in files}
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable NPZ archive ({e})") from None
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{path}: NPZ archive lacks {missing}; it has {sorted(files)}, "
                         f"an MNIST-style archive needs {list(NPZ_KEYS)}")
    return arrays


def _read_idx_dir(directory: Path) -> dict[str, np.ndarray]:
    arrays, missing = {}, []
    for key, stem in IDX_FILES.items():
        found = next((directory / c for c in _candidates(stem) if (directory / c).is_file()), None)
        if found is None:
            missing.append(stem)
            continue
        arrays[key] = parse_idx(read_bytes(found), source=str(found))
    if missing:
        present = sorted(p.name for p in directory.iterdir())[:8]
        raise FileNotFoundError(
            f"directory {str(directory)!r} lacks the IDX files {missing} (each may end in .gz); it holds "
            f"{present}. Nothing is downloaded: copy the MNIST-style files there, or pass an .npz archive"
        )
    return arrays


def _check_split(images: np.ndarray, labels: np.ndarray, split: str, source: str) -> np.ndarray:
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"{source}: x_{split} has shape {images.shape}; flat images need a square "
                             "number of pixels to be reshaped to (N, H, W)")
        images = images.reshape(images.shape[0], side, side)
    if images.ndim != 3:
        raise ValueError(f"{source}: x_{split} must have shape (N, H, W); got {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{source}: y_{split} must have shape ({images.shape[0]},), one label per image; "
                         f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{source}: y_{split} must hold integer labels 0..9; got dtype {labels.dtype}")
    bad = (labels < 0) | (labels > 9)
    if bad.any():
        raise ValueError(f"{source}: y_{split} has labels outside 0..9: {sorted({int(v) for v in labels[bad]})[:5]}")
    return images


def load_mnist_files(path) -> dict[str, np.ndarray]:
    """Raw MNIST-style arrays from a local directory of IDX files or an NPZ archive.

    Returns:
        ``{"x_train": (N_train, H, W), "y_train": (N_train,) int64, "x_test": (N_test, H, W),
        "y_test": (N_test,) int64}``; images keep their stored dtype (uint8 for MNIST).

    Raises:
        ValueError: ``path`` is None, or a file is not IDX/NPZ, or shapes/labels are wrong.
        FileNotFoundError: ``path`` (or one of the four IDX files) does not exist.
    """
    if path is None:
        raise ValueError("path is required: MNIST-style data is read from local files (a directory with the "
                         "four IDX files, or an .npz archive); nothing is downloaded")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path={str(path)!r} does not exist; give a directory with the four MNIST-style "
                                "IDX files or an .npz archive with x_train, y_train, x_test, y_test")
    if p.is_dir():
        arrays, source = _read_idx_dir(p), str(p)
    else:
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head in _ZIP_MAGIC:
            arrays, source = read_npz(p), str(p)
        else:
            try:
                parse_idx(read_bytes(p), source=p.name)
            except ValueError as e:
                raise ValueError(f"{p}: neither an NPZ archive (a zip file, starting with 'PK') nor an IDX file "
                                 f"({e})") from None
            raise ValueError(f"{p}: is a single IDX file, which holds only images or only labels; pass the "
                             "directory holding all four IDX files")
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"] = _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], split, source)
        out[f"y_{split}"] = arrays[f"y_{split}"].astype(np.int64)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise ValueError(f"{source}: training images are {out['x_train'].shape[1:]} but test images are "
                         f"{out['x_test'].shape[1:]}; both must have the same size")
    return out
