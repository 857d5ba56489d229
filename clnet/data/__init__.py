"""Small data sets shipped with clnet, so examples and tests run offline.

Owns the files under `clnet/data/` and their loaders. Iterators over them are `mx.io`'s job.

`digits.csv.gz`: the UCI "Optical Recognition of Handwritten Digits" data set, 8x8 version
(the test part of the original: 1797 samples, 10 classes, pixels 0..16; one CSV row per
sample, 64 pixels then the label). Created by E. Alpaydin and C. Kaynak (1998),
https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits, licensed
CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). The file is byte-identical to
`sklearn/datasets/data/digits.csv.gz` of scikit-learn 1.9.1.
"""
from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

__all__ = ["load_digits", "DIGITS_SAMPLES"]

DIGITS_SAMPLES = 1797


def load_digits() -> tuple:
    """The 8x8 handwritten digits shipped with clnet.

    Returns
    -------
    images : numpy.ndarray
        float32, shape (1797, 64): row-major 8x8 images scaled from 0..16 to [0, 1].
    labels : numpy.ndarray
        int32, shape (1797,): the digit 0..9 of each image.

    Examples
    --------
    >>> from clnet.data import load_digits
    >>> x, y = load_digits()
    >>> x.shape, y.shape
    ((1797, 64), (1797,))
    """
    ref = resources.files(__name__).joinpath("digits.csv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    images = table[:, :-1] / np.float32(16)
    labels = table[:, -1].astype(np.int32)
    return np.ascontiguousarray(images), labels
