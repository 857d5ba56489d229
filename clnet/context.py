"""Device contexts: `Context(device_type, device_id)` is a value naming a device.

Owns the value type, `cpu()`/`gpu()`, the thread-local default (`with ctx:` scoping) and the
device-count and memory queries MXNet exposes here. Opening the OpenCL device is the runtime's
job (`runtime.get_device`), done lazily on first use, so `import clnet` touches no device.
"""
from __future__ import annotations

import threading

from .base import MXNetError

__all__ = ["Context", "cpu", "gpu", "current_context", "num_gpus", "memory_info",
           "gpu_memory_info"]


class Context:
    """A device: `Context('cpu', 0)`, `Context('gpu', 1)` or `Context(other_context)`.

    Usable as `with mx.Context('gpu', 0):` to set the default context of the enclosed code
    (nested and per thread, as in MXNet).
    """

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {v: k for k, v in devtype2str.items()}
    _local = threading.local()

    def __init__(self, device_type, device_id: int = 0):
        if isinstance(device_type, Context):
            self.device_typeid, self.device_id = device_type.device_typeid, device_type.device_id
        else:
            if isinstance(device_type, int):
                device_type = self.devtype2str.get(device_type, device_type)
            if device_type not in self.devstr2type:
                raise MXNetError(f"device_type {device_type!r} is unknown; use 'cpu' or 'gpu'")
            if int(device_id) < 0:
                raise MXNetError(f"device_id must be >= 0, got {device_id}")
            self.device_typeid = self.devstr2type[device_type]
            self.device_id = int(device_id)
        self._old_ctx = []

    @property
    def device_type(self) -> str:
        return self.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __ne__(self, other):
        return not self == other

    def __str__(self):
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __enter__(self):
        self._old_ctx.append(current_context())
        Context._local.value = self
        return self

    def __exit__(self, *exc):
        Context._local.value = self._old_ctx.pop()

    def empty_cache(self):
        """Release the pooled, unused buffers of this context's device."""
        from .runtime import get_device
        get_device(self).pool.release_all()

    @classmethod
    def default_ctx(cls):
        return current_context()


def cpu(device_id: int = 0) -> Context:
    """The `device_id`-th CPU-type OpenCL device (pocl's CPU device by default)."""
    return Context("cpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    return Context("cpu_pinned", device_id)


def gpu(device_id: int = 0) -> Context:
    """The `device_id`-th GPU or accelerator OpenCL device, of any vendor."""
    return Context("gpu", device_id)


def current_context() -> Context:
    """The default context of this thread: the innermost `with ctx:`, else cpu(0)."""
    ctx = getattr(Context._local, "value", None)
    if ctx is None:
        ctx = Context._local.value = Context("cpu", 0)
    return ctx


def num_gpus() -> int:
    """Number of GPU/accelerator OpenCL devices visible (0 when there is no OpenCL at all)."""
    from .runtime import discovery
    return len(discovery.devices_of_kind("gpu", missing_ok=True))


def memory_info(ctx: Context | None = None) -> dict:
    """Memory statistics of ctx's pooled allocator: bytes in use, pooled (free, kept for reuse),
    peak in use, and the device's total global memory."""
    from .runtime import get_device
    return get_device(ctx or current_context()).memory_info()


def gpu_memory_info(device_id: int = 0):
    """(free, total) bytes of gpu(device_id), as MXNet returns them."""
    stats = memory_info(gpu(device_id))
    return stats["total"] - stats["in_use"] - stats["pooled"], stats["total"]
