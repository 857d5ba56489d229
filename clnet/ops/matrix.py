"""Matrix products: `dot`, `batch_dot`, their gradients, and the GEMM launcher (`gemm`).

`gemm` enqueues C = alpha * op(A) * op(B) + beta * C (+ a bias along n) for strided, batched
operands with the kernels of `kernels/gemm.cl` (one program per dtype and blocking): large
products pack B (and A, unless reading it in place is faster) into panels and run the
register-blocked micro-kernel, split over ranges of k when C has too few blocks to keep
every compute unit busy (on GPUs, the local-memory tiled kernel of
`kernels/gemm_tiled.cl` reading the operands in place instead), products of at most 4 rows
whose operands are both contiguous along k run the GEMV kernel, tiny ones a direct kernel.
The blocking parameters start from one table per device kind (`PARAMS`); a measured search
per shape class (`CANDIDATES`, timed through `runtime.tuning`, stored on disk per device) may
replace some of them, unless CLNET_GEMM_TUNE=0. The gradient of each op is one op (`_backward_dot`,
`_backward_batch_dot`) running two GEMMs on the same operands. Other ops (FullyConnected,
convolution lowered to GEMM) call `gemm` directly; sparse storage and the linear-algebra ops
(`linalg_*`) are not here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from ..runtime import Buffer, tuning
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")

# Blocking per device kind, the defaults the measured search starts from:
#   MR x NR    register block of the micro-kernel, NR = NV * VW; VW fills VEC_BYTES (one SIMD
#              register: float8 / double4 on AVX2)
#   KC         k block: B's KC x NR piece stays in L1 while a work-item walks PM row panels
#   KU, KPER   k values per unrolled pack tile and per pack work-item (a multiple of KU)
#   APACK      1: pack A into row panels; 0: the micro-kernel reads A in place (one launch less)
#   NJ         columns of C per GEMV work-item (each reduced over k in VW-wide registers)
#   LQ, PACK_LOCAL, DIRECT_LOCAL, GEMV_LOCAL   local sizes. pocl compiles a kernel once per
#              local size, so they are never chosen per shape, only per shape class.
#   DIRECT_MAX_FLOPS, DIRECT_MAX_M   products this small (or with this few rows) skip packing
#   TILED      1: larger products take gemm_tiled.cl (work-groups sharing tiles in local
#              memory) rather than the packed path, whose long per-work-item loops suit CPUs
#   TM, TN, WX, WY, TK   the tiled kernel's blocking: TM x TN outputs per work-item, WX x WY
#              work-items per group, k tiles of TK
#   SPLIT_TARGET   work-groups per compute unit the tiled path aims for by splitting k
# The CPU row is measured on pocl (Zen 3 target): pack groups of 1 work-item ran up to 2x
# faster than groups of 8, and KU = 8 because larger unrolled tiles tripled the compile time
# for ~2% speed. The GPU row's tiles were measured on an H100 through NVIDIA's OpenCL.
PARAMS = {
    "cpu": {"MR": 4, "NV": 2, "VEC_BYTES": 32, "KU": 8, "LQ": 4, "PM": 16, "KC": 256,
            "KPER": 256, "APACK": 1, "NJ": 4, "PACK_LOCAL": 1, "DIRECT_LOCAL": 4,
            "GEMV_LOCAL": 4, "DIRECT_MAX_FLOPS": 2 * 64 ** 3, "DIRECT_MAX_M": 4, "TILED": 0},
    "gpu": {"MR": 4, "NV": 1, "VEC_BYTES": 16, "KU": 1, "LQ": 64, "PM": 1, "KC": 1 << 30,
            "KPER": 1, "APACK": 1, "NJ": 1, "PACK_LOCAL": 64, "DIRECT_LOCAL": 64,
            "GEMV_LOCAL": 64, "DIRECT_MAX_FLOPS": 2 * 16 ** 3, "DIRECT_MAX_M": 1, "TILED": 1,
            "TM": 8, "TN": 8, "WX": 16, "WY": 16, "TK": 16, "SPLIT_TARGET": 2},
}
# What the measured search tries per device kind and kernel path: changes to the PARAMS row,
# the row itself first ({"TILED": 0} tries the packed path instead). Each distinct MR / NV /
# KU / NJ (or TM / TN / WX / WY / TK: BUILT) is one more program build, so the lists stay
# short; KC, PM and APACK are kernel arguments and cost no build. PM = 64 (fewer, longer
# work-items) is for short k: on pocl, 500x4096x50 (LeNet's second data gradient) took 1.58
# against 1.86 ms, 20x36864x25 0.46 against 0.53 ms.
CANDIDATES = {
    ("cpu", "packed"): ({}, {"APACK": 0}, {"KC": 128, "PM": 32}, {"PM": 64}, {"MR": 6}),
    ("cpu", "gemv"): ({}, {"NJ": 8}, {"GEMV_LOCAL": 8}, {"NJ": 2}),
    ("gpu", "packed"): ({}, {"APACK": 0}, {"NV": 2}, {"LQ": 32}),
    ("gpu", "tiled"): ({}, {"TM": 4, "TN": 4}, {"TM": 8, "TN": 4}, {"TM": 2, "TN": 2},
                       {"TM": 4, "TN": 4, "WX": 8, "WY": 8}, {"TILED": 0}),
    ("gpu", "gemv"): ({}, {"NJ": 2}, {"GEMV_LOCAL": 32}),
}
BUILT = frozenset(("MR", "NV", "KU", "NJ", "VEC_BYTES", "TM", "TN", "WX", "WY", "TK"))
# Products below this many flops try only the candidates that need no build (the first
# product of a shape class decides for the class). On pocl the packed kernels of one more MR
# took 3.7 s to build, a third of the first MLP training step from an empty cache, and
# MR = 6 won 4 of 36 searches of that step's shape classes (6 processes).
BUILD_MIN_FLOPS = {"cpu": 2 * 512 ** 3, "gpu": 0}
GEMV_MAX_M = 4  # the GEMV kernel's row limit (GEMV_MAX_M in gemm.cl)
# Split k on the packed path: a product whose micro-kernel launch has fewer work-groups than
# SPLIT_GROUPS per compute unit (M x N small, k long: the weight gradient of a convolution
# with few channels, k = images x output positions) is computed as up to SPLIT_MAX products
# over ranges of at least SPLIT_MIN_K k values, batched into partial sums, which one more
# product (a row of ones times the partials) adds up into C.
SPLIT_GROUPS, SPLIT_MIN_K, SPLIT_MAX = 4, 512, 16


class Operand(NamedTuple):
    """A batch of matrices in a buffer: element (batch, i, j) is at
    offset + batch * bs + i * rs + j * cs (elements). A bias is an Operand whose element j
    is at offset + j * cs, for every row and batch."""

    buffer: object
    offset: int
    rs: int
    cs: int
    bs: int


def device_kind(device) -> str:
    """The PARAMS row a device uses (tests swap rows through this)."""
    return device.kind


def gemm_params(device, dt, change: dict | None = None) -> dict:
    """Blocking parameters for `dt` on `device`: the device kind's row of PARAMS with
    `change` applied and the vector width fitted to the compute type."""
    params = dict(PARAMS[device_kind(device)])
    params.update(change or {})
    itemsize = templates.compute_np(dt).itemsize
    params["VW"] = max(1, params["VEC_BYTES"] // itemsize)
    return params


# The epilogue's flag bits (the kernels' `epi` argument) and its relu, defined for both
# templates: relu is the elementwise op's own expression (codegen prints Max as max), so a
# fused relu gives the same bits as the separate launch.
EPI_BIAS, EPI_RELU = 1, 2
_EPILOGUE = {"EPI_BIAS": EPI_BIAS, "EPI_RELU": EPI_RELU, "RELU(v, V)": "max((v), (V)0)"}


def _source(dt, params, path: str) -> str:
    ct = templates.compute_ctype(dt)
    if path == "tiled":
        defines = {"T": dt.ctype, "CT": ct, "SUFFIX": dt.suffix,
                   **{p: params[p] for p in ("TM", "TN", "WX", "WY", "TK")}, **_EPILOGUE}
        return templates.render("gemm_tiled", defines, (dt,))
    defines = {"T": dt.ctype, "CT": ct, "CTV": f"{ct}{params['VW']}", "VW": params["VW"],
               "MR": params["MR"], "NV": params["NV"], "KU": params["KU"], "NJ": params["NJ"],
               "VSTORE": int(ct == dt.ctype), "SUFFIX": dt.suffix, **_EPILOGUE}
    for name, width in (("PACK_AT", params["MR"]), ("PACK_BT", params["NV"] * params["VW"])):
        if ct == dt.ctype and params["KU"] == params["VW"] and width in (2, 4, 8, 16):
            defines[name] = f"{ct}{width}"  # pack tiles as vectors (kernels/gemm.cl)
    return templates.render("gemm", defines, (dt,))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


# Scalars go to kernels as numpy values of the kernel's types (long sizes and strides), so
# Device.enqueue can declare them to pyopencl once per kernel.
_L = np.int64


def kernel_path(device, dt, m: int, n: int, k: int, a: Operand, b: Operand,
                batch: int = 1, params: dict | None = None) -> str:
    """Which kernels compute this product: "gemv", "direct", "packed" or "tiled" (with
    `params`, or the device's defaults)."""
    params = params or _defaults(device, dt)
    if m <= GEMV_MAX_M and k > 0 and a.cs == 1 and b.rs == 1:
        return "gemv"  # both operands contiguous along k (x W^T in FullyConnected)
    nr = params["NV"] * params["VW"]
    if k == 0 or 2 * m * n * k * batch <= params["DIRECT_MAX_FLOPS"] or (
            m <= params["DIRECT_MAX_M"] and n >= nr):
        return "direct"
    return "tiled" if params["TILED"] else "packed"


_DEFAULTS: dict = {}


def _defaults(device, dt) -> dict:
    key = (device, dt.name)
    params = _DEFAULTS.get(key)
    if params is None:
        params = _DEFAULTS[key] = gemm_params(device, dt)
    return params


def shape_class(dt, path: str, m: int, n: int, k: int, a: Operand, b: Operand) -> str:
    """The tuning key of a product: dtype, path, size buckets and which way each operand is
    contiguous (k-major or not), so one search serves a whole family of shapes."""
    mk = f"m{m}" if path == "gemv" else f"m{tuning.bucket(m)}"
    lay = f"{'a' if a.cs == 1 else 'A'}{'b' if b.cs == 1 else 'B'}"
    return f"{dt.name}/{path}/{mk}n{tuning.bucket(n)}k{tuning.bucket(k)}/{lay}"


_CHOSEN: dict = {}  # (device, shape class) -> parameters
_PLANS: dict = {}  # (device, dtype, sizes, unit strides) -> (path, parameters, source)


def forget_choices() -> None:
    """Drop the remembered kernel paths and parameters (after changing PARAMS, CANDIDATES,
    CLNET_GEMM_TUNE or the tuning files), so the next products choose again."""
    _DEFAULTS.clear()
    _CHOSEN.clear()
    _PLANS.clear()


def _tuned(device, dt, path: str, dims, a: Operand, b: Operand) -> dict:
    """The parameters for this product: the defaults, or the measured choice of its shape
    class (searched once per class and device, then read from the tuning file)."""
    m, n, k, batch = dims
    kind = device_kind(device)
    candidates = CANDIDATES.get((kind, path))
    if not candidates or not tuning.enabled("gemm"):
        return _defaults(device, dt)
    if 2 * m * n * k * batch < BUILD_MIN_FLOPS.get(kind, 0):
        candidates = tuple(c for c in candidates if not BUILT & c.keys())
    key = shape_class(dt, path, m, n, k, a, b)
    params = _CHOSEN.get((device, key))
    if params is None:
        def measure(change):
            return _time_candidate(device, dt, dims, a, b, gemm_params(device, dt, change))
        change = tuning.choose(device, "gemm", key, list(candidates), measure)
        params = _CHOSEN[(device, key)] = gemm_params(device, dt, change)
    return params


def _time_candidate(device, dt, dims, a: Operand, b: Operand, params: dict) -> float:
    """Seconds per product of this shape with `params`, on zero-filled scratch operands laid
    out like `a` and `b` (the real ones may alias C): after one warm-up launch that also
    builds the program, one timed launch, and for short products the better of it and a
    round of back-to-back launches of ~5 ms (tuning.choose repeats this in its passes)."""
    import time

    import pyopencl as cl
    m, n, k, batch = dims
    itemsize = np.dtype(dt.np).itemsize
    scratch = []
    for rows, cols, op in ((m, k, a), (k, n, b), (m, n, None)):
        buf = Buffer(device, max(rows * cols * batch, 1) * itemsize)
        cl.enqueue_fill_buffer(device.queue, buf.cl_buffer, np.zeros(1, np.uint8), 0,
                               buf.nbytes)
        col_major = op is not None and op.rs == 1 and op.cs != 1
        scratch.append(Operand(buf, 0, *((1, rows) if col_major else (cols, 1)), rows * cols))
    sa, sb, sc = scratch

    def run(reps):
        for _ in range(reps):
            gemm(device, dt, m, n, k, sa, sb, sc, batch=batch, params=params)
        device.queue.finish()

    run(1)
    start = time.perf_counter()
    run(1)
    best = time.perf_counter() - start
    if best > 0.05:
        return best  # a long product: one timed run is precise enough
    reps = max(1, min(100, int(0.005 / max(best, 1e-6))))
    start = time.perf_counter()
    run(reps)
    return min(best, (time.perf_counter() - start) / reps)


def _plan(device, dt, m: int, n: int, k: int, a: Operand, b: Operand, batch: int) -> tuple:
    """(path, parameters, source) of a product: the choice depends on the sizes and on which
    strides are 1, so it is remembered per call form."""
    key = (device, dt.name, m, n, k, batch, a.rs == 1, a.cs == 1, b.rs == 1, b.cs == 1)
    plan = _PLANS.get(key)
    if plan is None:
        path = kernel_path(device, dt, m, n, k, a, b, batch)
        params = _tuned(device, dt, path, (m, n, k, batch), a, b)
        path = kernel_path(device, dt, m, n, k, a, b, batch, params)  # the search may untile
        if len(_PLANS) > 4096:
            _PLANS.clear()
        plan = _PLANS[key] = (path, params, _source(dt, params, path))
    return plan


def packed_b_params(device, dt, m: int, n: int, k: int, a: Operand, b: Operand,
                    batch: int = 1) -> dict | None:
    """The parameters `gemm` would use for this product (tuned or default) when it takes the
    packed path, else None (tiny, direct and GEMV products read B in its ordinary layout).
    With them a caller can write B straight into the panel layout of `gemm_pack_b` (NR =
    NV * VW columns per panel, element (q, kk, c) of a batch at (q * k + kk) * NR + c,
    columns past n zero, batches `packed_b_stride` apart) and pass it to `gemm` as `packed_b`; `b`
    describes the ordinary layout the caller would otherwise pass (only its strides are
    looked at)."""
    if m == 0 or n == 0 or batch == 0:
        return None
    path, params, _ = _plan(device, dt, m, n, k, a, b, batch)
    return params if path == "packed" else None


def packed_b_stride(params: dict, n: int, k: int) -> int:
    """Elements between the batches of a packed B (k x n) for `params`."""
    nr = params["NV"] * params["VW"]
    return _ceil(n, nr) * nr * k


def gemm(device, dt, m: int, n: int, k: int, a: Operand, b: Operand, c: Operand,
         batch: int = 1, alpha: float = 1.0, beta: float = 0.0, bias: Operand | None = None,
         params: dict | None = None, path: str | None = None,
         packed_b: Buffer | None = None, split: bool = True, relu: bool = False) -> None:
    """Enqueue C = alpha * op(A) * op(B) + beta * C (+ bias) for `batch` products of op(A)
    (m x k, read through `a`) and op(B) (k x n, read through `b`) into C (m x n, `c.cs` must
    be 1); `bias` (element j at bias.offset + j * bias.cs) is added to every row of C.
    `params` forces a parameter set (from `gemm_params`) instead of the tuned one, `path` a
    kernel path ("packed" and "direct" take any operands, "gemv" needs m <= 4 and both
    operands contiguous along k). `packed_b` is op(B) already in the packed panel layout of
    the parameters `packed_b_params` returned for the same call (from offset 0, in the
    compute type): B is then not packed and `b` (its ordinary layout) is not read. Packed
    panels are pooled temporaries; nothing waits on the host. `split=False` keeps a packed
    product in one launch however few work-groups it has (see SPLIT_GROUPS); `relu` stores
    max(C, 0) (after alpha, beta and the bias)."""
    if m == 0 or n == 0 or batch == 0:
        return
    if packed_b is not None:
        path, params, src = _plan(device, dt, m, n, k, a, b, batch)
        if path != "packed":
            raise MXNetError(f"gemm: a packed B was passed for the {m}x{n}x{k} (batch {batch}) "
                             f"product, which takes the {path} path; ask packed_b_params "
                             "first and pass B in its ordinary layout when it returns None")
        b = b._replace(buffer=packed_b)
    elif params is None and path is None:
        path, params, src = _plan(device, dt, m, n, k, a, b, batch)
    else:
        path = path or kernel_path(device, dt, m, n, k, a, b, batch, params)
        params = params or _tuned(device, dt, path, (m, n, k, batch), a, b)
        src = _source(dt, params, path)
    if path == "packed" and split and packed_b is None:
        splits = _packed_splits(device, dt, params, (m, n, k, batch), c, bias)
        if splits > 1:
            _split_k(device, dt, params, (m, n, k), a, b, c, alpha, beta, splits, relu)
            return
    ct = templates.compute_np(dt).type
    c_args = [c.buffer.cl_buffer, _L(c.offset), _L(c.rs), _L(c.bs), ct(alpha), ct(beta)]
    epi = np.int32((EPI_BIAS if bias is not None else 0) | (EPI_RELU if relu else 0))
    bias_op = bias or Operand(c.buffer, 0, 0, 0, 0)  # without EPI_BIAS only a valid pointer
    bias_args = [bias_op.buffer.cl_buffer, _L(bias_op.offset), _L(bias_op.cs), epi]
    buffers = (a.buffer, b.buffer, c.buffer) + (() if bias is None else (bias.buffer,))
    if packed_b is not None:
        _packed(device, dt, src, params, (m, n, k, batch), a, None, c_args + bias_args,
                buffers, packed_b)
        return
    launch = {"gemv": _gemv, "direct": _direct, "packed": _packed, "tiled": _tiled}[path]
    launch(device, dt, src, params, (m, n, k, batch), a, b, c_args + bias_args, buffers)


def _gemv(device, dt, src, params, dims, a, b, c_args, buffers):
    m, n, k, batch = dims
    local = params["GEMV_LOCAL"]
    args = [_L(m), _L(n), _L(k), a.buffer.cl_buffer, _L(a.offset), _L(a.rs), _L(a.bs),
            b.buffer.cl_buffer, _L(b.offset), _L(b.cs), _L(b.bs)]
    gsize = (_ceil(_ceil(n, params["NJ"]), local) * local, 1, batch)
    device.enqueue(device.kernel(src, f"gemm_gemv_{dt.suffix}"), gsize, (local, 1, 1),
                   args + c_args, buffers)


def _direct(device, dt, src, params, dims, a, b, c_args, buffers):
    m, n, k, batch = dims
    nr, local = params["NV"] * params["VW"], params["DIRECT_LOCAL"]
    gsize = (_ceil(_ceil(n, nr), local) * local, m, batch)
    device.enqueue(device.kernel(src, f"gemm_direct_{dt.suffix}"), gsize, (local, 1, 1),
                   _in_place_args(dims, a, b) + c_args, buffers)


def _tiled(device, dt, src, params, dims, a, b, c_args, buffers):
    """The tiled path: one launch, or with split k (few blocks of C, long k) a launch
    writing each split's partial sums and one adding them up into C."""
    m, n, k, batch = dims
    wx, wy, tk = params["WX"], params["WY"], params["TK"]
    grid = (_ceil(n, params["TN"] * wx), _ceil(m, params["TM"] * wy))
    splits = _splits(device, params, grid[0] * grid[1] * batch, k)
    kchunk = _ceil(_ceil(k, splits), tk) * tk
    splits = _ceil(k, kchunk)
    part = None
    if splits > 1:
        part = Buffer(device, batch * splits * m * n * templates.compute_np(dt).itemsize)
        buffers += (part,)
    device.enqueue(device.kernel(src, f"gemm_tiled_{dt.suffix}"),
                   (grid[0] * wx, grid[1] * wy, batch * splits), (wx, wy, 1),
                   _in_place_args(dims, a, b) + c_args
                   + [_L(kchunk), np.int32(splits),
                      c_args[0] if part is None else part.cl_buffer], buffers)
    if part is not None:
        device.enqueue(device.kernel(src, f"gemm_splitk_sum_{dt.suffix}"),
                       (_ceil(n, _SUM_LOCAL) * _SUM_LOCAL, m, batch), (_SUM_LOCAL, 1, 1),
                       [_L(m), _L(n), _L(splits), part.cl_buffer] + c_args, buffers)


_SUM_LOCAL = 64


def _splits(device, params, blocks: int, k: int) -> int:
    """How many ranges of k the tiled kernel splits a product into: enough for
    SPLIT_TARGET work-groups per compute unit, each range at least 8 k tiles long."""
    return _split_count(device, params["SPLIT_TARGET"], blocks, k, 8 * params["TK"])


def _split_count(device, per_unit: int, groups: int, k: int, least: int,
                 most: int | None = None) -> int:
    """Ranges of k that bring a launch of `groups` work-groups to `per_unit` per compute
    unit, each at least `least` long, at most `most` of them (1: no split)."""
    target = per_unit * device.compute_units
    if groups >= target:
        return 1
    return max(1, min(_ceil(target, groups), k // least, most or target))


def _packed_splits(device, dt, params, dims, c: Operand, bias) -> int:
    """Into how many products over ranges of k the packed path splits this one (1: none).
    Only single products into a contiguous C without bias (the partials are summed as one
    row of m * n values), in a compute type that is the element type."""
    m, n, k, batch = dims
    if batch != 1 or bias is not None or c.rs != n or k < 2 * SPLIT_MIN_K or (
            templates.compute_ctype(dt) != dt.ctype):
        return 1
    nr = params["NV"] * params["VW"]
    groups = _ceil(_ceil(n, nr), params["LQ"]) * _ceil(_ceil(m, params["MR"]), params["PM"])
    return _split_count(device, SPLIT_GROUPS, groups, k, SPLIT_MIN_K, SPLIT_MAX)


def _split_k(device, dt, params, dims, a: Operand, b: Operand, c: Operand, alpha, beta,
             splits: int, relu: bool) -> None:
    """C = alpha * op(A) op(B) + beta * C as `splits` products over ranges of k (one batched
    launch, and one more for a shorter last range), then C = alpha * (sum of the partials) +
    beta * C (and relu) by the direct kernel with a row of ones as A."""
    m, n, k = dims
    chunk = _ceil(k, splits)
    full, rest = divmod(k, chunk)
    parts = Buffer(device, (full + (rest > 0)) * m * n * templates.compute_np(dt).itemsize)
    out = Operand(parts, 0, n, 1, m * n)
    gemm(device, dt, m, n, chunk, a._replace(bs=chunk * a.cs), b._replace(bs=chunk * b.rs),
         out, batch=full, params=params, path="packed", split=False)
    if rest:
        done = full * chunk
        gemm(device, dt, m, n, rest, a._replace(offset=a.offset + done * a.cs),
             b._replace(offset=b.offset + done * b.rs), out._replace(offset=full * m * n),
             params=params, path="packed", split=False)
    gemm(device, dt, 1, m * n, full + (rest > 0), Operand(_ones(device, dt), 0, 0, 1, 0),
         Operand(parts, 0, m * n, 1, 0), c._replace(rs=m * n), alpha=alpha, beta=beta,
         params=params, path="direct", split=False, relu=relu)


_ONES: dict = {}  # (device, dtype) -> Buffer of SPLIT_MAX + 1 ones


def _ones(device, dt) -> Buffer:
    """A row of ones summing split-k partials: filled once per device and dtype, on the
    queue (no host wait), outside any recorded step, whose replays then hold it."""
    key = (device, dt.name)
    buf = _ONES.get(key)
    if buf is None:
        import pyopencl as cl

        from ..runtime import replay
        with replay.paused():
            buf = Buffer(device, (SPLIT_MAX + 1) * dt.np.itemsize)
            cl.enqueue_fill_buffer(device.queue, buf.cl_buffer, np.ones(1, dt.np), 0,
                                   buf.nbytes)
        _ONES[key] = buf
    return buf


def _in_place_args(dims, a, b) -> list:
    """Sizes and both operands' buffers, offsets and strides: the arguments of the kernels
    reading A and B in place (direct, tiled)."""
    args = [_L(d) for d in dims[:3]]
    for op in (a, b):
        args += [op.buffer.cl_buffer, _L(op.offset), _L(op.rs), _L(op.cs), _L(op.bs)]
    return args


def _packed(device, dt, src, params, dims, a, b, c_args, buffers, packed_b=None):
    """The packed path; B is packed here unless `packed_b` holds it already (b is None)."""
    m, n, k, batch = dims
    mr, nr = params["MR"], params["NV"] * params["VW"]
    kc = min(params["KC"], k)  # PARAMS keep KC a multiple of KU
    panels_a, panels_b = _ceil(m, mr), _ceil(n, nr)
    ap_bs, bp_bs = panels_a * mr * k, panels_b * nr * k
    itemsize = templates.compute_np(dt).itemsize  # panels hold the compute type
    if b is not None:
        packed_b = Buffer(device, bp_bs * batch * itemsize)
    # A is packed along its rows, B along its columns: pass each as (panel dir) x k
    if params["APACK"]:
        packed_a = Buffer(device, ap_bs * batch * itemsize)
        _pack(device.kernel(src, f"gemm_pack_a_{dt.suffix}"), device, params, a,
              (m, k, batch), mr, [_L(m), _L(k), _L(kc)], packed_a, ap_bs)
    else:
        packed_a = packed_b  # not read: the micro-kernel reads A in place
    if b is not None:
        _pack(device.kernel(src, f"gemm_pack_b_{dt.suffix}"), device, params,
              b._replace(rs=b.cs, cs=b.rs), (n, k, batch), nr, [_L(n), _L(k)], packed_b,
              bp_bs)
    lq, pm = params["LQ"], params["PM"]
    device.enqueue(device.kernel(src, f"gemm_micro_{dt.suffix}"),
                   (_ceil(panels_b, lq) * lq, _ceil(panels_a, pm), batch), (lq, 1, 1),
                   [_L(m), _L(n), _L(k), packed_a.cl_buffer, _L(ap_bs), packed_b.cl_buffer,
                    _L(bp_bs)] + c_args + [_L(pm), _L(kc), a.buffer.cl_buffer, _L(a.offset),
                                           _L(a.rs), _L(a.cs), _L(a.bs),
                                           np.int32(params["APACK"])],
                   buffers + (packed_a, packed_b))


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
