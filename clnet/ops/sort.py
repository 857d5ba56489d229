"""Ordering ops: `sort`, `argsort` and `topk`, with MXNet 1.x's names, params and output types.

Owns the ordering kernels (`kernels/sort.cl`, one program per dtype): the data, seen as dense
(pre, n, post) around the sorted axis, is gathered into rows of (key, index) pairs padded to a
power of two and sorted by a bitonic network, each launch running several of its passes on
pairs held in registers; the first k of each row are then scattered straight into the output's
layout, so moving the axis last and back costs no copies. The order is total (ties by index,
NaN after every number ascending and first descending), so argsort is numpy's stable argsort.
Gradients (MXNet's rules): sort's and topk's values send the head gradient back to the
positions they came from through the internal `_backward_sort` (a scatter-add by the sorting
indices, `shape.enqueue_scatter_add`); indices and masks pass no gradient (zeros).
Allocation and the checks common to all ops are `ndarray.invoke`'s.
"""
from __future__ import annotations

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..dtype import as_dtype
from ..runtime import Buffer
from .registry import OpDef, Param, register
from .gather import enqueue_gather, enqueue_scatter_add

INDEX_DTYPES = ("uint8", "int32", "int64", "float16", "float32", "float64")
RET_TYPES = ("value", "indices", "mask", "both")
_LOCAL = 64  # work-items per group of every launch
_G = 16  # pairs per work-item in sort_block: log2(_G) network passes per pass over memory

# Largest integer each index dtype holds exactly: indices past it are refused, as in MXNet.
_EXACT = {"uint8": 2**8 - 1, "int32": 2**31 - 1, "int64": 2**63 - 1, "float16": 2**11,
          "float32": 2**24, "float64": 2**53}

_AXIS_DOC = ("Axis along which to sort. If None, the flattened array is used. Default is -1.")
_ASC_DOC = "Whether to sort in ascending or descending order."
_DTYPE_DOC = ("DType of the output indices. An error is raised if the selected data type "
              "cannot represent every index exactly.")


# -- params and shapes -------------------------------------------------------------------------
def _axis(op: str, axis, shape: tuple):
    """The sorted axis as a non-negative int, or None for the flattened array."""
    if axis is None:
        return None
    if isinstance(axis, tuple):
        if len(axis) != 1:
            raise MXNetError(f"{op}: axis must be a single int or None, got {axis}")
        axis = axis[0]
    axis = int(axis)
    if not -len(shape) <= axis < len(shape) or not shape:
        raise MXNetError(f"{op}: axis {axis} is out of range for data of shape {shape} "
                         f"(ndim {len(shape)}); use -ndim <= axis < ndim, or axis=None to "
                         "sort the flattened array")
    return axis % len(shape)


def _layout(shape: tuple, axis) -> tuple:
    """(pre, n, post): the data seen as dense 3-D around the sorted axis."""
    if axis is None:
        return 1, prod(shape), 1
    return prod(shape[:axis]), shape[axis], prod(shape[axis + 1:])


def _k(op: str, k: int, n: int, shape: tuple, axis) -> int:
    """MXNet's k: values < 1 select the whole axis; more than the axis holds is an error."""
    if k < 1:
        return n
    if k > n:
        where = "the flattened data" if axis is None else f"axis {axis}"
        raise MXNetError(f"{op}: k={k} is larger than the length {n} of {where} (data shape "
                         f"{shape}); use k <= {n}, or k < 1 to select the whole axis")
    return k


def _out_shape(shape: tuple, axis, kk: int) -> tuple:
    if axis is None:
        return (kk,)
    return shape[:axis] + (kk,) + shape[axis + 1:]


def _check_index_dtype(op: str, dtype: str, n: int):
    if n - 1 > _EXACT[dtype]:
        raise MXNetError(f"{op}: dtype {dtype} cannot represent the indices of an axis of length "
                         f"{n} exactly; use dtype='int64' (or int32)")


