"""Key-value stores of one process: MXNet's 'local' and 'device' KVStore.

Owns the KVStore API (`init`, `push`, `pull`, `pushpull`, `row_sparse_pull`, an optimizer
run where the store keeps the weights, saving its states) and where values are summed: 'local'
sums every key on the context of the value it was initialised with (Module gives the first
device's copy; `mx.nd` arrays default to cpu(0)); 'device' sums each key on one of the devices
that push it, spreading keys over those devices by size, and keeps the key's weight there.
Copies between devices are `NDArray.copyto`'s (ordered by OpenCL events across queues, no host
wait); update rules are `clnet.optimizer`'s; the types spanning processes are `dist.py`'s.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from ..base import MXNetError
from ..ndarray import NDArray

__all__ = ["KVStore", "write_atomic"]


def write_atomic(fname: str, data: bytes):
    """Write `data` to `fname` through a temporary file in the same folder, so a reader (or a
    crash) never sees half a file."""
    folder = os.path.dirname(os.path.abspath(fname))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _check_key(op: str, key):
    if isinstance(key, bool) or not isinstance(key, (int, np.integer, str)):
        raise MXNetError(f"kvstore.{op}: keys are int or str, got {key!r} of type "
                         f"{type(key).__name__}")
    return int(key) if isinstance(key, np.integer) else key


def _group(op: str, key, value, what: str = "value") -> list:
    """[(key, [NDArray, ...]), ...] from MXNet's accepted forms: one key with an array or a
    list of arrays (one per device), or a list of keys with a list of those; repeated keys
    are grouped (their arrays are all pushed to / pulled from that key)."""
    if isinstance(key, (list, tuple)):
        keys = [_check_key(op, k) for k in key]
        if not isinstance(value, (list, tuple)) or len(value) != len(keys):
            got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
            raise MXNetError(f"kvstore.{op}: {len(keys)} keys need a list of {len(keys)} "
                             f"{what}s (each an NDArray or a list of NDArrays), got {got}")
        items = list(zip(keys, value))
    else:
        items = [(_check_key(op, key), value)]
    if len({type(k) for k, _ in items}) > 1:
        raise MXNetError(f"kvstore.{op}: keys of one call must be all int or all str, got "
                         f"{[k for k, _ in items]}")
    grouped: dict = {}
    for k, v in items:
        arrays = list(v) if isinstance(v, (list, tuple)) else [v]
        if not arrays:
            raise MXNetError(f"kvstore.{op}: key {k!r} was given an empty list of {what}s")
        for a in arrays:
            if not isinstance(a, NDArray):
                raise MXNetError(f"kvstore.{op}: {what} for key {k!r} must be an NDArray, got "
                                 f"{type(a).__name__}")
        grouped.setdefault(k, []).extend(arrays)
    return list(grouped.items())


class KVStore:
    """A key-value store for data-parallel training (`mx.kv.create('local' | 'device')`).

    Keys are ints or strs; values are NDArrays. `push` sums the arrays given for a key (one
    per device) and, with an optimizer set, updates the stored weight with that sum as the
    gradient; without one, the sum replaces the stored value. `pull` copies the stored value
    into each output array.

    Examples
    --------
    >>> kv = mx.kv.create('local')
    >>> kv.init(3, mx.nd.ones((2, 3)))
    >>> kv.push(3, [mx.nd.ones((2, 3)), mx.nd.ones((2, 3)) * 2])
    >>> out = mx.nd.zeros((2, 3))
    >>> kv.pull(3, out=out)
    >>> out.asnumpy()[0]
    array([3., 3., 3.], dtype=float32)
    """

    OPTIMIZER = "optimizer"

    def __init__(self, kv_type: str = "local", spread: bool = False):
        self._type = kv_type
        self._spread = spread          # 'device': keys summed on the pushing devices
        self._data: dict = {}          # key -> stored NDArray
        self._buffers: dict = {}       # (key, tag) -> NDArray reused across pushes
        self._placed: dict = {}        # key -> Context of its sums ('device' type)
        self._load: dict = {}          # Context -> elements placed there
        self._updater = None
        self._compression = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def type(self) -> str:
        """The type this store was created with ('local', 'device', 'dist_sync', ...)."""
        return self._type

    @property
    def rank(self) -> int:
        """This worker's rank among `num_workers` (0 for a single process)."""
        return 0

    @property
    def num_workers(self) -> int:
        """How many workers (processes) share this store (1 for a single process)."""
        return 1

    def is_capable(self, capability: str) -> bool:
        """Whether the store supports `capability` (KVStore.OPTIMIZER: updates on the store)."""
        if capability == self.OPTIMIZER:
            return True
        raise MXNetError(f"kvstore.is_capable: unknown capability {capability!r}; known: "
                         f"{[self.OPTIMIZER]}")

    def __repr__(self):
        return f"<KVStore {self._type} rank {self.rank} of {self.num_workers}>"

    # -- init / push / pull -----------------------------------------------------------------
    def init(self, key, value):
        """Initialise `key` (or each key of a list) with a copy of `value`. In a distributed
        store every worker ends with worker 0's value."""
        pairs = _group("init", key, value)
        for k, arrays in pairs:
            if k in self._data:
                raise MXNetError(f"kvstore.init: key {k!r} is already initialised; each key "
                                 "is initialised once")
            if len(arrays) != 1:
                raise MXNetError(f"kvstore.init: key {k!r} was given {len(arrays)} values; "
                                 "it is initialised with exactly one")
        for k, (arr,) in pairs:
            self._data[k] = arr.copy()
        self._share_init([k for k, _ in pairs])

    def push(self, key, value, priority: int = 0):
        """Push `value` (an NDArray or one per device) into `key` (or lists of both): the
        arrays are summed, then the optimizer updates the stored weight with the sum (see
        `set_optimizer`), or the sum replaces the stored value.

        `priority` is accepted for MXNet compatibility: work is ordered by the device queues.
        """
        pairs = _group("push", key, value)
        self._check_known("push", pairs)
        self._place(pairs)
        summed = [(k, self._reduce(k, arrays)) for k, arrays in pairs]
        for k, total in self._aggregate(summed):
            self._apply(k, total)

    def pull(self, key, out=None, priority: int = 0, ignore_sparse: bool = True):
        """Copy the value of `key` into `out` (an NDArray or one per device; lists of both
        for a list of keys). `priority` and `ignore_sparse` are accepted for MXNet
        compatibility (clnet arrays are dense)."""
        if out is None:
            raise MXNetError("kvstore.pull: out is required (the arrays to copy the values "
                             "into)")
        pairs = _group("pull", key, out, "out")
        self._check_known("pull", pairs)
        for k, outs in pairs:
            stored = self._data[k]
            for o in outs:
                if o is not stored:
                    stored.copyto(o)

    def pushpull(self, key, value, out=None, priority: int = 0):
        """`push(key, value)` then `pull(key, out)`; `out=None` pulls into `value` itself."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def row_sparse_pull(self, key, out=None, priority: int = 0, row_ids=None):
        """Pull the rows `row_ids` of `key` into `out`, densified: `out` gets the stored rows
        listed in `row_ids` and zeros elsewhere (what MXNet's row_sparse result holds, as a
        dense array; clnet has no sparse storage). `row_ids` is one integer NDArray per
        output array, or one for all of them."""
        if out is None or row_ids is None:
            raise MXNetError("kvstore.row_sparse_pull: out and row_ids are required")
        pairs = _group("row_sparse_pull", key, out, "out")
        ids = _group("row_sparse_pull", key, row_ids, "row_ids")
        self._check_known("row_sparse_pull", pairs)
        from ..ndarray import broadcast_mul, one_hot
        for (k, outs), (_, rows) in zip(pairs, ids):
            if len(rows) == 1:
                rows = rows * len(outs)
            if len(rows) != len(outs):
                raise MXNetError(f"kvstore.row_sparse_pull: key {k!r} has {len(outs)} output "
                                 f"arrays and {len(rows)} row_ids arrays; give one per output "
                                 "or one for all")
            stored = self._data[k]
            if stored.ndim == 0:
                raise MXNetError(f"kvstore.row_sparse_pull: key {k!r} holds a 0-d array; "
                                 "row_sparse_pull needs rows")
            self._check_shapes("row_sparse_pull", k, outs)
            for o, r in zip(outs, rows):
                if r.size == 0 or stored.size == 0:
                    o[:] = 0
                    continue
                mask = one_hot(r.as_in_context(stored.context).reshape((-1,)),
                               depth=stored.shape[0], dtype=stored.dtype).max(axis=0)
                mask = mask.reshape((stored.shape[0],) + (1,) * (stored.ndim - 1))
                broadcast_mul(stored, mask).copyto(o)

    # -- optimizer --------------------------------------------------------------------------
    def set_optimizer(self, optimizer):
        """Run `optimizer` on the store: each push updates the stored weight in place, on the
        context where the store keeps it (in a distributed store, every worker applies the
        same update to the same summed gradient, so the weights stay equal)."""
        from .. import optimizer as opt
        if not isinstance(optimizer, opt.Optimizer):
            raise MXNetError(f"kvstore.set_optimizer: expected an mx.optimizer.Optimizer, got "
                             f"{type(optimizer).__name__}")
        self._set_updater(opt.get_updater(optimizer))

    def _set_updater(self, updater):
        """Use `updater(key, summed, stored)` on each push (MXNet's private hook)."""
        if not callable(updater):
            raise MXNetError("kvstore._set_updater: the updater must be callable as "
                             "updater(key, grad, weight)")
        self._updater = updater

    def set_gradient_compression(self, compression_params: dict):
        """Accepted for MXNet compatibility and not applied: clnet sends gradients
        uncompressed. The parameters are checked as MXNet checks them ({'type': '2bit',
        'threshold': 0.5})."""
        if not isinstance(compression_params, dict) or "type" not in compression_params:
            raise MXNetError("kvstore.set_gradient_compression: compression_params must be a "
                             "dict with a 'type' key, such as {'type': '2bit', 'threshold': "
                             "0.5}")
        kind = compression_params["type"]
        if kind not in ("2bit", "1bit", "none"):
            raise MXNetError(f"kvstore.set_gradient_compression: unknown type {kind!r}; MXNet "
                             "knows '2bit', '1bit' and 'none'")
        threshold = compression_params.get("threshold", 0.5)
        if float(threshold) <= 0:
            raise MXNetError(f"kvstore.set_gradient_compression: threshold must be positive, "
                             f"got {threshold}")
        self._compression = dict(compression_params)

    def save_optimizer_states(self, fname: str, dump_optimizer: bool = False):
        """Write the store's optimizer states to `fname` (atomically); with `dump_optimizer`,
        the optimizer itself too."""
        write_atomic(fname, self._states_updater("save_optimizer_states").get_states(
            dump_optimizer))

    def load_optimizer_states(self, fname: str):
        """Restore optimizer states written by `save_optimizer_states`."""
        updater = self._states_updater("load_optimizer_states")
        with open(fname, "rb") as f:
            updater.set_states(f.read())

    def _states_updater(self, op: str):
        if self._updater is None or not hasattr(self._updater, "get_states"):
            raise MXNetError(f"kvstore.{op}: this store runs no optimizer; call "
                             "set_optimizer(optimizer) first")
        return self._updater

    def barrier(self):
        """Wait until every worker reaches this point (nothing to wait for in one process)."""

    # -- internals ----------------------------------------------------------------------------
    def _share_init(self, keys):
        """Make the freshly initialised `keys` equal across workers (one worker: nothing)."""

    def _aggregate(self, summed):
        """Sum each key's per-process total across workers (one worker: as it is)."""
        return summed

    def _own_sums(self) -> bool:
        """Whether a key's sum must be a store buffer even when one array was pushed."""
        return False

    def _assign(self, key, value):
        """Overwrite the stored value of an initialised key (Module.set_params)."""
        stored = self._data[key]
        if stored.shape != value.shape:
            raise MXNetError(f"kvstore: key {key!r} holds shape {stored.shape}, cannot assign "
                             f"shape {value.shape}")
        value.copyto(stored)

    def _check_known(self, op: str, pairs):
        for k, arrays in pairs:
            if k not in self._data:
                raise MXNetError(f"kvstore.{op}: key {k!r} is not initialised; call "
                                 f"kv.init({k!r}, value) first")
            self._check_shapes(op, k, arrays)

    def _check_shapes(self, op: str, key, arrays):
        stored = self._data[key]
        for a in arrays:
            if a.shape != stored.shape or a.dtype != stored.dtype:
                raise MXNetError(
                    f"kvstore.{op}: key {key!r} holds shape {stored.shape} "
                    f"{np.dtype(stored.dtype).name}, got an array of shape {a.shape} "
                    f"{np.dtype(a.dtype).name}; arrays of a key must match its init value")

    def _place(self, pairs):
        """'device': put each new key's sums on the least loaded of the devices pushing it,
        largest keys first (MXNet's CommDevice), and move its stored value there."""
        if not self._spread:
            return
        new = [(k, arrays) for k, arrays in pairs if k not in self._placed]
        new.sort(key=lambda item: -self._data[item[0]].size)
        for k, arrays in new:
            contexts = list(dict.fromkeys(a.context for a in arrays))
            ctx = min(contexts, key=lambda c: self._load.get(c, 0))
            self._placed[k] = ctx
            self._load[ctx] = self._load.get(ctx, 0) + self._data[k].size
            if self._data[k].context != ctx:
                self._data[k] = self._data[k].copyto(ctx)

    def _buffer(self, key, tag, like: NDArray, ctx) -> NDArray:
        buf = self._buffers.get((key, tag))
        if buf is None or buf.context != ctx or buf.shape != like.shape or \
                buf.dtype != like.dtype:
            from ..ndarray import empty
            buf = self._buffers[(key, tag)] = empty(like.shape, ctx, like.dtype)
        return buf

    def _reduce(self, key, arrays) -> NDArray:
        """The sum of `arrays` on the context where `key` is summed: arrays on other devices
        are copied into buffers there first, then one add_n kernel sums them all."""
        stored = self._data[key]
        ctx = stored.context
        if len(arrays) == 1 and arrays[0].context == ctx and not self._own_sums():
            return arrays[0]
        parts = []
        for i, a in enumerate(arrays):
            if a.context == ctx:
                parts.append(a)
            else:
                recv = self._buffer(key, i, stored, ctx)
                a.copyto(recv)
                parts.append(recv)
        if len(parts) == 1 and parts[0] is not arrays[0]:
            return parts[0]
        total = self._buffer(key, "sum", stored, ctx)
        if len(parts) == 1:
            parts[0].copyto(total)
        else:
            from ..ndarray import add_n
            add_n(*parts, out=total)
        return total

    def _apply(self, key, total: NDArray):
        stored = self._data[key]
        if self._updater is not None:
            self._updater(key, total, stored)
        elif total is not stored:
            total.copyto(stored)
