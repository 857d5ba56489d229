"""Recording of kernel launches, so a bound executor can replay a step's launches with their
arguments already set instead of running the ops' Python again.

A `Recorder` is active while an executor runs a step for the first time: `Device.enqueue`
adds each launch to it, and anything a replay could not repeat (a write or read through the
host, a random draw, a copy between devices) marks the step `unreplayable` through `taint`.
Code that launches work outside the step's meaning (a measured parameter search) runs under
`paused()`.

Temporaries (Buffers an op allocated during the step and dropped by its end, such as GEMM
panels and im2col columns) would stay allocated for as long as the replay holds them; instead
the recorded launches get buffers shared by temporaries whose uses do not overlap, as the
ops' own pool reuse would give, so a replay holds about the peak of the temporaries, not
their sum.
"""
from __future__ import annotations

import collections
import contextlib
import sys
import threading

_state = threading.local()


def active():
    """The Recorder of this thread, or None."""
    return getattr(_state, "recorder", None)


def taint(reason: str):
    """Mark the step being recorded as one to run through its ops every time."""
    rec = active()
    if rec is not None and rec.unreplayable is None:
        rec.unreplayable = reason


@contextlib.contextmanager
def paused():
    """Run the body with no recorder: its launches are not part of the recorded step."""
    rec = active()
    _state.recorder = None
    try:
        yield
    finally:
        _state.recorder = rec


class Recorder:
    """The launches of one step, in order, and why the step cannot be replayed (if so)."""

    def __init__(self):
        self.launches = []  # (device, kernel, gsize, lsize, args, buffers)
        self.created = []  # Buffers allocated while recording
        self.unreplayable = None

    def add(self, device, knl, gsize, lsize, args, buffers):
        self.launches.append((device, knl, gsize, lsize, list(args), tuple(buffers)))


def note_buffer(buf):
    """A Buffer was allocated (called by Buffer itself): remembered while recording."""
    rec = active()
    if rec is not None:
        rec.created.append(buf)


@contextlib.contextmanager
def recording():
    rec = Recorder()
    prev = active()
    _state.recorder = rec
    try:
        yield rec
    finally:
        _state.recorder = prev


class _Launches:
    """Recorded launches of one device, each on a kernel object of its own whose arguments
    were set once, so a replay only enqueues. The Buffers stay referenced: temporaries an op
    allocated while recorded keep their memory for the replays."""

    def __init__(self, device):
        self.device = device
        self.items = []
        self.buffers = []

    def add(self, knl, gsize, lsize, args, buffers):
        import pyopencl as cl
        own = cl.Kernel(knl.program, knl.function_name)
        types = self.device.arg_types.get(knl)
        if types is not None:
            own.set_scalar_arg_dtypes(types)
            own.set_args(*args)
        else:
            for i, arg in enumerate(args):
                own.set_arg(i, arg)
        self.items.append((own, gsize, lsize))
        for buf in buffers:
            if buf is not None and all(buf is not b for b in self.buffers):
                self.buffers.append(buf)

    def __call__(self):
        import pyopencl as cl
        device, queue = self.device, self.device.queue
        device.flush_deferred()
        wait = device._take_pending(self.buffers)
        if wait:  # work of another device's queue these launches read or overwrite
            cl.enqueue_barrier(queue, wait_for=wait)
        enqueue = cl.enqueue_nd_range_kernel
        with device._enqueue_lock:
            for knl, gsize, lsize in self.items:
                enqueue(queue, knl, gsize, lsize)
            device.launches += len(self.items)