def _plan(op: str, params: dict, shape: tuple) -> tuple:
    """(axis, out_shape, k) for topk-like params (sort and argsort: k = whole axis)."""
    axis = params["axis"]
    if not shape and op == "argsort":
        axis = None  # MXNet's argsort of a 0-d array gives shape (1,) whatever the axis
    axis = _axis(op, axis, shape)
    n = _layout(shape, axis)[1]
    kk = _k(op, params.get("k", 0), n, shape, axis)
    if params.get("ret_typ") == "mask":
        return axis, shape, kk
    return axis, _out_shape(shape, axis, kk), kk


def _sort_shape(params, in_shapes):
    return [_plan("sort", params, in_shapes[0])[1]]


def _argsort_shape(params, in_shapes):
    axis, out, _ = _plan("argsort", params, in_shapes[0])
    _check_index_dtype("argsort", params["dtype"], _layout(in_shapes[0], axis)[1])
    return [out]


def _topk_shape(params, in_shapes):
    axis, out, _ = _plan("topk", params, in_shapes[0])
    if params["ret_typ"] in ("indices", "both"):
        _check_index_dtype("topk", params["dtype"], _layout(in_shapes[0], axis)[1])
    return [out, out] if params["ret_typ"] == "both" else [out]


def _topk_type(params, in_dtypes):
    ret = params["ret_typ"]
    if ret == "indices":
        return [as_dtype(params["dtype"])]
    if ret == "both":
        return [in_dtypes[0], as_dtype(params["dtype"])]
    return [in_dtypes[0]]


# -- kernels ------------------------------------------------------------------------------------
def _source(dt) -> str:
    """The program of dtype `dt`: sorting kernels on its keys, and the index writer to it."""
    defines = {"T": dt.ctype, "IS_FLOAT": int(dt.is_float), "SUFFIX": dt.suffix, "G": _G}
    return templates.render("sort", defines, (dt,))


