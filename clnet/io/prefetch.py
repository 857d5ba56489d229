"""PrefetchingIter: loads the next batch of each wrapped iterator on a background thread.

Owns the worker threads, their shutdown and handing their exceptions to the consumer. What the
wrapped iterators do is theirs: their `next()` runs on a worker thread.
"""
from __future__ import annotations

import threading
import weakref

from ..base import MXNetError
from .io import CurrentBatchIter, DataBatch, DataDesc

__all__ = ["PrefetchingIter"]


class _Prefetcher:
    """One worker thread that calls `it.next()` on request. Holds no reference to the
    PrefetchingIter, so dropping that stops the thread (see `_shutdown`)."""

    def __init__(self, it, index):
        self.it = it
        self.request = threading.Event()
        self.ready = threading.Event()
        self.closing = False
        self.pending = False
        self.result = None  # ("batch", DataBatch) | ("stop", None) | ("error", exception)
        self.thread = threading.Thread(target=self._run, name=f"clnet-prefetch-{index}",
                                       daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            self.request.wait()
            self.request.clear()
            if self.closing:
                return
            try:
                self.result = ("batch", self.it.next())
            except StopIteration:
                self.result = ("stop", None)
            except BaseException as err:  # noqa: BLE001 -- re-raised on the consumer thread
                self.result = ("error", err)
            self.ready.set()

    def fetch(self):
        if not self.pending:
            self.pending = True
            self.request.set()

    def collect(self):
        """Wait for the requested result and take it."""
        self.ready.wait()
        self.ready.clear()
        self.pending = False
        result, self.result = self.result, None
        return result


def _shutdown(workers):
    for w in workers:
        w.closing = True
        w.request.set()
    for w in workers:
        if w.thread is not threading.current_thread():
            w.thread.join()


class PrefetchingIter(CurrentBatchIter):
    """Load the next batch of each wrapped iterator on a background thread while the current
    one is used.

    The batches of several iterators are joined (data after data, label after label); their
    pads must agree. An exception raised by a wrapped iterator is raised again by `next()` in
    the consumer. `close()` (or leaving a `with` block, or dropping the iterator) stops the
    threads.

    Parameters
    ----------
    iters : DataIter or list of DataIter
    rename_data, rename_label : list of dict, optional
        Per iterator, {old name: new name} for its provide_data / provide_label.

    Examples
    --------
    >>> it = mx.io.PrefetchingIter(mx.io.NDArrayIter(np.ones((100, 10)), batch_size=25))
    >>> [b.data[0].shape for b in it]
    [(25, 10), (25, 10), (25, 10), (25, 10)]
    """

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, (list, tuple)):
            iters = [iters]
        if not iters:
            raise MXNetError("PrefetchingIter: iters is empty; give at least one DataIter")
        self.iters = list(iters)
        self.n_iter = len(self.iters)
        for what, renames in (("rename_data", rename_data), ("rename_label", rename_label)):
            if renames is not None and len(renames) != self.n_iter:
                raise MXNetError(f"PrefetchingIter: {what} has {len(renames)} entries for "
                                 f"{self.n_iter} iterators; give one dict per iterator")
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self.current_batch = None
        self._workers = [_Prefetcher(it, i) for i, it in enumerate(self.iters)]
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        for w in self._workers:
            w.fetch()

    @staticmethod
    def _renamed(descs, renames):
        out = []
        for desc in descs:
            name, shape = desc[0], desc[1]
            new = renames.get(name, name)
            if isinstance(desc, DataDesc):
                out.append(DataDesc(new, shape, desc.dtype, desc.layout))
            else:
                out.append(DataDesc(new, shape, *desc[2:]))
        return out

    def _described(self, attr, renames):
        descs = [getattr(it, attr) or [] for it in self.iters]
        if renames is None:
            return [d for group in descs for d in group]
        return [d for group, r in zip(descs, renames) for d in self._renamed(group, r)]

    @property
    def provide_data(self):
        return self._described("provide_data", self.rename_data)

    @property
    def provide_label(self):
        return self._described("provide_label", self.rename_label)

    def close(self):
        """Stop the prefetch threads (waits for a batch being loaded). Idempotent."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if not self._finalizer.alive:
            raise MXNetError("PrefetchingIter is closed; create a new one")

    def reset(self):
        self._check_open()
        for w in self._workers:
            if w.pending:
                w.collect()  # the worker is idle once its batch is taken
        for it in self.iters:
            it.reset()
        for w in self._workers:
            w.fetch()

    def iter_next(self):
        self._check_open()
        for w in self._workers:
            w.fetch()
        results = [w.collect() for w in self._workers]
        for kind, value in results:
            if kind == "error":
                raise value
        kinds = {kind for kind, _ in results}
        if kinds == {"stop"}:
            return False
        if len(kinds) > 1:
            raise MXNetError("PrefetchingIter: the wrapped iterators ran out after different "
                             "numbers of batches; they must yield the same number per epoch")
        batches = [value for _, value in results]
        if any(b.pad != batches[0].pad for b in batches):
            raise MXNetError(f"PrefetchingIter: the wrapped iterators' batches have different "
                             f"pads {[b.pad for b in batches]}; they must hold the same "
                             "number of examples")
        self.current_batch = DataBatch(
            [d for b in batches for d in b.data], [lab for b in batches for lab in b.label or []],
            batches[0].pad, batches[0].index, provide_data=self.provide_data,
            provide_label=self.provide_label)
        for w in self._workers:
            w.fetch()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration
