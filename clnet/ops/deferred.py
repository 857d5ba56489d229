"""Imperative elementwise ops held back and fused: `mx.nd.tanh(a * b + a)` runs as one kernel.

An elementwise op on dense operands of one float dtype is not launched at once: it becomes a
chain (`codegen.fusion` Steps over leaf input buffers) waiting on its device. An op reading
the result of a waiting chain copies that chain's steps into its own, so a whole expression
ends as one chain whose intermediate results are never stored. Everything waiting on a device
is launched, in order, before anything else touches the device: another kernel, a host read
or write, a copy between devices, a wait (`Device.flush_deferred`). A chain whose output
array is gone by then (a temporary of an expression) is dropped; a chain of one step runs
the op's own kernel, so an expression's kernel is built only when it fuses something.

Order stays as written: chains launch in the order they were made, and a chain may only be
copied into a later one while no later chain has overwritten one of its inputs and it does
not write one itself (else it is sealed and runs as it is). One flush runs at a time, whole:
a thread touching the device while another thread's flush is enqueueing waits for it.
CLNET_DEFER=0 launches every op at once; nothing is held back while a step is being recorded
for replay, nor in debug or sync mode.
"""
from __future__ import annotations

import threading
import weakref

from ..base import env_int, plain_mode, prod
from ..codegen import fusion
from ..runtime import replay
from . import mapping

MAX_STEPS = 16    # steps of one chain (its kernel's length)
MAX_INPUTS = 8    # leaf inputs of one chain (kernel arguments)
MAX_WAITING = 32  # chains waiting on one device before they are launched


def enabled() -> bool:
    return replay.active() is None and plain_mode() and env_int("CLNET_DEFER", 1) != 0


class _Array:
    """What fusion.launcher reads of an array: buffer, offset, size, dtype, device."""
    __slots__ = ("_buf", "_offset", "size", "_dt", "device")

    def __init__(self, buf, offset, size, dt, device):
        self._buf, self._offset, self.size, self._dt, self.device = buf, offset, size, dt, device


class _Chain:
    """Steps computing one output from leaf inputs. The output buffer is held weakly: when
    nothing else holds it, nobody can read the result and the chain is dropped."""
    __slots__ = ("steps", "leaves", "out", "offset", "shape", "dt", "single", "sealed")

    def __init__(self, steps, leaves, out_buf, offset, shape, dt, single):
        self.steps, self.leaves = steps, leaves
        self.out = weakref.ref(out_buf)
        self.offset, self.shape, self.dt = offset, shape, dt
        self.single = single  # (expr, name, scalars) of a chain of 1 step, computed in dt
        self.sealed = False

    def launch(self, device):
        buf = self.out()
        if buf is None:
            return
        if len(self.steps) == 1:  # the op's own kernel, over views of its dense operands
            expr, name, scalars = self.single
            strides = mapping.contiguous_strides(self.shape)
            out = mapping.View(buf, self.offset, self.shape, strides, self.dt)
            views = [mapping.View(x._buf, x._offset, self.shape, strides, self.dt)
                     for x in (self.leaves[k] for _, k in self.steps[0].operands)]
            mapping.run(device, expr, name, out, views, scalars, compute_dtype=self.dt)
            return
        out = _Array(buf, self.offset, prod(self.shape), self.dt, device)
        fusion.launcher(self.steps, self.leaves, out)()