def _launch(dev, dt, kernel: str, total: int, args: list, buffers: tuple):
    """1-D launch of `total` guarded work-items of `kernel` in dtype dt's program, in groups
    of a fixed size: pocl compiles a kernel once per group size, so letting the driver pick
    one per global size would recompile for most new shapes."""
    group = min(_LOCAL, dev.max_work_group_size)
    knl = dev.kernel(_source(dt), f"{kernel}_{dt.suffix}")
    dev.enqueue(knl, (-(-total // group) * group,), (group,), args, buffers)


def _bitonic(dev, dt, keys: Buffer, idx: Buffer, rows: int, n: int, p: int, asc: bool):
    """Enqueue the bitonic network over rows x p pairs. Each launch runs log2(G) passes (or,
    first, every stage up to G) on G pairs per work-item, so a pass over memory serves
    several network passes."""
    total = -(-rows * p // _G)
    common = [keys.cl_buffer, idx.cl_buffer, np.int32(n), np.int64(p)]

    def block(k_lo, k_hi, j_top, s):
        _launch(dev, dt, "sort_block", total, common + [
            np.int64(k_lo), np.int64(k_hi), np.int64(j_top), np.int64(s), np.int32(asc),
            np.int64(total)], (keys, idx))

    block(2, min(p, _G), _G // 2, 1)
    k = 2 * _G
    while k <= p:
        j = k // 2
        while j >= 1:
            s = max(j // (_G // 2), 1)
            block(k, k, j, s)
            j = s // 2
        k *= 2


def order(data, axis, kk: int, asc: bool, values=None, indices=None, mask=None):
    """Sort `data` (an NDArray) along `axis` (None: flattened) and write the first `kk` of
    each line: values and/or indices in the output layout (axis kept in place, length kk),
    or a 0/1 mask of data's shape. Enqueues only; outputs are NDArrays or None."""
    dev = data.device
    dt = data._dt
    pre, n, post = _layout(data.shape, axis)
    rows = pre * post
    if rows * n == 0 or kk == 0:
        return
    if n > 2**31 - 1:
        raise MXNetError(f"sort: an axis of length {n} is longer than the 2**31 - 1 supported")
    p = 1 << (n - 1).bit_length()
    padded = -(-rows * p // _G) * _G  # whole blocks for sort_block; the tail is scratch
    keys = Buffer(dev, padded * dt.np.itemsize)
    idx = Buffer(dev, padded * 4)
    total = rows * p
    _launch(dev, dt, "sort_init", total,
            [data._buf.cl_buffer, np.int64(data._offset), np.int32(n), np.int64(post),
             np.int64(p), np.int64(total), keys.cl_buffer, idx.cl_buffer],
            (data._buf, keys, idx))
    if p > 1:
        _bitonic(dev, dt, keys, idx, rows, n, p, asc)
    sizes = [np.int64(p), np.int64(kk), np.int64(post), np.int64(rows * kk)]
    if values is not None:
        _launch(dev, dt, "sort_values", rows * kk,
                [keys.cl_buffer] + sizes + [values._buf.cl_buffer, np.int64(values._offset)],
                (keys, values._buf))
    if indices is not None:
        _launch(dev, indices._dt, "sort_indices", rows * kk,
                [idx.cl_buffer] + sizes + [indices._buf.cl_buffer, np.int64(indices._offset)],
                (idx, indices._buf))
    if mask is not None:
        _launch(dev, dt, "sort_mask", rows * n,
                [idx.cl_buffer, np.int32(n), np.int64(p), np.int64(kk), np.int64(post),
                 np.int64(rows * n), mask._buf.cl_buffer, np.int64(mask._offset)],
                (idx, mask._buf))


# -- ops ----------------------------------------------------------------------------------------
def _sort_forward(params, inputs, outputs):
    axis, _, kk = _plan("sort", params, inputs[0].shape)
    order(inputs[0], axis, kk, params["is_ascend"], values=outputs[0])


def _argsort_forward(params, inputs, outputs):
    axis, _, kk = _plan("argsort", params, inputs[0].shape)
    order(inputs[0], axis, kk, params["is_ascend"], indices=outputs[0])


def _topk_forward(params, inputs, outputs):
    axis, _, kk = _plan("topk", params, inputs[0].shape)
    ret = params["ret_typ"]
    outs = {"value": {"values": outputs[0]}, "indices": {"indices": outputs[0]},
            "mask": {"mask": outputs[0]},
            "both": {"values": outputs[0], "indices": outputs[-1]}}[ret]
    order(inputs[0], axis, kk, params["is_ascend"], **outs)


# -- gradients ------------------------------------------------------------------------------
def _indices_of(F, p, x, k=0):
    """The sorting indices (first k of each line; k < 1: all) of x, as the forward chose."""
    return F.invoke("topk", [x], {"axis": p["axis"], "k": k, "ret_typ": "indices",
                                  "is_ascend": p["is_ascend"], "dtype": "int32"})


def _sort_grad(F, p, ins, outs, g):
    x = ins[0]
    return [F.invoke("_backward_sort", [g[0], x, _indices_of(F, p, x)], {"axis": p["axis"]})]


def _topk_grad(F, p, ins, outs, g):
    x = ins[0]
    if p["ret_typ"] not in ("value", "both"):
        return [F.zeros_like(x)]
    idx = outs[1] if p["ret_typ"] == "both" else _indices_of(F, p, x, p["k"])
    return [F.invoke("_backward_sort", [g[0], x, idx], {"axis": p["axis"]})]


def _check_along(op: str, p: dict, data: tuple, idx: tuple):
    """Indices along the axis must line up with data outside it."""
    axis = _axis(op, p["axis"], data)
    if _out_shape(data, axis, _layout(idx, axis)[1]) != idx:
        raise MXNetError(f"{op}: indices of shape {idx} do not line up with data of shape "
                         f"{data} outside axis {p['axis']}")


def _backward_sort_shape(p, shapes):
    g, data, idx = map(tuple, shapes)
    _check_along("_backward_sort", p, data, idx)
    if g != idx:
        raise MXNetError(f"_backward_sort: head gradient of shape {g} must have the indices' "
                         f"shape {idx}")
    return [data]


def _take_along_shape(p, shapes):
    data, idx = map(tuple, shapes)
    _check_along("_take_along_axis", p, data, idx)
    return [idx]


def _along_plan(p: dict, data_shape: tuple, idx_shape: tuple):
    """(naxis, inner, nidx, index strides, mode) of data and indices around the axis."""
    axis = _axis("sort", p["axis"], data_shape)
    _, n, post = _layout(data_shape, axis)
    kk = _layout(idx_shape, axis)[1]
    return n, post, kk, (kk * post, post, 1), "clip"


def _backward_sort_forward(p, inputs, outputs):
    g, data, idx = inputs
    enqueue_scatter_add(outputs[0], g, idx, *_along_plan(p, data.shape, idx.shape))


def _take_along_forward(p, inputs, outputs):
    data, idx = inputs
    enqueue_gather(outputs[0], data, idx, *_along_plan(p, data.shape, idx.shape))


_AXIS = Param("axis", "axes", -1, _AXIS_DOC)
# The adjoint pair behind sort's gradient: scatter-add and gather by sorting indices.
register(OpDef(
    "_backward_sort", inputs=("head_grad", "data", "indices"), params=(_AXIS,),
    infer_shape=_backward_sort_shape, forward=_backward_sort_forward,
    grad=lambda F, p, ins, outs, g: [
        F.invoke("_take_along_axis", [g[0], ins[2]], p), None, None],
    doc="Gradient of sort and topk: head_grad added into zeros of data's shape at indices."))
register(OpDef(
    "_take_along_axis", inputs=("data", "indices"), params=(_AXIS,),
    infer_shape=_take_along_shape, forward=_take_along_forward,
    grad=lambda F, p, ins, outs, g: [
        F.invoke("_backward_sort", [g[0], ins[0], ins[1]], p), None],
    doc="data at indices along axis (numpy's take_along_axis); out-of-range indices clip."))

register(OpDef(
    "sort", params=(_AXIS, Param("is_ascend", bool, True, _ASC_DOC)),
    infer_shape=_sort_shape, forward=_sort_forward, grad=_sort_grad,
    doc="Sorts the data along an axis (NaN last when ascending, first when descending)."))

register(OpDef(
    "argsort", params=(_AXIS, Param("is_ascend", bool, True, _ASC_DOC),
                       Param("dtype", "dtype", "float32", _DTYPE_DOC, choices=INDEX_DTYPES)),
    infer_shape=_argsort_shape, infer_type=lambda params, dts: [as_dtype(params["dtype"])],
    forward=_argsort_forward, grad=lambda F, p, ins, outs, g: [F.zeros_like(ins[0])],
    doc="Indices that sort the data along an axis; ties keep their order (a stable sort)."))

register(OpDef(
    "topk", params=(
        Param("axis", "axes", -1, "Axis along which to choose the top k indices. If None, the "
              "flattened array is used. Default is -1."),
        Param("k", int, 1, "Number of top elements to select; k < 1 selects the whole axis."),
        Param("ret_typ", str, "indices", "'value': the top k values, 'indices': their "
              "indices, 'mask': a 0/1 array of the data's shape marking them, 'both': values "
              "and indices.", choices=RET_TYPES),
        Param("is_ascend", bool, False, "Whether to choose the k smallest (True) or largest "
              "elements."),
        Param("dtype", "dtype", "float32", _DTYPE_DOC, choices=INDEX_DTYPES)),
    infer_shape=_topk_shape, infer_type=_topk_type, forward=_topk_forward, grad=_topk_grad,
    num_outputs=lambda params: 2 if params["ret_typ"] == "both" else 1,
    doc="The top k elements (or their indices, or a mask of them) along an axis."))
