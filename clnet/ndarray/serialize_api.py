"""`mx.nd.save` / `mx.nd.load` on NDArrays, over the numpy-level format in `serialize`."""
from __future__ import annotations

from ..base import MXNetError
from .ndarray import NDArray, array
from . import serialize


def save(fname: str, data) -> None:
    """Save an NDArray, a list of NDArrays or a dict str -> NDArray in MXNet's binary format."""
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        host = {}
        for k, v in data.items():
            if not isinstance(v, NDArray):
                raise MXNetError(f"save: value of key {k!r} must be an NDArray, got "
                                 f"{type(v).__name__}")
            host[k] = v.asnumpy()
    elif isinstance(data, (list, tuple)):
        host = []
        for i, v in enumerate(data):
            if not isinstance(v, NDArray):
                raise MXNetError(f"save: item {i} must be an NDArray, got {type(v).__name__}")
            host.append(v.asnumpy())
    else:
        raise MXNetError(f"save: data must be an NDArray, a list or a dict of NDArrays, got "
                         f"{type(data).__name__}")
    serialize.save_arrays(fname, host)


def load(fname: str, ctx=None):
    """Load a file written by `save` (or by MXNet 1.x): a list or a dict of NDArrays."""
    loaded = serialize.load_arrays(fname)
    if isinstance(loaded, dict):
        return {k: array(v, ctx=ctx, dtype=v.dtype) for k, v in loaded.items()}
    return [array(v, ctx=ctx, dtype=v.dtype) for v in loaded]
