"""Random sampling: the device generator against the numpy Philox reference (bit-exact for
uniform and randint), reproducibility (seed, device, shape and launch independence), the
distributions' moments and CDF, per-element (`_sample_*`) and `*_like` forms, shuffle, `out=`
and `ctx=`, and the errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.ops.random_ops import permutation, philox4x32, uniform_bounds
from clnet.dtype import as_dtype
from clnet.runtime import discovery
from conftest import supported_dtypes

FLOATS = ("float32", "float64", "float16")
INTS = ("int32", "int64", "int8", "uint8")
N_STAT = 1 << 20  # samples for the moment checks
_U64 = np.uint64


# -- numpy reference of the device streams ---------------------------------------------------
def _blocks(seed, op, n, epb, retry=0):
    return philox4x32(seed, op, np.arange(-(-n // epb), dtype=np.uint64), retry)


def ref_units(seed, op, n, dtype):
    """The [0, 1) values of element 0..n-1 as the kernels compute them (exact)."""
    if dtype == "float64":
        w = _blocks(seed, op, n, 2).astype(np.uint64)
        bits = np.stack([(w[:, 0] << _U64(21)) | (w[:, 1] >> _U64(11)),
                         (w[:, 2] << _U64(21)) | (w[:, 3] >> _U64(11))], axis=1)
        return bits.reshape(-1)[:n].astype(np.float64) * 2.0 ** -53
    w = _blocks(seed, op, n, 4)
    return (w.reshape(-1)[:n] >> 8).astype(np.float32) * np.float32(2.0 ** -24)


def ref_uniform(seed, op, n, low, high, dtype):
    lo, width, hi_prev = uniform_bounds("ref", low, high, as_dtype(dtype))
    v = lo + width * ref_units(seed, op, n, dtype)
    return np.minimum(v.astype(dtype), np.asarray(hi_prev).astype(dtype))


def _mulhi(a, b):
    m = _U64(0xFFFFFFFF)
    al, ah, bl, bh = a & m, a >> _U64(32), b & m, b >> _U64(32)
    lh, hl = al * bh, ah * bl
    mid = ((al * bl) >> _U64(32)) + (lh & m) + (hl & m)
    return ah * bh + (lh >> _U64(32)) + (hl >> _U64(32)) + (mid >> _U64(32))


def _lanes64(w):
    w = w.astype(np.uint64)
    return np.stack([(w[:, 0] << _U64(32)) | w[:, 1], (w[:, 2] << _U64(32)) | w[:, 3]], axis=1)


def ref_randint(seed, op, n, low, high, dtype):
    span = high - low
    threshold = _U64((1 << 64) % span)
    r = _lanes64(_blocks(seed, op, n, 2))
    with np.errstate(over="ignore"):
        for retry in range(1, 256):
            bad = r * _U64(span) < threshold
            if not bad.any():
                break
            r = np.where(bad, _lanes64(_blocks(seed, op, n, 2, retry)), r)
        off = _mulhi(r.reshape(-1)[:n], np.full(n, span, dtype=np.uint64))
        return (np.int64(low) + off.astype(np.int64)).astype(dtype)


def _float_dtypes(ctx):
    return supported_dtypes(ctx, FLOATS)


def _draw(fn, seed, *args, **kwargs):
    mx.random.seed(seed)
    return fn(*args, **kwargs).asnumpy()


# -- the generator ---------------------------------------------------------------------------
def test_philox_known_answers():
    """Random123's known-answer vectors for philox4x32-10."""
    hexes = lambda w: " ".join(f"{x:08x}" for x in w[0])  # noqa: E731
    assert hexes(philox4x32(0, 0, [0])) == "6627e8d5 e169c58d bc57ac4c 9b00dbd8"
    assert hexes(philox4x32(2**64 - 1, 2**56 - 1, [2**64 - 1], retry=0xFF)) == (
        "408f276d 41c83b0e a20bc7c6 6d5451fd")
    assert hexes(philox4x32(0x299F31D0A4093822, 0x70734413198A2E, [0x85A308D3243F6A88],
                            retry=3)) == "d16cfe09 94fdcceb 5001e420 24126ea1"


