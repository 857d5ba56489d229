"""MXDataIter: the base of the file iterators (MNISTIter, CSVIter).

Owns batching of examples held in host memory, the incomplete last batch (discard, MXNet's
round_batch, pad) and copying each batch to cpu(0). Reading the files is mnist.py's and
csv.py's.
"""
from __future__ import annotations

import numpy as np

from ..base import MXNetError
from ..context import cpu
from ..ndarray import array
from .io import DataBatch, DataDesc, DataIter, _check_batch_size

__all__ = ["MXDataIter"]


class MXDataIter(DataIter):
    """Base of the file iterators (MNISTIter, CSVIter): all examples in host memory, each batch
    gathered on the host and copied to cpu(0).

    As MXNet's MXDataIter (its wrapper of the C++ iterators), `getdata()` and `getlabel()`
    return one NDArray each, and `next()` wraps them in lists.

    Subclasses call `_setup(data, label, ...)` with the example arrays (first axis: examples).
    `data_transform` maps a gathered host batch to its final form (dtype, scale, shape);
    `ids` are the examples' rows in the file (getindex), when they were reordered.
    `last_batch` handles an incomplete last batch: 'discard' drops it; 'round' fills it from the
    start and opens the next epoch after the examples used for that (MXNet's round_batch=1);
    'pad' fills it from the start and opens the next epoch at the start.
    """

    def __init__(self, batch_size, data_name="data", label_name="softmax_label"):
        super().__init__(_check_batch_size(type(self).__name__, batch_size))
        self.data_name = data_name
        self.label_name = label_name

    def _setup(self, data, label, data_shape, data_dtype, label_shape, label_dtype,
               last_batch="discard", data_transform=None, ids=None):
        self._data, self._label = data, label
        self._ids = np.arange(data.shape[0]) if ids is None else np.asarray(ids)
        self._num = data.shape[0]
        self._transform = data_transform
        self._last_batch = last_batch
        self.provide_data = [DataDesc(self.data_name, (self.batch_size,) + tuple(data_shape),
                                      data_dtype)]
        self.provide_label = [DataDesc(self.label_name,
                                       (self.batch_size,) + tuple(label_shape), label_dtype)]
        self._loc = 0
        self._overflow = 0
        self._rows = None
        self._pad = 0
        self._batch = None

    def reset(self):
        # after a 'round' batch the next epoch starts where the wrap stopped, as MXNet's
        # BatchLoader does; a second reset goes back to the start
        self._loc, self._overflow = self._overflow, 0
        self._rows = None

    def iter_next(self):
        bs, n, loc = self.batch_size, self._num, self._loc
        if self._overflow or loc >= n:
            return False
        pad = max(0, loc + bs - n)
        if pad and self._last_batch == "discard":
            self._loc = n
            return False
        self._rows = np.arange(loc, loc + bs) % n
        self._pad = pad
        self._batch = None
        self._loc = min(loc + bs, n)
        if pad and self._last_batch == "round":
            self._overflow = pad % n
        return True

    def _current(self):
        if self._rows is None:
            raise MXNetError(f"{type(self).__name__}: no current batch; call iter_next() "
                             "or next() first")
        if self._batch is None:
            data = np.take(self._data, self._rows, axis=0)
            if self._transform is not None:
                data = self._transform(data)
            label = np.take(self._label, self._rows, axis=0)
            ctx = cpu(0)
            self._batch = (array(data, ctx=ctx, dtype=self.provide_data[0].dtype),
                           array(label, ctx=ctx, dtype=self.provide_label[0].dtype))
        return self._batch

    def getdata(self):
        return self._current()[0]

    def getlabel(self):
        return self._current()[1]

    def getindex(self):
        """The file rows of the current batch's examples (uint64), as MXNet reports them."""
        return None if self._rows is None else self._ids[self._rows].astype(np.uint64)

    def getpad(self):
        return self._pad

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data, label = self._current()
        return DataBatch(data=[data], label=[label], pad=self.getpad(), index=self.getindex())
