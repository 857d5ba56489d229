"""Random sampling ops: uniform, normal and exponential draws (scalar parameters, `*_like`,
and per-element `_sample_*` forms), `_random_randint` and `_shuffle`, all from one
counter-based generator.

The generator is Philox4x32-10 (`kernels/random.cl`): key = the 64-bit seed of `mx.random`,
counter = (block index, op counter from `mx.random.next_key()`). Element i of a draw is a
function of (seed, op counter, i) alone, so a seed gives the same numbers on every device and
launch size, and a draw of n values is the prefix of a larger draw (any shape) with the same
key. Uniform and randint values are bit-identical across OpenCL implementations (FP_CONTRACT
off, only correctly rounded arithmetic); normal and exponential use log/sin/cos, which OpenCL
lets vendors round differently by a few ulps.

`philox4x32` is the same generator in numpy: `_shuffle` draws its permutation keys with it on
the host (no device wait), and tests compare the device against it. The seed is
`clnet.random`'s; the `mx.nd.random.*` front ends (scalar or NDArray parameters) are
`ndarray.random`'s.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .. import random as _mxrandom
from ..base import MXNetError, prod
from ..codegen import templates
from ..dtype import DTypeInfo, as_dtype
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")
INTS = ("int32", "int64", "int8", "uint8")
OP_COUNTER_BITS = 56  # the counter's top byte holds randint's retry index
BLOCKS_PER_ITEM = 4  # Philox blocks per work-item (kernels/random.cl computes 4 as vectors)
_LOCAL = 64
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(seed: int, op: int, blocks, retry: int = 0) -> np.ndarray:
    """Philox4x32-10 words of `blocks` (block indices) for key `seed` and op counter `op`:
    an (len(blocks), 4) uint32 array, the words the device kernels read."""
    blocks = np.asarray(blocks, dtype=np.uint64).reshape(-1)
    op = int(op) & ((1 << OP_COUNTER_BITS) - 1)
    c = [blocks & _MASK32, blocks >> np.uint64(32),
         np.full_like(blocks, op & 0xFFFFFFFF), np.full_like(blocks, (op >> 32) | (retry << 24))]
    k0, k1 = int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = np.uint64(_M0) * c[0]
        p1 = np.uint64(_M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & _MASK32]
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return np.stack(c, axis=1).astype(np.uint32)


def elements_per_block(dt: DTypeInfo) -> int:
    """Values one Philox block (4 words) yields: 4 for 32-bit and 16-bit floats, 2 for
    double and for integers (64 random bits per value)."""
    return 4 if dt.is_float and dt.name != "float64" else 2


def _source(dt: DTypeInfo) -> str:
    """One program per dtype: the float distributions or randint, plus the row gather."""
    defines = {"T": dt.ctype, "CT": templates.compute_ctype(dt), "SFX": dt.suffix,
               "IS_FLOAT": int(dt.is_float), "WIDE": int(dt.name == "float64")}
    return templates.render("random", defines, (dt,))


def _ct(dt: DTypeInfo):
    """numpy type of the kernels' compute-type scalar arguments."""
    return templates.compute_np(dt).type


