"""Convolution-family ops in MXNet 1.x's NCW / NCHW layouts: Convolution, Deconvolution and
the helper ops their gradient rules build. Pooling and UpSampling live in pool.py, which
shares this module's geometry checks.

Convolution is lowered to GEMM: `im2col` (kernels/conv.cl) unrolls a chunk of the batch into
a (C*KH*KW) x (nb*OH*OW) matrix, one `matrix.gemm` call (batched over groups) multiplies the
weights with it, and one row copy (`rows_copy`) moves the (F, nb, OH*OW) product into NCHW
with the bias added. The data gradient is GEMM(W^T, dY) then `col2im` (a gather: no
atomics); the weight gradient is GEMM(dY, cols^T) accumulated over the batch chunks; the bias
gradient is a `sum`. The weight gradient may instead be one direct kernel (`wgrad_direct`),
the forward of one input channel per group `conv_one`, and the data gradient of a depthwise
convolution `conv_one_t`, each chosen by measurement per shape class. Deconvolution's
forward is the data gradient. Where matrix would pack the column matrix (or its transpose,
for the weight gradient) into its B panels, im2col writes those panels itself
(`im2col_packed`, `im2col_packed_t`) and the GEMM skips its pack.

Gradient graphs stay ordinary graphs of three linear helper ops, each the others' gradient:
  _backward_Convolution_data(out_grad, weight, data)    transposed convolution, data's shape
  _backward_Deconvolution_data(out_grad, weight, data)  convolution, data's shape
  _backward_Convolution_weight(out_grad, data)          weight gradient
Their `data` inputs carry shapes only. GEMM is matrix's, sums reduce's.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from ..base import MXNetError
from ..codegen import templates
from ..runtime import Buffer, replay, tuning
from . import matrix
from .mapping import View, contiguous_strides
from .matrix import Operand
from .registry import OpDef, Param, register
from .shape import _copy

FLOATS = ("float32", "float64", "float16")
_L, _I = np.int64, np.int32
_LOCAL = 16  # fixed: pocl compiles a kernel once per local size
_COLS_BYTES = 32 << 20  # im2col buffer per batch chunk
_LAYOUTS = ("NCW", "NCHW", "NCDHW", "NWC", "NHWC", "NDHWC")
# im2col writes the GEMM's packed B panels itself where the product takes the packed path
# (one pass over the columns instead of im2col + gemm_pack_b); False keeps the plain matrix
PACKED_COLS = True
# work per work-item of the packed im2col kernels (kernels/conv.cl): positions of
# im2col_packed_t (PACK_RUNS), tap rows of im2col_packed (PACK_TAPS)
_RUNS, _TAPS = 8, 32


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def template_kernel(device, dt, template: str, name: str, **defines):
    """Kernel `name`_<suffix> of kernels/<template>.cl for dtype `dt` (T, CT, HALF and SUFFIX
    set, plus `defines`)."""
    defines = {"T": dt.ctype, "CT": templates.compute_ctype(dt),
               "HALF": int(dt.name == "float16"), "SUFFIX": dt.suffix, **defines}
    return device.kernel(templates.render(template, defines, (dt,)), f"{name}_{dt.suffix}")


def _kernel(device, dt, name: str):
    return template_kernel(device, dt, "conv", name)


# -- params and geometry ---------------------------------------------------------------------
class Spatial(NamedTuple):
    """Per-dimension kernel, stride, dilate, pad (and adj): tuples of 1 or 2 entries."""

    kernel: tuple
    stride: tuple
    dilate: tuple
    pad: tuple
    adj: tuple


def _spatial(op: str, params: dict) -> Spatial:
    """Kernel geometry with MXNet's defaults (stride 1, dilate 1, pad 0, adj 0), checked."""
    kernel = tuple(params["kernel"])
    nd = len(kernel)
    if nd not in (1, 2):
        raise MXNetError(f"{op}: kernel={kernel} has {nd} dimension(s); clnet supports 1-D "
                         "(NCW) and 2-D (NCHW) kernels")
    layout = params.get("layout")
    if layout not in (None, ("NCW", "NCHW")[nd - 1]):
        raise MXNetError(f"{op}: layout={layout!r} is not supported with kernel={kernel}; use "
                         f"layout={('NCW', 'NCHW')[nd - 1]!r} (or None) and transpose the data")
    vals = {}
    for name, default, low in (("stride", 1, 1), ("dilate", 1, 1), ("pad", 0, 0),
                               ("adj", 0, 0)):
        v = tuple(params.get(name) or (default,) * nd)
        if len(v) != nd:
            raise MXNetError(f"{op}: {name}={v} must have as many dimensions as "
                             f"kernel={kernel}")
        if any(e < low for e in v):
            raise MXNetError(f"{op}: {name}={v} must be >= {low} in every dimension")
        vals[name] = v
    if any(k < 1 for k in kernel):
        raise MXNetError(f"{op}: kernel={kernel} must be >= 1 in every dimension")
    return Spatial(kernel, vals["stride"], vals["dilate"], vals["pad"], vals["adj"])


def _dk(sp: Spatial, i: int) -> int:
    """Dilated kernel size along dimension i."""
    return sp.dilate[i] * (sp.kernel[i] - 1) + 1


def _conv_out(sp: Spatial, pads: tuple, size: tuple) -> tuple:
    return tuple((x + 2 * p - _dk(sp, i)) // s + 1 if x else 0
                 for i, (x, p, s) in enumerate(zip(size, pads, sp.stride)))


