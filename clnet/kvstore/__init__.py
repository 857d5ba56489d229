"""`mx.kv` / `mx.kvstore`: key-value stores that sum gradients over devices and processes
(MXNet's KVStore).

    kv = mx.kv.create('device')        # or 'local', 'dist_sync', 'dist_device_sync'
    kv.init('w', weight)
    kv.push('w', [grad_on_gpu0, grad_on_gpu1])
    kv.pull('w', out=[weight_on_gpu0, weight_on_gpu1])

Single-process types are `kvstore.py`'s; the MPI types are `dist.py`'s, imported only when
one is created (so `import clnet` never imports mpi4py).
"""
from __future__ import annotations

from ..base import MXNetError
from .kvstore import KVStore

__all__ = ["KVStore", "KVStoreBase", "create"]

KVStoreBase = KVStore  # MXNet 1.9 checks isinstance(kv, KVStoreBase) and reads its OPTIMIZER

_LOCAL = ("local", "local_update_cpu", "local_allreduce_cpu")
_DEVICE = ("device", "local_allreduce_device")
_DIST = ("dist_sync", "dist_device_sync", "dist_sync_device")


def create(name: str = "local") -> KVStore:
    """A new KVStore of type `name`.

    Parameters
    ----------
    name : str
        'local' (sum each key on the context of its init value; also 'local_update_cpu',
        'local_allreduce_cpu'), 'device' (sum each key on one of the pushing devices,
        spreading keys over them; also 'local_allreduce_device'), 'dist_sync' or
        'dist_device_sync' (the same within a process, then summed across the processes of an
        MPI job; needs mpi4py).

    Returns
    -------
    KVStore
    """
    if not isinstance(name, str):
        raise MXNetError(f"kvstore.create: name must be a str, got {type(name).__name__}")
    if name in _LOCAL:
        return KVStore(name)
    if name in _DEVICE:
        return KVStore(name, spread=True)
    if name in _DIST:
        from .dist import DistKVStore
        return DistKVStore(name)
    if name.startswith("dist") and "async" in name:
        raise MXNetError(f"kvstore {name!r} is not supported: asynchronous updates need a "
                         "parameter server, and clnet's distributed store is synchronous "
                         "(MPI allreduce); use 'dist_sync' or 'dist_device_sync'")
    raise MXNetError(f"kvstore.create: unknown type {name!r}; clnet has "
                     f"{list(_LOCAL + _DEVICE + _DIST)}")