def record(steps) -> list:
    """Run `steps` (callables enqueueing work) once, recording them; returns the list of
    callables a replay runs: prepared launches for the steps that only launched kernels, the
    step itself for the others."""
    from .device import flush_deferred
    flush_deferred()  # imperative work held back is not part of the recorded steps
    recorded = []  # per step: the step itself, or its launches
    temps, owned = [], {}
    for step in steps:
        with recording() as rec:
            step()
        if rec.unreplayable is not None or not all(map(_settable, rec.launches)):
            recorded.append(step)
            continue
        step_temps, others = _temporaries(rec)
        temps += step_temps
        owned.update((id(b.cl_buffer), b) for b in others)
        recorded.append(rec.launches)
    launches = [launch for item in recorded if isinstance(item, list) for launch in item]
    swap = _shared_slots(temps, launches)
    out = []
    for item in recorded:
        if not isinstance(item, list):
            out.append(item)
            continue
        for device, knl, gsize, lsize, args, buffers in item:
            if not (out and isinstance(out[-1], _Launches) and out[-1].device is device):
                out.append(_Launches(device))
            buffers = [swap.get(id(b), b) for b in buffers]
            buffers += [swap[id(a)] for a in args if id(a) in swap]
            buffers += [owned[id(a)] for a in args if id(a) in owned]
            args = [swap[id(a)].cl_buffer if id(a) in swap else a for a in args]
            out[-1].add(knl, gsize, lsize, args, buffers)
    return out


def _temporaries(rec) -> tuple:
    """(temporaries, others) of the Buffers allocated while the step was recorded whose cl
    buffer its launches take as an argument. Temporaries are those nothing but the recording
    holds; each one's memory goes back to the pool once the replay has a slot for it.

    A Buffer allocated during the step that something else holds (a new persistent array)
    stays its owner's; the replay keeps a reference to it too, so its memory is never handed
    to another array while a replayed launch may write it."""
    in_args = {id(a) for launch in rec.launches for a in launch[4]}
    used = [buf for buf in rec.created if id(buf.cl_buffer) in in_args]
    rec.created = []
    if not hasattr(sys, "getrefcount"):  # not CPython: every one is kept as it is
        return [], used
    # (comprehensions only: a loop variable left in this frame would be one more reference)
    held = collections.Counter(id(buf) for launch in rec.launches for buf in launch[5])
    # besides the launches': the list `used`, the loop variable, getrefcount's argument
    temps = [buf for buf in used if sys.getrefcount(buf) - 3 == held[id(buf)]]
    return temps, [buf for buf in used if all(buf is not t for t in temps)]


def _shared_slots(temps: list, launches: list) -> dict:
    """{id of a temporary's Buffer and of its cl buffer: the Buffer replacing it}: the
    temporaries of one device share a slot when their spans of launches do not overlap
    (best fit by size). The device's queue is in order, so a slot is free for the next
    temporary once its last user is enqueued."""
    from .memory import Buffer
    if not temps:
        return {}
    span = {}
    for i, launch in enumerate(launches):
        for a in launch[4]:
            first, _ = span.get(id(a), (i, i))
            span[id(a)] = (first, i)
    slots = {}  # device -> [[nbytes, last use], ...]
    assigned = []
    for buf in sorted(temps, key=lambda b: span[id(b.cl_buffer)][0]):
        first, last = span[id(buf.cl_buffer)]
        free = [s for s in slots.setdefault(buf.device, []) if s[1] < first]
        fits = [s for s in free if s[0] >= buf.nbytes]
        slot = min(fits, key=lambda s: s[0]) if fits else max(free, key=lambda s: s[0],
                                                              default=None)
        if slot is None:
            slot = [0, -1]
            slots[buf.device].append(slot)
        slot[0], slot[1] = max(slot[0], buf.nbytes), last
        assigned.append((buf, slot))
    made, swap = {}, {}
    for buf, slot in assigned:
        if id(slot) not in made:
            made[id(slot)] = Buffer(buf.device, slot[0])
        swap[id(buf)] = swap[id(buf.cl_buffer)] = made[id(slot)]
    return swap


def _settable(launch) -> bool:
    """Whether the launch's arguments can be set on a new kernel object: its scalar types
    were declared, or every scalar carries its own dtype."""
    device, knl, _, _, args, _ = launch
    return knl in device.arg_types or all(
        hasattr(a, "dtype") or hasattr(a, "int_ptr") for a in args)
