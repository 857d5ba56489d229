"""Device memory: a pooled allocator per device and the Buffer every NDArray points into.

Owns allocation, reuse, statistics and the cross-queue events on a buffer. Ordering on one
device needs no events: each device has one in-order queue. Events are kept only for work
enqueued on another device's queue (inter-device copies), which the next kernel must wait for.
"""
from __future__ import annotations

import threading
import weakref

from ..base import MXNetError
from . import replay

_ALIGN = 256  # bytes; pool size classes are multiples of this, buffers are never size 0


def size_class(nbytes: int) -> int:
    """Round up so freed buffers of nearby sizes are reused: 256-byte steps up to 64 KiB, then
    steps of 1/8 of the next power of two (at most 12.5% waste)."""
    n = max(int(nbytes), 1)
    if n <= 65536:
        return -(-n // _ALIGN) * _ALIGN
    step = 1 << max(n.bit_length() - 4, 8)
    return -(-n // step) * step


class Pool:
    """Free lists of cl.Buffers keyed by size class, with in-use / pooled / peak statistics."""

    def __init__(self, device):
        self.device = device
        self._free: dict[int, list] = {}
        self._deferred: list = []  # (cl buffer, size, events of other queues)
        self._lock = threading.Lock()
        self.in_use = 0
        self.pooled = 0
        self.peak = 0
        self.allocations = 0

    def allocate(self, nbytes: int):
        import pyopencl as cl
        size = size_class(nbytes)
        if self._deferred:
            self._reclaim(cl)
        with self._lock:
            free = self._free.get(size)
            if free:
                buf = free.pop()
                self.pooled -= size
            else:
                buf = None
        if buf is None:
            buf = self._create(cl, size, nbytes)
        with self._lock:
            self.in_use += size
            self.peak = max(self.peak, self.in_use)
        return buf, size

    def _create(self, cl, size: int, asked: int):
        for attempt in range(2):
            try:
                buf = cl.Buffer(self.device.cl_context, cl.mem_flags.READ_WRITE, size)
                self.allocations += 1
                return buf
            except (cl.MemoryError, cl.Error) as err:
                if attempt == 0:
                    self.release_all()  # NOTE: retry once with the pool's cached buffers freed
                    continue
                raise MXNetError(
                    f"out of device memory on {self.device}: asked {asked} bytes, "
                    f"{self.in_use} in use by arrays, {self.pooled} pooled; "
                    f"device total {self.device.global_mem_size} ({err})") from err

    def free(self, buf, size: int, pending=()):
        """Take back a buffer. One that commands of other devices' queues still write (a
        copy into it: `pending`) is reused only once they have finished: work queued on this
        device would not wait for them."""
        with self._lock:
            self.in_use -= size
            if pending:
                self._deferred.append((buf, size, list(pending)))
                return
            self._free.setdefault(size, []).append(buf)
            self.pooled += size

    def _reclaim(self, cl):
        """Move deferred buffers whose pending commands have finished to the free lists."""
        with self._lock:
            still = []
            for buf, size, events in self._deferred:
                if all(e.command_execution_status <= cl.command_execution_status.COMPLETE
                       for e in events):  # COMPLETE is 0; an error status is negative
                    self._free.setdefault(size, []).append(buf)
                    self.pooled += size
                else:
                    still.append((buf, size, events))
            self._deferred = still

    def release_all(self):
        with self._lock:
            bufs = [b for lst in self._free.values() for b in lst]
            self._free.clear()
            self.pooled = 0
        for b in bufs:
            b.release()


class Buffer:
    """A pooled cl.Buffer of at least `nbytes`; goes back to its pool when garbage collected.

    `pending` holds events of commands on other queues that touch this buffer; the owning
    device waits for them before its next command that uses the buffer.
    """

    __slots__ = ("device", "cl_buffer", "nbytes", "pending", "__weakref__")

    def __init__(self, device, nbytes: int):
        self.device = device
        self.nbytes = int(nbytes)
        self.cl_buffer, size = device.pool.allocate(nbytes)
        self.pending = []  # one list for the Buffer's life: its finalizer hands it to the pool
        weakref.finalize(self, device.pool.free, self.cl_buffer, size, self.pending)
        replay.note_buffer(self)