@pytest.mark.parametrize("n", [1, 5, 16, 17, 1001])
def test_uniform_matches_reference(ctx, n):
    for dtype in _float_dtypes(ctx):
        got = _draw(mx.nd.random.uniform, 42, -2.5, 7.25, shape=(n,), dtype=dtype)
        assert got.dtype == np.dtype(dtype) and got.shape == (n,)
        np.testing.assert_array_equal(got, ref_uniform(42, 0, n, -2.5, 7.25, dtype))


def test_randint_matches_reference(ctx):
    cases = [("int32", -7, 1000), ("int64", -2**62, 3 * 2**61), ("int8", -128, 128),
             ("uint8", 0, 256), ("int32", 5, 6),
             # span 2^63 + 1: about half the draws are rejected and redrawn
             ("int64", -2**63, 1)]
    for dtype, low, high in cases:
        got = _draw(mx.nd.random.randint, 7, low, high, shape=(3, 37), dtype=dtype)
        assert got.dtype == np.dtype(dtype)
        expect = ref_randint(7, 0, 3 * 37, low, high, dtype).reshape(3, 37)
        np.testing.assert_array_equal(got, expect, err_msg=f"{dtype} [{low}, {high})")
        assert got.min() >= low and got.max() < high


def test_normal_matches_reference(ctx):
    """Box-Muller on consecutive pairs of the reference units (log/sin/cos may round
    differently per device, so a tolerance)."""
    for dtype in _float_dtypes(ctx):
        if dtype == "float16":
            continue
        n = 203
        got = _draw(mx.nd.random.normal, 3, 0.5, 2.0, shape=(n,), dtype=dtype)
        pairs = ref_units(3, 0, n + 1, dtype).astype(np.float64).reshape(-1, 2)
        r = np.sqrt(-2 * np.log1p(-pairs[:, 0]))
        z = np.stack([r * np.cos(2 * np.pi * pairs[:, 1]),
                      r * np.sin(2 * np.pi * pairs[:, 1])], axis=1).reshape(-1)[:n]
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, 0.5 + 2.0 * z, rtol=tol, atol=tol)


# -- reproducibility -------------------------------------------------------------------------
def test_seed_reproduces_and_calls_differ(ctx):
    for fn, args in [(mx.nd.random.uniform, (0, 1)), (mx.nd.random.normal, (0, 1)),
                     (mx.nd.random.randint, (0, 1000)), (mx.nd.random.exponential, (1,))]:
        a = _draw(fn, 11, *args, shape=(64,))
        b = _draw(fn, 11, *args, shape=(64,))
        c = _draw(fn, 12, *args, shape=(64,))
        np.testing.assert_array_equal(a, b)
        assert (a != c).mean() > 0.9
        mx.random.seed(11)
        first, second = fn(*args, shape=(64,)).asnumpy(), fn(*args, shape=(64,)).asnumpy()
        np.testing.assert_array_equal(first, a)
        assert (first != second).mean() > 0.9


def test_prefix_and_shape_independence(ctx):
    """Element i depends on (seed, op counter, i) only: a draw is a prefix of a larger draw
    of any shape, whatever the launch size."""
    draws = [(mx.nd.random.uniform, (0, 1), {}), (mx.nd.random.normal, (1, 3), {}),
             (mx.nd.random.exponential, (2,), {}), (mx.nd.random.randint, (-5, 9), {}),
             (mx.nd.random.randint, (0, 10**12), {"dtype": "int64"})]
    for dtype in _float_dtypes(ctx):
        draws.append((mx.nd.random.uniform, (0, 1), {"dtype": dtype}))
        draws.append((mx.nd.random.normal, (0, 1), {"dtype": dtype}))
    for fn, args, kw in draws:
        small = _draw(fn, 5, *args, shape=(1000,), **kw)
        big = _draw(fn, 5, *args, shape=(7, 13, 29), **kw)
        one = _draw(fn, 5, *args, shape=(1,), **kw)
        np.testing.assert_array_equal(big.reshape(-1)[:1000], small)
        np.testing.assert_array_equal(one, small[:1])