class Waiting:
    """The chains waiting on one device (`Device.deferred`)."""

    def __init__(self, device):
        self.device = device
        self.chains: list = []
        self.latest: dict = {}  # id(Buffer) -> the last waiting chain writing it
        self.readers: dict = {}  # id(Buffer) -> the waiting chains reading it (leaves)
        self.lock = threading.Lock()  # guards chains, latest and readers
        # one flush at a time, whole: a second thread's flush waits until the chains before
        # its own are enqueued, and a chain's own launch does not flush again
        self.flushing = threading.RLock()
        self.busy = False

    def __bool__(self):
        # also while another thread's flush is still enqueueing chains it took: a caller
        # must then wait for it (flush) before touching the device
        return bool(self.chains) or self.busy

    def flush(self):
        """Launch every waiting chain, in order (also those held while this runs)."""
        with self.flushing:
            if self.busy:
                return
            self.busy = True
            try:
                while True:
                    with self.lock:
                        chains, self.chains = self.chains, []
                        self.latest, self.readers = {}, {}
                    if not chains:
                        return
                    for chain in chains:
                        chain.launch(self.device)
            finally:
                self.busy = False

    def hold(self, expr, name, out, inputs, scalars, n_scalars) -> bool:
        """Hold back `out = expr(inputs)` as a chain, copying in the waiting chains that
        produce its inputs; False when it cannot wait (the caller launches it). `out` is
        (buffer, offset, shape, dtype), each input (buffer, offset) of that shape and dtype;
        the first `n_scalars` of `scalars` are the op's (the fused kernel takes only those)."""
        out_buf, out_offset, shape, dt = out
        steps, leaves, refs = [], [], []
        with self.lock:
            for buf, offset in inputs:
                src = self.latest.get(id(buf))
                if (src is not None and not src.sealed and src.offset == offset
                        and src.shape == shape and src.out() is buf
                        and len(steps) + len(src.steps) < MAX_STEPS):
                    base, index = len(steps), [_leaf(leaves, x) for x in src.leaves]
                    steps += [st._replace(operands=tuple(
                        ("in", index[k]) if kind == "in" else ("v", base + k)
                        for kind, k in st.operands)) for st in src.steps]
                    refs.append(("v", len(steps) - 1))
                else:
                    refs.append(("in", _leaf(leaves, _Array(buf, offset, 0, dt, None))))
            if len(leaves) > MAX_INPUTS or len(self.chains) >= MAX_WAITING:
                return False
            steps.append(fusion.Step(expr, tuple(refs), tuple(scalars[:n_scalars])))
            # a lone step keeps the op's own launch (its leaves are its operands); a fused
            # one must not hold the inputs it copied in, so their chains can be dropped
            single = (expr, name, scalars) if len(steps) == 1 else None
            chain = _Chain(steps, leaves, out_buf, out_offset, shape, dt, single)
            for other in self.readers.get(id(out_buf), ()):
                other.sealed = True  # they must not see the value written here
            # an op writing one of its own inputs (x *= 2) runs before any later chain, which
            # would then read the new value where the copied steps expect the old one
            chain.sealed = any(x._buf is out_buf for x in leaves)
            self.chains.append(chain)
            self.latest[id(out_buf)] = chain
            for x in leaves:  # the leaves are held by the chain: their ids stay theirs
                self.readers.setdefault(id(x._buf), []).append(chain)
        return True


def _leaf(leaves: list, x: _Array) -> int:
    for i, y in enumerate(leaves):
        if y._buf is x._buf and y._offset == x._offset:
            return i
    leaves.append(x)
    return len(leaves) - 1


_FLOATS = frozenset(("float32", "float64"))  # the dtypes chains compute in


def hold(expr: str, name: str, out, inputs, scalars, n_scalars) -> bool:
    """Hold back an elementwise op `out = expr(inputs, scalars)` when it can wait: inputs of
    out's shape and dtype (NDArrays are dense), float32 or float64; False when the caller
    must launch it. The first `n_scalars` of `scalars` are the op's."""
    dt, shape = out._dt, out._shape
    if dt.name not in _FLOATS or not 0 < len(inputs) <= 3 or 0 in shape:
        return False
    for x in inputs:
        if x._dt is not dt or x._shape != shape:
            return False
    if not enabled():
        return False
    device = out.device
    waiting = device.deferred
    if waiting is None:
        waiting = device.deferred = Waiting(device)
    return waiting.hold(expr, name, (out._buf, out._offset, shape, dt),
                        [(x._buf, x._offset) for x in inputs], scalars, n_scalars)
