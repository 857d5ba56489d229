"""Reductions and softmax: sum, mean, prod, max, min, nansum, nanprod, norm, argmax, argmin,
softmax, log_softmax and softmin over axes of dense arrays, with MXNet 1.x's params and
output shapes (a full reduction gives shape (1,), not a 0-d array).

Every kernel of a dtype lives in one program rendered from `kernels/reduce.cl`. The input is
seen as (outer, len, inner) with the reduced axes merged into `len`; when the reduced axes are
not one block (e.g. axes 0 and 2 of a 3-D array) `mapping.run` first copies them to the end.
Rows too few to occupy the device are split into chunks reduced in two stages.

Accumulation: float16 in float, other types in their own type, as MXNet does (so integer
sums and products wrap on overflow, and the mean of integers is the integer quotient).

Gradient rules follow MXNet 1.x: they re-expand a reduced head gradient with the internal op
`_broadcast_reduced` (which knows the input's shape when it runs), so max/min pass the
gradient to every element equal to the result (ties included), and argmax/argmin give zeros.
Elementwise maps and the transposing copy belong to `mapping`; walking the graph to autodiff.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..dtype import DTYPES, DTypeInfo
from ..runtime import Buffer
from . import mapping
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")
ALL = tuple(DTYPES)

_POST_NONE, _POST_MEAN, _POST_SQRT = 0, 1, 2
# Rows shorter than this are never split: each work-item should stream a long stretch.
_MIN_CHUNK = 8192
# Work-group shapes: contiguous rows (a long loop per work-item), and strided columns
# (neighbouring work-items read neighbouring addresses).
_LOCAL_ROWS = (1, 16)
_LOCAL_COLS = (8, 8)
# Device kinds whose contiguous rows are reduced by work-groups of GROUP work-items reading
# interleaved (coalesced) elements; on CPUs one work-item streaming a chunk is faster.
GROUP_ROWS = {"cpu": False, "gpu": True}
GROUP = 256


# -- program per dtype ---------------------------------------------------------------------
def _limits(dt: DTypeInfo) -> tuple:
    if dt.is_float:
        return "(-INFINITY)", "INFINITY"
    info = np.iinfo(dt.np)
    # the most negative literal is written as a difference, as C requires
    low = f"({info.min + 1}L - 1)" if info.min else "0"
    return low, f"{info.max}L"


# The kernel families of kernels/reduce.cl, each built as a program of its own when used.
PARTS = ("sum", "prod", "max", "min", "nansum", "nanprod", "l1", "l2", "arg", "softmax")


@functools.lru_cache(maxsize=None)
def source(dt: DTypeInfo, group_rows: bool = False, part: str = "all") -> str:
    """The reduce program of dtype `dt` holding one family of kernels/reduce.cl (`part`, of
    PARTS; "all": every one), the work-group row kernels only with `group_rows`; memoised,
    as every launch asks for it."""
    at = templates.compute_ctype(dt)
    low, high = _limits(dt)
    defines = {"T": dt.ctype, "T8": f"{dt.ctype}8", "AT": at, "AT8": f"{at}8",
               "SUFFIX": dt.suffix, "T_LOWEST": low, "T_HIGHEST": high,
               "IS_FLOAT": int(dt.is_float), "WIDEN": int(at != dt.ctype),
               "GROUP_ROWS": int(group_rows), "GROUP": GROUP}
    defines.update((f"PART_{p.upper()}", int(part in (p, "all"))) for p in PARTS)
    return templates.render("reduce", defines, (dt,))


def _acc_dtype(dt: DTypeInfo) -> np.dtype:
    return templates.compute_np(dt)


# -- axes and layout -----------------------------------------------------------------------
def reduced_axes(op: str, shape: tuple, axis, exclude: bool = False) -> tuple:
    """Sorted non-negative axes that `axis` (None, int or tuple; negative counts from the
    end) reduces, with range and duplicate checks naming the op, axis and shape."""
    ndim = len(shape)
    if axis is None or (not isinstance(axis, int) and len(axis) == 0):
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    norm = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise MXNetError(f"{op}: axis {a} is out of range for an input of shape {shape} "
                             f"(ndim {ndim}); use an axis in [{-ndim}, {ndim - 1}]")
        norm.append(a % ndim)
    if len(set(norm)) != len(norm):
        raise MXNetError(f"{op}: axis {axis} has duplicates (input shape {shape})")
    if exclude:
        return tuple(a for a in range(ndim) if a not in norm)
    return tuple(sorted(norm))


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """MXNet's output shape: reduced axes become 1 (keepdims) or vanish; nothing left gives
    (1,)."""
    if keepdims:
        return tuple(1 if a in axes else d for a, d in enumerate(shape))
    out = tuple(d for a, d in enumerate(shape) if a not in axes)
    return out or (1,)


class Layout(NamedTuple):
    outer: int
    len: int
    inner: int
    perm: tuple | None  # axis order to copy the input into first, when needed


def layout(shape: tuple, axes: tuple) -> Layout:
    """(outer, len, inner) of `shape` reducing `axes`; size-1 dims join any group."""
    groups = []  # [size, reduced] runs of neighbouring dims
    for a, d in enumerate(shape):
        if d == 1:
            continue
        red = a in axes
        if groups and groups[-1][1] == red:
            groups[-1][0] *= d
        else:
            groups.append([d, red])
    flags = "".join("R" if red else "K" for _, red in groups)
    sizes = [d for d, _ in groups]
    if flags in ("", "K", "R", "KR", "RK", "KRK"):
        r = flags.find("R")
        if r < 0:
            return Layout(prod(sizes), 1, 1, None)
        return Layout(prod(sizes[:r]), sizes[r], prod(sizes[r + 1:]), None)
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    return Layout(prod(shape[a] for a in kept), prod(shape[a] for a in axes), 1,
                  kept + tuple(axes))


def _rows_of(x, lay: Layout):
    """(buffer, offset) holding x in the layout's order (a transposing copy if needed)."""
    if lay.perm is None:
        return x._buf, x._offset
    v = x.view_desc()
    src = v._replace(shape=tuple(v.shape[a] for a in lay.perm),
                     strides=tuple(v.strides[a] for a in lay.perm))
    buf = Buffer(x.device, max(x.size, 1) * x._dt.np.itemsize)
    dst = mapping.View(buf, 0, src.shape, mapping.contiguous_strides(src.shape), x._dt)
    mapping.run(x.device, "x", "_copy", dst, [src])
    return buf, 0