def test_same_numbers_on_two_devices():
    if len(discovery.devices_of_kind("cpu", missing_ok=True)) < 2:
        pytest.skip("needs two CPU OpenCL devices: run with POCL_DEVICES='pthread pthread'")
    for kw in [{}, {"dtype": "float64"}]:
        a = _draw(mx.nd.random.uniform, 9, -1, 1, shape=(3, 333), ctx=mx.cpu(0), **kw)
        b = _draw(mx.nd.random.uniform, 9, -1, 1, shape=(3, 333), ctx=mx.cpu(1), **kw)
        np.testing.assert_array_equal(a, b)
    a = _draw(mx.nd.random.normal, 9, shape=(999,), ctx=mx.cpu(0))
    b = _draw(mx.nd.random.normal, 9, shape=(999,), ctx=mx.cpu(1))
    np.testing.assert_array_equal(a, b)
    a = _draw(mx.nd.random.randint, 9, 0, 77, shape=(999,), ctx=mx.cpu(0))
    b = _draw(mx.nd.random.randint, 9, 0, 77, shape=(999,), ctx=mx.cpu(1))
    np.testing.assert_array_equal(a, b)


# -- distributions ---------------------------------------------------------------------------
def _check_mean_var(x, mean, var, mu4, what):
    """Sample mean and variance within 5 sigma of the expected (mu4: 4th central moment)."""
    x = x.astype(np.float64).reshape(-1)
    n = x.size
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / n), (what, x.mean(), mean)
    assert abs(x.var() - var) < 5 * math.sqrt((mu4 - var ** 2) / n), (what, x.var(), var)


def test_uniform_statistics(ctx):
    for dtype in _float_dtypes(ctx):
        low, high = -3.0, 5.0
        x = mx.nd.random.uniform(low, high, shape=(N_STAT,), dtype=dtype).asnumpy()
        assert x.min() >= low and x.max() < high
        w = high - low
        _check_mean_var(x, (low + high) / 2, w ** 2 / 12, w ** 4 / 80, f"uniform {dtype}")
        counts = np.bincount(((x.astype(np.float64) - low) / w * 16).astype(int), minlength=16)
        expect = N_STAT / 16
        assert ((counts - expect) ** 2 / expect).sum() < 60  # chi2, 15 dof: p ~ 1e-7


def test_uniform_never_reaches_high(ctx):
    """Samples lie in [low, high) as real numbers, also where rounding would give high."""
    for dtype in _float_dtypes(ctx):
        t = np.dtype(dtype).type
        one_ulp = float(np.spacing(t(1)))
        low, high = 1.0, 1.0 + 8 * one_ulp  # lo + width * u rounds up to high for u near 1
        x = mx.nd.random.uniform(low, high, shape=(20000,), dtype=dtype).asnumpy()
        assert x.min() == t(low) and x.max() == np.nextafter(t(high), t(0))
        # bounds that are not representable: samples still in [low, high)
        x = mx.nd.random.uniform(0.1, 0.3, shape=(20000,), dtype=dtype).asnumpy()
        assert x.astype(np.float64).min() >= 0.1 and x.astype(np.float64).max() < 0.3
        x = mx.nd.random.uniform(-1e-30 if dtype != "float16" else -1e-3, 0.0, shape=(1000,),
                                 dtype=dtype).asnumpy()
        assert (x < 0).all()


def test_randint_covers_range_uniformly(ctx):
    for dtype, low, high in [("int32", -4, 13), ("int64", 10**12, 10**12 + 9),
                             ("uint8", 250, 256), ("int8", -128, -120)]:
        x = mx.nd.random.randint(low, high, shape=(60000,), dtype=dtype).asnumpy()
        counts = np.bincount((x.astype(np.int64) - low), minlength=high - low)
        assert counts.size == high - low and counts.min() > 0
        expect = x.size / (high - low)
        chi2 = ((counts - expect) ** 2 / expect).sum()
        assert chi2 < 3 * (high - low) + 30, (dtype, chi2, counts)


