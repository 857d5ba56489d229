"""Measured parameter choices per device, kept on disk so later processes start tuned.

Owns the tuning files and the search loop: `choose(device, family, key, candidates, measure)`
returns the stored choice for a shape class `key` of kernel family `family`, or times each
candidate with `measure` (under a time budget), keeps the fastest and stores it. One JSON file
per device identity (platform, device, driver version) lives in `<cache>/tuning/<sha>.json`,
next to the kernel binaries of `device.cache_dir()`; it is rewritten atomically (temporary
file + os.replace) and merged with what other processes wrote meanwhile. A corrupt or foreign
file, or one whose choices were timed with other kernel templates (`templates.digest`: an
upgraded clnet), is ignored and replaced. What the candidates are and how one is timed is the
caller's business (`ops.matrix` for GEMM). `CLNET_<FAMILY>_TUNE=0` turns a family's search off:
the caller then uses its defaults and no file is read.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence

from ..base import MXNetError, env_str
from ..codegen import templates
from . import replay
from .device import cache_dir

# 2: the packed GEMM path splits a long k over few work-groups; choices timed before that
# (convolution methods by their GEMMs' speed) are searched again
VERSION = 2
# Search statistics of this process (tests read them to see that a tuned process searches no
# more): searches run, candidates timed, files read.
stats = {"searches": 0, "timed": 0, "loads": 0}
# Passes over the candidates in a search, each candidate's best kept. NOTE: pocl, 6 fresh
# searches of the SGEMM n = 512 class: one pass chose APACK = 0 3 times in 6 (in each of two
# runs, 3 parameter sets per run), three passes 6 times in 6.
PASSES = 3
_stores: dict = {}
_lock = threading.RLock()


def enabled(family: str) -> bool:
    """Whether `family`'s measured search runs: CLNET_<FAMILY>_TUNE, default on."""
    return env_str(f"CLNET_{family.upper()}_TUNE", "1").strip() not in ("0", "false", "off")


def bucket(x: int) -> int:
    """Coarse size class for shape-class keys: 1, 2-4, 5-16, 17-64, ... (powers of 4),
    capped at 4096+."""
    return min((max(x, 1) - 1).bit_length() + 1 >> 1, 7)


def path_for(identity: str) -> str:
    """The tuning file of a device identity, under the cache directory's parent."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return os.path.join(os.path.dirname(cache_dir()), "tuning", digest + ".json")


class Store:
    """The choices of one device: {family: {shape-class key: choice}}, mirrored on disk."""

    def __init__(self, identity: str):
        self.identity = identity
        self.path = path_for(identity)
        self.entries = self._read()

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            stats["loads"] += 1
        except (OSError, ValueError):
            return {}  # missing or corrupt: searched again and rewritten
        if (not isinstance(doc, dict) or doc.get("version") != VERSION
                or doc.get("identity") != self.identity
                or doc.get("kernels") != templates.digest()
                or not isinstance(doc.get("entries"), dict)):
            return {}
        return {fam: dict(v) for fam, v in doc["entries"].items() if isinstance(v, dict)}

    def get(self, family: str, key: str):
        return self.entries.get(family, {}).get(key)

    def put(self, family: str, key: str, choice) -> None:
        """Record a choice and rewrite the file, keeping other processes' entries."""
        with _lock:
            merged = self._read()
            for fam, values in self.entries.items():
                merged.setdefault(fam, {}).update(values)
            merged.setdefault(family, {})[key] = choice
            self.entries = merged
            doc = {"version": VERSION, "identity": self.identity,
                   "kernels": templates.digest(), "entries": merged}
            try:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except OSError:
                pass  # an unwritable cache directory costs a search per process


def store_for(device) -> Store:
    with _lock:
        store = _stores.get(device.identity)
        if store is None:
            store = _stores[device.identity] = Store(device.identity)
        return store


def forget() -> None:
    """Drop the in-memory stores, so the next lookup reads the files again."""
    with _lock:
        _stores.clear()


def choose(device, family: str, key: str, candidates: Sequence[dict],
           measure: Callable[[dict], float], budget_s: float = 3.0) -> dict:
    """The candidate to use for shape class `key`: the stored one when it is still among
    `candidates`, else the fastest by `measure(candidate) -> seconds`, its best of PASSES
    passes over the candidates in turn (a change in the host's load between one candidate's
    timing and the next's then does not decide; the first pass also builds). The first
    candidate is timed first; no new candidate starts once `budget_s` is spent; one that
    raises is skipped."""
    import pyopencl as cl
    store = store_for(device)
    stored = store.get(family, key)
    if stored in candidates:
        return stored
    stats["searches"] += 1
    times = [float("inf")] * len(candidates)
    start = time.perf_counter()
    # the search's launches are not part of any step an executor is recording
    with replay.paused():
        device.queue.finish()
        for sweep in range(PASSES):
            for i, cand in enumerate(candidates):
                spent = time.perf_counter() - start > budget_s
                if (spent and min(times) < float("inf")) or (sweep and times[i] == float("inf")):
                    continue  # out of time, or rejected in the first pass
                try:
                    seconds = measure(cand)
                except (MXNetError, cl.Error):  # a candidate the device rejects is not chosen
                    continue
                stats["timed"] += 1
                times[i] = min(times[i], seconds)
        device.queue.finish()
    best = candidates[times.index(min(times))] if min(times) < float("inf") else candidates[0]
    store.put(family, key, best)
    return best
