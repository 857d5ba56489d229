"""Which OpenCL device a context name reaches.

`cpu(i)` is the i-th CPU-type device over all platforms, `gpu(i)` the i-th GPU or accelerator.
CLNET_DEVICES pins the choice: `CLNET_DEVICES="cpu=pthread;gpu=NVIDIA"` keeps, for each kind,
only devices whose "platform / device" name contains the given substring (case-insensitive).
Before the platforms are first listed, POCL_AFFINITY defaults to 1 (see `all_devices`).
"""
from __future__ import annotations

import functools
import os

from ..base import MXNetError, env_str

INSTALL_HINT = ("install an OpenCL driver: `pip install pocl-binary-distribution` (or "
                "`pip install clnet[pocl]`) gives a CPU device with no system packages; for a GPU, "
                "install the vendor's OpenCL driver (NVIDIA, AMD ROCm, Intel compute-runtime)")


def _cl():
    try:
        import pyopencl as cl
    except ImportError as err:  # pragma: no cover - pyopencl is a dependency
        raise MXNetError(f"pyopencl is not installed; `pip install pyopencl`, then "
                         f"{INSTALL_HINT}") from err
    return cl


@functools.lru_cache(maxsize=None)
def all_devices() -> tuple:
    """Every OpenCL device on every platform, as (platform, device) pairs."""
    # NOTE: pocl's CPU worker threads, unpinned, came back from a short idle (0.2 s) with
    # the next few steps up to 1.7x slower (MLP b128, 5-step blocks: 21k vs 36k samples/s);
    # pinned to their cores, 32k vs 36k. pocl reads the variable when it starts, here.
    os.environ.setdefault("POCL_AFFINITY", "1")
    cl = _cl()
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        platforms = []  # NOTE: the ICD loader raises PLATFORM_NOT_FOUND_KHR with no platform
    found = []
    for platform in platforms:
        try:
            found.extend((platform, dev) for dev in platform.get_devices())
        except cl.Error:
            continue
    return tuple(found)


def kind_of(device) -> str:
    cl = _cl()
    return "cpu" if device.type & cl.device_type.CPU else "gpu"


def _pins() -> dict:
    pins = {}
    for item in env_str("CLNET_DEVICES").split(";"):
        if item.strip():
            kind, _, pattern = item.partition("=")
            if kind.strip() not in ("cpu", "gpu") or not pattern:
                raise MXNetError(f"CLNET_DEVICES item {item!r} must look like cpu=<substring> "
                                 "or gpu=<substring>")
            pins[kind.strip()] = pattern.strip().lower()
    return pins


def full_name(platform, device) -> str:
    return f"{platform.name.strip()} / {device.name.strip()}"


def devices_of_kind(kind: str, missing_ok: bool = False) -> list:
    """(platform, device) pairs a context of this kind enumerates, in order."""
    pairs = all_devices()
    if not pairs and not missing_ok:
        raise MXNetError(f"no OpenCL platform found; {INSTALL_HINT}")
    pattern = _pins().get(kind)
    return [(p, d) for p, d in pairs if kind_of(d) == kind
            and (pattern is None or pattern in full_name(p, d).lower())]


def find(kind: str, index: int):
    pairs = devices_of_kind(kind)
    if index >= len(pairs):
        names = [full_name(p, d) for p, d in all_devices()]
        raise MXNetError(
            f"{kind}({index}) does not exist: {len(pairs)} {kind.upper()} OpenCL device(s) found "
            f"(all devices: {names or 'none'}). "
            + (INSTALL_HINT if kind == "cpu" or not pairs else
               "Use a smaller device id, or POCL_DEVICES='pthread pthread' for two pocl CPU "
               "devices"))
    return pairs[index]