def test_randint_wide_range_statistics(ctx):
    x = mx.nd.random.randint(-2**63, 2**63 - 1, shape=(N_STAT,), dtype="int64").asnumpy()
    u = x.astype(np.float64) / 2.0 ** 64 + 0.5  # uniform on [0, 1)
    _check_mean_var(u, 0.5, 1 / 12, 1 / 80, "randint int64 full range")


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_normal_moments_and_cdf(ctx):
    for dtype in _float_dtypes(ctx):
        n = N_STAT if dtype != "float16" else N_STAT // 4
        loc, scale = 1.5, 2.0
        x = mx.nd.random.normal(loc, scale, shape=(n,), dtype=dtype).asnumpy()
        assert np.isfinite(x).all()
        _check_mean_var(x, loc, scale ** 2, 3 * scale ** 4, f"normal {dtype}")
        z = (x.astype(np.float64) - loc) / scale
        for point in (-2.5, -1.0, -0.3, 0.0, 0.7, 1.5, 3.0):
            p = _phi(point)
            assert abs((z <= point).mean() - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-4, point


def test_normal_zero_scale_is_loc(ctx):
    x = mx.nd.random.normal(3.25, 0, shape=(10,)).asnumpy()
    np.testing.assert_array_equal(x, np.full(10, 3.25, np.float32))


def test_exponential_statistics(ctx):
    for dtype in _float_dtypes(ctx):
        scale = 0.5
        x = mx.nd.random.exponential(scale, shape=(N_STAT // 2,), dtype=dtype).asnumpy()
        assert x.min() >= 0
        _check_mean_var(x, scale, scale ** 2, 9 * scale ** 4, f"exponential {dtype}")
        p = 1 - math.exp(-1)
        assert abs((x <= scale).mean() - p) < 5 * math.sqrt(p * (1 - p) / x.size)
    y = mx.nd.random_exponential(lam=4.0, shape=(1000,)).asnumpy()
    assert abs(y.mean() - 0.25) < 5 * 0.25 / math.sqrt(1000)


# -- per-element parameters, *_like --------------------------------------------------------
def test_sample_uniform_per_element(ctx):
    for dtype in _float_dtypes(ctx):
        low = mx.nd.array([[0, 10, -5], [100, 0.5, 2]], dtype=dtype)
        high = mx.nd.array([[1, 20, -4], [101, 0.75, 3]], dtype=dtype)
        x = mx.nd.random.uniform(low, high, shape=(2000,), dtype=dtype).asnumpy()
        assert x.shape == (2, 3, 2000) and x.dtype == np.dtype(dtype)
        lo, hi = low.asnumpy()[..., None], high.asnumpy()[..., None]
        assert (x >= lo).all() and (x < hi).all()
        means = x.astype(np.float64).mean(axis=-1)
        sigma = ((hi - lo) / math.sqrt(12 * x.shape[-1]))[..., 0]
        assert (abs(means - ((lo + hi) / 2)[..., 0]) < 5 * sigma).all(), means
    # the per-element form draws the same units as the scalar form
    mx.random.seed(4)
    x = mx.nd.random.uniform(mx.nd.array([0.0]), mx.nd.array([1.0]), shape=(50,)).asnumpy()
    np.testing.assert_array_equal(x[0], ref_uniform(4, 0, 50, 0.0, 1.0, "float32"))


def test_sample_normal_and_exponential_per_element(ctx):
    loc = mx.nd.array([0.0, 10.0, -3.0])
    scale = mx.nd.array([1.0, 0.1, -1.0])  # a negative scale gives NaN for its samples
    x = mx.nd.random.normal(loc, scale, shape=(4000,)).asnumpy()
    assert x.shape == (3, 4000)
    assert np.isnan(x[2]).all() and np.isfinite(x[:2]).all()
    np.testing.assert_allclose(x[:2].mean(axis=1), [0, 10], atol=0.1)
    np.testing.assert_allclose(x[:2].std(axis=1), [1, 0.1], rtol=0.1)
    lam = mx.nd.array([[1.0], [4.0]])
    e = mx.nd.sample_exponential(lam, shape=(2, 3000)).asnumpy()
    assert e.shape == (2, 1, 2, 3000)
    np.testing.assert_allclose(e.reshape(2, -1).mean(axis=1), [1, 0.25], rtol=0.1)
    # MXNet's exponential takes the mean (scale); NDArray scales work per element
    m = mx.nd.random.exponential(mx.nd.array([2.0, 0.5]), shape=(4000,)).asnumpy()
    np.testing.assert_allclose(m.mean(axis=1), [2.0, 0.5], rtol=0.1)


def test_sample_integer_parameters_and_dtype(ctx):
    low, high = mx.nd.array([0, 5], dtype="int32"), mx.nd.array([2, 9], dtype="int32")
    for dtype in _float_dtypes(ctx):
        x = mx.nd.sample_uniform(low, high, shape=(3,), dtype=dtype)
        assert x.dtype == np.dtype(dtype) and x.shape == (2, 3)
        v = x.asnumpy()
        assert (v[0] < 2).all() and (v[1] >= 5).all()


def test_sample_edge_shapes(ctx):
    x = mx.nd.random.normal(mx.nd.array(np.zeros((0, 2))), mx.nd.array(np.ones((0, 2))),
                            shape=(3,))
    assert x.shape == (0, 2, 3)
    x = mx.nd.random.uniform(mx.nd.array(0.5), mx.nd.array(0.75))
    assert x.shape == () and 0.5 <= float(x.asnumpy()) < 0.75
    x = mx.nd.random.uniform(mx.nd.array([1.0]), mx.nd.array([2.0]), shape=(0,))
    assert x.shape == (1, 0)


def test_like_forms(ctx):
    for dtype in _float_dtypes(ctx):
        data = mx.nd.zeros((4, 0 + 5), dtype=dtype)
        u = mx.nd._random_uniform_like(data, low=2, high=3)
        z = mx.nd._random_normal_like(data, loc=0, scale=1)
        e = mx.nd._random_exponential_like(data, lam=1)
        for y in (u, z, e):
            assert y.shape == (4, 5) and y.dtype == np.dtype(dtype)
        assert (u.asnumpy() >= 2).all() and (u.asnumpy() < 3).all()
        assert (e.asnumpy() >= 0).all()


# -- shapes, out=, ctx=, namespaces ----------------------------------------------------------
def test_shapes_and_defaults(ctx):
    assert mx.nd.random.uniform().shape == (1,)
    assert mx.nd.random.uniform(shape=()).shape == ()
    assert mx.nd.random.normal(shape=(2, 0, 3)).shape == (2, 0, 3)
    assert mx.nd.random.randint(0, 5, shape=5).shape == (5,)
    assert mx.nd.random.randint(0, 5).dtype == np.int32
    assert mx.nd.random.uniform(shape=(1, 1)).dtype == np.float32
    assert mx.nd.random.randn(2, 3).shape == (2, 3)
    assert mx.nd.random.randn((2, 3), loc=5).shape == (2, 3)
    # MXNet's op names and aliases
    for name in ("_random_uniform", "uniform", "random_uniform", "_random_normal", "normal",
                 "random_normal", "_random_randint", "random_randint", "random_exponential",
                 "_sample_uniform", "sample_normal", "_shuffle", "shuffle"):
        assert callable(getattr(mx.nd, name)), name
    x = mx.nd.random_uniform(-1, 1, (3, 4))
    assert x.shape == (3, 4) and (x.asnumpy() >= -1).all()


def test_out_and_ctx(ctx):
    for dtype in _float_dtypes(ctx):
        out = mx.nd.zeros((3, 4), dtype=dtype)
        res = mx.nd.random.uniform(5, 6, out=out)
        assert res is out
        v = out.asnumpy()
        assert (v >= 5).all() and (v < 6).all()
    base = mx.nd.zeros((4, 8))
    mx.nd.random.normal(0, 1, out=base[1:3])  # an offset view: rows 0 and 3 untouched
    v = base.asnumpy()
    assert (v[[0, 3]] == 0).all() and (v[1:3] != 0).all()
    ints = mx.nd.zeros((50,), dtype="int64")
    mx.nd.random.randint(-3, 3, out=ints)
    assert set(np.unique(ints.asnumpy())) <= set(range(-3, 3))
    y = mx.nd.random.uniform(shape=(2,), ctx=ctx)
    assert y.context == ctx
    samples = mx.nd.zeros((2, 6))
    mx.nd.random.uniform(mx.nd.array([0.0, 1.0]), mx.nd.array([1.0, 2.0]), out=samples)
    assert (samples.asnumpy()[1] >= 1).all()


# -- shuffle ---------------------------------------------------------------------------------
def test_shuffle_rows(ctx):
    for dtype in supported_dtypes(ctx, FLOATS + INTS):
        data = np.arange(60).reshape(20, 3).astype(dtype)
        mx.random.seed(8)
        got = mx.nd.random.shuffle(mx.nd.array(data, dtype=dtype)).asnumpy()
        np.testing.assert_array_equal(got, data[permutation(8, 0, 20)])
        assert sorted(got[:, 0].tolist()) == sorted(data[:, 0].tolist())
    x = mx.nd.array(np.arange(24).reshape(6, 4))
    got = mx.nd.random.shuffle(x[1:5]).asnumpy()  # an offset view
    assert sorted(got[:, 0].tolist()) == [4, 8, 12, 16]
    np.testing.assert_array_equal(np.sort(got, axis=0), np.arange(4, 20).reshape(4, 4))
    assert mx.nd.random.shuffle(mx.nd.array(3.0)).asnumpy() == 3.0
    assert mx.nd.random.shuffle(mx.nd.zeros((0, 2))).shape == (0, 2)
    y = mx.nd.array(np.arange(10.0))
    mx.nd.random.shuffle(y, out=y)  # in place through a temporary
    assert sorted(y.asnumpy().tolist()) == list(range(10))


def test_shuffle_is_uniform():
    counts = {}
    for _ in range(600):
        p = tuple(permutation(np.random.randint(2**62), 0, 3).tolist())
        counts[p] = counts.get(p, 0) + 1
    assert len(counts) == 6
    assert sum((c - 100) ** 2 / 100 for c in counts.values()) < 35  # chi2, 5 dof


# -- errors ----------------------------------------------------------------------------------
def test_errors(ctx):
    cases = [
        (lambda: mx.nd.random.uniform(1, 1), r"_random_uniform: low=1.0 must be less than "
                                             r"high=1.0"),
        (lambda: mx.nd.random.uniform(2, 1, shape=3), "low=2.0 must be less than high=1.0"),
        (lambda: mx.nd.random.uniform(1 + 1e-12, 1 + 2e-12), "no float32 value lies in"),
        (lambda: mx.nd.random.uniform(-3e38, 3e38), "overflows float32"),
        (lambda: mx.nd.random.uniform(0, 1e39), "high=1e.39 is outside the float32 range"),
        (lambda: mx.nd.random.uniform(0, 1, dtype="int32"), "dtype int32 is not a float"),
        (lambda: mx.nd.random.normal(0, -1), "scale=-1.0 must be a finite number >= 0"),
        (lambda: mx.nd.random.exponential(0), "scale=0 must be > 0"),
        (lambda: mx.nd.random_exponential(lam=-2), "lam=-2.0 must be a finite number > 0"),
        (lambda: mx.nd.random.randint(5, 5), "low=5 must be less than high=5"),
        (lambda: mx.nd.random.randint(0, 300, dtype="int8"), r"\[low=0, high=300\) does not "
                                                            "fit int8"),
        (lambda: mx.nd.random.randint(0, 3, dtype="float32"), "dtype float32 is not an "
                                                              "integer type"),
        (lambda: mx.nd.random.randint(0.5, 3), "argument low=0.5 is not a valid int"),
        (lambda: mx.nd.random.randint(mx.nd.array([0]), mx.nd.array([3])),
         "must be integers, not NDArrays"),
        (lambda: mx.nd.random.uniform(0, mx.nd.array([1.0])),
         "all numbers or all NDArrays, got int, NDArray"),
        (lambda: mx.nd.random.uniform(shape=(2, -1)), r"shape \(2, -1\) has a negative"),
        (lambda: mx.nd.random.uniform(mx.nd.zeros((2,)), mx.nd.ones((3,))),
         r"_sample_uniform: parameter arrays \['low', 'high'\] have shapes \[\(2,\), \(3,\)\]"),
        (lambda: mx.nd.random.uniform(mx.nd.zeros((2,)), mx.nd.ones((2,), dtype="int32")),
         "have dtypes"),
        (lambda: mx.nd._random_uniform_like(mx.nd.zeros((2,), dtype="int32")),
         "input 0 has dtype int32"),
        (lambda: mx.nd.random.uniform(out=mx.nd.zeros((2,), dtype="int32")),
         "dtype int32 is not a float type"),
    ]
    if "float16" not in supported_dtypes(ctx, FLOATS):
        cases.append((lambda: mx.nd.random.normal(shape=2, dtype="float16"),
                      "_random_normal: dtype float16 needs the OpenCL extension cl_khr_fp16"))
    for fn, pattern in cases:
        with pytest.raises(MXNetError, match=pattern):
            fn()
