"""Imperative autograd: record NDArray ops, then differentiate with the registry's rules.

`record()` makes `ndarray.invoke` keep a tape node (op, params, inputs, outputs) on each
output that depends on an array with an attached gradient. `backward` walks those nodes in
reverse order and calls each op's `grad` rule with F = mx.nd, the same rules `autodiff` uses
for symbols; with `create_graph=True` the rules run while recording, so their ops are recorded
too and can be differentiated again.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from .base import MXNetError

_state = threading.local()


def _get(name, default=False):
    return getattr(_state, name, default)


def is_recording() -> bool:
    return _get("recording")


def is_training() -> bool:
    return _get("training")


def set_recording(flag: bool) -> bool:
    old = is_recording()
    _state.recording = bool(flag)
    return old


def set_training(flag: bool) -> bool:
    old = is_training()
    _state.training = bool(flag)
    return old


@contextmanager
def _scope(recording=None, training=None):
    old_r, old_t = is_recording(), is_training()
    if recording is not None:
        _state.recording = recording
    if training is not None:
        _state.training = training
    try:
        yield
    finally:
        _state.recording, _state.training = old_r, old_t


def record(train_mode: bool = True):
    """Record operations for gradients (training mode by default, as MXNet)."""
    return _scope(True, train_mode)


def pause(train_mode: bool = False):
    return _scope(False, train_mode)


def train_mode():
    return _scope(None, True)


def predict_mode():
    return _scope(None, False)


class TapeNode:
    """One recorded op application."""

    __slots__ = ("op", "params", "inputs", "outputs")

    def __init__(self, op, params, inputs, outputs):
        self.op, self.params, self.inputs = op, params, list(inputs)
        self.outputs = [o for o in outputs]


def needs_record(inputs) -> bool:
    return is_recording() and any(x._node is not None or x._grad_req != "null"
                                  for x in inputs)


def record_op(op, params, inputs, outputs):
    """Called by `ndarray.invoke` after an op ran while recording."""
    node = TapeNode(op, dict(params), inputs, outputs)
    for i, out in enumerate(outputs):
        out._node = (node, i)


def mark_variables(variables, gradients, grad_reqs="write"):
    if not isinstance(variables, (list, tuple)):
        variables, gradients = [variables], [gradients]
    reqs = [grad_reqs] * len(variables) if isinstance(grad_reqs, str) else list(grad_reqs)
    for x, g, r in zip(variables, gradients, reqs):
        x._grad, x._grad_req, x._node = g, r, None


def _topo(heads):
    order, seen = [], set()
    stack = [(h._node[0], False) for h in heads if h._node is not None]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for x in node.inputs:
            if x._node is not None and id(x._node[0]) not in seen:
                stack.append((x._node[0], False))
    return order


def _differentiate(heads, head_grads, variables, create_graph):
    """Gradients of heads (weighted by head_grads) for each array in `variables`."""
    from . import ndarray as nd
    grads = {}  # id(array) -> accumulated gradient

    def add(x, g):
        key = id(x)
        grads[key] = g if key not in grads else grads[key] + g

    for h, g in zip(heads, head_grads):
        add(h, g if g is not None else nd.ones_like(h))
    wanted = {id(v) for v in variables}
    with _scope(create_graph, is_training()):
        for node in reversed(_topo(heads)):
            out_grads = [grads.get(id(o)) for o in node.outputs]
            if all(g is None for g in out_grads):
                continue
            if node.op.grad is None:
                raise MXNetError(f"operator {node.op.name} has no gradient rule; compute it "
                                 "under autograd.pause() or detach() its input")
            out_grads = [g if g is not None else nd.zeros_like(o)
                         for g, o in zip(out_grads, node.outputs)]
            in_grads = node.op.grad(nd, node.params, node.inputs, node.outputs, out_grads)
            for x, g in zip(node.inputs, in_grads):
                if g is not None and (x._node is not None or id(x) in wanted):
                    add(x, g)
    return [grads.get(id(v)) for v in variables]


def _leaves(heads):
    leaves, seen = [], set()
    for node in _topo(heads):
        for x in node.inputs:
            if x._node is None and x._grad_req != "null" and id(x) not in seen:
                seen.add(id(x))
                leaves.append(x)
    return leaves


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Accumulate d(heads)/d(leaf) into each attached gradient, as its grad_req says."""
    from .executor import _assign
    from .ndarray import NDArray
    heads = [heads] if isinstance(heads, NDArray) else list(heads)
    if head_grads is None or isinstance(head_grads, NDArray):
        head_grads = [head_grads] * len(heads) if head_grads is None else [head_grads]
    if all(h._node is None for h in heads):
        raise MXNetError("backward: the array was not computed under autograd.record() from "
                         "an array with attach_grad()")
    leaves = _leaves(heads)
    with _scope(False, train_mode):
        grads = _differentiate(heads, head_grads, leaves, create_graph=False)
        for x, g in zip(leaves, grads):
            if g is not None:
                _assign(x._grad, x._grad_req, g)
    if not retain_graph:
        for h in heads:
            h._node = None


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False,
         train_mode=True):
    """Gradients of heads with respect to variables, returned (not stored in .grad)."""
    from .ndarray import NDArray
    heads = [heads] if isinstance(heads, NDArray) else list(heads)
    single = isinstance(variables, NDArray)
    variables = [variables] if single else list(variables)
    if head_grads is None or isinstance(head_grads, NDArray):
        head_grads = [head_grads] * len(heads) if head_grads is None else [head_grads]
    with _scope(is_recording(), train_mode):
        result = _differentiate(heads, head_grads, variables, create_graph)
    for v, g in zip(variables, result):
        if g is None:
            raise MXNetError("grad: a variable does not influence the heads (or was not "
                             "recorded with attach_grad / record())")
    return result
