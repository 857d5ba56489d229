"""Elementwise maps over strided views: the one kernel family (`kernels/elemwise.cl`) behind
math ops, scalar ops, casts, copies, broadcasting, transposes, flips and slice assignment.

A `View` is (buffer, offset, shape, strides) in elements; strides may be 0 (broadcast) or
negative (flip). `run` collapses dims that are contiguous for every operand, then launches the
contiguous kernel when all operands are dense, else the strided one. Kernels are built per
(expression, dtypes); shapes are kernel arguments, so no rebuild per shape.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import printer, templates

VEC = 4
_LOCAL = 64
MAX_DIMS = 8


class View(NamedTuple):
    buffer: object
    offset: int
    shape: tuple
    strides: tuple
    dtype: object  # DTypeInfo


def contiguous_strides(shape) -> tuple:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= int(d)
    return tuple(reversed(strides))


def broadcast_shapes(*shapes, what: str = "operands") -> tuple:
    """numpy's broadcasting of shapes, with an error naming them when they do not match."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise MXNetError(f"{what}: shapes {' and '.join(map(str, shapes))} cannot be "
                             f"broadcast together")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def broadcast_view(view: View, shape: tuple) -> View:
    """`view` seen with `shape` (numpy broadcasting: new leading dims and size-1 dims get
    stride 0)."""
    lead = len(shape) - len(view.shape)
    strides = [0] * lead + [0 if d == 1 and n != 1 else s
                            for d, n, s in zip(view.shape, shape[lead:], view.strides)]
    return view._replace(shape=tuple(shape), strides=tuple(strides))


def _collapse(shape, strides_list):
    """Drop size-1 dims and merge neighbours that are contiguous for every operand."""
    dims = [(n, [st[i] for st in strides_list]) for i, n in enumerate(shape) if n != 1]
    merged = []
    for n, sts in dims:
        if merged:
            pn, psts = merged[-1]
            if all(ps == s * n for ps, s in zip(psts, sts)):
                merged[-1] = (pn * n, sts)
                continue
        merged.append((n, sts))
    return [n for n, _ in merged], [[sts[k] for _, sts in merged]
                                     for k in range(len(strides_list))]


def _long8(values):
    import pyopencl.cltypes as ct
    padded = list(values) + [0] * (MAX_DIMS - len(values))
    return ct.make_long8(*padded)


def source(expr: str, out_dtype, in_dtypes, name: str, compute_dtype=None) -> str:
    """Rendered elementwise program for `expr`. `expr` is sympy text over x, y, z, s, t, or
    raw OpenCL C when it starts with 'C:' (for integer forms sympy cannot say)."""
    ct = templates.compute_ctype(compute_dtype or (in_dtypes[0] if in_dtypes else out_dtype))
    code = expr[2:] if expr.startswith("C:") else printer.to_opencl(expr)
    defines = {"TO": out_dtype.ctype, "CT": ct, "NIN": len(in_dtypes), "VEC": VEC,
               "SUFFIX": f"{name}_{out_dtype.suffix}"}
    for key, dt in zip(("TA", "TB", "TC"), in_dtypes):
        defines[key] = dt.ctype
    defines["EXPR"] = f"({code})"
    return templates.render("elemwise", defines, (out_dtype,) + tuple(in_dtypes))


def run(device, expr: str, name: str, out: View, inputs=(), scalars=(0, 0),
        compute_dtype=None):
    """Enqueue out = expr(inputs..., s, t) elementwise over out.shape; inputs must already
    have out's shape (use broadcast_view)."""
    n = prod(out.shape)
    if n == 0:
        return None
    for v in inputs:
        if tuple(v.shape) != tuple(out.shape):
            raise MXNetError(f"internal: {name} input shape {v.shape} != output {out.shape}")
    src = source(expr, out.dtype, tuple(v.dtype for v in inputs), name, compute_dtype)
    ct_np = np.dtype(np.float32) if (compute_dtype or (inputs[0].dtype if inputs else out.dtype)
                                     ).name == "float16" else (
        compute_dtype or (inputs[0].dtype if inputs else out.dtype)).np
    svals = [ct_np.type(scalars[0]), ct_np.type(scalars[1])]
    views = (out,) + tuple(inputs)
    shape, strides = _collapse(out.shape, [v.strides for v in views])
    suffix = f"{name}_{out.dtype.suffix}"
    buffers = [v.buffer for v in views]
    if len(shape) <= 1 and all(st == [1] or st == [] for st in strides):
        knl = device.kernel(src, f"ew_contig_{suffix}")
        args = [np.int64(n)]
        for v in views:
            args += [v.buffer.cl_buffer, np.int64(v.offset)]
        gsize = -(-n // VEC)
    else:
        if len(shape) > MAX_DIMS:
            raise MXNetError(f"{name}: the operands' layout needs {len(shape)} dims after "
                             f"merging; at most {MAX_DIMS} are supported")
        knl = device.kernel(src, f"ew_strided_{suffix}")
        args = [np.int64(n), np.int32(len(shape)), _long8(shape)]
        for v, st in zip(views, strides):
            args += [v.buffer.cl_buffer, np.int64(v.offset), _long8(st)]
        gsize = n
    gsize = -(-gsize // _LOCAL) * _LOCAL
    return device.enqueue(knl, (gsize,), None, args + svals, buffers)
