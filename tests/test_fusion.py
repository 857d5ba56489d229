"""Fused elementwise kernels (clnet.codegen.fusion): chains of 1-5 registered ops over 1-3
inputs with scalars, float32 and float64, against numpy, at sizes around the vector width,
at offsets that do and do not agree modulo it, for chains that cannot run on vectors, and for
tanh / sigmoid / exp at large |x|; the float math of kernels/fastmath.cl across the range.
Plus the bound executor's view of the same kernels, and the imperative vector kernel
(`mapping.run`'s ew_vec) at the same sizes and offsets.

How the executor groups nodes is tests/test_executor.py's; the imperative ops are
tests/test_elemwise.py's.
"""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.codegen import fusion
from clnet.dtype import DTYPES
from clnet.ops import registry
from clnet.ops.elemwise import _expr_for
from clnet.runtime import get_device
from clnet.test_utils import assert_almost_equal
from conftest import supported_dtypes

FLOATS = ("float32", "float64")
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


def _in(k):
    return ("in", k)


def _v(j):
    return ("v", j)


def _step(op: str, *operands, scalars=(), dtype="float32"):
    return fusion.Step(_expr_for(registry.get(op), DTYPES[dtype]), tuple(operands),
                       tuple(scalars))


# name -> (steps as (op, operands, scalars), number of inputs, numpy reference, input range)
CHAINS = {
    "tanh": ([("tanh", (_in(0),), ())], 1, lambda a: np.tanh(a), (-3, 3)),
    "tanh(a*b+a)": ([("broadcast_mul", (_in(0), _in(1)), ()),
                     ("broadcast_add", (_v(0), _in(0)), ()),
                     ("tanh", (_v(1),), ())], 2, lambda a, b: np.tanh(a * b + a), (-2, 2)),
    "five ops, scalars": ([("tanh", (_in(0),), ()), ("_mul_scalar", (_v(0),), (2.0,)),
                           ("_plus_scalar", (_v(1),), (1.0,)), ("sin", (_v(2),), ()),
                           ("exp", (_v(3),), ())], 1,
                          lambda a: np.exp(np.sin(np.tanh(a) * 2 + 1)), (-1, 1)),
    "three inputs, clip": ([("broadcast_mul", (_in(0), _in(1)), ()),
                            ("broadcast_sub", (_v(0), _in(2)), ()),
                            ("clip", (_v(1),), (-0.5, 0.75)), ("sigmoid", (_v(2),), ())], 3,
                           lambda a, b, c: 1 / (1 + np.exp(-np.clip(a * b - c, -0.5, 0.75))),
                           (-1, 1)),
    "square root, power": ([("abs", (_in(0),), ()), ("_power_scalar", (_v(0),), (1.5,)),
                            ("sqrt", (_v(1),), ()), ("_rdiv_scalar", (_v(2),), (3.0,))], 1,
                           lambda a: 3 / np.sqrt(np.abs(a) ** 1.5), (0.5, 4)),
    # comparisons differ between scalars (1) and vectors (-1): the scalar kernel runs them
    "comparison": ([("broadcast_greater", (_in(0), _in(1)), ()),
                    ("broadcast_mul", (_v(0), _in(0)), ()),
                    ("_plus_scalar", (_v(1),), (0.5,))], 2,
                   lambda a, b: (a > b) * a + 0.5, (-1, 1)),
}


def _steps(name, dtype):
    return [_step(op, *ops, scalars=sc, dtype=dtype) for op, ops, sc in CHAINS[name][0]]


def _placed(ctx, data, dtype, offset, guard=7.0):
    """(view, whole): an NDArray view holding `data` from element `offset` of a larger array
    `whole` whose other elements are `guard`."""
    full = np.full(offset + data.size + 9, guard, dtype=dtype)
    full[offset:offset + data.size] = data
    whole = mx.nd.array(full, ctx=ctx, dtype=dtype)
    return whole[offset:offset + data.size], whole


