"""Matrix products: `dot`, `batch_dot`, their gradients, and the GEMM launcher (`gemm`).

`gemm` enqueues C = alpha * op(A) * op(B) + beta * C for strided, batched operands with the
kernels of `kernels/gemm.cl` (one program per dtype): large products pack A and B into panels
and run the register-blocked micro-kernel, tiny ones run a direct kernel. The blocking
parameters live in one table per device kind (`PARAMS`, read through `gemm_params`), so a
measured search or an on-disk tuning file can replace them in one place. The gradient of each
op is one op (`_backward_dot`, `_backward_batch_dot`) running two GEMMs on the same operands.
Other ops (FullyConnected, convolution lowered to GEMM) may call `gemm` directly; sparse
storage and the linear-algebra ops (`linalg_*`) are not here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..runtime import Buffer
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")

# Blocking per device kind, the one place to change (or to fill from a measured search):
#   MR x NR    register block of the micro-kernel, NR = NV * VW; VW fills VEC_BYTES (one SIMD
#              register: float8 / double4 on AVX2)
#   KC         k block: B's KC x NR piece stays in L1 while a work-item walks PM row panels
#   KU, KPER   k values per unrolled pack tile and per pack work-item (a multiple of KU)
#   LQ, PACK_LOCAL, DIRECT_LOCAL   local sizes. They are fixed: pocl compiles a kernel once
#              per local size, so a size chosen per shape would cost a compile per new shape.
#   DIRECT_MAX_FLOPS, DIRECT_MAX_M   products this small (or with this few rows) skip packing
# The CPU row is measured on pocl (Zen 3 target): pack groups of 1 work-item ran up to 2x
# faster than groups of 8, and KU = 8 because larger unrolled tiles tripled the compile time
# for ~2% speed. The GPU row is an untuned starting point, correct on any OpenCL device.
PARAMS = {
    "cpu": {"MR": 4, "NV": 2, "VEC_BYTES": 32, "KU": 8, "LQ": 4, "PM": 16, "KC": 256,
            "KPER": 256, "PACK_LOCAL": 1, "DIRECT_LOCAL": 4, "DIRECT_MAX_FLOPS": 2 * 64 ** 3,
            "DIRECT_MAX_M": 4},
    "gpu": {"MR": 4, "NV": 1, "VEC_BYTES": 16, "KU": 1, "LQ": 64, "PM": 1, "KC": 1 << 30,
            "KPER": 1, "PACK_LOCAL": 64, "DIRECT_LOCAL": 64, "DIRECT_MAX_FLOPS": 2 * 16 ** 3,
            "DIRECT_MAX_M": 1},
}


class Operand(NamedTuple):
    """A batch of matrices in a buffer: element (batch, i, j) is at
    offset + batch * bs + i * rs + j * cs (elements)."""

    buffer: object
    offset: int
    rs: int
    cs: int
    bs: int


def device_kind(device) -> str:
    import pyopencl as cl
    return "gpu" if device.cl_device.type & cl.device_type.GPU else "cpu"


def gemm_params(device, dt) -> dict:
    """Blocking parameters for `dt` on `device`: the device kind's row of PARAMS with the
    vector width fitted to the compute type."""
    params = dict(PARAMS[device_kind(device)])
    itemsize = 8 if dt.name == "float64" else 4
    params["VW"] = max(1, params["VEC_BYTES"] // itemsize)
    return params


def _source(dt, params) -> str:
    ct = templates.compute_ctype(dt)
    defines = {"T": dt.ctype, "CT": ct, "CTV": f"{ct}{params['VW']}", "VW": params["VW"],
               "MR": params["MR"], "NV": params["NV"], "KU": params["KU"],
               "VSTORE": int(ct == dt.ctype), "SUFFIX": dt.suffix}
    return templates.render("gemm", defines, (dt,))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


# Scalars go to kernels as numpy values of the kernel's types (long sizes and strides), so
# Device.enqueue can declare them to pyopencl once per kernel.
_L = np.int64


def gemm(device, dt, m: int, n: int, k: int, a: Operand, b: Operand, c: Operand,
         batch: int = 1, alpha: float = 1.0, beta: float = 0.0) -> None:
    """Enqueue C = alpha * op(A) * op(B) + beta * C for `batch` products of op(A) (m x k,
    read through `a`) and op(B) (k x n, read through `b`) into C (m x n, `c.cs` must be 1).
    Packed panels are pooled temporaries; nothing waits on the host."""
    if m == 0 or n == 0 or batch == 0:
        return
    params = gemm_params(device, dt)
    src = _source(dt, params)
    ct = np.float64 if dt.name == "float64" else np.float32
    c_args = [c.buffer.cl_buffer, _L(c.offset), _L(c.rs), _L(c.bs), ct(alpha), ct(beta)]
    nr = params["NV"] * params["VW"]
    if k == 0 or 2 * m * n * k * batch <= params["DIRECT_MAX_FLOPS"] or (
            m <= params["DIRECT_MAX_M"] and n >= nr):
        _direct(device, dt, src, params, (m, n, k, batch), a, b, c, c_args)
    else:
        _packed(device, dt, src, params, (m, n, k, batch), a, b, c, c_args)


def _direct(device, dt, src, params, dims, a, b, c, c_args):
    m, n, k, batch = dims
    nr, local = params["NV"] * params["VW"], params["DIRECT_LOCAL"]
    args = [_L(m), _L(n), _L(k)]
    for op in (a, b):
        args += [op.buffer.cl_buffer, _L(op.offset), _L(op.rs), _L(op.cs), _L(op.bs)]
    gsize = (_ceil(_ceil(n, nr), local) * local, m, batch)
    device.enqueue(device.kernel(src, f"gemm_direct_{dt.suffix}"), gsize, (local, 1, 1),
                   args + c_args, (a.buffer, b.buffer, c.buffer))


def _packed(device, dt, src, params, dims, a, b, c, c_args):
    m, n, k, batch = dims
    mr, nr = params["MR"], params["NV"] * params["VW"]
    kc = min(params["KC"], k)  # PARAMS keep KC a multiple of KU
    panels_a, panels_b = _ceil(m, mr), _ceil(n, nr)
    ap_bs, bp_bs = panels_a * mr * k, panels_b * nr * k
    itemsize = 8 if dt.name == "float64" else 4  # panels hold the compute type
    packed_a = Buffer(device, ap_bs * batch * itemsize)
    packed_b = Buffer(device, bp_bs * batch * itemsize)
    # A is packed along its rows, B along its columns: pass each as (panel dir) x k
    _pack(device.kernel(src, f"gemm_pack_a_{dt.suffix}"), device, params, a, (m, k, batch),
          mr, [_L(m), _L(k), _L(kc)], packed_a, ap_bs)
    _pack(device.kernel(src, f"gemm_pack_b_{dt.suffix}"), device, params,
          b._replace(rs=b.cs, cs=b.rs), (n, k, batch), nr, [_L(n), _L(k)], packed_b, bp_bs)
    lq, pm = params["LQ"], params["PM"]
    device.enqueue(device.kernel(src, f"gemm_micro_{dt.suffix}"),
                   (_ceil(panels_b, lq) * lq, _ceil(panels_a, pm), batch), (lq, 1, 1),
                   [_L(m), _L(n), _L(k), packed_a.cl_buffer, _L(ap_bs), packed_b.cl_buffer,
                    _L(bp_bs)] + c_args + [_L(pm), _L(kc)], (packed_a, packed_b, c.buffer))


def _pack(knl, device, params, op, dims, width, head, packed, packed_bs):
    """Launch a pack kernel over (panels of `width`, k ranges of KPER); `op` is seen as
    (panel direction) x k, so op.rs is the stride along panels and op.cs along k. The launch
    walks memory in order: panels fastest when that direction is contiguous, else k."""
    rows, k, batch = dims
    wmajor = op.rs == 1 and op.cs != 1
    kper = _ceil(params["KPER"], params["KU"]) * params["KU"]
    grid = [_ceil(rows, width), _ceil(k, kper)]
    if not wmajor:
        grid.reverse()
    local = params["PACK_LOCAL"]
    gsize = (_ceil(grid[0], local) * local, grid[1], batch)
    args = head + [_L(kper), op.buffer.cl_buffer, _L(op.offset), _L(op.rs), _L(op.cs),
                   _L(op.bs), packed.cl_buffer, _L(packed_bs), np.int32(wmajor)]
    device.enqueue(knl, gsize, (local, 1, 1), args, (op.buffer, packed))


# -- dot ------------------------------------------------------------------------------------
_DOT_PARAMS = (
    Param("transpose_a", bool, False, "If true then transpose the first input before dot."),
    Param("transpose_b", bool, False, "If true then transpose the second input before dot."),
    Param("forward_stype", str, None, "Storage type of the output; only 'default' (dense) "
          "is supported.", choices=("default",)),
)


def _where(op, params, lshape, rshape) -> str:
    return (f"{op}: lhs shape {tuple(lshape)} x rhs shape {tuple(rshape)} "
            f"(transpose_a={params['transpose_a']}, transpose_b={params['transpose_b']})")


def _dot_dims(params, lshape, rshape):
    """(out_lhs_dims, out_rhs_dims, K) of MXNet's dot: lhs contracts its last axis (first
    with transpose_a), rhs its first (last with transpose_b); the other axes are flattened."""
    ta, tb = params["transpose_a"], params["transpose_b"]
    if not lshape or not rshape:
        raise MXNetError(f"{_where('dot', params, lshape, rshape)}: 0-d (scalar) inputs are "
                         "not supported; multiply by a scalar with * instead")
    if len(lshape) == 1 and len(rshape) == 1 and (ta or tb):
        raise MXNetError(f"{_where('dot', params, lshape, rshape)}: 1-D vectors cannot be "
                         "transposed; pass transpose_a=False and transpose_b=False")
    k_l, out_l = (lshape[0], lshape[1:]) if ta else (lshape[-1], lshape[:-1])
    k_r, out_r = (rshape[-1], rshape[:-1]) if tb else (rshape[0], rshape[1:])
    if k_l != k_r:
        raise MXNetError(f"{_where('dot', params, lshape, rshape)}: the contracted dimensions "
                         f"differ ({k_l} vs {k_r}); check the shapes and transpose flags")
    return tuple(out_l), tuple(out_r), k_l


def _dot_shape(params, shapes):
    lshape, rshape = shapes
    out_l, out_r, _ = _dot_dims(params, lshape, rshape)
    if len(lshape) == 1 and len(rshape) == 1:
        return [(1,)]
    return [out_l + out_r]


def _same_float_type(op):
    def infer_type(params, dts):
        if dts[0] is not dts[1]:
            raise MXNetError(f"{op}: lhs has dtype {dts[0].name} and rhs {dts[1].name}; both "
                             "must have the same dtype (convert one with astype)")
        return [dts[0]]
    return infer_type


def _dot_forward(params, inputs, outputs):
    _product_forward("dot", params, inputs, outputs)


register(OpDef(
    "dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, infer_shape=_dot_shape,
    infer_type=_same_float_type("dot"), forward=_dot_forward, dtypes=FLOATS,
    grad=lambda F, p, ins, outs, g: list(F.invoke("_backward_dot", [g[0]] + list(ins), p)),
    doc="Dot product of two arrays. 1-D x 1-D is the inner product (shape (1,)); otherwise "
        "the last axis of lhs (the first with transpose_a) is contracted with the first axis "
        "of rhs (the last with transpose_b), and the remaining axes are kept in order."))


# -- batch_dot ------------------------------------------------------------------------------
def _batch_dims(params, lshape, rshape):
    """(batch dims, M, N, K) of batch_dot on (..., M, K) x (..., K, N) operands."""
    ta, tb = params["transpose_a"], params["transpose_b"]
    if len(lshape) < 3 or len(lshape) != len(rshape):
        raise MXNetError(f"{_where('batch_dot', params, lshape, rshape)}: both inputs must have "
                         "the same number of dimensions, at least 3 (batch, rows, columns)")
    if tuple(lshape[:-2]) != tuple(rshape[:-2]):
        raise MXNetError(f"{_where('batch_dot', params, lshape, rshape)}: the leading batch "
                         "dimensions must be equal")
    m, k_l = (lshape[-1], lshape[-2]) if ta else (lshape[-2], lshape[-1])
    k_r, n = (rshape[-1], rshape[-2]) if tb else (rshape[-2], rshape[-1])
    if k_l != k_r:
        raise MXNetError(f"{_where('batch_dot', params, lshape, rshape)}: the contracted "
                         f"dimensions differ ({k_l} vs {k_r}); check the shapes and transpose "
                         "flags")
    return tuple(lshape[:-2]), m, n, k_l


def _batch_dot_shape(params, shapes):
    lead, m, n, _ = _batch_dims(params, *shapes)
    return [lead + (m, n)]


def _batch_dot_forward(params, inputs, outputs):
    _product_forward("batch_dot", params, inputs, outputs)


register(OpDef(
    "batch_dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, infer_shape=_batch_dot_shape,
    infer_type=_same_float_type("batch_dot"), forward=_batch_dot_forward, dtypes=FLOATS,
    grad=lambda F, p, ins, outs, g: list(
        F.invoke("_backward_batch_dot", [g[0]] + list(ins), p)),
    doc="Batched matrix product: out[b] = op(lhs[b]) x op(rhs[b]) for (..., M, K) x "
        "(..., K, N) inputs with equal leading batch dimensions (3-D in MXNet 1.x)."))


# -- shared by the forward and backward ops -------------------------------------------------
def _operands(op: str, params, lhs, rhs):
    """(m, n, k, batch, a, b): op's product as `batch` products of op(A) (m x k, read through
    Operand a) and op(B) (k x n, through b) over the dense lhs and rhs."""
    ta, tb = params["transpose_a"], params["transpose_b"]
    if op == "dot":
        out_l, out_r, k = _dot_dims(params, lhs.shape, rhs.shape)
        m, n, batch = prod(out_l), prod(out_r), 1
        # lhs is (m, k), or (k, m) with transpose_a; rhs is (k, n), or (n, k) with transpose_b
        a_cols, b_cols = (m if ta else k), (k if tb else n)
    else:
        lead, m, n, k = _batch_dims(params, lhs.shape, rhs.shape)
        batch, a_cols, b_cols = prod(lead), lhs.shape[-1], rhs.shape[-1]
    a = Operand(lhs._buf, lhs._offset, *((1, a_cols) if ta else (a_cols, 1)), m * k)
    b = Operand(rhs._buf, rhs._offset, *((1, b_cols) if tb else (b_cols, 1)), k * n)
    return m, n, k, batch, a, b


def _t(op: Operand) -> Operand:
    """The transposed view of `op`."""
    return op._replace(rs=op.cs, cs=op.rs)


def _into(out, dims, x: Operand, y: Operand, transposed: bool):
    """out = X Y (m x n, inner k, per batch) into dense `out`, which holds (n x m) X Y
    transposed when `transposed`: then out = Y^T X^T is computed instead."""
    m, n, k, batch = dims
    if transposed:
        x, y, m, n = _t(y), _t(x), n, m
    gemm(out.device, out._dt, m, n, k, x, y, Operand(out._buf, out._offset, n, 1, m * n),
         batch=batch)


def _product_forward(op, params, inputs, outputs):
    m, n, k, batch, a, b = _operands(op, params, *inputs)
    _into(outputs[0], (m, n, k, batch), a, b, False)


def _product_backward(op):
    """The gradients of dot / batch_dot as one op over (out_grad, lhs, rhs): with G the head
    gradient, d op(A) = G op(B)^T and d op(B) = op(A)^T G, each stored transposed when that
    input is."""
    def infer_shape(params, shapes):
        out = (_dot_shape if op == "dot" else _batch_dot_shape)(params, shapes[1:])[0]
        if tuple(shapes[0]) != tuple(out):
            raise MXNetError(f"_backward_{op}: out_grad has shape {tuple(shapes[0])}, but "
                             f"{op} of lhs {tuple(shapes[1])} x rhs {tuple(shapes[2])} has "
                             f"shape {out}")
        return [tuple(shapes[1]), tuple(shapes[2])]

    def forward(params, inputs, outputs):
        grad, lhs, rhs = inputs
        m, n, k, batch, a, b = _operands(op, params, lhs, rhs)
        g = Operand(grad._buf, grad._offset, n, 1, m * n)
        _into(outputs[0], (m, k, n, batch), g, _t(b), params["transpose_a"])
        _into(outputs[1], (k, n, m, batch), _t(a), g, params["transpose_b"])

    return register(OpDef(
        f"_backward_{op}", inputs=("out_grad", "lhs", "rhs"), params=_DOT_PARAMS,
        infer_shape=infer_shape, infer_type=lambda p, dts: [dts[1], dts[2]], forward=forward,
        dtypes=FLOATS, num_outputs=2, doc=f"Gradients of {op} for lhs and rhs."))


_product_backward("dot")
_product_backward("batch_dot")
