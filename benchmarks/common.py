"""What the benchmark scripts share: where the full MNIST is."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mnist_dir():
    """datasets/mnist (after `python datasets/download.py`), else a copy a test machine keeps beside
    the repository; datasets/mnist where neither exists."""
    for folder in (os.path.join(REPO, "datasets", "mnist"), os.path.join(os.path.dirname(REPO), "shared", "datasets",
                                                                        "mnist")):
        if os.path.exists(os.path.join(folder, "train-images-idx3-ubyte.gz")):
            return folder
    return os.path.join(REPO, "datasets", "mnist")