# -- launching ------------------------------------------------------------------------------
_L, _I = np.int64, np.int32
# Scalar argument types per kernel family (None: a buffer). NOTE: pyopencl's untyped
# set_args costs ~60 us for these kernels on pocl, typed ~1 us.
_FAMILY_PARTS = {"reduce_arg": "arg", "combine_arg": "arg", "softmax": "softmax"}
_ARG_TYPES = {
    "reduce": (None, _L, None, _L, None, _L, _L, _L, _L, _L, _I, _L),
    "combine": (None, _L, _L, _L, None, _L, _I, _L),
    "reduce_arg": (None, _L, None, _L, None, None, _L, _L, _L, _L, _L),
    "combine_arg": (None, None, _L, _L, _L, None, _L),
    "softmax": (None, _L, None, _L, _L, _L, _L, "acc", _I),
}


def _kernel(device, dt: DTypeInfo, family: str, name: str):
    """Kernel `<name>_<suffix>` of dt's program of its part, with the scalar argument types
    of its family set once (the Device caches the object)."""
    part = _FAMILY_PARTS.get(family) or name.rsplit("_", 1)[1]  # reduce_cols8_sum: sum
    knl = device.kernel(source(dt, GROUP_ROWS[device.kind], part), f"{name}_{dt.suffix}")
    if knl not in device.arg_types:
        device.set_arg_types(knl, [_acc_dtype(dt) if t == "acc" else t
                                   for t in _ARG_TYPES[family]])
    return knl


