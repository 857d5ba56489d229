"""Elementwise maps over strided views: the one kernel family (`kernels/elemwise.cl`) behind
math ops, scalar ops, casts, copies, broadcasting, transposes, flips and slice assignment.

A `View` is (buffer, offset, shape, strides) in elements; strides may be 0 (broadcast) or
negative (flip). `run` collapses dims that are contiguous for every operand, then launches the
vector kernel (one launch at any size, any offsets that agree modulo the vector width) or the
contiguous kernel when all operands are dense, else the strided one. Kernels are built per
(expression, dtypes); shapes are kernel arguments, so no rebuild per shape. Float programs get
`kernels/fastmath.cl` ahead of the template (`prelude`), as do the fused kernels of
`codegen.fusion`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import printer, templates

VEC = 4


def vector_width(dtype) -> int:
    """Elements per vector in ew_vec: 32 bytes (float8, as PERF-NOTES measured), at most 16.
    NOTE: pocl 3 builds no kernels from a program using double8 builtins (an AVX-512 ABI
    warning, then an empty program), so 8-byte types use 4-wide vectors. One vector per
    work-item: two or four (or float16 vectors) ran no faster on pocl (x*y+x over 4M floats)."""
    return min(16, 32 // dtype.np.itemsize)


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


def _code(expr: str) -> str:
    return expr[2:] if expr.startswith("C:") else printer.to_opencl(expr)


def vectorizable(expr: str, out_dtype, in_dtypes, compute_dtype) -> bool:
    """Whether `expr` can run on VW-wide vectors: one type throughout (no conversions) and
    no comparison or ternary, whose results differ between scalars (1) and vectors (-1)."""
    if expr.startswith("C:") or out_dtype.np.itemsize < 4:
        return False  # char/short arithmetic promotes to int, which vectors do not do
    ct = templates.compute_ctype(compute_dtype)
    if any(d.ctype != ct for d in (out_dtype,) + tuple(in_dtypes)):
        return False
    return not any(tok in _code(expr) for tok in ("?", "<", ">", "==", "!="))


def prelude(ctype: str) -> str:
    """Source prepended to elementwise programs computing in `ctype`: the streaming stores of
    kernels/stream.cl, the HEAVISIDE and SIGN macros of kernels/heaviside.cl, then for float
    the faster math of kernels/fastmath.cl (tanh, sin, cos, pow)."""
    kind = ("HV_FLOAT" if ctype in ("float", "double")  # half computes in float
            else "HV_UNSIGNED" if ctype.startswith("u") else None)
    return (templates.load("stream") + (f"#define {kind} 1\n" if kind else "")
            + templates.load("heaviside")
            + (templates.load("fastmath") if ctype == "float" else ""))


# Some CPU drivers report a core's L2 as the global memory cache: streaming from there on
# would send to DRAM results the next kernel could read from L3.
STREAM_FLOOR = 16 << 20  # bytes


def stream(device, nbytes: int) -> bool:
    """Whether a vector kernel moving `nbytes` (inputs and output) stores streaming
    (kernels/stream.cl): on CPUs, when they exceed the last-level cache (and STREAM_FLOOR)."""
    return device.kind == "cpu" and nbytes > max(device.cache_size, STREAM_FLOOR)


def source(expr: str, out_dtype, in_dtypes, name: str, compute_dtype=None) -> str:
    """Rendered elementwise program for `expr`. `expr` is sympy text over x, y, z, s, t, or
    raw OpenCL C when it starts with 'C:' (for integer forms sympy cannot say). Memoised, so
    a repeated call costs one dict lookup and returns the same string object."""
    return _source(expr, out_dtype, tuple(in_dtypes), name, compute_dtype)


@functools.lru_cache(maxsize=4096)
def _source(expr: str, out_dtype, in_dtypes: tuple, name: str, compute_dtype,
            streaming: bool = False) -> str:
    """source's program; `streaming`: its ew_vec stores streaming (kernels/stream.cl)."""
    compute_dtype = compute_dtype or (in_dtypes[0] if in_dtypes else out_dtype)
    ct = templates.compute_ctype(compute_dtype)
    defines = {"TO": out_dtype.ctype, "CT": ct, "NIN": len(in_dtypes), "VEC": VEC,
               "SUFFIX": f"{name}_{out_dtype.suffix}", "STREAM": int(streaming)}
    for key, dt in zip(("TA", "TB", "TC", "TD"), in_dtypes):
        defines[key] = dt.ctype
    if vectorizable(expr, out_dtype, in_dtypes, compute_dtype):
        defines["VW"] = vector_width(out_dtype)
    defines["EXPR"] = f"({_code(expr)})"
    return prelude(ct) + templates.render("elemwise", defines,
                                          (out_dtype,) + tuple(in_dtypes))


