"""Gather ops by an index array, with their gradient rules: take, pick, one_hot
(`kernels/gather.cl`, one program per element width), and the scatter-adds of their gradients,
`_backward_take` and `_backward_pick`. Index arrays of any dtype are read as they are (floats
truncate, as in MXNet). `enqueue_gather` / `enqueue_scatter_add` serve sort's gradients too.
"""
from __future__ import annotations

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..dtype import as_dtype
from .registry import OpDef, Param, register
from .shape import _axis

_UINT = {1: "uchar", 2: "ushort", 4: "uint", 8: "ulong"}
_MODES = {"clip": 0, "wrap": 1, "raise": 1}  # 'raise' is checked on the host, then wraps


def _gather_kernel(device, itemsize: int, name: str):
    suffix = f"u{itemsize * 8}"
    src = templates.render("gather", {"T": _UINT[itemsize], "SUFFIX": suffix})
    return device.kernel(src, f"{name}_{suffix}")


def enqueue_gather(out, data, idx, naxis, inner, nidx, idx_strides, mode):
    """out (outer, nidx, inner) = data (outer, naxis, inner) at the indices idx[o*s_o + k*s_k
    + c*s_c] along the middle axis (see kernels/gather.cl)."""
    if out.size == 0:
        return
    rows = out.size // inner
    device = out.device
    knl = _gather_kernel(device, out._dt.np.itemsize, "gather")
    args = [out._buf.cl_buffer, np.int64(out._offset), data._buf.cl_buffer,
            np.int64(data._offset), idx._buf.cl_buffer, np.int64(idx._offset),
            np.int32(idx._dt.mx_flag), np.int64(nidx), np.int64(naxis), np.int64(inner)]
    args += [np.int64(s) for s in idx_strides] + [np.int32(_MODES[mode])]
    device.enqueue(knl, (inner, rows), None, args, [out._buf, data._buf, idx._buf])