def _ndrange(n0: int, n1: int) -> tuple:
    """Global and local sizes of a 2-D launch over (n0 inner, n1 rows), padded to the local
    size. Only two local sizes are used: pocl compiles a kernel once per local size."""
    local = _LOCAL_ROWS if n0 == 1 else _LOCAL_COLS
    return (-(-n0 // local[0]) * local[0], -(-n1 // local[1]) * local[1]), local


def _chunks(device, outputs: int, length: int, grouped: bool = False) -> tuple:
    """(nchunks, chunk): split long rows when there are too few of them for the device;
    `grouped` rows (a work-group per chunk) get 8 groups per compute unit."""
    target, least, align = (8, 4 * GROUP, GROUP) if grouped else (16, _MIN_CHUNK, 8)
    target *= device.compute_units
    if outputs >= target or length <= least:
        return 1, max(length, 1)
    n = min(-(-length // least), -(-target // outputs))
    chunk = -(-(-(-length // n)) // align) * align  # aligned: T8 loads, whole groups
    return -(-length // chunk), chunk


def _grouped(device, inner: int, length: int) -> bool:
    """Whether contiguous rows of `length` are reduced by the work-group kernels."""
    return inner == 1 and length >= GROUP and GROUP_ROWS[device.kind]


def enqueue_reduce(kop: str, comb: str, post: int, x, out, axes: tuple):
    """Reduce x over `axes` into `out` with kernel op `kop` (sum nansum prod nanprod max min
    l1 l2), `comb` merging partial results (sum prod max min) and `post` finishing."""
    if out.size == 0:
        return
    device, dt = x.device, x._dt
    if not dt.is_float:
        kop = {"nansum": "sum", "nanprod": "prod"}.get(kop, kop)  # no NaN in integers
    lay = layout(x.shape, axes)
    buf, off = _rows_of(x, lay)
    cols8 = lay.inner % 8 == 0 and off % 8 == 0  # whole T8 vectors across the columns
    nchunks, chunk = _chunks(device, lay.outer * lay.inner // (8 if cols8 else 1), lay.len,
                             _grouped(device, lay.inner, lay.len))
    part = out._buf
    if nchunks > 1:
        part = Buffer(device, lay.outer * nchunks * lay.inner * _acc_dtype(dt).itemsize)
    dst = (out._buf, out._offset)
    _enqueue_rows(device, dt, kop, (buf, off), dst, part, lay.outer, lay.len, lay.inner,
                  nchunks, chunk, post, lay.len, cols8)
    if nchunks == 1:
        return
    if _acc_dtype(dt) == dt.np:  # partials have the input's type: reduce them as rows
        _enqueue_rows(device, dt, comb, (part, 0), dst, out._buf, lay.outer, nchunks,
                      lay.inner, 1, nchunks, post, lay.len, cols8)
        return
    gsize, lsize = _ndrange(lay.inner, lay.outer)
    args = [part.cl_buffer, lay.outer, nchunks, lay.inner, out._buf.cl_buffer, out._offset,
            post, lay.len]
    knl = _kernel(device, dt, "combine", f"combine_{comb}")
    device.enqueue(knl, gsize, lsize, args, [part, out._buf])


def _enqueue_rows(device, dt, kop, inp, out, part, outer, length, inner, nchunks, chunk, post,
                  count, cols8=False):
    """One reduce_<kop> launch over (outer, length, inner) rows; `cols8`: the kernel reading
    the columns in 8-wide vectors (inner and the input offset multiples of 8)."""
    if _grouped(device, inner, length):
        knl = _kernel(device, dt, "reduce", f"reduce_group_{kop}")
        gsize, lsize = (GROUP * nchunks, outer), (GROUP, 1)
    else:
        knl = _kernel(device, dt, "reduce", f"reduce_{'cols8_' if cols8 else ''}{kop}")
        gsize, lsize = _ndrange(inner // 8 if cols8 else inner, outer * nchunks)
    args = [inp[0].cl_buffer, inp[1], out[0].cl_buffer, out[1], part.cl_buffer, outer, length,
            inner, nchunks, chunk, post, count]
    device.enqueue(knl, gsize, lsize, args, [inp[0], out[0], part])


def enqueue_arg(kop: str, x, out, axes: tuple):
    """Index of the first maximum (kop 'max') or minimum ('min') over `axes` (one axis, or
    all of them for the flattened index)."""
    if out.size == 0:
        return
    device, dt = x.device, x._dt
    lay = layout(x.shape, axes)
    nchunks, chunk = _chunks(device, lay.outer * lay.inner, lay.len)
    gsize, lsize = _ndrange(lay.inner, lay.outer * nchunks)
    n_part = lay.outer * nchunks * lay.inner
    part, part_idx = out._buf, out._buf
    if nchunks > 1:
        part = Buffer(device, n_part * _acc_dtype(dt).itemsize)
        part_idx = Buffer(device, n_part * 8)
    args = [x._buf.cl_buffer, x._offset, out._buf.cl_buffer, out._offset, part.cl_buffer,
            part_idx.cl_buffer, lay.outer, lay.len, lay.inner, nchunks, chunk]
    knl = _kernel(device, dt, "reduce_arg", f"reduce_arg{kop}")
    device.enqueue(knl, gsize, lsize, args, [x._buf, out._buf, part, part_idx])
    if nchunks > 1:
        gsize, lsize = _ndrange(lay.inner, lay.outer)
        args = [part.cl_buffer, part_idx.cl_buffer, lay.outer, nchunks, lay.inner,
                out._buf.cl_buffer, out._offset]
        knl = _kernel(device, dt, "combine_arg", f"combine_arg{kop}")
        device.enqueue(knl, gsize, lsize, args, [part, part_idx, out._buf])


# -- sum, mean, prod, max, min, nansum, nanprod ----------------------------------------------
_AXES_DOC = ("the axis or axes to reduce; None (or ()) reduces all of them, negative values "
             "count from the end")
_AXES_PARAMS = (
    Param("axis", "axes", None, _AXES_DOC),
    Param("keepdims", bool, False, "keep the reduced axes as dimensions of size one"),
    Param("exclude", bool, False, "reduce over the axes NOT in `axis` instead"),
)


def _check_nonempty(op: str, shape: tuple, axes: tuple):
    """max, min, argmax and argmin have no identity: an empty reduction is an error."""
    empty = [a for a in axes if shape[a] == 0]
    if empty:
        raise MXNetError(f"{op}: cannot reduce over axis {empty[0]} of size 0 (input shape "
                         f"{shape}); {op} of an empty sequence is undefined")


def _axes_shape(name: str, needs_items: bool):
    def infer_shape(params, shapes):
        shape = tuple(shapes[0])
        axes = reduced_axes(name, shape, params["axis"], params.get("exclude", False))
        if needs_items:
            _check_nonempty(name, shape, axes)
        return [reduced_shape(shape, axes, params["keepdims"])]
    return infer_shape


def _axes_forward(name: str, kop: str, comb: str, post: int):
    def forward(params, inputs, outputs):
        x = inputs[0]
        axes = reduced_axes(name, x.shape, params["axis"], params.get("exclude", False))
        enqueue_reduce(kop, comb, post, x, outputs[0], axes)
    return forward


# name, kernel op, partial combiner, finishing step, aliases, what it computes
_OWN = " Integer dtypes accumulate in their own type (wrapping on overflow), as MXNet."
REDUCTIONS = [
    ("sum", "sum", "sum", _POST_NONE, ("sum_axis",), "Sum of the elements over axes." + _OWN),
    ("mean", "sum", "sum", _POST_MEAN, (),
     "Mean of the elements over axes; for integer dtypes the truncated quotient." + _OWN),
    ("prod", "prod", "prod", _POST_NONE, (), "Product of the elements over axes." + _OWN),
    ("nansum", "nansum", "sum", _POST_NONE, (), "Sum over axes, treating NaN as zero." + _OWN),
    ("nanprod", "nanprod", "prod", _POST_NONE, (),
     "Product over axes, treating NaN as one." + _OWN),
    ("max", "max", "max", _POST_NONE, ("max_axis",),
     "Maximum over axes (NaN if any element is NaN); an empty axis is an error."),
    ("min", "min", "min", _POST_NONE, ("min_axis",),
     "Minimum over axes (NaN if any element is NaN); an empty axis is an error."),
]
# -- gradients: the reduced head gradient broadcast back ------------------------------------
def _broadcast_reduced_shape(params, shapes):
    g, x = map(tuple, shapes)
    axes = reduced_axes("_broadcast_reduced", x, params["axis"], params["exclude"])
    want = reduced_shape(x, axes, params["keepdims"])
    if g != want:
        raise MXNetError(f"_broadcast_reduced: data of shape {g} is not the reduction of "
                         f"like's shape {x} over axis={params['axis']} (keepdims="
                         f"{params['keepdims']}, exclude={params['exclude']}), which is {want}")
    return [x]


def _broadcast_reduced_forward(params, inputs, outputs):
    g, out = inputs[0], outputs[0]
    if out.size == 0:
        return
    axes = reduced_axes("_broadcast_reduced", out.shape, params["axis"], params["exclude"])
    kept = reduced_shape(out.shape, axes, True)
    src = mapping.broadcast_view(g.view_desc()._replace(
        shape=kept, strides=mapping.contiguous_strides(kept)), out.shape)
    if params["mean"]:
        count = prod(out.shape[a] for a in axes)
        mapping.run(out.device, "x/s", "_div_scalar", out.view_desc(), [src], (count, 0))
    else:
        mapping.run(out.device, "x", "_copy", out.view_desc(), [src])


def _reduce_params(params, mean=False) -> dict:
    return {"axis": params["axis"], "keepdims": params["keepdims"],
            "exclude": params.get("exclude", False), "mean": mean}


register(OpDef(
    "_broadcast_reduced", inputs=("data", "like"), infer_shape=_broadcast_reduced_shape,
    forward=_broadcast_reduced_forward,
    params=_AXES_PARAMS + (Param("mean", bool, False, "divide by the number of elements "
                                 "reduced (the gradient of mean)"),),
    grad=lambda F, p, ins, outs, g: [F.invoke("mean" if p["mean"] else "sum", [g[0]], {
        k: p[k] for k in ("axis", "keepdims", "exclude")}), None],
    doc="data, the result of reducing an array of like's shape with these params, broadcast "
        "back to like's shape (the gradient of sum and mean)."))


def _spread(F, g, x, params, mean=False):
    """g (shaped like a reduction of x with `params`) broadcast back to x's shape."""
    return F.invoke("_broadcast_reduced", [g, x], _reduce_params(params, mean))


def _sum_grad(F, p, ins, outs, g):
    return [_spread(F, g[0], ins[0], p)]


def _mean_grad(F, p, ins, outs, g):
    return [_spread(F, g[0], ins[0], p, mean=True)]


def _prod_grad(F, p, ins, outs, g):
    """g * y / x: the product of the other elements, for non-zero x."""
    return [_spread(F, g[0] * outs[0], ins[0], p) / ins[0]]


def _nan_mask(F, x):
    return F.invoke("broadcast_equal", [x, x], {})  # 0 where x is NaN


def _nansum_grad(F, p, ins, outs, g):
    return [_spread(F, g[0], ins[0], p) * _nan_mask(F, ins[0])]


def _nanprod_grad(F, p, ins, outs, g):
    x = ins[0]
    value = _spread(F, g[0] * outs[0], x, p) / x
    return [F.invoke("where", [_nan_mask(F, x), value, F.zeros_like(x)], {})]


def _extreme_grad(F, p, ins, outs, g):
    """MXNet's rule: the gradient reaches every element equal to the result."""
    x = ins[0]
    hit = F.invoke("broadcast_equal", [x, _spread(F, outs[0], x, p)], {})
    return [_spread(F, g[0], x, p) * hit]


_GRADS = {"sum": _sum_grad, "mean": _mean_grad, "prod": _prod_grad, "nansum": _nansum_grad,
          "nanprod": _nanprod_grad, "max": _extreme_grad, "min": _extreme_grad}


def _zero_grad(F, p, ins, outs, g):
    """No gradient flows (MXNet's MakeZeroGradNodes): zeros for the input."""
    return [F.zeros_like(ins[0])]


for _name, _kop, _comb, _post, _aliases, _doc in REDUCTIONS:
    register(OpDef(_name, params=_AXES_PARAMS, aliases=_aliases, dtypes=ALL,
                   infer_shape=_axes_shape(_name, _kop in ("max", "min")),
                   forward=_axes_forward(_name, _kop, _comb, _post), grad=_GRADS[_name],
                   doc=_doc))


# -- norm ------------------------------------------------------------------------------------
def _norm_grad(F, p, ins, outs, g):
    """ord 2: g * x / y; ord 1: g * sign(x)."""
    x = ins[0]
    if p["ord"] == 1:
        return [_spread(F, g[0], x, p) * F.invoke("sign", [x], {})]
    return [_spread(F, g[0] / outs[0], x, p) * x]


def _norm_forward(params, inputs, outputs):
    x = inputs[0]
    axes = reduced_axes("norm", x.shape, params["axis"])
    if params["ord"] == 1:
        enqueue_reduce("l1", "sum", _POST_NONE, x, outputs[0], axes)
    else:
        enqueue_reduce("l2", "sum", _POST_SQRT, x, outputs[0], axes)


register(OpDef(
    "norm", dtypes=FLOATS, forward=_norm_forward, grad=_norm_grad,
    params=(Param("ord", int, 2, "order of the norm: 1 or 2", choices=(1, 2)),
            Param("axis", "axes", None, _AXES_DOC + "; a 2-tuple gives the Frobenius norm "
                  "(ord=2) of the matrices it spans"),
            Param("keepdims", bool, False, "keep the reduced axes as dimensions of size one")),
    infer_shape=_axes_shape("norm", False),
    doc="L1 (sum of |x|) or L2 (square root of the sum of squares) norm over axes."))


# -- argmax, argmin ---------------------------------------------------------------------------
def _arg_axes(name: str, shape: tuple, axis) -> tuple:
    return reduced_axes(name, shape, None if axis is None else (axis,))


def _arg_shape(name: str):
    def infer_shape(params, shapes):
        shape = tuple(shapes[0])
        axes = _arg_axes(name, shape, params["axis"])
        _check_nonempty(name, shape, axes)
        return [reduced_shape(shape, axes, params["keepdims"])]
    return infer_shape


def _arg_forward(name: str, kop: str):
    def forward(params, inputs, outputs):
        x = inputs[0]
        enqueue_arg(kop, x, outputs[0], _arg_axes(name, x.shape, params["axis"]))
    return forward


for _name, _kop in (("argmax", "max"), ("argmin", "min")):
    register(OpDef(
        _name, dtypes=ALL, infer_shape=_arg_shape(_name), forward=_arg_forward(_name, _kop),
        grad=_zero_grad,
        params=(Param("axis", int, None, "the axis to search; None searches the flattened "
                      "input (an extension: MXNet 1.x rejects it)"),
                Param("keepdims", bool, False, "keep the axis as a dimension of size one")),
        doc=f"Index of the first {_kop}imum along an axis, in the input's dtype (as MXNet); "
            "the first NaN counts as the extreme."))


# -- softmax, log_softmax, softmin -----------------------------------------------------------
_SOFTMAX_PARAMS = (
    Param("axis", int, -1, "the axis to normalise over"),
    Param("temperature", float, None, "divide the input by this before exponentiating "
          "(None means 1)"),
)


def _softmax_shape(name: str):
    def infer_shape(params, shapes):
        shape = tuple(shapes[0])
        reduced_axes(name, shape, params["axis"])
        if params["temperature"] is not None and params["temperature"] == 0:
            raise MXNetError(f"{name}: temperature must be non-zero")
        return [shape]
    return infer_shape


def _softmax_forward(name: str, sign: float, mode: int):
    def forward(params, inputs, outputs):
        x, out = inputs[0], outputs[0]
        if x.size == 0:
            return
        device, dt = x.device, x._dt
        lay = layout(x.shape, reduced_axes(name, x.shape, params["axis"]))
        temperature = params["temperature"] or 1.0
        gsize, lsize = _ndrange(lay.inner, lay.outer)
        args = [x._buf.cl_buffer, x._offset, out._buf.cl_buffer, out._offset, lay.outer,
                lay.len, lay.inner, sign / temperature, mode]
        knl = _kernel(device, dt, "softmax", "softmax")
        device.enqueue(knl, gsize, lsize, args, [x._buf, out._buf])
    return forward


def _softmax_grad(sign: float, log: bool):
    """y = softmax(sign * x / t): dx = sign/t * y * (g - sum(g * y)); for log_softmax
    (y = log of it): dx = sign/t * (g - exp(y) * sum(g))."""
    def grad(F, p, ins, outs, g):
        y, g = outs[0], g[0]
        axes = {"axis": p["axis"], "keepdims": True}
        if log:
            dx = g - F.invoke("exp", [y], {}) * F.invoke("sum", [g], axes)
        else:
            dx = y * (g - F.invoke("sum", [g * y], axes))
        scale = sign / (p["temperature"] or 1.0)
        return [dx if scale == 1.0 else dx * scale]
    return grad


for _name, _sign, _mode, _doc in (
        ("softmax", 1.0, 0, "exp(x / t) normalised to sum to 1 along `axis`."),
        ("log_softmax", 1.0, 1, "log(softmax(x)) along `axis`, computed stably."),
        ("softmin", -1.0, 0, "softmax(-x / t) along `axis`.")):
    register(OpDef(_name, params=_SOFTMAX_PARAMS, dtypes=FLOATS,
                   infer_shape=_softmax_shape(_name), forward=_softmax_forward(_name, _sign,
                                                                                _mode),
                   grad=_softmax_grad(_sign, _mode == 1), doc=_doc))
