"""Data iterators, as in MXNet 1.x's `mx.io`: DataDesc, DataBatch, the DataIter protocol,
NDArrayIter over in-memory arrays and ResizeIter.

Owns batching, padding and shuffling of in-memory data. Prefetching is prefetch.py's, the file
iterators are files.py's (base), mnist.py's and csv.py's; moving a batch to the training
devices is the Module's job.

NDArrayIter builds batches without launching kernels (first-axis slices are views; padded and
rolled-over batches are joined on the host), so it may run on a prefetch thread while the
consumer thread enqueues kernels.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray, array

__all__ = ["DataDesc", "DataBatch", "DataIter", "ResizeIter", "NDArrayIter"]

_LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """Name, shape, dtype and layout of one data or label input.

    A (name, shape) tuple, so it compares and unpacks as one; `dtype` and `layout` ride along
    as attributes. `layout` says how to read the axes ('NCHW': batch, channel, height, width;
    'NTC' for sequences).

    Examples
    --------
    >>> d = mx.io.DataDesc('data', (32, 1, 28, 28))
    >>> name, shape = d
    >>> d.get_batch_axis(d.layout)
    0
    """

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        if isinstance(shape, (list, tuple)):
            shape = tuple(shape)
        ret = super().__new__(cls, name, shape)
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout):
        """The batch axis of `layout` ('N' in it; 0 when layout is None, -1 when it has none)."""
        return 0 if layout is None else layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from (name, shape) pairs and, optionally, (name, dtype) pairs."""
        if types is None:
            return [DataDesc(name, shape) for name, shape in shapes]
        type_of = dict(types)
        return [DataDesc(name, shape, type_of[name]) for name, shape in shapes]


class DataBatch:
    """One batch: `data` and `label` are lists of NDArrays with `batch_size` rows each.

    Parameters
    ----------
    data, label : list of NDArray
        The inputs and labels (label may be None or empty).
    pad : int, optional
        How many rows at the end are padding (prediction drops them).
    index : numpy.ndarray, optional
        Example indices of the rows.
    bucket_key : optional
        The bucket key, for bucketing modules.
    provide_data, provide_label : list of DataDesc, optional
        Describe `data[i]` and `label[i]`.
    """

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise TypeError(f"DataBatch: data must be a list of NDArrays, got "
                            f"{type(data).__name__}")
        if label is not None and not isinstance(label, (list, tuple)):
            raise TypeError(f"DataBatch: label must be a list of NDArrays, got "
                            f"{type(label).__name__}")
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self):
        data_shapes = [d.shape for d in self.data]
        label_shapes = [lab.shape for lab in self.label] if self.label else None
        return (f"{type(self).__name__}: data shapes: {data_shapes} "
                f"label shapes: {label_shapes}")