def _run_chain(ctx, name, dtype, n, in_offsets=None, out_offset=0):
    _, n_in, ref, (low, high) = CHAINS[name]
    in_offsets = in_offsets or (0,) * n_in
    data = [np.random.uniform(low, high, n).astype(dtype) for _ in range(n_in)]
    inputs = [_placed(ctx, d, dtype, off)[0] for d, off in zip(data, in_offsets)]
    out, whole = _placed(ctx, np.zeros(n, dtype), dtype, out_offset)
    fusion.launcher(_steps(name, dtype), inputs, out)()
    want = ref(*[d.astype(np.float64) for d in data])
    got = whole.asnumpy()
    assert_almost_equal(got[out_offset:out_offset + n], want, *TOL[dtype])
    # the elements around the output are untouched
    assert (got[:out_offset] == 7).all() and (got[out_offset + n:] == 7).all()


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("dtype", FLOATS)
def test_chain_against_numpy_at_sizes_around_the_vector_width(ctx, name, dtype):
    if dtype not in supported_dtypes(ctx, FLOATS):
        pytest.skip(f"{ctx} has no {dtype}")
    dev = get_device(ctx)
    for n in (0, 1, 7, 8, 9, 1000):
        _run_chain(ctx, name, dtype, n)
    # both kernels of a chain live in one program
    before = len(dev._programs)
    _run_chain(ctx, name, dtype, 1001, in_offsets=(3,) * CHAINS[name][1], out_offset=3)
    _run_chain(ctx, name, dtype, 1001, in_offsets=tuple(range(1, CHAINS[name][1] + 1)),
               out_offset=5)
    assert len(dev._programs) == before


@pytest.mark.parametrize("in_offsets, out_offset", [
    ((3, 3), 3),      # one residue: a scalar head, then aligned vectors
    ((8, 16), 0),     # whole vectors away: the vector kernel from the start
    ((1, 2), 0),      # residues differ: the scalar kernel
    ((0, 0), 5),
])
def test_offsets_not_a_multiple_of_the_vector_width(ctx, in_offsets, out_offset):
    for n in (5, 8, 13, 99):
        _run_chain(ctx, "tanh(a*b+a)", "float32", n, in_offsets, out_offset)


def test_large_chain_with_an_odd_size(ctx):
    n = 4 * 2**20 + 5
    for offsets, out_offset in (((0, 0), 0), ((3, 3), 3)):
        _run_chain(ctx, "tanh(a*b+a)", "float32", n, offsets, out_offset)


@pytest.mark.parametrize("dtype", FLOATS)
def test_streaming_stores_give_the_same_results(ctx, dtype, monkeypatch):
    """The programs whose vector kernels store streaming (kernels/stream.cl), which clnet
    builds on CPUs for launches larger than the last-level cache, forced here on small
    launches: fused chains at odd sizes and offsets, and single ops launched at once."""
    if dtype not in supported_dtypes(ctx, FLOATS):
        pytest.skip(f"{ctx} has no {dtype}")
    from clnet.ops import mapping
    dev = get_device(ctx)
    limit = max(dev.cache_size, mapping.STREAM_FLOOR)
    assert mapping.stream(dev, limit + 1) == (dev.kind == "cpu")
    assert not mapping.stream(dev, limit)
    l2 = type("Device", (), {"kind": "cpu", "cache_size": 1 << 20})()  # a driver saying L2
    assert not mapping.stream(l2, 8 << 20) and mapping.stream(l2, 32 << 20)
    monkeypatch.setattr(mapping, "stream", lambda device, nbytes: True)
    for name in ("tanh(a*b+a)", "five ops, scalars", "three inputs, clip"):
        for n in (1, 9, 1000):
            _run_chain(ctx, name, dtype, n)
        _run_chain(ctx, name, dtype, 1001, in_offsets=(3,) * CHAINS[name][1], out_offset=3)
    monkeypatch.setenv("CLNET_DEFER", "0")
    x = np.random.uniform(-2, 2, 1003).astype(dtype)
    cx = mx.nd.array(x, ctx=ctx, dtype=dtype)
    for sl in (slice(None), slice(3, 1000)):
        assert_almost_equal(mx.nd.tanh(cx[sl]).asnumpy(), np.tanh(x[sl].astype(np.float64)),
                            *TOL[dtype])
        assert_almost_equal((cx[sl] * 2 + 1).asnumpy(), x[sl].astype(np.float64) * 2 + 1,
                            *TOL[dtype])
    assert any("#define STREAM 1" in src for src, _ in dev._programs)


