"""Matrix products: `dot` and `batch_dot`, and the GEMM launcher behind them (`gemm`).

`gemm` enqueues C = alpha * op(A) * op(B) + beta * C for strided, batched operands with the
kernels of `kernels/gemm.cl` (one program per dtype): large products pack A and B into panels
and run the register-blocked micro-kernel, tiny ones run a direct kernel. The blocking
parameters live in one table per device kind (`PARAMS`, read through `gemm_params`), so a
measured search or an on-disk tuning file can replace them in one place. Other ops
(FullyConnected, convolution lowered to GEMM) call `gemm` directly; gradients, sparse storage
and linear-algebra ops (`linalg_*`) are not here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..runtime import Buffer
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")

# Blocking per device kind. MR x (NV * VW) is the register block; VW comes from VEC_BYTES
# (one CPU SIMD register: float8 / double4 on AVX2). KU: k values per pack work-item; KC: k
# block; PM: row panels per micro-kernel work-item; LQ, PACK_LOCAL, DIRECT_LOCAL: local sizes
# (fixed, because pocl compiles a kernel once per local size: a size chosen per shape would
# cost a compile for each new shape). The CPU row is measured on pocl (Zen 3 target), where
# a work-group larger than 1 makes pocl vectorise across work-items and slows the pack
# kernels; the GPU row is an untuned starting point that is correct on any OpenCL device.
PARAMS = {
    "cpu": {"MR": 4, "NV": 2, "VEC_BYTES": 32, "KU": 32, "LQ": 4, "PM": 16, "KC": 256,
            "PACK_LOCAL": 1, "DIRECT_LOCAL": 4, "DIRECT_MAX_FLOPS": 2 * 64 ** 3,
            "DIRECT_MAX_M": 4},
    "gpu": {"MR": 4, "NV": 1, "VEC_BYTES": 16, "KU": 1, "LQ": 64, "PM": 1, "KC": 1 << 30,
            "PACK_LOCAL": 64, "DIRECT_LOCAL": 64, "DIRECT_MAX_FLOPS": 2 * 16 ** 3,
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



# Scalars go to kernels as numpy values of the kernel's types (long sizes and strides), so
# Device.enqueue can declare them to pyopencl once per kernel.
_L = np.int64


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
    """Launch a pack kernel over (panels of `width`, k tiles of `ku`); `op` is seen as
    (panel direction) x k, so op.rs is the stride along panels and op.cs along k. The launch
    walks memory in order: panels fastest when that direction is contiguous, else k."""
    rows, k, batch = dims
    wmajor = op.rs == 1 and op.cs != 1
    grid = [_ceil(rows, width), _ceil(k, params["KU"])]
    if not wmajor:
        grid.reverse()
    local = params["PACK_LOCAL"]
    gsize = (_ceil(grid[0], local) * local, grid[1], batch)
    args = head + [op.buffer.cl_buffer, _L(op.offset), _L(op.rs), _L(op.cs), _L(op.bs),
                   packed.cl_buffer, _L(packed_bs), np.int32(wmajor)]
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
    lhs, rhs = inputs
    out = outputs[0]
    out_l, out_r, k = _dot_dims(params, lhs.shape, rhs.shape)
    m, n = prod(out_l), prod(out_r)
    # lhs is dense (m, k), or (k, m) with transpose_a; rhs is (k, n), or (n, k) with transpose_b
    a = Operand(lhs._buf, lhs._offset, *((1, m) if params["transpose_a"] else (k, 1)), 0)
    b = Operand(rhs._buf, rhs._offset, *((1, k) if params["transpose_b"] else (n, 1)), 0)
    gemm(out.device, out._dt, m, n, k, a, b, Operand(out._buf, out._offset, n, 1, 0))


register(OpDef(
    "dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, infer_shape=_dot_shape,
    infer_type=_same_float_type("dot"), forward=_dot_forward, dtypes=FLOATS,
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
    lhs, rhs = inputs
    out = outputs[0]
    lead, m, n, k = _batch_dims(params, lhs.shape, rhs.shape)
    a_cols, b_cols = lhs.shape[-1], rhs.shape[-1]
    a = Operand(lhs._buf, lhs._offset, *((1, a_cols) if params["transpose_a"] else (a_cols, 1)),
                m * k)
    b = Operand(rhs._buf, rhs._offset, *((1, b_cols) if params["transpose_b"] else (b_cols, 1)),
                k * n)
    gemm(out.device, out._dt, m, n, k, a, b, Operand(out._buf, out._offset, n, 1, m * n),
         batch=prod(lead))


register(OpDef(
    "batch_dot", inputs=("lhs", "rhs"), params=_DOT_PARAMS, infer_shape=_batch_dot_shape,
    infer_type=_same_float_type("batch_dot"), forward=_batch_dot_forward, dtypes=FLOATS,
    doc="Batched matrix product: out[b] = op(lhs[b]) x op(rhs[b]) for (..., M, K) x "
        "(..., K, N) inputs with equal leading batch dimensions (3-D in MXNet 1.x)."))
