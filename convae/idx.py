"""Readers and a writer for the idx format of the MNIST files (gzipped or not).

An idx file is a big-endian header (two zero bytes, a type code, the number of dimensions, then
one 32-bit size per dimension) followed by the raw values. MNIST uses type 0x08 (unsigned byte):
magic 2051 for images (3 dimensions) and 2049 for labels (1 dimension).
"""
import gzip
import os
import zlib

import numpy as np

from convae.files import md5_hex, write_bytes_atomic

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
_GZIP_MAGIC = b"\x1f\x8b"
_PNG_MAGIC = b"\x89PNG"
_HDF5_MAGIC = b"\x89HDF"


def read_idx_images(path):
    """Read an idx images file into a uint8 array of shape (N, rows, cols)."""
    return read_idx(path, IMAGES_MAGIC)[0]


def read_idx_labels(path):
    """Read an idx labels file into a uint8 array of shape (N,)."""
    return read_idx(path, LABELS_MAGIC)[0]


def read_idx(path, magic):
    """Read an idx file that must carry `magic`; return (array, md5 of the uncompressed content)."""
    data = _read_content(path)
    return _parse(path, data, magic), md5_hex(data)


def write_idx(path, array):
    """Write a uint8 array of 1 to 3 dimensions as idx, gzipped when `path` ends in .gz."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 3:
        raise ValueError(f"write_idx takes a uint8 array of 1 to 3 dimensions, got {array.dtype} with {array.ndim}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    write_bytes_atomic(path, data)


def _read_content(path):
    """Return the file's bytes, decompressed when they start with the gzip magic bytes."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a directory, expected an idx file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise OSError(f"{path}: cannot read ({e.strerror or e})") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt gzip stream ({e})") from None
    return data


def _parse(path, data, magic):
    expected = f"an idx {_KIND[magic]} file (magic {magic})"
    if not data:
        raise ValueError(f"{path}: empty file, expected {expected}")
    if len(data) < 4:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes), expected {expected}")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: {_describe(data, found)}, expected {expected}")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes, expected {header_size})")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    payload = len(data) - header_size
    size = int(np.prod(shape, dtype=np.int64))
    what = " x ".join(str(n) for n in shape)
    if payload < size:
        raise ValueError(f"{path}: truncated data: the header promises {what} = {size} bytes, found {payload}")
    if payload > size:
        raise ValueError(f"{path}: {payload - size} trailing bytes after the {what} = {size} bytes the header promises")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _describe(data, found):
    """Say what a file with the wrong magic number seems to be."""
    if found in _KIND:
        return f"holds {_KIND[found]} (magic {found})"
    if data.startswith(_PNG_MAGIC):
        return "is a PNG image, not an idx file"
    if data.startswith(_HDF5_MAGIC):
        return "is an HDF5 file (a saved model?), not an idx file"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in data[:64]):
        return "is a text file, not an idx file"
    return f"is not an idx file (magic {found:#010x})"