def enqueue_scatter_add(out, grad, idx, naxis, inner, nidx, idx_strides, mode):
    """The adjoint of `enqueue_gather`: out (outer, naxis, inner) = zeros plus each entry of
    grad (outer, nidx, inner) added at its index."""
    if out.size == 0:
        return
    device, dt = out.device, out._dt
    src = templates.render("gather", {"T": dt.ctype, "SUFFIX": dt.suffix}, (dt,))
    knl = device.kernel(src, f"scatter_add_{dt.suffix}")
    args = [out._buf.cl_buffer, np.int64(out._offset), grad._buf.cl_buffer,
            np.int64(grad._offset), idx._buf.cl_buffer, np.int64(idx._offset),
            np.int32(idx._dt.mx_flag), np.int64(nidx), np.int64(naxis), np.int64(inner)]
    args += [np.int64(s) for s in idx_strides] + [np.int32(_MODES[mode])]
    device.enqueue(knl, (inner, out.size // (naxis * inner)), None, args,
                   [out._buf, grad._buf, idx._buf])


def _gather_op(name: str, infer_shape, forward, params, doc, inputs):
    """Register gather op `name`(data, index) and its adjoint `_backward_<name>`(head_grad,
    data, index), whose forward is `scatter(p, head_grad, data, index, out)`."""
    backward = f"_backward_{name}"

    def backward_shape(p, shapes):
        g, x, idx = map(tuple, shapes)
        want = tuple(infer_shape(p, [x, idx])[0])
        if g != want:
            raise MXNetError(f"{backward}: head gradient of shape {g} does not match {name}'s "
                             f"output shape {want} for inputs of shapes {x} and {idx}")
        return [x]

    def backward_forward(p, ins, outs):
        forward(p, ins[1:], outs, grad=ins[0])

    register(OpDef(name, inputs=inputs, infer_shape=infer_shape, forward=forward,
                   params=params, doc=doc,
                   grad=lambda F, p, ins, outs, g: [
                       F.invoke(backward, [g[0]] + list(ins), p), None]))
    register(OpDef(backward, inputs=("head_grad",) + inputs, infer_shape=backward_shape,
                   forward=backward_forward, params=params,
                   doc=f"Gradient of {name}: the head gradient added at the indices.",
                   grad=lambda F, p, ins, outs, g: [
                       F.invoke(name, [g[0], ins[2]], p), None, None]))


def _take_shape(p, shapes):
    a, idx = shapes
    axis = _axis("take", p["axis"], a)
    out = a[:axis] + tuple(idx) + a[axis + 1:]
    if a[axis] == 0 and prod(out):
        raise MXNetError(f"take: axis {axis} of input shape {a} is empty; there is nothing "
                         f"to take indices {tuple(idx)} from")
    return [out]


def _check_raise(op: str, idx, n: int, axis: int, shape: tuple):
    """mode='raise': read the indices and name the first one outside [-n, n)."""
    host = idx.asnumpy().reshape(-1)
    ints = host.astype(np.int64)
    bad = (ints < -n) | (ints >= n)
    if host.dtype.kind == "f":
        bad |= ~np.isfinite(host)
    bad = np.flatnonzero(bad)
    if bad.size:
        raise MXNetError(f"{op}: index {host[bad[0]]} (at position {int(bad[0])} of the "
                         f"indices) is out of range for axis {axis} of size {n} (input shape "
                         f"{shape}, mode='raise')")


def _take_forward(p, inputs, outputs, grad=None):
    """take, or with `grad` its adjoint (the indices were checked by the forward)."""
    a, idx = inputs
    axis = p["axis"] % a.ndim
    plan = (a.shape[axis], prod(a.shape[axis + 1:]), idx.size, (0, 1, 0), p["mode"])
    if grad is not None:
        enqueue_scatter_add(outputs[0], grad, idx, *plan)
        return
    if p["mode"] == "raise":
        _check_raise("take", idx, a.shape[axis], axis, a.shape)
    enqueue_gather(outputs[0], a, idx, *plan)


_gather_op("take", _take_shape, _take_forward, inputs=("a", "indices"),
           params=(Param("axis", int, 0, "axis of `a` to take along"),
                   Param("mode", str, "clip", "out-of-range indices: clip, wrap or raise",
                         choices=("clip", "wrap", "raise"))),
           doc="Entries of `a` along `axis` at the given indices.")


def _pick_shape(p, shapes):
    data, idx = shapes
    axis = _axis("pick", p["axis"], data)
    kept = data[:axis] + (1,) + data[axis + 1:]
    dropped = data[:axis] + data[axis + 1:]
    if tuple(idx) not in (kept, dropped):
        raise MXNetError(f"pick: index shape {tuple(idx)} must be {dropped} (or {kept}) for "
                         f"data shape {data} and axis={p['axis']}")
    if data[axis] == 0 and prod(dropped):
        raise MXNetError(f"pick: axis {axis} of data shape {data} is empty; there is nothing "
                         "to pick")
    return [kept if p["keepdims"] else dropped]


def _pick_forward(p, inputs, outputs, grad=None):
    """pick, or with `grad` its adjoint."""
    data, idx = inputs
    axis = p["axis"] % data.ndim
    inner = prod(data.shape[axis + 1:])
    plan = (data.shape[axis], inner, 1, (inner, 0, 1), p["mode"])
    if grad is not None:
        enqueue_scatter_add(outputs[0], grad, idx, *plan)
    else:
        enqueue_gather(outputs[0], data, idx, *plan)


_gather_op("pick", _pick_shape, _pick_forward, inputs=("data", "index"),
           params=(Param("axis", int, -1, "axis to pick along"),
                   Param("keepdims", bool, False, "keep the axis with size 1"),
                   Param("mode", str, "clip", "out-of-range indices: clip or wrap",
                         choices=("clip", "wrap"))),
           doc="One entry per position along `axis`, chosen by `index`.")


def _one_hot_forward(p, inputs, outputs):
    idx, out = inputs[0], outputs[0]
    if out.size == 0:
        return
    dt = out._dt
    bits = np.dtype(f"u{dt.np.itemsize}")
    with np.errstate(invalid="ignore", over="ignore"):
        on, off = (np.array([v]).astype(dt.np).view(bits)[0]
                   for v in (p["on_value"], p["off_value"]))
    device = out.device
    knl = _gather_kernel(device, dt.np.itemsize, "one_hot")
    args = [out._buf.cl_buffer, np.int64(out._offset), idx._buf.cl_buffer,
            np.int64(idx._offset), np.int32(idx._dt.mx_flag), np.int64(p["depth"]), on, off]
    device.enqueue(knl, (p["depth"], idx.size), None, args, [out._buf, idx._buf])


register(OpDef("one_hot", inputs=("indices",), forward=_one_hot_forward,
               infer_shape=lambda p, s: [tuple(s[0]) + (p["depth"],)],
               infer_type=lambda p, dts: [as_dtype(p["dtype"])],
               grad=lambda F, p, ins, outs, g: [None],  # indices: no gradient
               params=(Param("depth", int, low=0, doc="length of the one-hot axis"),
                       Param("on_value", float, 1.0, "value at the index"),
                       Param("off_value", float, 0.0, "value elsewhere"),
                       Param("dtype", "dtype", "float32", "output dtype")),
               doc="One-hot encoding: a new last axis of length depth, on_value at the index "
                   "(indices outside [0, depth) give a row of off_value)."))
