"""Pooling and UpSampling (nearest) in MXNet 1.x's NCW / NCHW layouts, forward and backward.

Pooling runs direct kernels both ways (kernels/pool.cl): max, average and sum, with 2x2
stride-2 windows on 8-vectors; max pooling's backward recomputes each window's first
maximum from the data, as MXNet routes it. UpSampling is a broadcasting copy forward
(mapping's) and a `reduce` sum backward. Kernel geometry checks come from conv.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..base import MXNetError
from . import mapping, reduce
from .conv import (
    _LAYOUTS,
    _LOCAL,
    FLOATS,
    _ceil,
    _check_ndim,
    _launch,
    _same_dtype,
    _spatial,
    template_kernel,
)
from .mapping import View, contiguous_strides
from .registry import OpDef, Param, register

_L, _I = np.int64, np.int32
_LOWEST = {"float32": "(-FLT_MAX)", "float64": "(-DBL_MAX)", "float16": "(-HALF_MAX)"}


def _kernel(device, dt, name: str):
    # CI: the integer type of the compute type's width, for vector masks
    return template_kernel(device, dt, "pool", name, T_LOWEST=_LOWEST[dt.name],
                           CI="long" if dt.name == "float64" else "int")


# -- Pooling -----------------------------------------------------------------------------------
_POOL_TYPES = {"max": 0, "avg": 1, "sum": 2}
_POOL_PARAMS = (
    Param("kernel", "shape", (), "pooling window: (w,) or (h, w); unused with global_pool"),
    Param("pool_type", str, "max", "max, avg or sum ('lp' is not supported)",
          choices=("max", "avg", "sum", "lp")),
    Param("global_pool", bool, False, "pool over the whole spatial extent (kernel = input "
          "size, pad 0, stride 1)"),
    Param("cudnn_off", bool, False, "accepted for MXNet compatibility; unused"),
    Param("pooling_convention", str, "valid", "output size: 'valid' floor((x + 2 * pad - "
          "kernel) / stride) + 1, 'full' rounds up instead", choices=("valid", "full")),
    Param("stride", "shape", (), "stride: (w,) or (h, w); default 1 per dimension"),
    Param("pad", "shape", (), "zero padding: (w,) or (h, w); default 0 per dimension"),
    Param("p_value", int, None, "Lp pooling's p; accepted, unused ('lp' is not supported)"),
    Param("count_include_pad", bool, None, "avg: divide by the window including padding "
          "(None means True) or only by its part inside the input"),
    Param("layout", str, None, "data layout: NCW or NCHW (None picks the one the kernel "
          "implies)", choices=_LAYOUTS),
)


class PoolGeom(NamedTuple):
    shape: tuple  # output shape
    h: int
    w: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int


def _pool_geom(params, data: tuple) -> PoolGeom:
    op = "Pooling"
    data = tuple(data)
    if params["pool_type"] == "lp":
        raise MXNetError(f"{op}: pool_type='lp' is not supported; use 'max', 'avg' or 'sum'")
    if params["global_pool"]:
        if len(data) not in (3, 4):
            raise MXNetError(f"{op}: data shape {data} must be 3-D (NCW) or 4-D (NCHW)")
        size = data[2:]
        sp = _spatial(op, {"kernel": tuple(max(d, 1) for d in size),
                           "layout": params["layout"]})
        out = (1,) * len(size)
    else:
        if not params["kernel"]:
            raise MXNetError(f"{op}: kernel is required unless global_pool=True")
        sp = _spatial(op, params)
        _check_ndim(op, "data", data, sp)
        size = data[2:]
        out = []
        for i, (x, k, s, p) in enumerate(zip(size, sp.kernel, sp.stride, sp.pad)):
            if k > x + 2 * p:
                raise MXNetError(f"{op}: kernel size ({k}) exceeds input ({x} padded to "
                                 f"{x + 2 * p}) in spatial dimension {i} (data shape {data}, "
                                 f"kernel={sp.kernel}, pad={sp.pad})")
            span = x + 2 * p - k
            out.append(1 + (span // s if params["pooling_convention"] == "valid"
                            else _ceil(span, s)))
        out = tuple(out)
    shape = data[:2] + out
    if len(size) == 1:
        return PoolGeom(shape, 1, size[0], 1, out[0], 1, sp.kernel[0], 1, sp.stride[0], 0,
                        sp.pad[0])
    return PoolGeom(shape, *size, *out, *sp.kernel, *sp.stride, *sp.pad)


def _pool_args(params, pg: PoolGeom, nc: int) -> list:
    include = params["count_include_pad"] is not False
    return [_L(nc)] + [_I(v) for v in pg[1:]] + [
        _I(_POOL_TYPES[params["pool_type"]]), _I(include)]


def _pool_forward(params, inputs, outputs):
    x, y = inputs[0], outputs[0]
    if y.size == 0:
        return
    pg = _pool_geom(params, x.shape)
    nc = x.shape[0] * x.shape[1]
    dev = y.device
    dev.enqueue(_kernel(dev, y._dt, "pool_fwd"), _launch(pg.oh * nc), (_LOCAL,),
                [x._buf.cl_buffer, _L(x._offset), y._buf.cl_buffer, _L(y._offset)]
                + _pool_args(params, pg, nc), (x._buf, y._buf))


def _pool_grad(F, params, inputs, outputs, out_grads):
    return [F.invoke("_backward_Pooling", [out_grads[0], inputs[0]], params)]


register(OpDef(
    "Pooling", params=_POOL_PARAMS, infer_shape=lambda p, s: [_pool_geom(p, s[0]).shape],
    forward=_pool_forward, grad=_pool_grad, dtypes=FLOATS,
    doc="Max, average or sum pooling of NCW / NCHW data over kernel windows (or the whole "
        "spatial extent with global_pool). Padding never wins a max."))


def _pool_bwd_shape(params, shapes):
    out_grad, data = (tuple(s) for s in shapes)
    want = _pool_geom(params, data).shape
    if out_grad != want:
        raise MXNetError(f"_backward_Pooling: out_grad shape {out_grad} != the pooled shape "
                         f"{want} of data {data}")
    return [data]


def _pool_bwd_forward(params, inputs, outputs):
    dy, x = inputs
    dx = outputs[0]
    if dx.size == 0:
        return
    pg = _pool_geom(params, x.shape)
    nc = x.shape[0] * x.shape[1]
    dev = dx.device
    bands = pg.sh >= pg.kh  # windows never share an image row
    dev.enqueue(_kernel(dev, dx._dt, "pool_bwd"),
                _launch(nc * (pg.oh if bands else pg.h)), (_LOCAL,),
                [dy._buf.cl_buffer, _L(dy._offset), x._buf.cl_buffer, _L(x._offset),
                 dx._buf.cl_buffer, _L(dx._offset)] + _pool_args(params, pg, nc) + [_I(bands)],
                (dy._buf, x._buf, dx._buf))


def _pool_bwd_grad(F, params, inputs, outputs, out_grads):
    if params["pool_type"] == "max":
        raise MXNetError("_backward_Pooling: second-order gradients of max pooling are not "
                         "supported")
    # avg and sum are linear in out_grad and do not depend on data
    return [F.invoke("Pooling", [out_grads[0]], params), None]


register(OpDef(
    "_backward_Pooling", inputs=("out_grad", "data"), params=_POOL_PARAMS,
    infer_shape=_pool_bwd_shape, infer_type=_same_dtype("_backward_Pooling"),
    forward=_pool_bwd_forward, grad=_pool_bwd_grad, dtypes=FLOATS,
    doc="Gradient of Pooling with respect to its data (max: routed to each window's first "
        "maximum, recomputed from data)."))


# -- UpSampling --------------------------------------------------------------------------------
_UP_PARAMS = (
    Param("scale", int, doc="up-sampling factor of height and width", low=1),
    Param("num_filter", int, 0, "bilinear only (not supported); accepted, unused"),
    Param("sample_type", str, doc="'nearest' ('bilinear' is not supported)",
          choices=("nearest", "bilinear")),
    Param("multi_input_mode", str, "concat", "how several inputs combine; clnet takes one "
          "input", choices=("concat", "sum")),
    Param("num_args", int, 1, "number of inputs; must be 1"),
    Param("workspace", int, 512, "accepted for MXNet compatibility; unused", low=0),
)


def _up_shape(params, shapes):
    op = "UpSampling"
    if params["sample_type"] != "nearest":
        raise MXNetError(f"{op}: sample_type={params['sample_type']!r} is not supported; use "
                         "'nearest', or Deconvolution with a bilinear weight")
    if len(shapes) != 1 or params["num_args"] != 1:
        raise MXNetError(f"{op}: clnet supports exactly one input (num_args=1), got "
                         f"{len(shapes)} input(s), num_args={params['num_args']}")
    data = tuple(shapes[0])
    if len(data) != 4:
        raise MXNetError(f"{op}: data shape {data} must be 4-D (NCHW)")
    s = params["scale"]
    return [data[:2] + (data[2] * s, data[3] * s)]


def _up_forward(params, inputs, outputs):
    x, y = inputs[0], outputs[0]
    if y.size == 0:
        return
    n, c, h, w = x.shape
    s = params["scale"]
    # out[(n, c, h), i, w, j] = x[(n, c, h), w] for the s x s block of each pixel
    shape = (n * c * h, s, w, s)
    mapping.run(y.device, "x", "_copy",
                View(y._buf, y._offset, shape, contiguous_strides(shape), y._dt),
                [View(x._buf, x._offset, shape, (w, 0, 1, 0), x._dt)])


register(OpDef(
    "UpSampling", inputs=(), variadic=True, params=_UP_PARAMS, infer_shape=_up_shape,
    infer_type=_same_dtype("UpSampling"), forward=_up_forward, dtypes=FLOATS,
    grad=lambda F, p, ins, outs, g: [F.invoke("_backward_UpSampling", [g[0]],
                                              {"scale": p["scale"]})],
    doc="Nearest-neighbour up-sampling of NCHW data by an integer scale: each pixel becomes "
        "a scale x scale block."))


def _up_bwd_shape(params, shapes):
    dy = tuple(shapes[0])
    s = params["scale"]
    if len(dy) != 4 or dy[2] % s or dy[3] % s:
        raise MXNetError(f"_backward_UpSampling: out_grad shape {dy} must be 4-D with height "
                         f"and width divisible by scale={s}")
    return [dy[:2] + (dy[2] // s, dy[3] // s)]


def _up_bwd_forward(params, inputs, outputs):
    from ..ndarray.ndarray import NDArray
    dy, dx = inputs[0], outputs[0]
    if dx.size == 0:
        return
    n, c, h, w = dx.shape
    s = params["scale"]
    blocks = NDArray(dy._buf, dy._offset, (n * c * h, s, w, s), dy._dt, dy.context)
    rows = NDArray(dx._buf, dx._offset, (n * c * h, w), dx._dt, dx.context)
    reduce.enqueue_reduce("sum", "sum", 0, blocks, rows, (1, 3))


register(OpDef(
    "_backward_UpSampling", inputs=("out_grad",), params=(Param("scale", int, low=1),),
    infer_shape=_up_bwd_shape, forward=_up_bwd_forward, dtypes=FLOATS,
    grad=lambda F, p, ins, outs, g: [F.invoke("UpSampling", [g[0]],
                                              {"scale": p["scale"], "sample_type": "nearest"})],
    doc="Gradient of nearest UpSampling: the sum of each scale x scale block."))