def _target_pads(sp: Spatial, target: tuple, small: tuple) -> tuple:
    """(pads, adjs) of a transposed convolution whose small (convolution-output) side is
    `small`: MXNet's InferPad for dimensions with a target size, else pad and adj."""
    pads, adjs = list(sp.pad), list(sp.adj)
    for i, t in enumerate(target or ()):
        if t > 0 and i < len(small):
            total = sp.stride[i] * (small[i] - 1) + _dk(sp, i) - t
            if total < 0:
                raise MXNetError(f"Deconvolution: target_shape={tuple(target)} is too big for "
                                 f"input size {small[i]} in dimension {i} (at most "
                                 f"{t + total} with kernel={sp.kernel}, stride={sp.stride})")
            pads[i], adjs[i] = (total + 1) // 2, total % 2
    return tuple(pads), tuple(adjs)


class Geom(NamedTuple):
    """A convolution as the kernels see it (always 2-D): the image side (n, c, h, w), the
    output side (f channels, oh x ow), kernel, stride, pad, dilation and groups."""

    n: int
    c: int
    h: int
    w: int
    f: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    groups: int

    def args(self) -> list:
        return [_I(v) for v in (self.c, self.h, self.w, self.oh, self.ow, self.kh, self.kw,
                                self.sh, self.sw, self.ph, self.pw, self.dh, self.dw)]


def _geom(sp: Spatial, pads: tuple, image: tuple, small: tuple, groups: int) -> Geom:
    """Geometry of the convolution from `image` (N, C, *size) to `small` (N, F, *out)."""
    if len(sp.kernel) == 1:
        return Geom(image[0], image[1], 1, image[2], small[1], 1, small[2], 1, sp.kernel[0],
                    1, sp.stride[0], 0, pads[0], 1, sp.dilate[0], groups)
    return Geom(image[0], image[1], image[2], image[3], small[1], small[2], small[3],
                *sp.kernel, *sp.stride, *pads, *sp.dilate, groups)


def _check_ndim(op: str, what: str, shape: tuple, sp: Spatial):
    nd = len(sp.kernel)
    if len(shape) != nd + 2:
        raise MXNetError(f"{op}: {what} shape {tuple(shape)} must be {nd + 2}-D "
                         f"({('NCW', 'NCHW')[nd - 1]}) for kernel={sp.kernel}")


def _check_groups(op: str, channels: int, what: str, shape: tuple, params: dict):
    g = params["num_group"]
    if channels % g:
        raise MXNetError(f"{op}: {what} ({channels}, from shape {tuple(shape)}) must be "
                         f"divisible by num_group={g}")


def _check_shape(op: str, what: str, got, want: tuple, how: str):
    if got is not None and tuple(got) != tuple(want):
        raise MXNetError(f"{op}: {what} has shape {tuple(got)}, expected {tuple(want)} "
                         f"({how})")


def _same_dtype(op: str):
    def infer_type(params, dts):
        for i, dt in enumerate(dts[1:], 1):
            if dt is not dts[0]:
                raise MXNetError(f"{op}: input {i} has dtype {dt.name} but input 0 has "
                                 f"{dts[0].name}; all inputs must share one dtype")
        return [dts[0]]
    return infer_type


def _bias_grad(F, params, g):
    """sum of g over the batch and spatial axes: first the contiguous spatial axes, then the
    batch, so neither reduction needs reduce's transposing copy."""
    spatial = F.invoke("sum", [g], {"axis": tuple(range(2, 2 + len(params["kernel"])))})
    return F.invoke("sum", [spatial], {"axis": 0})


