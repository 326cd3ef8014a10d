"""Loading and checking the data files, and the pure preprocessing that follows."""
import dataclasses

import numpy as np

from convae.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from convae.params import Param, integer, real


@dataclasses.dataclass
class Split:
    """The (images, targets) a run trains on and those it validates on."""
    train: tuple
    validation: tuple


@dataclasses.dataclass
class IdxData:
    path: str
    array: np.ndarray
    md5: str  # of the uncompressed content, as in MNIST's published checksums


def load_images(path):
    """Read an idx images file; raise ValueError/OSError with a one-line reason when it is bad."""
    array, md5 = read_idx(path, IMAGES_MAGIC)
    if len(array) == 0:
        raise ValueError(f"{path}: holds no images")
    if min(array.shape[1:]) < 1:
        raise ValueError(f"{path}: images of size {array.shape[1]}x{array.shape[2]}")
    return IdxData(path, array, md5)


def load_labels(path):
    """Read an idx labels file (see `load_images`)."""
    array, md5 = read_idx(path, LABELS_MAGIC)
    if len(array) == 0:
        raise ValueError(f"{path}: holds no labels")
    return IdxData(path, array, md5)


def check_pair(images, labels):
    """Images and their labels must be as many."""
    if len(images.array) != len(labels.array):
        raise ValueError(f"{labels.path}: {len(labels.array)} labels for the {len(images.array)} images "
                         f"in {images.path}; expected as many labels as images")


def check_same_size(train, test):
    """Test images must have the training images' size."""
    if train.array.shape[1:] != test.array.shape[1:]:
        raise ValueError(f"{test.path}: images of {shape_text(test.array.shape[1:])}, but the training images "
                         f"are {shape_text(train.array.shape[1:])}; expected the same size")


def check_classes(labels, classes):
    """All labels must lie in 0..classes-1."""
    bad = labels.array >= classes
    if bad.any():
        raise ValueError(f"{labels.path}: label {int(labels.array[bad][0])} at index {int(np.argmax(bad))} "
                         f"is outside the {classes} classes of the training labels (0 to {classes - 1})")


def shape_text(shape):
    """A shape as the messages write it: 28x28x1."""
    return "x".join("?" if n is None else str(n) for n in shape)


def to_float(images):
    """uint8 images (N, rows, cols) -> float32 (N, rows, cols, 1) scaled to [0, 1]."""
    return (images.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def split_indices(count, val_split, seed, labels=None):
    """Seeded split of range(count) into (train, validation) index arrays.

    With labels the split is stratified, so that every class keeps its share in both parts.
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(count)
        n_val = max(1, int(round(count * val_split)))
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    train, val = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(len(members) * val_split))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def class_counts(labels, classes):
    """How many of `labels` fall in each class, as a list."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes).tolist()


def settings(val_split, val_split_help):
    """The settings both scripts share: --limit, --val-split (default and help text per script), --seed."""
    return [
        Param("limit", integer(1), None, "use only the first N training images, for quick trials", fit=fit_limit,
              metavar="N", shown_default="all"),
        Param("val_split", real(0.01, 0.9, hi_inclusive=True), val_split,
              val_split_help, metavar="R"),
        Param("seed", integer(0), 1, "random seed: the same seed repeats an experiment exactly", metavar="N"),
    ]


def fit_limit(value, values):
    """--limit must not ask for more images than the file holds."""
    if value > values["n_images"]:
        raise ValueError(f"expected at most {values['n_images']} (the images in the file), got {value}")
    return value


def fit_batch_size(value, values):
    """A batch must not be larger than the training images that the split left (values["n_train"],
    from split_indices itself, so that the check and the training agree)."""
    if value > values["n_train"]:
        raise ValueError(f"expected at most {values['n_train']}, the number of training images after the "
                         "validation split")
    return value
