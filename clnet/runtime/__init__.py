"""OpenCL runtime: device discovery, the per-device resources and memory.

`get_device(ctx)` opens (once) the OpenCL device a Context names. Nothing here runs at import.
"""
from .device import Device, get_device, waitall  # noqa: F401
from .memory import Buffer  # noqa: F401