def _draw(out, kernel: str, args=(), arrays=(), per: int | None = None):
    """Enqueue `kernel` to fill `out` from the next op counter's stream. `arrays` are the
    per-element parameter NDArrays (dtype of out) of the `rng_sample_*` kernels, each row
    serving `per` consecutive outputs."""
    seed, counter = _mxrandom.next_key()  # taken even for size 0, so later draws do not shift
    n = out.size
    if n == 0:
        return None
    dev = out.device
    knl = dev.kernel(_source(out._dt), f"{kernel}_{out._dt.suffix}")
    items = -(-n // (elements_per_block(out._dt) * BLOCKS_PER_ITEM))
    cl_args = [np.int64(n)] + ([np.int64(per)] if per is not None else [])
    cl_args += [out._buf.cl_buffer, np.int64(out._offset),
                np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF),
                np.uint64(int(counter) & ((1 << OP_COUNTER_BITS) - 1))]
    cl_args += list(args)
    for a in arrays:
        cl_args += [a._buf.cl_buffer, np.int64(a._offset)]
    gsize = -(-items // _LOCAL) * _LOCAL
    return dev.enqueue(knl, (gsize,), None, cl_args, [out._buf] + [a._buf for a in arrays])


# -- parameter checks ---------------------------------------------------------------------
def _float_dtype(op: str, dtype, default: str = "float32") -> DTypeInfo:
    dt = as_dtype(dtype or default)
    if dt.name not in FLOATS:
        raise MXNetError(f"{op}: dtype {dt.name} is not a float type; use one of "
                         f"{list(FLOATS)} (_random_randint draws integers)")
    return dt


def _in_range(op, arg, value, dt):
    fmax = float(np.finfo(dt.np).max)
    if not -fmax <= value <= fmax:
        raise MXNetError(f"{op}: {arg}={value} is outside the {dt.name} range "
                         f"[{-fmax:g}, {fmax:g}]; use a wider dtype")


def uniform_bounds(op: str, low: float, high: float, dt: DTypeInfo) -> tuple:
    """Kernel arguments (lo, width, hi_prev) of `rng_uniform`: lo the smallest `dt` value
    >= low, hi_prev the largest < high, width = high - lo. So every sample lies in
    [low, high) as real numbers. Errors when that interval holds no `dt` value."""
    if not low < high:
        raise MXNetError(f"{op}: low={low} must be less than high={high} (samples lie in "
                         "[low, high))")
    _in_range(op, "low", low, dt)
    _in_range(op, "high", high, dt)
    t = dt.np.type
    lo = t(low)
    if float(lo) < low:
        lo = np.nextafter(lo, t(np.inf))
    hi_prev = t(high)
    if float(hi_prev) >= high:
        hi_prev = np.nextafter(hi_prev, t(-np.inf))
    if lo > hi_prev:
        raise MXNetError(f"{op}: no {dt.name} value lies in [low={low}, high={high}); widen "
                         "the interval or use a wider dtype")
    ct = _ct(dt)
    with np.errstate(over="ignore"):
        width = ct(high - float(lo))
    if not np.isfinite(width):
        raise MXNetError(f"{op}: high - low = {high - float(lo)} overflows {dt.name}; use "
                         "a narrower interval or float64")
    return ct(lo), width, ct(hi_prev)


def _normal_args(op: str, loc: float, scale: float, dt: DTypeInfo) -> tuple:
    if not (np.isfinite(scale) and scale >= 0):
        raise MXNetError(f"{op}: scale={scale} must be a finite number >= 0 (it is the "
                         "standard deviation)")
    _in_range(op, "loc", loc, dt)
    return _ct(dt)(loc), _ct(dt)(scale)


def _exponential_args(op: str, lam: float, dt: DTypeInfo) -> tuple:
    if not (np.isfinite(lam) and lam > 0):
        raise MXNetError(f"{op}: lam={lam} must be a finite number > 0 (it is the rate)")
    return (_ct(dt)(1.0 / lam),)


class _Dist(NamedTuple):
    name: str
    params: tuple  # Params of the scalar form, in MXNet's order
    args: Callable  # (op name, *param values, dtype) -> checked kernel arguments
    doc: str
    aliases: tuple  # of _random_<name>
    invalid: str  # parameters the per-element kernel turns into NaN


DISTRIBUTIONS = (
    _Dist("uniform", (Param("low", float, 0.0, "Lower bound of the distribution."),
                      Param("high", float, 1.0, "Upper bound of the distribution (excluded).")),
          uniform_bounds, "a uniform distribution over [low, high): never high, in any dtype",
          ("uniform", "random_uniform"), "low >= high"),
    _Dist("normal", (Param("loc", float, 0.0, "Mean of the distribution."),
                     Param("scale", float, 1.0, "Standard deviation of the distribution.")),
          _normal_args, "a normal distribution (Box-Muller)", ("normal", "random_normal"),
          "scale < 0"),
    _Dist("exponential", (Param("lam", float, 1.0, "Rate of the distribution."),),
          _exponential_args, "an exponential distribution, density lam * exp(-lam * x)",
          ("random_exponential",), "lam <= 0"),
)

_NOTE = (" Samples come from the device generator seeded by mx.random.seed: the same seed "
         "gives the same numbers on every device.")


def _shape_param(op: str, params) -> tuple:
    shape = (1,) if params["shape"] is None else tuple(params["shape"])
    if any(d < 0 for d in shape):
        raise MXNetError(f"{op}: shape {shape} has a negative dimension")
    return shape


def _values(dist: _Dist, params) -> list:
    return [params[p.name] for p in dist.params]


def _register_scalar_form(dist: _Dist):
    name = f"_random_{dist.name}"

    def infer_type(params, in_dtypes):
        dt = _float_dtype(name, params["dtype"])
        dist.args(name, *_values(dist, params), dt)
        return [dt]

    def forward(params, inputs, outputs):
        out = outputs[0]
        _draw(out, f"rng_{dist.name}", dist.args(name, *_values(dist, params), out._dt))

    register(OpDef(
        name, inputs=(),
        params=dist.params + (
            Param("shape", "shape", None, "Shape of the output; default (1,)."),
            Param("ctx", str, None, "Context of the output (imperative calls only)."),
            Param("dtype", "dtype", None, f"Output dtype, one of {list(FLOATS)}; default "
                  "float32.")),
        infer_shape=lambda params, shapes: [_shape_param(name, params)],
        infer_type=infer_type, forward=forward, aliases=dist.aliases,
        doc=f"Draw samples from {dist.doc}.{_NOTE}"))


def _register_like_form(dist: _Dist):
    name = f"_random_{dist.name}_like"

    def infer_type(params, in_dtypes):
        dist.args(name, *_values(dist, params), in_dtypes[0])
        return [in_dtypes[0]]

    def forward(params, inputs, outputs):
        out = outputs[0]
        _draw(out, f"rng_{dist.name}", dist.args(name, *_values(dist, params), out._dt))

    register(OpDef(
        name, inputs=("data",), params=dist.params, infer_type=infer_type, forward=forward,
        dtypes=FLOATS,
        doc=f"Draw samples from {dist.doc}, with the shape and dtype of `data`.{_NOTE}"))


def _register_sample_form(dist: _Dist):
    name = f"_sample_{dist.name}"
    inputs = tuple(p.name for p in dist.params)

    def infer_shape(params, shapes):
        if any(s != shapes[0] for s in shapes):
            raise MXNetError(f"{name}: parameter arrays {list(inputs)} have shapes "
                             f"{[tuple(s) for s in shapes]}; they must be equal")
        if any(d < 0 for d in params["shape"]):
            raise MXNetError(f"{name}: shape {params['shape']} has a negative dimension")
        return [tuple(shapes[0]) + tuple(params["shape"])]

    def infer_type(params, in_dtypes):
        if any(d is not in_dtypes[0] for d in in_dtypes):
            raise MXNetError(f"{name}: parameter arrays {list(inputs)} have dtypes "
                             f"{[d.name for d in in_dtypes]}; they must be equal")
        return [_float_dtype(name, params["dtype"])]

    def forward(params, inputs_, outputs):
        out = outputs[0]
        arrays = [a if a._dt is out._dt else a.astype(out._dt) for a in inputs_]
        _draw(out, f"rng_sample_{dist.name}", arrays=arrays, per=prod(params["shape"]))

    register(OpDef(
        name, inputs=inputs,
        params=(Param("shape", "shape", (), "Samples drawn per parameter element."),
                Param("dtype", "dtype", None, f"Output dtype, one of {list(FLOATS)}; "
                      "default float32.")),
        infer_shape=infer_shape, infer_type=infer_type, forward=forward,
        aliases=(f"sample_{dist.name}",),
        doc=f"Draw samples from {dist.doc}, one distribution per element of the parameter "
            f"arrays: the output shape is their shape + `shape`. Elements with invalid "
            f"parameters ({dist.invalid}) are NaN.{_NOTE}"))


for _dist in DISTRIBUTIONS:
    _register_scalar_form(_dist)
    _register_like_form(_dist)
    _register_sample_form(_dist)


# -- randint --------------------------------------------------------------------------------
def _randint_type(params, in_dtypes):
    op = "_random_randint"
    dt = as_dtype(params["dtype"] or "int32")
    low, high = params["low"], params["high"]
    if dt.name not in INTS:
        raise MXNetError(f"{op}: dtype {dt.name} is not an integer type; use one of "
                         f"{list(INTS)}")
    if not low < high:
        raise MXNetError(f"{op}: low={low} must be less than high={high} (samples lie in "
                         "[low, high))")
    info = np.iinfo(dt.np)
    if low < info.min or high - 1 > info.max:
        raise MXNetError(f"{op}: [low={low}, high={high}) does not fit {dt.name} "
                         f"[{info.min}, {info.max}]; use dtype='int64' or a narrower range")
    return [dt]


def _randint_forward(params, inputs, outputs):
    low, high = params["low"], params["high"]
    span = high - low
    threshold = (1 << 64) % span  # low products below it would bias the result
    _draw(outputs[0], "rng_randint", (np.int64(low), np.uint64(span), np.uint64(threshold)))


register(OpDef(
    "_random_randint", inputs=(),
    params=(Param("low", int, doc="Lower bound of the distribution."),
            Param("high", int, doc="Upper bound of the distribution (excluded)."),
            Param("shape", "shape", None, "Shape of the output; default (1,)."),
            Param("ctx", str, None, "Context of the output (imperative calls only)."),
            Param("dtype", "dtype", None, f"Output dtype, one of {list(INTS)}; default "
                  "int32.")),
    infer_shape=lambda params, shapes: [_shape_param("_random_randint", params)],
    infer_type=_randint_type, forward=_randint_forward, aliases=("random_randint",),
    doc="Draw integers uniformly from [low, high), exactly (no modulo bias)." + _NOTE))


# -- shuffle --------------------------------------------------------------------------------
def permutation(seed: int, op: int, n: int) -> np.ndarray:
    """The permutation `_shuffle` applies for key (seed, op): rows sorted by 64-bit Philox
    keys (the randint words), a uniformly random order (ties have probability ~n^2 / 2^65
    and keep the original order)."""
    words = philox4x32(seed, op, np.arange(-(-n // 2), dtype=np.uint64)).astype(np.uint64)
    keys = np.stack([(words[:, 0] << np.uint64(32)) | words[:, 1],
                     (words[:, 2] << np.uint64(32)) | words[:, 3]], axis=1).reshape(-1)[:n]
    return np.argsort(keys, kind="stable").astype(np.int64)


def _shuffle_forward(params, inputs, outputs):
    import pyopencl as cl
    data, out = inputs[0], outputs[0]
    seed, counter = _mxrandom.next_key()
    if data.size == 0:
        return None
    rows = data.shape[0] if data.shape else 1
    row_len = data.size // rows
    perm = permutation(seed, counter, rows)
    dev = out.device
    # NOTE: a buffer made from a host pointer needs no queue command, so nothing waits here
    perm_buf = cl.Buffer(dev.cl_context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR,
                         hostbuf=perm)
    knl = dev.kernel(_source(out._dt), f"rng_gather_rows_{out._dt.suffix}")
    gsize = -(-data.size // _LOCAL) * _LOCAL
    args = [np.int64(data.size), np.int64(row_len), out._buf.cl_buffer, np.int64(out._offset),
            data._buf.cl_buffer, np.int64(data._offset), perm_buf]
    return dev.enqueue(knl, (gsize,), None, args, [out._buf, data._buf])


register(OpDef(
    "_shuffle", inputs=("data",), forward=_shuffle_forward, aliases=("shuffle",),
    doc="Randomly shuffle the elements along the first axis (a copy: rows in a uniformly "
        "random order, the permutation drawn from mx.random's seed)."))
