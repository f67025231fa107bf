"""Reading and writing IDX files (the format of the classic MNIST and Fashion-MNIST files).

IDX layout (LeCun et al., http://yann.lecun.com/exdb/mnist/), all integers big-endian:

==========  =====================================================================
bytes 0-1   zero
byte 2      data-type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
            0x0D float32, 0x0E float64
byte 3      number of dimensions ``ndim``
next        ``ndim`` sizes, each an unsigned 32-bit integer
rest        the data, C order, exactly ``prod(sizes)`` items of the declared type
==========  =====================================================================

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 EA 60 | 00 00 00 1C | 00 00 00 1C``
(uint8, 3-D, 60000 × 28 × 28). Files may be gzip-compressed (``.gz``); compression is
recognised from the content, not the name.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODE_OF = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, gunzipped if it starts with the gzip magic ``1f 8b``."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: looks gzip-compressed but cannot be decompressed ({e})") from None
    return raw


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of the declared shape.

    Returns an array in native byte order with the IDX data type (``uint8`` for MNIST).
    Raises ValueError naming ``source`` and what is wrong: a bad magic number, an unknown
    data-type code, a truncated header, or a data size that disagrees with the header.
    """
    if len(raw) < 4:
        raise ValueError(f"{source}: not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{source}: not an IDX file: the magic number starts with bytes {raw[0]:#04x} {raw[1]:#04x}; "
            "an IDX file starts with two zero bytes"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"{k:#04x}" for k in IDX_DTYPES)
        raise ValueError(f"{source}: not an IDX file: unknown data-type code {code:#04x} (valid codes: {valid})")
    if ndim < 1:
        raise ValueError(f"{source}: IDX header declares 0 dimensions; need at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header} header bytes, the file has {len(raw)}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    count = int(np.prod(dims, dtype=np.int64))
    expected, actual = count * dtype.itemsize, len(raw) - header
    if actual != expected:
        raise ValueError(
            f"{source}: IDX header declares shape {tuple(dims)} of {dtype.newbyteorder('=').name} "
            f"({expected} data bytes) but the file holds {actual} data bytes "
            f"({'truncated' if actual < expected else 'trailing bytes'})"
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) from a local path.

    Args:
        path: file path; ``train-images-idx3-ubyte[.gz]`` gives ``(60000, 28, 28)`` uint8,
            ``train-labels-idx1-ubyte[.gz]`` gives ``(60000,)`` uint8.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a file.
        ValueError: the content is not a well-formed IDX file (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist (or is not a file)")
    return parse_idx(read_bytes(path), source=str(path))


def write_idx(path, array) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``.

    ``array`` must have one of the IDX data types (uint8, int8, int16, int32, float32,
    float64) and at least one dimension. Returns the path written.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; use one of uint8, int8, int16, int32, float32, float64"
        )
    if array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"IDX stores arrays with 1..255 dimensions; got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)
    return path
