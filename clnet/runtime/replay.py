"""Recording of kernel launches, so a bound executor can replay a step's launches with their
arguments already set instead of running the ops' Python again.

A `Recorder` is active while an executor runs a step for the first time: `Device.enqueue`
adds each launch to it, and anything a replay could not repeat (a host transfer, a random
draw, a wait on the host) marks the step `unreplayable` through `taint`. Code that launches
work outside the step's meaning (a measured parameter search) runs under `paused()`.
"""
from __future__ import annotations

import contextlib
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
        self.unreplayable = None

    def add(self, device, knl, gsize, lsize, args, buffers):
        self.launches.append((device, knl, gsize, lsize, list(args), tuple(buffers)))


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
    out = []
    for step in steps:
        with recording() as rec:
            step()
        if rec.unreplayable is not None or not all(map(_settable, rec.launches)):
            out.append(step)
            continue
        for device, knl, gsize, lsize, args, buffers in rec.launches:
            if not (out and isinstance(out[-1], _Launches) and out[-1].device is device):
                out.append(_Launches(device))
            out[-1].add(knl, gsize, lsize, args, buffers)
    return out


def _settable(launch) -> bool:
    """Whether the launch's arguments can be set on a new kernel object: its scalar types
    were declared, or every scalar carries its own dtype."""
    device, knl, _, _, args, _ = launch
    return knl in device.arg_types or all(
        hasattr(a, "dtype") or hasattr(a, "int_ptr") for a in args)
