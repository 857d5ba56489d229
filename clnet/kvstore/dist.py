"""Synchronous data parallelism across processes: MXNet's 'dist_sync' and 'dist_device_sync'
KVStore, over MPI through mpi4py (`pip install clnet[dist]`, launch with
`mpiexec -n 4 python train.py --kv-store dist_sync`).

Owns what crosses processes: worker 0's initial values broadcast at `init`, each push's
per-process sum added across workers (an allreduce of host copies), `barrier`, and failing
in bounded time when a worker is gone. Every worker keeps the weights and runs the same
optimizer update on the same summed gradient, so the copies stay equal without a server.
Summing within a process (and 'device' placement) is `kvstore.KVStore`'s.

A worker that exits or stalls leaves the others waiting in a collective: every collective is
non-blocking and polled, and one that has not completed after CLNET_DIST_TIMEOUT seconds
(default 60; 0 waits forever) raises MXNetError on that worker, which then leaves without
finalizing MPI when it exits, so the launcher ends the job (the workers are out of step).
A worker killed outright is the launcher's to report: it ends the job itself.

Iterators are sharded by the caller: `part_index=kv.rank, num_parts=kv.num_workers`.

'dist_async' (each worker's update applied by a server as it arrives) is not provided: it
needs a parameter server, which MPI collectives do not give.
"""
from __future__ import annotations

import atexit
import os
import sys
import time

import numpy as np

from ..base import MXNetError, env_str
from .kvstore import KVStore

__all__ = ["DistKVStore", "timeout_seconds"]

_state = {"broken": False, "hooked": False}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise MXNetError("the distributed kvstore types (dist_sync, dist_device_sync) run on "
                         "MPI through mpi4py, which is not importable here: pip install "
                         "'clnet[dist]' (mpi4py and mpich), then launch the script with "
                         f"mpiexec -n <workers> python <script> ({err})") from err
    return MPI


def timeout_seconds() -> float:
    """CLNET_DIST_TIMEOUT: seconds a collective may wait for the other workers (0: forever)."""
    text = env_str("CLNET_DIST_TIMEOUT", "60")
    try:
        value = float(text)
    except ValueError as err:
        raise MXNetError(f"environment variable CLNET_DIST_TIMEOUT={text!r} must be a number "
                         "of seconds") from err
    return value if value > 0 else 0.0


def _abort_if_broken():
    """At exit, end this worker at once when a collective failed, without MPI_Finalize (which
    could wait for a peer that is gone): the launcher then ends the whole job, as it does for
    a crashed worker. Unlike MPI_Abort, this lets the launcher forward the error message
    first (MPI_Abort can kill the job before this worker's last output is relayed)."""
    if _state["broken"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass  # a closed or missing stream has nothing left to say
        os._exit(1)


class DistKVStore(KVStore):
    """A KVStore shared by the processes of an MPI job (`mx.kv.create('dist_sync')`).

    `rank` and `num_workers` are the process's rank and the size of MPI_COMM_WORLD. Within a
    process, arrays pushed for a key are summed as 'local' does ('dist_device_sync': as
    'device' does); the per-process sums are then added across workers, and every worker
    applies the update. Run without mpiexec it is a job of one worker.
    """

    def __init__(self, kv_type: str = "dist_sync"):
        mpi = _mpi()
        super().__init__(kv_type, spread=kv_type in ("dist_device_sync", "dist_sync_device"))
        self._mpi = mpi
        self._timeout = timeout_seconds()
        if not _state["hooked"]:
            atexit.register(_abort_if_broken)
            _state["hooked"] = True
        world = mpi.COMM_WORLD
        # a communicator of its own, so the store's collectives never match the user's
        self._comm, request = world.Idup()
        self._wait([request], "creating the store's communicator")

    @property
    def rank(self) -> int:
        return self._comm.Get_rank()

    @property
    def num_workers(self) -> int:
        return self._comm.Get_size()

    def barrier(self):
        """Wait until every worker reaches this point (bounded by CLNET_DIST_TIMEOUT)."""
        self._wait([self._comm.Ibarrier()], "barrier")

    # -- what crosses processes ----------------------------------------------------------------
    def _own_sums(self) -> bool:
        return True  # the summed gradient is overwritten with the workers' total

    def _share_init(self, keys):
        stored = [self._data[k] for k in keys]
        hosts = [a.asnumpy() for a in stored]
        requests = [self._comm.Ibcast(h, root=0) for h in hosts if h.size]
        self._wait(requests, f"broadcasting worker 0's initial values of keys {keys}")
        if self.rank != 0:
            for a, h in zip(stored, hosts):
                _write(a, h)

    def _aggregate(self, summed):
        mpi = self._mpi
        hosts, requests = [], []
        for _, total in summed:
            # reading one sum waits only for its own kernels; its allreduce then runs while
            # the next sum is read
            host = total.asnumpy()
            if host.dtype == np.float16:
                host = host.astype(np.float32)  # MPI has no half type
            hosts.append(host)
            if host.size:
                requests.append(self._comm.Iallreduce(mpi.IN_PLACE, host, op=mpi.SUM))
        self._wait(requests, f"summing keys {[k for k, _ in summed]} across workers")
        for (_, total), host in zip(summed, hosts):
            _write(total, host)
        return summed

    def _wait(self, requests, what: str):
        """Poll `requests` until all complete; after the timeout, mark the job broken and
        raise (the job ends when this process exits)."""
        if _state["broken"]:
            raise MXNetError(f"kvstore {self._type}: a collective of this job already failed; "
                             f"the workers are out of step, so {what} cannot run")
        test_all = self._mpi.Request.Testall
        start = time.monotonic()
        delay = 0.0
        try:
            while not test_all(requests):
                if self._timeout and time.monotonic() - start > self._timeout:
                    _state["broken"] = True
                    raise MXNetError(
                        f"kvstore {self._type}: worker {self.rank} of {self.num_workers} waited "
                        f"{self._timeout:g} s (CLNET_DIST_TIMEOUT) for the other workers while "
                        f"{what}: a worker has exited, crashed or stalled. The MPI job ends "
                        "when this process exits.")
                # spin briefly, then back off to 1 ms: MPI progresses only inside Testall
                time.sleep(delay)
                delay = min(max(delay * 2, 1e-5), 1e-3)
        except self._mpi.Exception as err:
            _state["broken"] = True
            raise MXNetError(f"kvstore {self._type}: MPI failed on worker {self.rank} of "
                             f"{self.num_workers} while {what} (do all workers push the same "
                             f"keys with the same shapes in the same order?): {err}") from err


def _write(arr, host: np.ndarray):
    """Copy a host array into `arr` (blocking, so `host` may be reused)."""
    host = np.ascontiguousarray(host, dtype=arr._dt.np)
    arr.device.write(arr._buf, host, arr._offset * arr._dt.np.itemsize)