class DataIter:
    """Base of the data iterators: `next()` returns a DataBatch or raises StopIteration at the
    end of an epoch; `reset()` starts the next epoch. Subclasses implement `iter_next` and the
    getters, or `next` directly, and describe their batches in `provide_data` and
    `provide_label` (lists of DataDesc).
    """

    provide_data = None
    provide_label = None

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        """Go back to the start of the data."""

    def next(self):
        """The next DataBatch; raises StopIteration at the end of the epoch."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        """Move to the next batch; False at the end of the epoch."""

    def getdata(self):
        """The data of the current batch (list of NDArray)."""

    def getlabel(self):
        """The label of the current batch (list of NDArray)."""

    def getindex(self):
        """The example indices of the current batch (numpy array), or None."""
        return None

    def getpad(self):
        """How many rows at the end of the current batch are padding."""


class CurrentBatchIter(DataIter):
    """A DataIter whose getters read the batch it holds in `current_batch` (the wrappers:
    ResizeIter, PrefetchingIter)."""

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class ResizeIter(CurrentBatchIter):
    """Make `data_iter` yield exactly `size` batches per epoch, resetting it when it runs out.

    Parameters
    ----------
    data_iter : DataIter
    size : int
        Batches per epoch.
    reset_internal : bool
        Whether `reset()` also resets `data_iter` (else the next epoch continues where this
        one stopped).
    """

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__()
        self.data_iter = data_iter
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.batch_size = data_iter.batch_size
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True


def _check_batch_size(owner, batch_size):
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise MXNetError(f"{owner}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _init_data(data, allow_empty, default_name):
    """Sources as a name-sorted list of (name, NDArray), as MXNet names them: one array is
    `default_name`, a list gives `_<i>_<default_name>`, a dict keeps its keys. Anything that
    is not an NDArray becomes one with `mx.nd.array` (float32, as in MXNet)."""
    if data is None:
        data = []
    if isinstance(data, (np.ndarray, NDArray)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not data and not allow_empty:
            raise MXNetError(f"NDArrayIter: no {default_name} arrays given")
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict((f"_{i}_{default_name}", d) for i, d in enumerate(data))
    if not isinstance(data, dict):
        raise TypeError(f"NDArrayIter: {default_name} must be an NDArray, a numpy array, a list "
                        f"of them or a dict of them, got {type(data).__name__}")
    if not data and not allow_empty:
        raise MXNetError(f"NDArrayIter: no {default_name} arrays given")
    out = []
    for name, value in data.items():
        if not isinstance(value, NDArray):
            try:
                value = array(value)
            except (TypeError, ValueError, MXNetError) as err:
                raise TypeError(f"NDArrayIter: {name} of type {type(value).__name__} cannot "
                                "become an NDArray; give an NDArray or a numpy array") from err
        if value.ndim == 0:
            raise MXNetError(f"NDArrayIter: {name} is 0-d; the first axis indexes the examples")
        out.append((name, value))
    return sorted(out, key=lambda kv: kv[0])


class NDArrayIter(DataIter):
    """Iterate over arrays in memory (NDArrays, numpy arrays, lists or dicts of them).

    Parameters
    ----------
    data : array, list of arrays or dict of name -> array
        The inputs; the first axis indexes the examples. One array is named `data_name`;
        a list gives `_0_<data_name>`, `_1_<data_name>`, ...; a dict keeps its keys. Sources
        are listed sorted by name. numpy input becomes float32 NDArrays, as in MXNet.
    label : same kinds as data, optional
        The labels (named from `label_name`).
    batch_size : int
    shuffle : bool
        Shuffle the examples on construction and on every `reset()` with numpy's global RNG
        (`np.random.seed` replays it).
    last_batch_handle : {'pad', 'discard', 'roll_over'}
        When the examples do not fill the last batch: 'pad' fills it with examples from the
        start (`pad` = how many); 'discard' drops it; 'roll_over' keeps the rest and opens the
        next epoch with it (that first batch reports `pad` = the number of rolled-over
        examples, as in MXNet; use it for training only).
    data_name, label_name : str

    Examples
    --------
    >>> it = mx.io.NDArrayIter(np.arange(10).reshape(5, 2), np.arange(5), batch_size=2)
    >>> [(b.data[0].shape, b.pad) for b in it]
    [((2, 2), 0), ((2, 2), 0), ((2, 2), 1)]
    """

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad",
                 data_name="data", label_name="softmax_label"):
        batch_size = _check_batch_size("NDArrayIter", batch_size)
        if last_batch_handle not in _LAST_BATCH_HANDLES:
            raise MXNetError(f"NDArrayIter: last_batch_handle={last_batch_handle!r}; use one of "
                             f"{_LAST_BATCH_HANDLES}")
        super().__init__(batch_size)
        self.data = _init_data(data, allow_empty=False, default_name=data_name)
        self.label = _init_data(label, allow_empty=True, default_name=label_name)
        self.num_data = self.data[0][1].shape[0]
        for name, value in self.data + self.label:
            if value.shape[0] != self.num_data:
                raise MXNetError(f"NDArrayIter: {name} has {value.shape[0]} examples but "
                                 f"{self.data[0][0]} has {self.num_data}; all data and labels "
                                 "need the same first dimension")
        self.idx = np.arange(self.num_data)
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None
        self.reset()

    @property
    def data_list(self):
        return [v for _, v in self.data] + [v for _, v in self.label]

    @property
    def num_source(self):
        return len(self.data) + len(self.label)

    def _describe(self, sources):
        return [DataDesc(k, (self.batch_size,) + v.shape[1:], v.dtype) for k, v in sources]

    @property
    def provide_data(self):
        """[DataDesc] of the data, with the batch size as first dimension."""
        return self._describe(self.data)

    @property
    def provide_label(self):
        """[DataDesc] of the labels, with the batch size as first dimension."""
        return self._describe(self.label)

    def hard_reset(self):
        """Go back to the start, dropping any rolled-over examples."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self):
        """Start the next epoch (reshuffling when `shuffle`). Under 'roll_over' the epoch opens
        with the examples left over from the last one."""
        if self.shuffle:
            self._shuffle_data()
        if (self.last_batch_handle == "roll_over"
                and self.num_data - self.batch_size < self.cursor < self.num_data):
            # the batch at `cursor` was incomplete: start early so the leftovers come first
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        if self.cursor >= 0:
            self._cache_data = self._cache_label = None
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        label = self.getlabel()
        if data[0].shape[0] != self.batch_size:
            # an incomplete last batch ('discard', 'roll_over'): keep it for roll-over
            self._cache_data, self._cache_label = data, label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _batchify(self, sources, cache):
        if self.cursor >= self.num_data:
            raise MXNetError("NDArrayIter: the epoch is over; call reset()")
        bs, n, cur = self.batch_size, self.num_data, self.cursor
        if cur <= -bs:
            raise MXNetError("NDArrayIter: no current batch; call iter_next() or next() first")
        if cur < 0:  # the first batch of a 'roll_over' epoch
            if cache is None:
                raise MXNetError("NDArrayIter: no rolled-over examples to open the epoch with; "
                                 "call reset() after the previous epoch ended")
            return [_join([c], [(v, 0, cur + bs)]) for c, (_, v) in zip(cache, sources)]
        if self.last_batch_handle == "pad" and cur + bs > n:
            pad = cur + bs - n
            ranges = [(cur, n)] + [(0, n)] * (pad // n) + [(0, pad % n)]
            return [_join([], [(v, a, b) for a, b in ranges if b > a]) for _, v in sources]
        return [v[cur:min(cur + bs, n)] for _, v in sources]

    def getdata(self):
        return self._batchify(self.data, self._cache_data)

    def getlabel(self):
        return self._batchify(self.label, self._cache_label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        # As MXNet: shuffle `idx` in place and reorder the current arrays by it.
        np.random.shuffle(self.idx)
        self.data = [(k, _take_rows(v, self.idx)) for k, v in self.data]
        self.label = [(k, _take_rows(v, self.idx)) for k, v in self.label]


def _take_rows(arr, rows):
    return array(arr.asnumpy()[rows], ctx=arr.context, dtype=arr.dtype)


def _join(arrays, ranges):
    """`arrays` then the row ranges (src, begin, end), joined on the host into one NDArray on
    the context of the first source."""
    like = ranges[0][0] if ranges else arrays[0]
    parts = [a.asnumpy() for a in arrays] + [src[a:b].asnumpy() for src, a, b in ranges]
    return array(np.concatenate(parts, axis=0), ctx=like.context, dtype=like.dtype)