def test_vector_kernel_only_for_chains_that_work_on_vectors():
    f32 = DTYPES["float32"]
    src, name, vw = fusion.render(_steps("tanh(a*b+a)", "float32"), 2, f32)
    assert vw == 8 and "#define VW 8" in src and f"void {name}_vec(" in src
    src, name, vw = fusion.render(_steps("comparison", "float32"), 2, f32)
    assert vw == 0 and "#define VW" not in src  # the vector kernel is compiled out
    # scalars are kernel arguments: other values, same program
    steps = _steps("five ops, scalars", "float32")
    other = [s._replace(scalars=tuple(v + 1 for v in s.scalars)) for s in steps]
    assert fusion.render(steps, 1, f32) == fusion.render(other, 1, f32)


@pytest.mark.parametrize("dtype", FLOATS)
def test_large_magnitudes_give_no_nan(ctx, dtype):
    if dtype not in supported_dtypes(ctx, FLOATS):
        pytest.skip(f"{ctx} has no {dtype}")
    special = np.array([0, -0.0, 1e-30, -1e-30, 1e-4, 3e-4, 5e-4, 7.9, 8.1, 20, -20, 88, 89,
                        100, -100, 710, 1e4, -1e4, 1e30, -1e30, np.inf, -np.inf], dtype)
    x = np.concatenate([special, np.random.uniform(-50, 50, 77).astype(dtype)])
    cx = mx.nd.array(x, ctx=ctx, dtype=dtype)
    out = mx.nd.empty(x.shape, ctx=ctx, dtype=dtype)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        cases = [
            ([_step("tanh", _in(0), dtype=dtype)], np.tanh(x64)),
            ([_step("_mul_scalar", _in(0), scalars=(3.0,), dtype=dtype),
              _step("tanh", _v(0), dtype=dtype)], np.tanh(3 * x64)),
            ([_step("sigmoid", _in(0), dtype=dtype)], 1 / (1 + np.exp(-x64))),
            ([_step("exp", _in(0), dtype=dtype),
              _step("_mul_scalar", _v(0), scalars=(0.5,), dtype=dtype)],
             np.exp(x64).astype(dtype) * 0.5),
        ]
    for steps, want in cases:
        fusion.launcher(steps, [cx], out)()
        got = out.asnumpy()
        assert not np.isnan(got).any(), got
        assert_almost_equal(got, want.astype(dtype), *TOL[dtype])
    nan_in = mx.nd.array(np.full(9, np.nan, dtype), ctx=ctx, dtype=dtype)
    nan_out = mx.nd.empty((9,), ctx=ctx, dtype=dtype)
    fusion.launcher([_step("tanh", _in(0), dtype=dtype)], [nan_in], nan_out)()
    assert np.isnan(nan_out.asnumpy()).all()


