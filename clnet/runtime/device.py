"""Device: one OpenCL device with its in-order queue, memory pool, capabilities and programs.

Owns opening devices (lazily, once per Context), building programs (in-memory cache on the
Device, on-disk cache of binaries keyed by device identity and source) and enqueueing kernels.
Rendering kernel source is `codegen`'s job; what a kernel computes is the ops' job.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time

import numpy as np

from ..base import MXNetError, debug_level, env_str, plain_mode, sync_mode
from ..context import Context
from ..codegen import templates
from . import discovery, replay
from .memory import Pool

_devices: dict = {}  # (device_typeid, device_id) -> Device
_cl_contexts: dict = {}
_lock = threading.RLock()
# Program builds from source in this process (the on-disk cache test counts them).
build_stats = {"source_builds": 0, "binary_loads": 0}


def cache_dir() -> str:
    """CLNET_CACHE_DIR, else $XDG_CACHE_HOME/clnet, else ~/.cache/clnet. CLNET_DISK_CACHE=0
    stops storing new binaries (reading the program binary makes pocl compile every kernel of
    the program at once, ~0.2 s each: a process that builds hundreds of programs once, such as
    the test suite, is faster without it)."""
    base = env_str("CLNET_CACHE_DIR")
    if not base:
        xdg = env_str("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "clnet")
    return os.path.join(base, "kernels")


def get_device(ctx: Context | None = None) -> "Device":
    """The Device a Context names, opened on first use."""
    if ctx is None:
        from ..context import current_context
        ctx = current_context()
    key = (ctx.device_typeid, ctx.device_id)  # a tuple hashes in C; a Context in Python
    dev = _devices.get(key)
    if dev is None:
        with _lock:
            dev = _devices.get(key)
            if dev is None:
                kind = "cpu" if ctx.device_type in ("cpu", "cpu_pinned", "cpu_shared") else "gpu"
                platform, cl_device = discovery.find(kind, ctx.device_id)
                dev = _devices[key] = Device(ctx, platform, cl_device)
    return dev


def opened_devices() -> list:
    return list(_devices.values())


def waitall():
    """Wait until every queued command on every opened device has finished."""
    for dev in opened_devices():
        dev.flush_deferred()
        dev.queue.finish()


def flush_deferred():
    """Launch the elementwise work held back on every opened device (ops.deferred)."""
    for dev in opened_devices():
        dev.flush_deferred()


def _shared_cl_context(platform):
    """One cl.Context per platform, holding all its devices, so buffers of devices on one
    platform can be copied between their queues directly."""
    import pyopencl as cl
    with _lock:
        if platform.int_ptr not in _cl_contexts:
            _cl_contexts[platform.int_ptr] = cl.Context(platform.get_devices())
        return _cl_contexts[platform.int_ptr]


class Device:
    """Resources of one opened OpenCL device."""

    def __init__(self, ctx: Context, platform, cl_device):
        import pyopencl as cl
        self.ctx = ctx
        self.platform = platform
        self.cl_device = cl_device
        self.cl_context = _shared_cl_context(platform)
        props = cl.command_queue_properties.PROFILING_ENABLE if debug_level() >= 2 else 0
        self.queue = cl.CommandQueue(self.cl_context, cl_device, properties=props)
        ext = cl_device.extensions.split()
        self.has_fp64 = "cl_khr_fp64" in ext or cl_device.double_fp_config != 0
        self.has_fp16 = "cl_khr_fp16" in ext
        self.max_work_group_size = cl_device.max_work_group_size
        self.compute_units = cl_device.max_compute_units
        self.kind = discovery.kind_of(cl_device)  # "cpu" or "gpu": picks kernel variants
        self.deferred = None  # elementwise ops held back to be fused (ops.deferred.Waiting)
        self.global_mem_size = cl_device.global_mem_size
        self.cache_size = cl_device.global_mem_cache_size  # the last level's, on CPUs
        self.name = discovery.full_name(platform, cl_device)
        self.identity = "|".join((platform.name, platform.version, cl_device.name,
                                  cl_device.version, cl_device.driver_version))
        self.pool = Pool(self)
        self._programs: dict = {}
        self._kernels: dict = {}
        self._typed: set = set()
        self.arg_types: dict = {}
        self._enqueue_lock = threading.Lock()
        self.launches = 0

    def __repr__(self):
        return f"<Device {self.ctx}: {self.name}>"

    # -- capabilities -------------------------------------------------------------------
    def supports(self, dtype_info) -> bool:
        ext = dtype_info.extension
        return ext is None or (ext == "cl_khr_fp64" and self.has_fp64) or (
            ext == "cl_khr_fp16" and self.has_fp16)

    def check_dtype(self, dtype_info, what: str = "array"):
        if not self.supports(dtype_info):
            raise MXNetError(f"{what}: dtype {dtype_info.name} needs the OpenCL extension "
                             f"{dtype_info.extension}, which {self.ctx} ({self.name}) lacks; "
                             f"use float32 on this device")

    def memory_info(self) -> dict:
        self.pool.settle()
        return {"in_use": self.pool.in_use, "pooled": self.pool.pooled, "peak": self.pool.peak,
                "allocations": self.pool.allocations, "total": self.global_mem_size}

    # -- programs and kernels ------------------------------------------------------------
    def program(self, source: str, options: str = ""):
        """Build `source` for this device once: in-memory cache, then on-disk binaries."""
        key = (source, options)
        prg = self._programs.get(key)
        if prg is None:
            prg = self._programs[key] = self._build(source, options)
        return prg

    def kernel(self, source: str, name: str, options: str = ""):
        """A kernel object from the cached program of `source` (one object per name; callers
        set all arguments before each enqueue, so sharing it is safe on one thread).
        Where binaries are stored (CLNET_DISK_CACHE, on by default) the program holds that
        kernel alone (templates.single_kernel): storing a binary compiles every kernel of its
        program, most of which a process never launches. Without the disk cache, one program
        serves all of them, compiled per kernel as launched.
        NOTE: pocl, empty caches: the first MLP training step went 15.8 -> 10.0 s; the test
        suite (no disk cache) ran 97 s instead of 60 with single-kernel programs."""
        key = (source, options, name)
        knl = self._kernels.get(key)
        if knl is None:
            single = (templates.single_kernel(source, name)
                      if env_str("CLNET_DISK_CACHE", "1") != "0" else source)
            try:
                prg = self.program(single, options)
            except MXNetError:
                if single is source:
                    raise
                prg = self.program(source, options)  # a kernel calling one left out
            knl = self._kernels[key] = getattr(prg, name)
        return knl

    def _build(self, source: str, options: str):
        import pyopencl as cl
        digest = hashlib.sha256(
            "\0".join((self.identity, cl.VERSION_TEXT, options, source)).encode()).hexdigest()
        path = os.path.join(cache_dir(), digest[:2], digest + ".bin")
        if debug_level() >= 3:
            print(f"[clnet] build options={options!r}\n{source}", file=sys.stderr)
        if os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    binary = f.read()
                prg = cl.Program(self.cl_context, [self.cl_device], [binary]).build(options)
                build_stats["binary_loads"] += 1
                return prg
            except (OSError, cl.Error):
                pass  # a stale or corrupt cache entry: rebuild from source below
        start = time.perf_counter()
        try:
            prg = cl.Program(self.cl_context, source).build(options, devices=[self.cl_device])
        except cl.Error as err:
            raise MXNetError(f"OpenCL build failed on {self.name}: {err}\n--- source ---\n"
                             f"{source}") from err
        build_stats["source_builds"] += 1
        if debug_level() >= 1:
            print(f"[clnet] built program in {time.perf_counter() - start:.3f}s on {self.ctx}",
                  file=sys.stderr)
        if env_str("CLNET_DISK_CACHE", "1") != "0":
            self._store_binary(prg, path)
        return prg

    def _store_binary(self, prg, path: str):
        import pyopencl as cl
        try:
            binary = prg.get_info(cl.program_info.BINARIES)[0]
            if not binary:
                return
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(binary)
            os.replace(tmp, path)  # atomic, so a concurrent reader never sees half a binary
        except OSError:
            pass  # an unwritable cache only costs a rebuild next time

    # -- launching --------------------------------------------------------------------------
    def flush_deferred(self):
        """Launch the elementwise ops held back on this device, before anything else runs."""
        if self.deferred:
            self.deferred.flush()

    def enqueue(self, knl, gsize, lsize, args, buffers=()):
        """Set `args` on `knl` and enqueue it; returns the event at once (or after completion in
        sync mode). `buffers` are the clnet Buffers the kernel touches, whose pending events
        from other queues it must wait for."""
        import pyopencl as cl
        self.flush_deferred()
        with self._enqueue_lock:  # kernel objects are shared: set_args + enqueue as one step
            return self._enqueue(cl, knl, gsize, lsize, args, buffers)

    def _enqueue(self, cl, knl, gsize, lsize, args, buffers):
        wait = self._take_pending(buffers)
        if knl not in self._typed:
            # NOTE: typed scalar args make set_args ~60x cheaper in pyopencl (~1 us vs 60 us);
            # done when every scalar is a numpy value, whose dtype is the kernel's
            types = [None if isinstance(a, cl.MemoryObjectHolder) else getattr(a, "dtype", 0)
                     for a in args]
            if 0 not in types:
                self.set_arg_types(knl, types)
            self._typed.add(knl)
        knl.set_args(*args)
        evt = cl.enqueue_nd_range_kernel(self.queue, knl, gsize, lsize, wait_for=wait)
        self.launches += 1
        rec = replay.active()
        if rec is not None:
            rec.add(self, knl, gsize, lsize, args, buffers)
        if not plain_mode():
            if debug_level() >= 1:
                self._trace(knl, gsize, lsize, evt)
            elif sync_mode():
                self.sync(knl.function_name)
        return evt

    def set_arg_types(self, knl, types):
        """Declare `knl`'s scalar argument dtypes (None for buffers), remembered so a recorded
        launch can set the same arguments on a kernel object of its own."""
        knl.set_scalar_arg_dtypes(types)
        self.arg_types[knl] = types

    def _take_pending(self, buffers):
        wait = None
        for buf in buffers:
            if buf is not None and buf.pending:
                wait = (wait or []) + buf.pending
                buf.pending.clear()  # the same list: the Buffer's finalizer holds it
        return wait

    def sync(self, what: str = "operation"):
        import pyopencl as cl
        self.flush_deferred()
        try:
            self.queue.finish()
        except cl.Error as err:
            raise MXNetError(f"{what} failed on {self.ctx}: {err}") from err

    def _trace(self, knl, gsize, lsize, evt):
        msg = f"[clnet] {self.ctx} {knl.function_name} global={gsize} local={lsize}"
        if debug_level() >= 2:
            evt.wait()
            msg += f" {(evt.profile.end - evt.profile.start) / 1e3:.1f}us"
        elif sync_mode():
            self.sync(knl.function_name)
        print(msg, file=sys.stderr)

    # -- host transfers ---------------------------------------------------------------------
    def write(self, buf, host: np.ndarray, byte_offset: int = 0):
        """Copy a contiguous host array into `buf` (blocking: `host` may be freed after)."""
        import pyopencl as cl
        self.flush_deferred()
        replay.taint("host write")
        if host.nbytes:
            cl.enqueue_copy(self.queue, buf.cl_buffer, host, dst_offset=byte_offset,
                            wait_for=self._take_pending([buf]), is_blocking=True)

    def read(self, buf, host: np.ndarray, byte_offset: int = 0):
        """Copy from `buf` into a contiguous host array, waiting for the queued writers."""
        import pyopencl as cl
        self.flush_deferred()
        replay.taint("host read")
        if host.nbytes:
            cl.enqueue_copy(self.queue, host, buf.cl_buffer, src_offset=byte_offset,
                            wait_for=self._take_pending([buf]), is_blocking=True)
