"""Device memory: a pooled allocator per device and the Buffer every NDArray points into.

Owns allocation, reuse, statistics and the cross-queue events on a buffer. A CPU device's
large buffers are host memory on huge pages (`huge_pages`), which the driver uses in place
(CL_MEM_USE_HOST_PTR). Ordering on one device needs no events: each device has one in-order
queue. Events are kept only for work enqueued on another device's queue (inter-device
copies), which the next kernel must wait for.
"""
from __future__ import annotations

import atexit
import mmap
import threading
import weakref
from collections import deque

import numpy as np

from ..base import MXNetError, env_int
from . import replay

_ALIGN = 256  # bytes; pool size classes are multiples of this, buffers are never size 0
HUGE_PAGE = 2 << 20  # bytes; the x86-64 and arm64 transparent huge page


def size_class(nbytes: int) -> int:
    """Round up so freed buffers of nearby sizes are reused: 256-byte steps up to 64 KiB, then
    steps of 1/8 of the next power of two (at most 12.5% waste)."""
    n = max(int(nbytes), 1)
    if n <= 65536:
        return -(-n // _ALIGN) * _ALIGN
    step = 1 << max(n.bit_length() - 4, 8)
    return -(-n // step) * step


_HOST_BACKED: weakref.WeakSet = weakref.WeakSet()  # devices holding huge_pages memory


def _finish_at_exit(device):
    """At interpreter exit the pools' buffers are collected in any order, their host memory
    with them, while queued kernels may still run: those devices' queues finish first."""
    _HOST_BACKED.add(device)


@atexit.register
def _finish_queues():
    for device in list(_HOST_BACKED):
        try:
            device.queue.finish()
        except Exception:  # noqa: BLE001 -- an earlier asynchronous error: exit anyway
            pass


def huge_pages(size: int):
    """`size` bytes of private anonymous memory from a HUGE_PAGE boundary, advised for
    transparent huge pages, as a uint8 numpy view; None where the OS has no such advice.

    NOTE: pocl allocates buffers on 4 KiB pages; on a 2-core EPYC (THP in madvise mode), the
    same kernels on huge pages ran sum of 16M float32 at 42-75 GB/s against 37-54, and
    tanh(a*b+a) on 4M at 34-40 against 32-36 (one process, alternating, 12 rounds)."""
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is None:
        return None
    try:
        mem = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE)
    except (OSError, ValueError):
        return None
    raw = np.frombuffer(mem, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE  # a multiple of the 4 KiB page: mmap is page-aligned
    try:
        mem.madvise(advice, start, size)
    except OSError:
        pass  # a kernel without THP: plain pages, still correct
    return raw[start:start + size]  # keeps `mem` alive through its base


class Pool:
    """Free lists of cl.Buffers keyed by size class, with in-use / pooled / peak statistics."""

    def __init__(self, device):
        self.device = device
        self._free: dict[int, list] = {}
        self._deferred: list = []  # (cl buffer, size, events of other queues)
        self._returned: deque = deque()  # (cl buffer, size, events) given back, not yet filed
        self._lock = threading.Lock()
        self.in_use = 0
        self.pooled = 0
        self.peak = 0
        self.allocations = 0

    def allocate(self, nbytes: int):
        import pyopencl as cl
        size = size_class(nbytes)
        with self._lock:
            self._file_returned()
            if self._deferred:
                self._reclaim(cl)
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
                host = huge_pages(size) if self._host_backed(size) else None
                if host is None:
                    buf = cl.Buffer(self.device.cl_context, cl.mem_flags.READ_WRITE, size)
                else:
                    buf = cl.Buffer(self.device.cl_context,
                                    cl.mem_flags.READ_WRITE | cl.mem_flags.USE_HOST_PTR,
                                    hostbuf=host)  # the cl.Buffer keeps `host` alive
                    _finish_at_exit(self.device)
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

    def _host_backed(self, size: int) -> bool:
        """CPU devices get large buffers in memory clnet maps itself, on huge pages (see
        huge_pages); CLNET_HUGE_PAGES=0 leaves every allocation to the driver."""
        return (self.device.kind == "cpu" and size >= HUGE_PAGE
                and env_int("CLNET_HUGE_PAGES", 1) != 0)

    def free(self, buf, size: int, pending=()):
        """Take back a buffer (a Buffer's finalizer calls this).

        The garbage collector can run that finalizer in the middle of `allocate` on this very
        thread, with the lock held: so `free` never waits for the lock. The buffer joins a
        queue, filed now if the lock is free, else by whoever holds it next."""
        self._returned.append((buf, size, list(pending)))
        if self._lock.acquire(blocking=False):
            try:
                self._file_returned()
            finally:
                self._lock.release()

    def settle(self):
        """File the buffers given back while the lock was held, so the statistics are whole."""
        with self._lock:
            self._file_returned()

    def _file_returned(self):
        """With the lock held: move returned buffers to the free lists, or, where commands of
        other devices' queues still write them (a copy into them), to the deferred list: work
        queued on this device would not wait for those commands."""
        while self._returned:
            buf, size, pending = self._returned.popleft()
            self.in_use -= size
            if pending:
                self._deferred.append((buf, size, pending))
            else:
                self._free.setdefault(size, []).append(buf)
                self.pooled += size

    def _reclaim(self, cl):
        """With the lock held: move deferred buffers whose pending commands have finished to
        the free lists."""
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
        """Release the pooled buffers. The driver's release waits for the commands still
        using a buffer, but freeing its host memory (huge_pages) would not: finish first."""
        with self._lock:
            self._file_returned()
            bufs = [b for lst in self._free.values() for b in lst]
            self._free.clear()
            self.pooled = 0
        if any(getattr(b, "hostbuf", None) is not None for b in bufs):
            self.device.queue.finish()
        for b in bufs:
            b.release()


class Buffer:
    """A pooled cl.Buffer of at least `nbytes`; goes back to its pool when garbage collected.

    `pending` holds events of commands on other queues that touch this buffer; the owning
    device waits for them before its next command that uses the buffer.
    """

    __slots__ = ("device", "cl_buffer", "nbytes", "pending", "_size", "__weakref__")

    def __init__(self, device, nbytes: int):
        self.device = device
        self.nbytes = int(nbytes)
        self.cl_buffer, self._size = device.pool.allocate(nbytes)
        self.pending = []  # one list for the Buffer's life: the pool defers reuse on it
        replay.note_buffer(self)

    # NOTE: __del__ rather than weakref.finalize, which cost ~2 us per array (an imperative
    # op's whole host time is ~20 us). Pool.free is safe inside the garbage collector.
    def __del__(self):
        try:
            buf = self.cl_buffer
        except AttributeError:
            return  # its allocation failed: nothing to give back
        self.device.pool.free(buf, self._size, self.pending)
