"""CSVIter: batches from CSV files, as MXNet 1.x's C++ CSVIter makes them.

Owns parsing the data and label files and CSVIter's options. Batching and the round_batch
behaviour are MXDataIter's (files.py).
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from ..base import MXNetError, prod
from .files import MXDataIter

__all__ = ["CSVIter"]

_DTYPES = ("float32", "int32", "int64")
_IGNORED_OPTIONS = frozenset({"prefetch_buffer", "ctx", "preprocess_threads", "verbose",
                              "input_shape", "label_width", "silent"})


def _shape(owner, name, shape):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as err:
        raise MXNetError(f"{owner}: {name} must be a tuple of ints, got {shape!r}") from err
    if not shape or any(d < 1 for d in shape):
        raise MXNetError(f"{owner}: {name} must be a non-empty tuple of positive ints, "
                         f"got {shape}")
    return shape


def _load(path: str, dtype: str, shape: tuple) -> np.ndarray:
    """Rows of `path` as an array of shape (rows,) + shape."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on an empty file; we raise below
            table = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except OSError as err:
        raise MXNetError(f"CSVIter: cannot read {path!r}: {err}") from err
    except ValueError as err:
        raise MXNetError(f"CSVIter: {path!r} is not a CSV file of {dtype} numbers with the same "
                         f"number of columns on every row: {err}") from err
    if table.shape[0] == 0:
        raise MXNetError(f"CSVIter: {path!r} has no rows")
    if table.shape[1] != prod(shape):
        raise MXNetError(f"CSVIter: the rows of {path!r} have {table.shape[1]} values, but the "
                         f"shape {shape} needs {prod(shape)}; fix the shape or the file")
    return table.reshape((table.shape[0],) + shape)


class CSVIter(MXDataIter):
    """Iterate over the rows of a CSV file, each row reshaped to `data_shape`.

    Parameters
    ----------
    data_csv : str
        CSV file of the data, one example per row.
    data_shape : tuple of int
        Shape of one example (the row's values, in C order).
    label_csv : str, optional
        CSV file of the labels, one row per example. Without one ('NULL' or None) every label
        is 0.
    label_shape : tuple of int
        Shape of one label; the default (1,) gives labels of shape (batch_size,), as MXNet.
    batch_size : int
        Required.
    round_batch : bool
        When the rows do not fill the last batch, it is filled with rows from the start (its
        `pad` says how many). True: the next epoch (after `reset()`) starts after those rows,
        as MXNet's round_batch does. False: the next epoch starts at the first row.
        (MXNet leaves the previous batch's rows in the padding; here they are the first rows.)
    dtype : {'float32', 'int32', 'int64'}
        How values are parsed, for data and labels.
    data_name, label_name : str
        Names in provide_data / provide_label.

    Examples
    --------
    >>> # data.csv: 4 rows of 3 values
    >>> it = mx.io.CSVIter(data_csv='data.csv', data_shape=(3,), batch_size=2)
    >>> [b.data[0].shape for b in it]
    [(2, 3), (2, 3)]
    """

    def __init__(self, data_csv, data_shape, label_csv=None, label_shape=(1,), batch_size=None,
                 round_batch=True, dtype=None, data_name="data", label_name="softmax_label",
                 **kwargs):
        unknown = sorted(set(kwargs) - _IGNORED_OPTIONS)
        if unknown:
            raise TypeError(f"CSVIter: unknown argument(s) {unknown}")
        if batch_size is None:
            raise MXNetError("CSVIter: batch_size is required")
        super().__init__(batch_size, data_name, label_name)
        try:
            dtype = "float32" if dtype is None else np.dtype(dtype).name
        except TypeError:
            pass  # reported below with the supported names
        if dtype not in _DTYPES:
            raise MXNetError(f"CSVIter: dtype {dtype} is not supported; use one of {_DTYPES}")
        data_shape = _shape("CSVIter", "data_shape", data_shape)
        label_shape = _shape("CSVIter", "label_shape", label_shape)
        data = _load(data_csv, dtype, data_shape)
        num = data.shape[0]
        if label_csv is None or label_csv == "NULL":
            label_shape = ()
            label = np.zeros((num,), dtype=dtype)
        else:
            label = _load(label_csv, dtype, label_shape)
            if label.shape[0] < num:
                raise MXNetError(f"CSVIter: {label_csv!r} has {label.shape[0]} rows, fewer than "
                                 f"the {num} rows of {data_csv!r}; give one label row per "
                                 "data row")
            if label.shape[0] > num:
                logging.warning("CSVIter: %r has %d rows, %r only %d; the extra labels are "
                                "ignored", label_csv, label.shape[0], data_csv, num)
                label = label[:num]
            if label_shape == (1,):  # MXNet returns (batch_size,) labels then
                label_shape = ()
                label = label.reshape(num)
        self._setup(data, label, data_shape, np.dtype(dtype).type, label_shape,
                    np.dtype(dtype).type, last_batch="round" if round_batch else "pad")
        self.round_batch = bool(round_batch)
