"""Building blocks of the MNIST convolutional autoencoder and classifier.

The command-line scripts at the top of the repository are thin; the work is done here, one
concern per module. Importing this package imports neither TensorFlow nor matplotlib: the
modules that need them import them when first used, so that `--help` and file checks are fast.
"""