_SPECIAL = [0.0, -0.0, 1e-45, -1e-45, 1e-30, -1e-30, 3e-4, 5e-4, 1.5707964, 3.1415927,
            -4.712389, 7.9, 8.1, 100.0, -100.0, 8191.9, 8192.0, -8192.5, 1e5, -3e7, 1e30, -1e30,
            3e38, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("op, scalar", [("tanh", None), ("sin", None), ("cos", None), ("abs", None),
                                        ("_power_scalar", 0.0), ("_power_scalar", 1.0),
                                        ("_power_scalar", 2.0), ("_power_scalar", 3.0),
                                        ("_power_scalar", -1.0), ("_power_scalar", 2.5)])
def test_fast_float_math_across_the_range(ctx, op, scalar):
    """kernels/fastmath.cl replaces these float builtins (fabs too, which abs prints):
    every lane of a vector, and the scalar rest, against numpy from tiny to huge |x|, with
    inf and NaN."""
    x = np.concatenate([np.float32(_SPECIAL), np.random.uniform(-20, 20, 200),
                        np.random.uniform(-9000, 9000, 100),
                        np.exp(np.random.uniform(-60, 60, 100)) * np.sign(
                            np.random.uniform(-1, 1, 100))]).astype(np.float32)
    np.random.shuffle(x)  # large and small values share vectors
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        want = {"tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs}[op](x64) \
            if scalar is None \
            else np.power(x64, scalar)
        want = want.astype(np.float32)
    cx = mx.nd.array(x, ctx=ctx)
    out = mx.nd.empty(x.shape, ctx=ctx)
    steps = [_step(op, _in(0), scalars=() if scalar is None else (scalar,))]
    n = x.size
    # the vector kernel; then offsets 3 and 0, which only the scalar kernel can take
    for src, dst in ((slice(None), slice(None)), (slice(3, n), slice(0, n - 3))):
        fusion.launcher(steps, [cx[src]], out[dst])()
        got, ref = out.asnumpy()[dst], want[src]
        assert (np.isnan(got) == np.isnan(ref)).all()
        assert_almost_equal(got[~np.isnan(ref)], ref[~np.isnan(ref)], *TOL["float32"])


@pytest.mark.parametrize("dtype", FLOATS)
def test_bound_chain_is_one_launch_at_any_size(ctx, dtype):
    if dtype not in supported_dtypes(ctx, FLOATS):
        pytest.skip(f"{ctx} has no {dtype}")
    dev = get_device(ctx)
    a, b = mx.sym.var("a"), mx.sym.var("b")
    sym = mx.sym.tanh(a * b + a)
    for shape in ((1,), (7,), (3, 3), (5, 201)):
        xa, xb = (np.random.uniform(-2, 2, shape).astype(dtype) for _ in range(2))
        ex = sym.bind(ctx, {"a": mx.nd.array(xa, ctx=ctx, dtype=dtype),
                            "b": mx.nd.array(xb, ctx=ctx, dtype=dtype)})
        ex.forward()
        assert ex.fused_kernels == 1
        mx.nd.waitall()
        before = dev.launches
        ex.forward()
        assert dev.launches - before == 1
        assert_almost_equal(ex.outputs[0], np.tanh(xa * xb + xa), *TOL[dtype])


@pytest.mark.parametrize("dtype", FLOATS)
def test_imperative_vector_kernel_is_one_launch_at_any_size_and_offset(ctx, dtype, monkeypatch):
    monkeypatch.setenv("CLNET_DEFER", "0")  # each op launched at once (tests/test_deferred.py)
    if dtype not in supported_dtypes(ctx, FLOATS):
        pytest.skip(f"{ctx} has no {dtype}")
    dev = get_device(ctx)
    a = np.random.uniform(-3, 3, 1030).astype(dtype)
    b = np.random.uniform(0.5, 2, 1030).astype(dtype)
    ca, cb = mx.nd.array(a, ctx=ctx, dtype=dtype), mx.nd.array(b, ctx=ctx, dtype=dtype)
    for n in (1, 7, 8, 9, 1000):
        for i, j in ((0, 0), (3, 3), (1, 2), (8, 0)):
            x, y = ca[i:i + n], cb[j:j + n]
            xs, ys = a[i:i + n].astype(np.float64), b[j:j + n].astype(np.float64)
            mx.nd.waitall()
            before = dev.launches
            got = [mx.nd.tanh(x), x * y, mx.nd.sin(x), x ** 2, mx.nd.cos(y) ** 3]
            assert dev.launches - before == 6
            want = [np.tanh(xs), xs * ys, np.sin(xs), xs ** 2, np.cos(ys) ** 3]
            for g, w in zip(got, want):
                assert_almost_equal(g.asnumpy(), w, *TOL[dtype])
