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


def _message(tmp_path, content, reader=read_idx_images):
    path = tmp_path / "f.idx"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        reader(str(path))
    return str(info.value).replace(str(path), "PATH")


def test_a_wrong_file_is_named_for_what_it_seems_in_one_exact_line(tmp_path):
    expected = "expected an idx images file (magic 2051)"
    assert _message(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(40)) == f"PATH: is a PNG image, not an idx file, {expected}"
    assert (_message(tmp_path, b"\x89HDF\r\n\x1a\n" + bytes(40))
            == f"PATH: is an HDF5 file (a saved model?), not an idx file, {expected}")
    text = b"a" * 64 + b"\x00"  # text as far as the first 64 bytes tell
    assert _message(tmp_path, text) == f"PATH: is a text file, not an idx file, {expected}"
    assert _message(tmp_path, b"ab\x7fcd" * 8) == f"PATH: is not an idx file (magic 0x61627f63), {expected}"
    assert (_message(tmp_path, bytes([0, 0, 8, 3]))  # the magic number alone
            == "PATH: truncated header (4 bytes, expected 16)")
    assert _message(tmp_path, bytes([0, 0, 8])) == f"PATH: truncated header (3 bytes), {expected}"


def test_a_header_of_no_images_reads_as_none(tmp_path):
    path = tmp_path / "none.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    assert read_idx_images(str(path)).shape == (0, 28, 28)


def test_a_file_that_cannot_be_read_says_why(tmp_path, monkeypatch):
    from convae import idx

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    path = tmp_path / "locked.idx"
    path.write_bytes(good_images())
    monkeypatch.setattr(idx, "open", refused, raising=False)
    with pytest.raises(OSError) as info:
        read_idx_images(str(path))
    assert str(info.value) == f"{path}: cannot read (Permission denied)"


def test_a_checksum_is_the_md5_of_the_bytes():
    from convae.files import md5_hex
    assert md5_hex(b"abc") == "900150983cd24fb0d6963f7d28e17f72" == hashlib.md5(b"abc").hexdigest()


@pytest.mark.parametrize("shape", [(2 ** 24, 1, 1), (1, 1, 2 ** 24)])
def test_sizes_past_three_bytes_of_the_header_read_back(tmp_path, shape):
    images = np.zeros(shape, np.uint8)
    images.flat[-1] = 7
    write_idx(str(tmp_path / "big.idx"), images)
    back = read_idx_images(str(tmp_path / "big.idx"))
    assert back.shape == shape and back.flat[-1] == 7
