"""What the benchmark scripts share: where the full MNIST is, and which machine this is."""
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


def machine():
    """The CPU's model name and the cores this process may use, for the line a benchmark prints first."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"
