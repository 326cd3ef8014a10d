# Sourced by the benchmark scripts, from the repository's root: MNIST (the full MNIST's folder:
# MNIST_DIR, else datasets/mnist, else a test machine's copy beside the repository) and PYTHON
# (PYTHON, else .venv/bin/python where it exists, else python3).
MNIST=${MNIST_DIR:-datasets/mnist}
[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || [ -n "${MNIST_DIR:-}" ] || MNIST=../shared/datasets/mnist
[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || { echo "error: no MNIST found; run: python datasets/download.py" >&2; exit 1; }
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