# -- kernels and GEMM lowering -----------------------------------------------------------------
def _chunk(g: Geom, itemsize: int) -> int:
    """Images per im2col chunk: the cols matrix stays under _COLS_BYTES."""
    per_image = g.c * g.kh * g.kw * g.oh * g.ow * itemsize
    return max(1, min(g.n, _COLS_BYTES // max(per_image, 1)))


def _launch(n: int) -> tuple:
    return (_ceil(n, _LOCAL) * _LOCAL,)


def _im2col(dev, dt, x, n0: int, nb: int, g: Geom) -> Buffer:
    ncols = nb * g.oh * g.ow
    rows = g.c * g.kh * g.kw
    cols = Buffer(dev, rows * ncols * dt.np.itemsize)
    if rows and ncols:
        dev.enqueue(_kernel(dev, dt, "im2col"), (_ceil(nb, _LOCAL) * _LOCAL, rows),
                    (_LOCAL, 1), [x._buf.cl_buffer, _L(x._offset + n0 * g.c * g.h * g.w),
                                  cols.cl_buffer] + g.args() + [_I(nb)], (x._buf, cols))
    return cols


def _packed_cols(dev, dt, x, n0: int, nb: int, g: Geom, dims: tuple, a: Operand,
                 b: Operand, transposed: bool) -> Buffer | None:
    """The im2col matrix of images n0 .. n0 + nb - 1 (or its transpose) as the packed B of
    the GEMM `dims` = (m, n, k) with operand A `a` and ordinary B layout `b`, or None where
    that product does not take the packed path (then B goes in its ordinary layout)."""
    m, n, k = dims
    if not PACKED_COLS:
        return None
    params = matrix.packed_b_params(dev, dt, m, n, k, a, b, batch=g.groups)
    if params is None:
        return None
    nr = params["NV"] * params["VW"]
    bs = matrix.packed_b_stride(params, n, k)
    itemsize = templates.compute_np(dt).itemsize  # panels hold the compute type
    packed = Buffer(dev, bs * g.groups * itemsize)
    ckg, ncols = g.c // g.groups * g.kh * g.kw, nb * g.oh * g.ow
    tail = [_I(nb), _I(ckg), _I(nr), _L(bs)]
    head = [x._buf.cl_buffer, _L(x._offset + n0 * g.c * g.h * g.w), packed.cl_buffer]
    if transposed:
        dev.enqueue(_kernel(dev, dt, "im2col_packed_t"),
                    (_ceil(ncols, _RUNS * _LOCAL) * _LOCAL, _ceil(ckg, nr), g.groups),
                    (_LOCAL, 1, 1),
                    head + g.args() + tail, (x._buf, packed))
    else:
        dev.enqueue(_kernel(dev, dt, "im2col_packed"),
                    (_ceil(ncols, nr * _LOCAL) * _LOCAL, _ceil(g.groups * ckg, _TAPS)),
                    (_LOCAL, 1),
                    head + g.args() + tail, (x._buf, packed))
    return packed


def _bias_args(bias, stand_in: Buffer) -> tuple:
    """(buffer, kernel arguments) of an optional per-channel bias: its buffer, offset and the
    has_bias flag; without a bias `stand_in` is passed as a valid pointer, never read."""
    buf, off = (bias._buf, bias._offset) if bias is not None else (stand_in, 0)
    return buf, [buf.cl_buffer, _L(off), _I(bias is not None)]


def _col2im(dev, dt, cols: Buffer, dx, n0: int, nb: int, g: Geom, bias=None):
    rows = nb * g.c * g.h
    if rows:
        bias_buf, bias_args = _bias_args(bias, dx._buf)
        dev.enqueue(_kernel(dev, dt, "col2im"), _launch(rows), (_LOCAL,),
                    [cols.cl_buffer, dx._buf.cl_buffer, _L(dx._offset + n0 * g.c * g.h * g.w)]
                    + bias_args + g.args() + [_I(nb)],
                    (cols, dx._buf, bias_buf))


def _rows_copy(dev, dt, src: tuple, dst: tuple, outer: int, inner: int, strides: tuple,
               length: int, bias=None):
    """dst row (o, i) = src run at o * strides[0] + i * strides[1] (+ bias[i]); rows of
    `length` elements, dst rows contiguous. src and dst are (buffer, offset) pairs."""
    if outer * inner * length == 0:
        return
    bias_buf, bias_args = _bias_args(bias, dst[0])
    dev.enqueue(_kernel(dev, dt, "rows_copy"), _launch(outer * inner), (_LOCAL,),
                [src[0].cl_buffer, _L(src[1]), dst[0].cl_buffer, _L(dst[1])] + bias_args
                + [_L(outer), _L(inner), _L(strides[0]), _L(strides[1]), _L(length)],
                (src[0], dst[0], bias_buf))


def _f_major(dev, dt, y, n0: int, nb: int, g: Geom) -> tuple:
    """(buffer, offset) of y[n0:n0+nb] (N, F, OH*OW) as an (F, nb*OH*OW) matrix: y itself
    for one image, else a transposing copy."""
    ohw = g.oh * g.ow
    if nb == 1:
        return y._buf, y._offset + n0 * g.f * ohw
    buf = Buffer(dev, g.f * nb * ohw * dt.np.itemsize)
    _rows_copy(dev, dt, (y._buf, y._offset + n0 * g.f * ohw), (buf, 0), g.f, nb,
               (ohw, g.f * ohw), ohw)
    return buf, 0


def _conv_one(x, w, y, g: Geom, bias=None):
    """y = conv(x, w) (+ bias) directly, for one input channel per group: a product with
    K = KH*KW is too thin for GEMM to pay back im2col, packing and the copy to NCHW."""
    dev, dt = y.device, y._dt
    bias_buf, bias_args = _bias_args(bias, y._buf)
    fg = g.f // g.groups
    dev.enqueue(_kernel(dev, dt, "conv_one"), _launch(g.n * g.groups * _ceil(fg, 4) * g.oh),
                (_LOCAL,),
                [x._buf.cl_buffer, _L(x._offset), w._buf.cl_buffer, _L(w._offset)] + bias_args
                + [y._buf.cl_buffer, _L(y._offset)] + g.args() + [_I(g.f), _I(fg), _I(g.n)],
                (x._buf, w._buf, bias_buf, y._buf))


# Forward methods, chosen per shape class by a measured search (`runtime.tuning`, family
# "conv"; CLNET_CONV_TUNE=0 takes the first of each list): with one input channel per group
# the direct kernel or im2col + GEMM; otherwise im2col writing the GEMM's packed panels or the
# plain column matrix.
FORWARD_CANDIDATES = {
    "one": ({"method": "direct"}, {"method": "gemm", "packed": True}),
    "many": ({"method": "gemm", "packed": True}, {"method": "gemm", "packed": False}),
}
_FORWARD_CHOSEN: dict = {}  # (device, shape class) -> candidate


def forward_class(dt, g: Geom) -> tuple:
    """(candidate list name, tuning key) of a convolution forward: dtype, size buckets of
    batch, channels, filters and output pixels, the kernel size, strides and grouping."""
    kind = "one" if g.c == g.groups else "many"
    b = tuning.bucket
    key = (f"{dt.name}/{kind}/n{b(g.n)}c{b(g.c)}f{b(g.f)}p{b(g.oh * g.ow)}"
           f"/k{g.kh}x{g.kw}s{g.sh}x{g.sw}g{min(g.groups, 2)}")
    return kind, key


def _forward_method(x, w, y, g: Geom, bias) -> dict:
    """The forward method for this shape class (see _measured)."""
    kind, key = forward_class(y._dt, g)
    return _measured("conv", key, FORWARD_CANDIDATES[kind], _FORWARD_CHOSEN, (x, w, y),
                     lambda cand, xs, ws, ys: _forward_with(cand, xs, ws, ys, g, None))


def _measured(family: str, key: str, candidates, chosen: dict, arrays, run) -> dict:
    """The candidate for shape class `key`: measured once per class and device by
    `run(candidate, *scratch)` on zero-filled scratch arrays shaped like `arrays` (its output
    last) and stored under `family`, or the first candidate with CLNET_CONV_TUNE=0."""
    dev = arrays[-1].device
    if not tuning.enabled("conv"):
        return candidates[0]
    got = chosen.get((dev, key))
    if got is None:
        from ..ndarray.ndarray import empty
        with replay.paused():  # the scratch arrays are no part of a step being recorded
            scratch = [empty(a.shape, a.context, a.dtype) for a in arrays]
            for a in scratch[:-1]:
                a[:] = 0

        def measure(cand):  # tuning.choose keeps the best of its passes
            run(cand, *scratch)  # builds the kernels
            dev.queue.finish()
            start = time.perf_counter()
            run(cand, *scratch)
            dev.queue.finish()
            return time.perf_counter() - start
        got = chosen[(dev, key)] = tuning.choose(dev, family, key, list(candidates), measure)
    return got


def conv_forward(x, w, y, g: Geom, bias=None):
    """y = conv(x, w) (+ bias) by the method measured fastest for the shape class: per chunk
    im2col (into the GEMM's packed panels, or the plain matrix), one GEMM over groups, copy
    to NCHW; or, with one input channel per group, directly."""
    if y.size == 0:
        return
    _forward_with(_forward_method(x, w, y, g, bias), x, w, y, g, bias)


def _forward_with(method: dict, x, w, y, g: Geom, bias):
    if method["method"] == "direct":
        _conv_one(x, w, y, g, bias)
        return
    dev, dt = y.device, y._dt
    ohw, ckg, fg = g.oh * g.ow, g.c // g.groups * g.kh * g.kw, g.f // g.groups
    step = _chunk(g, dt.np.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        ncols = nb * ohw
        a = Operand(w._buf, w._offset, ckg, 1, fg * ckg)
        b = Operand(None, 0, ncols, 1, ckg * ncols)
        packed = (_packed_cols(dev, dt, x, n0, nb, g, (fg, ncols, ckg), a, b, False)
                  if method["packed"] else None)
        if packed is None:
            b = b._replace(buffer=_im2col(dev, dt, x, n0, nb, g))
        out = (y._buf, y._offset + n0 * g.f * ohw)
        # one image: the (F, OH*OW) product is already NCHW
        res = out if nb == 1 else (Buffer(dev, g.f * ncols * dt.np.itemsize), 0)
        matrix.gemm(dev, dt, fg, ncols, ckg, a, b,
                    Operand(res[0], res[1], ncols, 1, fg * ncols), batch=g.groups,
                    packed_b=packed)
        if nb > 1 or bias is not None:
            _rows_copy(dev, dt, res, out, nb, g.f, (ohw, ncols) if nb > 1 else (0, ohw), ohw,
                       bias)


# Data-gradient methods (family "conv_dgrad"): GEMM(W^T, dY) per chunk then col2im; and, for
# one channel per group and per filter (depthwise), conv_one_t ("phases"), which writes each
# image row phase by phase with 8-wide vectors along dY's rows. NOTE: pocl, imperative,
# depthwise, GEMM / phases: 3x3 pad 1 on 16x32x32x32 2655 / 751 us at stride 1 (the forward
# 768 us), 1787 / 716 us at stride 2; 16x64x16x16 1925 / 515 and 982 / 349 us; 32x128x8x8
# 2228 / 749 and 1158 / 572 us; a 4x4 stride-2 upsampling Deconvolution's shape on
# 8x21x64x64 1944 / 797 us. Running the forward's conv_one on dY with the taps reversed
# (stride 1 only) took 713-809 us on the stride-1 shapes.
DGRAD_CANDIDATES = ({"method": "phases"}, {"method": "gemm"})
_DGRAD_CHOSEN: dict = {}  # (device, shape class) -> candidate
_MAX_KH = 32  # kernel rows conv_one_t follows (MAX_KH in kernels/conv.cl)


def conv_data_grad(dy, w, dx, g: Geom, bias=None):
    """dx = conv^T(dy, w) (+ bias), by the method measured fastest for the shape class."""
    if dx.size == 0:
        return
    depthwise = g.c == g.f == g.groups and g.kh <= _MAX_KH
    candidates = tuple(c for c in DGRAD_CANDIDATES if depthwise or c["method"] == "gemm")
    if len(candidates) > 1:
        key = "dgrad/" + forward_class(dx._dt, g)[1]
        method = _measured("conv_dgrad", key, candidates, _DGRAD_CHOSEN, (dy, w, dx),
                           lambda cand, dys, ws, dxs: _dgrad_with(cand, dys, ws, dxs, g, None))
    else:
        method = candidates[0] if candidates else {"method": "gemm"}
    _dgrad_with(method, dy, w, dx, g, bias)


def _dgrad_with(method: dict, dy, w, dx, g: Geom, bias):
    (_dgrad_phases if method["method"] == "phases" else _dgrad_gemm)(dy, w, dx, g, bias)


def _dgrad_phases(dy, w, dx, g: Geom, bias):
    """conv_one_t: each image row of a depthwise data gradient, phase by phase."""
    dev = dx.device
    bias_buf, bias_args = _bias_args(bias, dx._buf)
    dev.enqueue(_kernel(dev, dx._dt, "conv_one_t"), _launch(g.n * g.c * g.h), (_LOCAL,),
                [dy._buf.cl_buffer, _L(dy._offset), w._buf.cl_buffer, _L(w._offset)]
                + bias_args + [dx._buf.cl_buffer, _L(dx._offset)] + g.args() + [_I(g.n)],
                (dy._buf, w._buf, bias_buf, dx._buf))


def _dgrad_gemm(dy, w, dx, g: Geom, bias):
    """GEMM(W^T, dY) per chunk, then col2im."""
    dev, dt = dx.device, dx._dt
    ohw, ckg, fg = g.oh * g.ow, g.c // g.groups * g.kh * g.kw, g.f // g.groups
    step = _chunk(g, dt.np.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        ncols = nb * ohw
        dyt, dyoff = _f_major(dev, dt, dy, n0, nb, g)
        dcols = Buffer(dev, g.c * g.kh * g.kw * ncols * dt.np.itemsize)
        matrix.gemm(dev, dt, ckg, ncols, fg, Operand(w._buf, w._offset, 1, ckg, fg * ckg),
                    Operand(dyt, dyoff, ncols, 1, fg * ncols),
                    Operand(dcols, 0, ncols, 1, ckg * ncols), batch=g.groups)
        _col2im(dev, dt, dcols, dx, n0, nb, g, bias)


# Weight-gradient methods, chosen per shape class like the forward's (family "conv_wgrad"):
# "gemm", dW = dY cols^T with im2col writing the transposed packed panels where the GEMM
# packs; on CPUs also "gemm_t", dW^T = cols dY^T with the plain im2col matrix as A (no
# transposition of the columns, a small one of the result), and for kernels up to
# WGRAD_DIRECT_MAX_KW wide the direct kernel (wgrad_direct in kernels/conv.cl), which reads
# the images in place. NOTE: pocl, LeNet's batch-64 weight gradients (medians of 9
# alternating rounds): the 1-channel 5x5 layer took 0.59 ms direct against 1.10 ms through
# GEMM, the 20-channel one 3.55 against 2.35 ms; imperative calls, medians of 15 rounds:
# gemm / gemm_t / direct 4.69 / 4.16 / 6.24 ms on that layer, 6.12 / 4.51 / 22.2 ms on
# 16x64x16x16 3x3 pad 1 with 64 filters, 6.24 / 3.61 / 9.45 ms on 8x32x32x32 with 32.
WGRAD_CANDIDATES = ({"method": "gemm"}, {"method": "gemm_t"}, {"method": "direct"})
WGRAD_DIRECT_MAX_KW = 8
_WGRAD_CHOSEN: dict = {}  # (device, shape class) -> candidate


def conv_weight_grad(dy, x, dw, g: Geom):
    """dw = the weight gradient of conv(x, w) for output gradient dy, by the method measured
    fastest for the shape class."""
    if dw.size == 0:
        return
    candidates = WGRAD_CANDIDATES
    if dw.device.kind != "cpu" or g.n * g.oh * g.ow == 0:
        candidates = candidates[:1]  # unmeasured on GPUs; an empty sum writes zeros
    elif g.kw > WGRAD_DIRECT_MAX_KW:
        candidates = tuple(c for c in candidates if c["method"] != "direct")
    key = "wgrad/" + forward_class(dw._dt, g)[1]
    method = _measured("conv_wgrad", key, candidates, _WGRAD_CHOSEN, (dy, x, dw),
                       lambda cand, dys, xs, dws: _wgrad_with(cand, dys, xs, dws, g))
    _wgrad_with(method, dy, x, dw, g)


def _wgrad_with(method: dict, dy, x, dw, g: Geom):
    {"direct": _wgrad_direct, "gemm": _wgrad_gemm, "gemm_t": _wgrad_gemm_t}[method["method"]](
        dy, x, dw, g)


def _wgrad_direct(dy, x, dw, g: Geom):
    dev, dt = dw.device, dw._dt
    # filters per work-item (WFB): WFB x KW CT8 sums, 20 for 5-wide kernels (4 took 10% less
    # time than 3 on LeNet's second layer), 16 for 8-wide ones; but no more than the group has
    # (rounded down to a power of 2, one build each): depthwise with 1 instead of 4 ran
    # 1.0-1.4x faster on 5 shapes
    fg = g.f // g.groups
    wfb = min(4 if g.kw <= 5 else 2, 1 << (fg.bit_length() - 1))
    knl = template_kernel(dev, dt, "conv", "wgrad_direct", WKW=g.kw, WFB=wfb)
    dev.enqueue(knl, (g.groups * _ceil(fg, wfb), g.c // g.groups, g.kh), (1, 1, 1),
                [x._buf.cl_buffer, _L(x._offset), dy._buf.cl_buffer, _L(dy._offset),
                 dw._buf.cl_buffer, _L(dw._offset)] + g.args() + [_I(g.n), _I(g.f),
                                                                  _I(g.groups)],
                (x._buf, dy._buf, dw._buf))


def _wgrad_gemm(dy, x, dw, g: Geom):
    """dw = the sum over the batch of GEMM(dY, cols^T), accumulated chunk by chunk."""
    dev, dt = dw.device, dw._dt
    ohw, ckg, fg = g.oh * g.ow, g.c // g.groups * g.kh * g.kw, g.f // g.groups
    c_op = Operand(dw._buf, dw._offset, ckg, 1, fg * ckg)
    if g.n * ohw == 0:  # nothing to sum: a K = 0 product writes zeros
        empty = Operand(dw._buf, dw._offset, 0, 0, 0)
        matrix.gemm(dev, dt, fg, ckg, 0, empty, empty, c_op, batch=g.groups)
        return
    step = _chunk(g, dt.np.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        ncols = nb * ohw
        dyt, dyoff = _f_major(dev, dt, dy, n0, nb, g)
        a = Operand(dyt, dyoff, ncols, 1, fg * ncols)
        b = Operand(None, 0, 1, ncols, ckg * ncols)  # cols^T
        packed = _packed_cols(dev, dt, x, n0, nb, g, (fg, ckg, ncols), a, b, True)
        if packed is None:
            b = b._replace(buffer=_im2col(dev, dt, x, n0, nb, g))
        matrix.gemm(dev, dt, fg, ckg, ncols, a, b, c_op, batch=g.groups,
                    beta=0.0 if n0 == 0 else 1.0, packed_b=packed)


def _wgrad_gemm_t(dy, x, dw, g: Geom):
    """dw^T = the sum over the batch of GEMM(cols, dY^T), the im2col matrix as the product's
    A in its own layout (no transposed panels), then transposed into dw."""
    dev, dt = dw.device, dw._dt
    ohw, ckg, fg = g.oh * g.ow, g.c // g.groups * g.kh * g.kw, g.f // g.groups
    tmp = Buffer(dev, g.groups * ckg * fg * dt.np.itemsize)
    c_op = Operand(tmp, 0, fg, 1, ckg * fg)
    step = _chunk(g, dt.np.itemsize)
    for n0 in range(0, g.n, step):
        nb = min(step, g.n - n0)
        ncols = nb * ohw
        dyt, dyoff = _f_major(dev, dt, dy, n0, nb, g)
        a = Operand(_im2col(dev, dt, x, n0, nb, g), 0, ncols, 1, ckg * ncols)
        b = Operand(dyt, dyoff, 1, ncols, fg * ncols)  # dY^T
        matrix.gemm(dev, dt, ckg, fg, ncols, a, b, c_op, batch=g.groups,
                    beta=0.0 if n0 == 0 else 1.0)
    shape = (g.groups, fg, ckg)
    _copy(dev, View(dw._buf, dw._offset, shape, contiguous_strides(shape), dt),
          View(tmp, 0, shape, (ckg * fg, 1, fg), dt))


# -- Convolution -------------------------------------------------------------------------------
def _conv_params(deconv: bool) -> tuple:
    side = "the corresponding convolution's " if deconv else ""
    params = [
        Param("kernel", "shape", doc="kernel size: (w,) or (h, w)"),
        Param("stride", "shape", (), f"{side}stride: (w,) or (h, w); default 1 per dimension"),
        Param("dilate", "shape", (), "dilation: (w,) or (h, w); default 1 per dimension"),
        Param("pad", "shape", (), "zero padding: (w,) or (h, w); default 0 per dimension"
              + ("; ignored where target_shape is set" if deconv else "")),
    ]
    if deconv:
        params += [
            Param("adj", "shape", (), "extra output size at the end: (w,) or (h, w); must be "
                  "smaller than stride; ignored where target_shape is set"),
            Param("target_shape", "shape", (), "output size (w,) or (h, w); 0 entries keep "
                  "pad and adj"),
        ]
    params += [
        Param("num_filter", int, doc="number of output channels", low=1),
        Param("num_group", int, 1, "number of groups: input and output channels are split "
              "into num_group independent convolutions", low=1),
        Param("workspace", int, 512 if deconv else 1024, "accepted for MXNet compatibility "
              "(MB of cuDNN workspace); unused", low=0),
        Param("no_bias", bool, deconv, "whether to leave out the bias input"),
        Param("cudnn_tune", str, None, "accepted for MXNet compatibility; unused",
              choices=("off", "limited_workspace", "fastest")),
        Param("cudnn_off", bool, False, "accepted for MXNet compatibility; unused"),
        Param("layout", str, None, "data layout: NCW (1-D) or NCHW (2-D); None picks the "
              "one the kernel implies", choices=_LAYOUTS),
    ]
    return tuple(params)


def _conv_inputs(params):
    return ("data", "weight") if params["no_bias"] else ("data", "weight", "bias")


def _conv_shape(params, shapes):
    op = "Convolution"
    sp = _spatial(op, params)
    data = tuple(shapes[0])
    _check_ndim(op, "data", data, sp)
    f, groups = params["num_filter"], params["num_group"]
    _check_groups(op, data[1], "the input channels", data, params)
    if f % groups:
        raise MXNetError(f"{op}: num_filter={f} must be divisible by num_group={groups}")
    _check_shape(op, "weight", shapes[1], (f, data[1] // groups) + sp.kernel,
                 "num_filter, channels / num_group, *kernel")
    if not params["no_bias"]:
        _check_shape(op, "bias", shapes[2], (f,), "num_filter,")
    for i, (x, p) in enumerate(zip(data[2:], sp.pad)):
        if x and _dk(sp, i) > x + 2 * p:
            raise MXNetError(f"{op}: kernel size {_dk(sp, i)} (kernel={sp.kernel}, "
                             f"dilate={sp.dilate}) exceeds the input size {x} padded to "
                             f"{x + 2 * p} in spatial dimension {i} (data shape {data}); use "
                             "a smaller kernel or more padding")
    return [(data[0], f) + _conv_out(sp, sp.pad, data[2:])]


def _weight_args(deconv: bool):
    def infer_args(params, shapes):
        data = shapes[0]
        if data is None or len(data) < 2:
            return shapes
        out = list(shapes)
        f, groups, kernel = params["num_filter"], params["num_group"], tuple(params["kernel"])
        if out[1] is None:
            out[1] = ((data[1], f // groups) if deconv else (f, data[1] // groups)) + kernel
        if len(out) > 2 and out[2] is None:
            out[2] = (f,)
        return out
    return infer_args


def _conv_forward(params, inputs, outputs):
    x, w = inputs[0], inputs[1]
    sp = _spatial("Convolution", params)
    g = _geom(sp, sp.pad, x.shape, outputs[0].shape, params["num_group"])
    conv_forward(x, w, outputs[0], g, None if params["no_bias"] else inputs[2])


def _helper_params(params: dict) -> dict:
    return {"kernel": params["kernel"], "stride": params["stride"],
            "dilate": params["dilate"], "pad": params["pad"],
            "num_group": params["num_group"], "target_shape": params.get("target_shape", ())}


def _conv_grad(F, params, inputs, outputs, out_grads):
    g, data, weight = out_grads[0], inputs[0], inputs[1]
    hp = _helper_params(params)
    grads = [F.invoke("_backward_Convolution_data", [g, weight, data], hp),
             F.invoke("_backward_Convolution_weight", [g, data], hp)]
    if not params["no_bias"]:
        grads.append(_bias_grad(F, params, g))
    return grads


register(OpDef(
    "Convolution", inputs=_conv_inputs, params=_conv_params(False), infer_shape=_conv_shape,
    infer_type=_same_dtype("Convolution"), infer_args=_weight_args(False),
    forward=_conv_forward, grad=_conv_grad, dtypes=FLOATS,
    doc="Convolution of NCW (1-D kernel) or NCHW (2-D kernel) data with weight (num_filter, "
        "channels / num_group, *kernel), plus bias (num_filter,) unless no_bias. Output size "
        "per dimension: floor((x + 2 * pad - dilate * (kernel - 1) - 1) / stride) + 1."))


# -- Deconvolution -----------------------------------------------------------------------------
def _deconv_geometry(params, data: tuple):
    """(Spatial, pads, output shape) of Deconvolution on `data`, with MXNet's checks."""
    op = "Deconvolution"
    sp = _spatial(op, params)
    _check_ndim(op, "data", data, sp)
    pads, adjs = _target_pads(sp, params["target_shape"], data[2:])
    for i, (a, s) in enumerate(zip(adjs, sp.stride)):
        if a >= s:
            raise MXNetError(f"{op}: adj={adjs} must be smaller than stride={sp.stride} in "
                             f"every dimension (dimension {i})")
    size = tuple(s * (x - 1) + _dk(sp, i) - 2 * p + a if x else 0
                 for i, (x, s, p, a) in enumerate(zip(data[2:], sp.stride, pads, adjs)))
    if any(d <= 0 for d, x in zip(size, data[2:]) if x):
        raise MXNetError(f"{op}: the output size {size} is not positive (data shape {data}, "
                         f"kernel={sp.kernel}, stride={sp.stride}, pad={pads}); use less "
                         "padding")
    return sp, pads, (data[0], params["num_filter"]) + size


def _deconv_shape(params, shapes):
    op = "Deconvolution"
    data = tuple(shapes[0])
    sp, _, out = _deconv_geometry(params, data)
    f, groups = params["num_filter"], params["num_group"]
    _check_groups(op, data[1], "the input channels", data, params)
    if f % groups:
        raise MXNetError(f"{op}: num_filter={f} must be divisible by num_group={groups}")
    _check_shape(op, "weight", shapes[1], (data[1], f // groups) + sp.kernel,
                 "channels, num_filter / num_group, *kernel")
    if not params["no_bias"]:
        _check_shape(op, "bias", shapes[2], (f,), "num_filter,")
    return [out]


def _deconv_forward(params, inputs, outputs):
    x, w, y = inputs[0], inputs[1], outputs[0]
    sp, pads, _ = _deconv_geometry(params, x.shape)
    g = _geom(sp, pads, y.shape, x.shape, params["num_group"])
    conv_data_grad(x, w, y, g, None if params["no_bias"] else inputs[2])


def _deconv_grad(F, params, inputs, outputs, out_grads):
    g, data, weight = out_grads[0], inputs[0], inputs[1]
    hp = _helper_params(params)
    grads = [F.invoke("_backward_Deconvolution_data", [g, weight, data], hp),
             F.invoke("_backward_Convolution_weight", [data, g], hp)]
    if not params["no_bias"]:
        grads.append(_bias_grad(F, params, g))
    return grads


register(OpDef(
    "Deconvolution", inputs=_conv_inputs, params=_conv_params(True),
    infer_shape=_deconv_shape, infer_type=_same_dtype("Deconvolution"),
    infer_args=_weight_args(True), forward=_deconv_forward, grad=_deconv_grad, dtypes=FLOATS,
    doc="Transposed convolution (the data gradient of Convolution) of NCW / NCHW data with "
        "weight (channels, num_filter / num_group, *kernel), plus bias unless no_bias. Output "
        "size per dimension: stride * (x - 1) + dilate * (kernel - 1) + 1 - 2 * pad + adj, "
        "or target_shape."))


# -- gradient helpers --------------------------------------------------------------------------
_HELPER_PARAMS = (
    Param("kernel", "shape", doc="kernel size: (w,) or (h, w)"),
    Param("stride", "shape", (), "stride"),
    Param("dilate", "shape", (), "dilation"),
    Param("pad", "shape", (), "padding of the image side"),
    Param("num_group", int, 1, "number of groups", low=1),
    Param("target_shape", "shape", (), "Deconvolution's target_shape: the padding is then "
          "inferred from the small (convolution-output) side"),
)


def _helper_geom(op: str, params: dict, image: tuple, small: tuple) -> Geom:
    """Geometry of a helper op between `image` and `small` (the convolution output side)."""
    sp = _spatial(op, params)
    _check_ndim(op, "image-side", image, sp)
    _check_ndim(op, "output-side", small, sp)
    if image[0] != small[0]:
        raise MXNetError(f"{op}: batch sizes differ: {tuple(image)} vs {tuple(small)}")
    _check_groups(op, image[1], "the image-side channels", image, params)
    _check_groups(op, small[1], "the output-side channels", small, params)
    pads, _ = _target_pads(sp, params["target_shape"], small[2:])
    want = _conv_out(sp, pads, image[2:])
    if want != tuple(small[2:]):
        raise MXNetError(f"{op}: the output side {tuple(small)} does not match the image side "
                         f"{tuple(image)}, which gives spatial size {want} with "
                         f"kernel={sp.kernel}, stride={sp.stride}, dilate={sp.dilate}, "
                         f"pad={pads}")
    return _geom(sp, pads, image, small, params["num_group"])


def _weight_shape(params, image, small) -> tuple:
    return (small[1], image[1] // params["num_group"]) + tuple(params["kernel"])


def _transposed_shape(op: str, image_is_data: bool, how: str):
    """Shape rule of a helper op over (out_grad, weight, data) whose output has data's shape:
    the convolution's image is data (the Convolution data gradient) or out_grad (the
    Deconvolution data gradient, a convolution of out_grad)."""
    def shape(params, shapes):
        out_grad, weight, data = (tuple(s) for s in shapes)
        image, small = (data, out_grad) if image_is_data else (out_grad, data)
        _helper_geom(op, params, image, small)
        _check_shape(op, "weight", weight, _weight_shape(params, image, small), how)
        return [data]
    return shape


_bwd_data_shape = _transposed_shape("_backward_Convolution_data", True,
                                    "out_grad channels, data channels / num_group, *kernel")
_bwd_deconv_shape = _transposed_shape("_backward_Deconvolution_data", False,
                                      "data channels, out_grad channels / num_group, *kernel")


def _bwd_data_forward(params, inputs, outputs):
    dy, w, dx = inputs[0], inputs[1], outputs[0]
    conv_data_grad(dy, w, dx, _helper_geom("_backward_Convolution_data", params, dx.shape,
                                           dy.shape))


def _bwd_deconv_forward(params, inputs, outputs):
    g, w, y = inputs[0], inputs[1], outputs[0]
    conv_forward(g, w, y, _helper_geom("_backward_Deconvolution_data", params, g.shape,
                                       y.shape))


def _bwd_weight_shape(params, shapes):
    out_grad, data = (tuple(s) for s in shapes)
    op = "_backward_Convolution_weight"
    _helper_geom(op, params, data, out_grad)
    return [_weight_shape(params, data, out_grad)]


def _bwd_weight_forward(params, inputs, outputs):
    dy, x = inputs
    conv_weight_grad(dy, x, outputs[0], _helper_geom("_backward_Convolution_weight", params,
                                                      x.shape, dy.shape))


# Each helper is bilinear; its gradient is made of the other two (see the module docstring).
def _bwd_data_grad(F, params, inputs, outputs, out_grads):
    dy, w, h = inputs[0], inputs[1], out_grads[0]
    return [F.invoke("_backward_Deconvolution_data", [h, w, dy], params),
            F.invoke("_backward_Convolution_weight", [dy, h], params), None]


def _bwd_deconv_grad(F, params, inputs, outputs, out_grads):
    g, w, h = inputs[0], inputs[1], out_grads[0]
    return [F.invoke("_backward_Convolution_data", [h, w, g], params),
            F.invoke("_backward_Convolution_weight", [h, g], params), None]


def _bwd_weight_grad(F, params, inputs, outputs, out_grads):
    dy, x, h = inputs[0], inputs[1], out_grads[0]
    return [F.invoke("_backward_Deconvolution_data", [x, h, dy], params),
            F.invoke("_backward_Convolution_data", [dy, h, x], params)]


for _name, _inputs, _shape, _fwd, _grad, _doc in (
        ("_backward_Convolution_data", ("out_grad", "weight", "data"), _bwd_data_shape,
         _bwd_data_forward, _bwd_data_grad,
         ("Gradient of Convolution with respect to its data (a transposed convolution of "
          "out_grad); `data` gives the shape only.")),
        ("_backward_Deconvolution_data", ("out_grad", "weight", "data"), _bwd_deconv_shape,
         _bwd_deconv_forward, _bwd_deconv_grad,
         ("Gradient of Deconvolution with respect to its data (a convolution of out_grad); "
          "`data` gives the shape only.")),
        ("_backward_Convolution_weight", ("out_grad", "data"), _bwd_weight_shape,
         _bwd_weight_forward, _bwd_weight_grad,
         "Gradient of Convolution with respect to its weight, summed over the batch.")):
    register(OpDef(_name, inputs=_inputs, params=_HELPER_PARAMS, infer_shape=_shape,
                   infer_type=_same_dtype(_name), forward=_fwd, grad=_grad, dtypes=FLOATS,
                   doc=_doc))
