"""IDX reader: returns exactly what was written; hand-built headers; clear errors for non-IDX files."""

import gzip
import struct

import numpy as np
import pytest

from dpqml.data import read_idx, write_idx
from dpqml.data.idx import parse_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_returns_exactly_the_array_written(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)


def test_hand_built_bytes_are_read_big_endian():
    # uint8 vector [1, 2, 3]: magic 00 00 08 01, size 3
    assert parse_idx(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 3])).tolist() == [1, 2, 3]
    # int16 vector [256, -2]: big-endian 01 00 and ff fe
    raw = b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + b"\x01\x00\xff\xfe"
    assert parse_idx(raw).tolist() == [256, -2]
    # the MNIST image-file header: uint8, 3-D, 2 × 28 × 28
    raw = bytes.fromhex("00000803") + struct.pack(">3I", 2, 28, 28) + bytes(range(256)) * 6 + bytes(32)
    images = parse_idx(raw)
    assert images.shape == (2, 28, 28) and images[0, 0, 5] == 5


def test_the_file_written_has_the_classic_header(tmp_path):
    raw = write_idx(tmp_path / "labels-idx1-ubyte", np.array([7, 2, 1], dtype=np.uint8)).read_bytes()
    assert raw == bytes.fromhex("00000801") + struct.pack(">I", 3) + bytes([7, 2, 1])
    gz = write_idx(tmp_path / "labels-idx1-ubyte.gz", np.array([7, 2, 1], dtype=np.uint8)).read_bytes()
    assert gzip.decompress(gz) == raw


def test_a_text_file_is_not_idx_and_the_error_names_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello world")
    with pytest.raises(ValueError, match=r"notes\.txt: not an IDX file: the magic number starts with bytes 0x68"):
        read_idx(path)


@pytest.mark.parametrize("raw,what", [
    (b"\x00\x00", "shorter than the 4-byte magic number"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown data-type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", r"declares shape \(5,\).*holds 2 data bytes \(truncated\)"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", r"trailing bytes"),
])
def test_malformed_idx_is_refused_saying_what_is_wrong(tmp_path, raw, what):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=what):
        read_idx(path)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(ValueError, match="gzip-compressed but cannot be decompressed"):
        read_idx(path)


def test_missing_file_and_unsupported_dtype(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope")
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
