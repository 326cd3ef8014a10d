"""The idx readers on good files, on every kind of bad file, and on the full MNIST where present."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from conftest import MNIST, needs
from utilities import read_idx_images, read_idx_labels, write_idx


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
@pytest.mark.parametrize("shape", [(5, 28, 28), (1, 3, 7), (2, 32, 29)])
def test_images_round_trip(tmp_path, name, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    write_idx(tmp_path / name, array)
    back = read_idx_images(str(tmp_path / name))
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("name", ["y.idx", "y.gz"])
def test_labels_round_trip(tmp_path, name):
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / name, labels)
    np.testing.assert_array_equal(read_idx_labels(str(tmp_path / name)), labels)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    write_idx(tmp_path / "plain.idx", np.zeros((2, 4, 4), np.uint8))
    (tmp_path / "misnamed.idx").write_bytes(gzip.compress((tmp_path / "plain.idx").read_bytes()))
    assert read_idx_images(str(tmp_path / "misnamed.idx")).shape == (2, 4, 4)
    (tmp_path / "plain.gz").write_bytes((tmp_path / "plain.idx").read_bytes())
    assert read_idx_images(str(tmp_path / "plain.gz")).shape == (2, 4, 4)


def test_a_gz_name_is_written_compressed_and_the_same_bytes_every_time(tmp_path):
    array = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    written = (tmp_path / "a.gz").read_bytes()
    assert written[:2] == b"\x1f\x8b" and written == (tmp_path / "b.gz").read_bytes()
    assert written[4:8] == b"\0\0\0\0"  # the header's time stamp (RFC 1952) left at zero: not the time of writing
    write_idx(tmp_path / "a.idx", array)
    assert gzip.decompress(written) == (tmp_path / "a.idx").read_bytes()
    assert (tmp_path / "a.idx").read_bytes()[:8] == bytes([0, 0, 8, 3, 0, 0, 0, 3])


@pytest.mark.parametrize("array", [np.zeros((2, 2), np.float32), np.zeros((1, 2, 2, 1), np.uint8),
                                   np.zeros((), np.uint8)])
def test_write_idx_refuses_what_idx_readers_here_would_not_read_back(tmp_path, array):
    with pytest.raises(ValueError, match="write_idx takes a uint8 array of 1 to 3 dimensions"):
        write_idx(tmp_path / "x.idx", array)
    assert not (tmp_path / "x.idx").exists()


def good_images():
    return bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2 + bytes(18)


BAD_FILES = {  # name: (content, exception type, words the message must hold)
    "empty": (b"", ValueError, "empty file"),
    "short_header": (bytes([0, 0, 8]), ValueError, "truncated header"),
    "cut_sizes": (good_images()[:10], ValueError, "truncated header"),
    "cut_payload": (good_images()[:-1], ValueError, "truncated data"),
    "trailing": (good_images() + b"\0\0", ValueError, "2 trailing bytes"),
    "labels_as_images": (bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3), ValueError, "holds labels"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(40), ValueError, "is a PNG image, not an idx file"),
    "hdf5": (b"\x89HDF\r\n\x1a\n" + bytes(40), ValueError, "is an HDF5 file (a saved model?), not an idx file"),
    "text": (b"hello, these are not images\n" * 3, ValueError, "text file"),
    "corrupt_gzip": (gzip.compress(good_images())[:-12] + b"garbage!", ValueError, "corrupt gzip"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_image_files(tmp_path, case):
    content, error, words = BAD_FILES[case]
    path = tmp_path / f"{case}.idx"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        read_idx_images(str(path))
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message


def test_images_given_as_labels(tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(good_images())
    with pytest.raises(ValueError, match="holds images .*expected an idx labels file"):
        read_idx_labels(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(OSError, match="no such file"):
        read_idx_images(str(tmp_path / "nothing.gz"))
    with pytest.raises(OSError, match="is a directory"):
        read_idx_images(str(tmp_path))


def test_truncated_payload_says_expected_and_found(tmp_path):
    path = tmp_path / "cut.idx"
    path.write_bytes(good_images()[:-5])
    with pytest.raises(ValueError, match=r"2 x 3 x 3 = 18 bytes, found 13"):
        read_idx_images(str(path))


@needs(MNIST)
def test_full_mnist():
    train = read_idx_images(os.path.join(MNIST, "train-images-idx3-ubyte.gz"))
    labels = read_idx_labels(os.path.join(MNIST, "train-labels-idx1-ubyte.gz"))
    test = read_idx_images(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz"))
    test_labels = read_idx_labels(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz"))
    assert train.shape == (60000, 28, 28) and test.shape == (10000, 28, 28)
    assert len(labels) == 60000 and len(test_labels) == 10000
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (60000, 28, 28))
    assert hashlib.md5(header + train.tobytes()).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    # one view on the decompressed bytes, not an array assembled image by image
    assert not train.flags.owndata
