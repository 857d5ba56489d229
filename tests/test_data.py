"""clnet.data: the shipped digits load with the documented shapes, dtypes and range."""
import numpy as np

from clnet.data import DIGITS_SAMPLES, load_digits


def test_load_digits():
    x, y = load_digits()
    assert x.shape == (DIGITS_SAMPLES, 64) and x.dtype == np.float32
    assert y.shape == (DIGITS_SAMPLES,) and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))
    assert np.bincount(y).min() >= 170