class _Plan(NamedTuple):
    """What `run` needs of one (expr, name, dtypes) beyond the shapes."""
    src: str
    vw: int          # ew_vec's vector width, 0 when the expression is not vectorizable
    scalar_type: type
    suffix: str
    stream_src: str  # the program whose ew_vec stores streaming (src when there is no ew_vec)


@functools.lru_cache(maxsize=4096)
def _plan(expr: str, name: str, out_dtype, in_dtypes: tuple, compute_dtype) -> _Plan:
    src = _source(expr, out_dtype, in_dtypes, name, compute_dtype)
    vw = vector_width(out_dtype) if vectorizable(expr, out_dtype, in_dtypes, compute_dtype) else 0
    ct_np = templates.compute_np(compute_dtype)
    stream_src = _source(expr, out_dtype, in_dtypes, name, compute_dtype, True) if vw else src
    return _Plan(src, vw, ct_np.type, f"{name}_{out_dtype.suffix}", stream_src)


def vec_split(n: int, offsets, vw: int) -> tuple:
    """(nvec, head) of n elements at `offsets` in VW-wide vectors: head scalar elements bring
    every operand to a multiple of vw (possible only when the offsets agree modulo vw), then
    nvec whole vectors. (0, 0) when there is no whole vector to run."""
    if not vw:
        return 0, 0
    first = offsets[0] % vw
    if any(o % vw != first for o in offsets):
        return 0, 0
    head = min(n, -first % vw)
    return (n - head) // vw, head


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
    in_dtypes = tuple(v.dtype for v in inputs)
    plan = _plan(expr, name, out.dtype, in_dtypes,
                 compute_dtype or (in_dtypes[0] if in_dtypes else out.dtype))
    svals = [plan.scalar_type(scalars[0]), plan.scalar_type(scalars[1])]
    views = (out,) + tuple(inputs)
    buffers = [v.buffer for v in views]
    dense = tuple(out.strides) == contiguous_strides(out.shape) and all(
        tuple(v.strides) == tuple(out.strides) for v in inputs)
    if not dense:
        shape, strides = _collapse(out.shape, [v.strides for v in views])
        dense = len(shape) <= 1 and all(st == [1] or st == [] for st in strides)
    if dense:
        nvec, head = vec_split(n, [v.offset for v in views], plan.vw)
        if nvec:
            streaming = stream(device, n * sum(v.dtype.np.itemsize for v in views))
            knl = device.kernel(plan.stream_src if streaming else plan.src,
                                f"ew_vec_{plan.suffix}")
            args = [np.int64(nvec), np.int64(head), np.int64(n)]
            for v in views:
                args += [v.buffer.cl_buffer, np.int64(v.offset)]
            gsize = (nvec // _LOCAL + 1) * _LOCAL  # one more work-item for the scalar rest
            return device.enqueue(knl, (gsize,), (_LOCAL,), args + svals, buffers)
        knl = device.kernel(plan.src, f"ew_contig_{plan.suffix}")
        args = [np.int64(n)]
        for v in views:
            args += [v.buffer.cl_buffer, np.int64(v.offset)]
        gsize = -(-n // VEC)
    elif len(shape) <= 3:
        knl = device.kernel(plan.src, f"ew_grid_{plan.suffix}")
        dims = list(shape[::-1]) + [1] * (3 - len(shape))
        args = [np.int64(d) for d in dims]
        for v, st in zip(views, strides):
            st = list(st[::-1]) + [0] * (3 - len(st))
            args += [v.buffer.cl_buffer, np.int64(v.offset)] + [np.int64(x) for x in st]
        local = 64 if dims[0] >= 64 else 16  # two local sizes: two pocl compiles at most
        gsize = (-(-dims[0] // local) * local, dims[1], dims[2])
        return device.enqueue(knl, gsize, (local, 1, 1), args + svals, buffers)
    else:
        if len(shape) > MAX_DIMS:
            raise MXNetError(f"{name}: the operands' layout needs {len(shape)} dims after "
                             f"merging; at most {MAX_DIMS} are supported")
        knl = device.kernel(plan.src, f"ew_strided_{plan.suffix}")
        args = [np.int64(n), np.int32(len(shape)), _long8(shape[::-1])]
        for v, st in zip(views, strides):
            args += [v.buffer.cl_buffer, np.int64(v.offset), _long8(st[::-1])]
        gsize = n
    gsize = -(-gsize // _LOCAL) * _LOCAL
    # NOTE: a fixed local size: pocl compiles a kernel anew for each local size it picks
    return device.enqueue(knl, (gsize,), (_LOCAL,), args + svals, buffers)
