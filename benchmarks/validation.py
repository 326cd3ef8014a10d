"""Compare saved classifiers on the validation images that all of them held out in training.

usage: python benchmarks/validation.py [-d IMAGES -dl LABELS] CLASSIFIER.h5 [CLASSIFIER.h5 ...]

Runs with other --val-split values have different validation sets, so their validation
accuracies are not comparable. With the same seed, the stratified split of a smaller share is a
subset of that of a larger one, so every model can be scored on the smallest one, which none of
them trained on. Each model's JSON (beside its .h5) records the checksums of its training files,
its seed and its split; the models must agree on the files and the seed, and -d and -dl (default:
the full MNIST in datasets/mnist) must be those files. Each model predicts as classification.py
classified the test set with it: averaged over the shifted views its JSON records (--tta), unless
--tta says otherwise. The test set is not read.

Each model after the first is also compared with the first image by image: how many images only
one of the two got wrong, and the exact McNemar p-value, the chance of a split at least that
uneven between the two if both models were equally good. Counts of wrong images that differ by a
few are not a difference where p is large.
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from convae import data, metrics  # noqa: E402
from convae.backend import keras  # noqa: E402
from convae.networks import VIEWS, averaged_over_shifts  # noqa: E402
from convae.records import description_path  # noqa: E402
from benchmarks.common import mnist_dir  # noqa: E402

MNIST = mnist_dir()


def description(path):
    """The split and training files recorded in the JSON beside a classifier's .h5."""
    try:
        with open(description_path(path)) as f:
            record = json.load(f)
        settings, files = record["settings"], record["data"]
        return {"seed": settings["seed"], "val_split": settings["val_split"], "limit": settings["limit"],
                "tta": settings.get("tta", 1),
                "images": files["train_images"]["md5"], "labels": files["train_labels"]["md5"]}
    except OSError as e:
        raise SystemExit(f"error: {path}: cannot read its description {description_path(path)} ({e.strerror})")
    except (ValueError, KeyError, TypeError):
        raise SystemExit(f"error: {description_path(path)} does not describe a classifier made by classification.py")


def shared_validation(records, images_path, labels_path):
    """The images and labels held out by every record's split; SystemExit where the records disagree."""
    keys = {(r["seed"], r["limit"], r["images"], r["labels"]) for r in records}
    if len(keys) > 1:
        raise SystemExit("error: the models differ in seed, --limit or training files, so their validation sets "
                         "are not comparable")
    seed, limit, images_md5, labels_md5 = keys.pop()
    try:
        images, labels = data.load_images(images_path), data.load_labels(labels_path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    if (images.md5, labels.md5) != (images_md5, labels_md5):
        raise SystemExit(f"error: {images_path} and {labels_path} are not the files the models were trained on")
    labels = labels.array[:limit]
    held_out = [set(data.split_indices(len(labels), r["val_split"], seed, labels)[1]) for r in records]
    indices = np.array(sorted(set.intersection(*held_out)))
    return data.to_float(images.array[:limit][indices]), labels[indices]


mcnemar_p = metrics.mcnemar_p  # in the package: a sweep's ensemble reports it too


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", default=os.path.join(MNIST, "train-images-idx3-ubyte.gz"), metavar="IMAGES",
                        help="the training images the models were trained on (default: %(default)s)")
    parser.add_argument("-dl", default=os.path.join(MNIST, "train-labels-idx1-ubyte.gz"), metavar="LABELS",
                        help="their labels (default: %(default)s)")
    parser.add_argument("--tta", type=int, choices=VIEWS, metavar="{1,5,9}",
                        help="the views each model's predictions are averaged over (default: as its JSON records, "
                             "classification.py's --tta)")
    parser.add_argument("models", nargs="+", metavar="CLASSIFIER.h5")
    args = parser.parse_args()
    records = [description(path) for path in args.models]
    x, y = shared_validation(records, args.d, args.dl)
    print(f"{len(y)} validation images held out by every model")
    first = None
    for path, record in zip(args.models, records):
        views = args.tta or record["tta"]
        model = averaged_over_shifts(keras().models.load_model(path, compile=False), views)
        wrong = np.argmax(model.predict(x, batch_size=500, verbose=0), axis=1) != y
        print(f"{path} ({views} view{'s' if views > 1 else ''}): {int(wrong.sum())} wrong, "
              f"accuracy {100 * (1 - wrong.mean()):.2f}%")
        if first is None:
            first = wrong
            continue
        only_first, only_this = int(np.sum(first & ~wrong)), int(np.sum(wrong & ~first))
        print(f"  against {args.models[0]}: {only_this} wrong only here, {only_first} only there; "
              f"McNemar p = {mcnemar_p(only_first, only_this):.2f}")


if __name__ == "__main__":
    main()
