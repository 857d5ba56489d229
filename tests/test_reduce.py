"""Reductions and softmax against numpy: every op, every dtype it accepts, every way of
naming axes, edge shapes (0-d, size-0, size-1), non-contiguous and offset inputs, the
two-stage path for long rows, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.ops import reduce as red
from clnet.runtime import get_device
from conftest import supported_dtypes


def _nd(host):
    """An NDArray keeping the host array's dtype (mx.nd.array defaults to float32)."""
    return mx.nd.array(host, dtype=np.asarray(host).dtype)

FLOATS = ("float32", "float64", "float16")
ALL = ("float32", "float64", "float16", "uint8", "int32", "int8", "int64")
TOL = {"float16": 2e-2, "float32": 2e-5, "float64": 1e-12}

# (shape, axis, keepdims, exclude): every layout the kernels distinguish
AXIS_CASES = [
    ((2, 3, 4), None, False, False),
    ((2, 3, 4), None, True, False),
    ((2, 3, 4), 0, False, False),
    ((2, 3, 4), 1, True, False),
    ((2, 3, 4), -1, False, False),
    ((2, 3, 4), (0, 2), False, False),  # not one block: transposing copy first
    ((2, 3, 4), (-3, 1), True, False),
    ((2, 3, 4), (1,), False, True),  # exclude: reduces axes 0 and 2
    ((2, 3, 4), (0, 1, 2), False, False),
    ((2, 3, 4), (0, 1, 2), False, True),  # exclude every axis: nothing reduced
    ((3, 1, 5), 1, False, False),  # size-1 reduced axis
    ((1, 7, 1), 1, True, False),
    ((4, 1, 3, 2), (0, 3), False, False),
    ((5,), 0, False, False),
]


def _data(shape, dtype, lo=-3, hi=3):
    if np.dtype(dtype).kind == "u":
        return np.random.randint(0, hi + 1, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "i":
        return np.random.randint(lo, hi + 1, size=shape).astype(dtype)
    return np.random.uniform(lo, hi, size=shape).astype(dtype)


def _np_axes(shape, axis, exclude):
    if axis is None:
        return tuple(range(len(shape)))
    axes = tuple(a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis))
    return tuple(a for a in range(len(shape)) if a not in axes) if exclude else axes


def _mx_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if a in axes else d for a, d in enumerate(shape))
    return tuple(d for a, d in enumerate(shape) if a not in axes) or (1,)


def _int_mean(x, axes):
    total = np.sum(x, axis=axes, dtype=x.dtype).astype(np.int64)
    count = int(np.prod([x.shape[a] for a in axes]))
    return np.fix(total / count).astype(x.dtype)  # C's truncating division, as MXNet


REFS = {
    "sum": lambda x, ax: np.sum(x, axis=ax, dtype=x.dtype),
    "mean": lambda x, ax: (np.mean(x, axis=ax, dtype=np.float64).astype(x.dtype)
                           if x.dtype.kind == "f" else _int_mean(x, ax)),
    "prod": lambda x, ax: np.prod(x, axis=ax, dtype=x.dtype),
    "max": lambda x, ax: np.max(x, axis=ax),
    "min": lambda x, ax: np.min(x, axis=ax),
    "nansum": lambda x, ax: np.nansum(x, axis=ax, dtype=x.dtype),
    "nanprod": lambda x, ax: np.nanprod(x, axis=ax, dtype=x.dtype),
}


def _check(got, want, dtype, atol=None):
    got = got.asnumpy()
    assert got.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=TOL[dtype], atol=max(TOL[dtype], atol or 0))
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(REFS))
def test_reductions_match_numpy(ctx, name):
    for dtype in supported_dtypes(ctx, ALL):
        for shape, axis, keepdims, exclude in AXIS_CASES:
            lo, hi = (1, 2) if "prod" in name else (-3, 3)
            x = _data(shape, dtype, lo, hi)
            if "nan" in name and x.dtype.kind == "f":
                x.flat[::5] = np.nan
            axes = _np_axes(shape, axis, exclude)
            want = np.asarray(REFS[name](x, axes)).reshape(_mx_shape(shape, axes, keepdims))
            got = getattr(mx.nd, name)(_nd(x), axis=axis, keepdims=keepdims,
                                       exclude=exclude)
            _check(got, want, dtype)


def test_integer_sums_wrap_in_their_own_type(ctx):
    x = np.full((300,), 100, dtype=np.int8)
    assert mx.nd.sum(_nd(x)).asnumpy()[0] == np.sum(x, dtype=np.int8)
    assert mx.nd.mean(_nd(np.array([1, 2], np.int32))).asnumpy()[0] == 1


def test_aliases_and_fluent_methods(ctx):
    x = _data((3, 4), "float32")
    a = _nd(x)
    np.testing.assert_allclose(mx.nd.sum_axis(a, axis=1).asnumpy(), x.sum(1), rtol=1e-5)
    np.testing.assert_allclose(mx.nd.max_axis(a, axis=0).asnumpy(), x.max(0))
    np.testing.assert_allclose(mx.nd.min_axis(a, 0).asnumpy(), x.min(0))
    np.testing.assert_allclose(a.sum(axis=1).asnumpy(), x.sum(1), rtol=1e-5)
    np.testing.assert_allclose(a.mean().asnumpy(), [x.mean()], rtol=1e-5)
    np.testing.assert_allclose(a.max().asnumpy(), [x.max()])
    out = mx.nd.zeros((3,))
    assert mx.nd.sum(a, axis=1, out=out) is out
    np.testing.assert_allclose(out.asnumpy(), x.sum(1), rtol=1e-5)


def test_max_min_propagate_nan(ctx):
    for dtype in supported_dtypes(ctx, FLOATS):
        x = _data((3, 9), dtype)
        x[1, 4] = np.nan
        a = _nd(x)
        for name in ("max", "min"):
            got = getattr(mx.nd, name)(a, axis=1).asnumpy()
            assert np.isnan(got[1]) and not np.isnan(got[[0, 2]]).any()
            assert np.isnan(getattr(mx.nd, name)(a).asnumpy()[0])


def test_zero_d_input(ctx):
    a = _nd(np.float32(2.5))
    assert a.shape == ()
    for name in ("sum", "mean", "prod", "max", "min", "nansum", "nanprod"):
        got = getattr(mx.nd, name)(a)
        assert got.shape == (1,) and got.asnumpy()[0] == 2.5
        assert getattr(mx.nd, name)(a, keepdims=True).shape == ()
    assert mx.nd.norm(_nd(np.float32(-3))).asnumpy()[0] == 3
    assert mx.nd.argmax(a).asnumpy()[0] == 0


def test_size_zero(ctx):
    x = mx.nd.zeros((3, 0))
    np.testing.assert_array_equal(mx.nd.sum(x, axis=1).asnumpy(), np.zeros(3))
    np.testing.assert_array_equal(mx.nd.prod(x, axis=1).asnumpy(), np.ones(3))
    np.testing.assert_array_equal(mx.nd.nansum(x).asnumpy(), [0])
    assert np.isnan(mx.nd.mean(x, axis=1).asnumpy()).all()
    assert mx.nd.mean(mx.nd.zeros((0,), dtype="int32")).asnumpy()[0] == 0
    assert mx.nd.sum(x, axis=0).shape == (0,)
    assert mx.nd.max(x, axis=0).shape == (0,)
    assert mx.nd.softmax(x).shape == (3, 0)
    assert mx.nd.norm(x, axis=1).asnumpy().tolist() == [0, 0, 0]
    for name in ("max", "min", "argmax", "argmin"):
        with pytest.raises(MXNetError, match=r"axis 1 of size 0.*\(3, 0\)"):
            getattr(mx.nd, name)(x, axis=1)
        with pytest.raises(MXNetError, match=r"size 0"):
            getattr(mx.nd, name)(x)


def test_non_contiguous_and_offset_inputs(ctx):
    for dtype in supported_dtypes(ctx, ("float32", "int32")):
        x = _data((6, 40), dtype)
        a = _nd(x)
        _check(mx.nd.sum(a[:, ::2], axis=1), np.sum(x[:, ::2], axis=1, dtype=dtype), dtype)
        _check(mx.nd.max(a[::-1], axis=0), x[::-1].max(0), dtype)
        # rows at odd offsets exercise the scalar head before the aligned vector loop
        for i in range(6):
            _check(mx.nd.sum(a[i, 3:]), np.sum(x[i, 3:], dtype=dtype).reshape(1), dtype)
            _check(mx.nd.argmax(a[i], axis=0), np.array([x[i].argmax()], dtype), dtype)


def test_long_rows_two_stages(ctx):
    # few outputs and long rows split into chunks reduced in two launches
    x = np.random.uniform(-1, 1, 300001).astype(np.float32)
    a = _nd(x)
    # float32 rounding grows with the magnitudes summed, not with the sum, which cancellation
    # brings near 0 in a few runs in a hundred (a sum of -6.197 was off by 9.5e-5); a chunk
    # left out or counted twice is off by tens
    atol = 1e-7 * np.abs(x).sum(dtype=np.float64)
    np.testing.assert_allclose(mx.nd.sum(a).asnumpy(), [x.sum(dtype=np.float64)], rtol=1e-5,
                               atol=atol)
    np.testing.assert_allclose(mx.nd.mean(a).asnumpy(), [x.mean(dtype=np.float64)],
                               rtol=1e-4, atol=atol / x.size)
    np.testing.assert_allclose(mx.nd.norm(a).asnumpy(), [np.linalg.norm(x)], rtol=1e-5)
    for name in ("max", "min", "argmax", "argmin"):
        assert getattr(mx.nd, name)(a).asnumpy()[0] == getattr(np, name)(x)
    y = np.random.randint(-5, 6, (200003, 3)).astype(np.int64)
    b = _nd(y)
    np.testing.assert_array_equal(mx.nd.sum(b, axis=0).asnumpy(), y.sum(0))
    np.testing.assert_array_equal(mx.nd.prod(mx.nd.ones((20000, 2), dtype="int32"), axis=0)
                                  .asnumpy(), [1, 1])
    np.testing.assert_array_equal(mx.nd.argmin(b, axis=0).asnumpy(), y.argmin(0))
    # ties across chunks keep the first index; the first NaN wins
    z = np.zeros(100000, np.float32)
    z[[70000, 90000]] = 1
    assert mx.nd.argmax(_nd(z)).asnumpy()[0] == 70000
    z[[80000, 95000]] = np.nan
    assert mx.nd.argmax(_nd(z)).asnumpy()[0] == 80000
    assert np.isnan(mx.nd.max(_nd(z)).asnumpy()[0])


@pytest.mark.parametrize("shape", [(128, 512), (3, 8), (5, 4, 16), (20001, 16)])
def test_columns_in_vectors(ctx, shape):
    """Reducing a leading axis with a multiple of 8 columns after it reads the rows as 8-wide
    vectors (reduce_cols8), in one stage or, for few long columns, two; offset views whose
    rows are not 8-aligned take the element-wise kernel. Every op, float and integer."""
    for dtype in supported_dtypes(ctx, ("float32", "float64", "int32")):
        x = _data(shape, dtype)
        a = _nd(x)
        # a float sum's rounding error is bounded by eps times the sum of |x| (thousands of
        # terms cancel in the long columns, so a relative tolerance alone does not hold)
        atol = (float(np.finfo(dtype).eps * np.abs(x.astype(np.float64)).sum(0).max())
                if dtype != "int32" else None)
        for name in ("sum", "mean", "max", "min", "prod"):
            if name == "prod" and shape[0] > 8:
                continue  # products of thousands of values overflow
            extra = {} if name in ("max", "min") else {"dtype": np.float64}
            want = getattr(np, name)(x, axis=0, **extra).astype(dtype)
            _check(getattr(mx.nd, name)(a, axis=0), want, dtype, atol)
        if dtype != "int32":
            _check(mx.nd.norm(a, axis=0), np.linalg.norm(x.astype(np.float64), axis=0)
                   .astype(dtype), dtype)
            _check(mx.nd.nansum(a, axis=0), np.nansum(x, axis=0, dtype=np.float64)
                   .astype(dtype), dtype, atol)
        for start in (1, 2):  # offsets of start * columns: aligned, or not for 4 columns
            _check(mx.nd.sum(a[start:], axis=0), x[start:].sum(0, dtype=np.float64)
                   .astype(dtype), dtype, atol)


@pytest.mark.parametrize("units", [None, 64])
def test_work_group_rows(ctx, units, monkeypatch):
    """The GPU kernels for contiguous rows (a work-group per chunk, interleaved loads, a tree
    in local memory), run on whatever device there is: rows shorter and longer than a group,
    split into chunks, an offset view, and (with 64 compute units) so many chunks that the
    partials are reduced by the group kernel again. Every op, float and integer."""
    monkeypatch.setitem(red.GROUP_ROWS, get_device(ctx).kind, True)
    if units:
        monkeypatch.setattr(get_device(ctx), "compute_units", units)
    cases = [((300,), None), ((4, 1000), 1), ((3, 100000), -1), ((600001,), 0)]
    for dtype in supported_dtypes(ctx, ("float32", "float64", "int32")):
        for shape, axis in cases:
            x = _data(shape, dtype)
            a = _nd(x)
            for start in (0, 7):
                if start and len(shape) > 1:
                    continue
                xs, v = x[start:], a[start:]
                atol = (float(np.finfo(dtype).eps * np.abs(xs.astype(np.float64)).sum())
                        if dtype != "int32" else None)
                axes = _np_axes(xs.shape, axis, False)
                for name in ("sum", "mean", "max", "min"):
                    want = np.asarray(REFS[name](xs, axes)).reshape(
                        _mx_shape(xs.shape, axes, False))
                    _check(getattr(mx.nd, name)(v, axis=axis), want, dtype, atol)
            if dtype == "int32":
                continue
            out_shape = _mx_shape(shape, _np_axes(shape, axis, False), False)
            eps = float(np.finfo(dtype).eps)
            near_one = np.random.uniform(0.999, 1.001, shape).astype(dtype)
            want = np.prod(near_one.astype(np.float64), axis=axis).reshape(out_shape)
            # each of the row's products rounds once: the error bound grows with its length
            _check(mx.nd.prod(_nd(near_one), axis=axis), want.astype(dtype), dtype,
                   eps * x.size * float(np.abs(want).max()))
            want = np.linalg.norm(x.astype(np.float64), axis=axis).reshape(out_shape)
            _check(mx.nd.norm(a, axis=axis), want.astype(dtype), dtype)
            y = x.copy()
            y.flat[::5] = np.nan
            want = np.nansum(y.astype(np.float64), axis=axis).reshape(out_shape)
            _check(mx.nd.nansum(_nd(y), axis=axis), want.astype(dtype), dtype,
                   eps * float(np.nansum(np.abs(y))))


def test_float32_sums_stay_accurate(ctx):
    # many long rows: one work-item per row, blocked accumulation keeps the error small
    x = np.random.uniform(0, 1, (40, 50000)).astype(np.float32)
    ref = x.sum(axis=1, dtype=np.float64)
    got = mx.nd.sum(_nd(x), axis=1).asnumpy()
    assert np.abs(got - ref).max() / ref.max() < 5e-7


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(ctx, name):
    for dtype in supported_dtypes(ctx, ALL):
        x = _data((4, 5, 6), dtype, -50, 50)
        a = _nd(x)
        ref = getattr(np, name)
        for axis in (0, 1, 2, -1):
            got = getattr(mx.nd, name)(a, axis=axis)
            _check(got, ref(x, axis=axis).astype(dtype), dtype)
            kept = getattr(mx.nd, name)(a, axis=axis, keepdims=True)
            assert kept.shape == tuple(1 if i == axis % 3 else d for i, d in enumerate(x.shape))
        _check(getattr(mx.nd, name)(a), np.array([ref(x)], dtype), dtype)
        assert getattr(mx.nd, name)(a, keepdims=True).shape == (1, 1, 1)
        _check(getattr(mx.nd, name)(_nd(x[0, 0]), axis=0), np.array([ref(x[0, 0])],
                                                                         dtype), dtype)
    ties = _nd(np.array([[1, 3, 3, 1], [2, 2, 0, 0]], np.float32))
    assert ties.argmax(axis=1).asnumpy().tolist() == [1, 0]
    assert ties.argmin(axis=1).asnumpy().tolist() == [0, 2]
    nan = _nd(np.array([1, np.nan, 5, np.nan], np.float32))
    assert getattr(mx.nd, name)(nan, axis=0).asnumpy()[0] == 1


def test_norm(ctx):
    for dtype in supported_dtypes(ctx, FLOATS):
        x = _data((3, 4, 5), dtype)
        a = _nd(x)
        x64 = x.astype(np.float64)
        for axis in (None, 0, -1, (1, 2), (0, 2)):
            for keepdims in (False, True):
                axes = _np_axes(x.shape, axis, False)
                shape = _mx_shape(x.shape, axes, keepdims)
                l1 = np.abs(x64).sum(axis=axes).reshape(shape)
                l2 = np.sqrt((x64 ** 2).sum(axis=axes)).reshape(shape)
                _check(mx.nd.norm(a, ord=1, axis=axis, keepdims=keepdims), l1, dtype)
                _check(mx.nd.norm(a, axis=axis, keepdims=keepdims), l2, dtype)
    with pytest.raises(MXNetError, match="ord=3"):
        mx.nd.norm(mx.nd.ones((2,)), ord=3)
    with pytest.raises(MXNetError, match="int32"):
        mx.nd.norm(mx.nd.ones((2,), dtype="int32"))


def _np_softmax(x, axis, t=1.0):
    y = x.astype(np.float64) / t
    e = np.exp(y - y.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_family(ctx):
    for dtype in supported_dtypes(ctx, FLOATS):
        x = _data((3, 4, 5), dtype, -4, 4)
        a = _nd(x)
        for axis in (-1, 0, 1):
            for t in (None, 0.5, 3.0):
                ref = _np_softmax(x, axis, t or 1.0)
                got = mx.nd.softmax(a, axis=axis, temperature=t)
                _check(got, ref.astype(dtype), dtype)
                np.testing.assert_allclose(got.asnumpy().astype(np.float64).sum(axis=axis),
                                           1, rtol=TOL[dtype])
                _check(mx.nd.log_softmax(a, axis=axis, temperature=t),
                       np.log(ref).astype(dtype), dtype)
                _check(mx.nd.softmin(a, axis=axis, temperature=t),
                       _np_softmax(-x, axis, t or 1.0).astype(dtype), dtype)
    big = _nd(np.array([[1000, 1001, 1002], [-1000, 0, 1000]], np.float32))
    ref = _np_softmax(big.asnumpy(), -1)
    np.testing.assert_allclose(big.softmax().asnumpy(), ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mx.nd.log_softmax(big).asnumpy()[0],
                               np.log(ref[0]), rtol=1e-5)
    strided = mx.nd.array(np.arange(24, dtype=np.float32).reshape(4, 6))[:, ::3]
    np.testing.assert_allclose(mx.nd.softmax(strided, axis=0).asnumpy(),
                               _np_softmax(np.arange(24.).reshape(4, 6)[:, ::3], 0), rtol=1e-5)
    assert mx.nd.softmax(mx.nd.ones((2, 1))).asnumpy().tolist() == [[1], [1]]


def test_errors_name_op_axis_and_shape(ctx):
    a = mx.nd.ones((2, 3))
    with pytest.raises(MXNetError, match=r"sum: axis 2 is out of range.*\(2, 3\)"):
        mx.nd.sum(a, axis=2)
    with pytest.raises(MXNetError, match=r"mean: axis -3 is out of range.*\(2, 3\)"):
        mx.nd.mean(a, axis=(0, -3))
    with pytest.raises(MXNetError, match=r"max: axis \(1, -1\) has duplicates"):
        mx.nd.max(a, axis=(1, -1))
    with pytest.raises(MXNetError, match=r"argmax: axis 5 is out of range.*\(2, 3\)"):
        mx.nd.argmax(a, axis=5)
    with pytest.raises(MXNetError, match=r"softmax: axis 2 is out of range"):
        mx.nd.softmax(a, axis=2)
    with pytest.raises(MXNetError, match="temperature"):
        mx.nd.softmax(a, temperature=0)
    with pytest.raises(MXNetError, match="softmax: input 0 has dtype int32"):
        mx.nd.softmax(mx.nd.ones((2,), dtype="int32"))
    with pytest.raises(MXNetError, match=r"sum: axis 0 is out of range.*\(\)"):
        mx.nd.sum(_nd(np.float32(1)), axis=0)


def test_layout_merges_axes():
    assert red.layout((2, 3, 4), (1,)) == (2, 3, 4, None)
    assert red.layout((2, 3, 4), (0, 1)) == (1, 6, 4, None)
    assert red.layout((2, 1, 3, 4), (0, 2)) == (1, 6, 4, None)
    assert red.layout((2, 3, 4, 5), (0, 2)) == (15, 8, 1, (1, 3, 0, 2))
    assert red.layout((2, 3, 4), (0, 2)) == (3, 8, 1, (1, 0, 2))
    assert red.layout((5, 1, 7), (1,)) == (35, 1, 1, None)
    assert red.layout((), ()) == (1, 1, 1, None)


def test_every_dtype_program_builds(ctx):
    from clnet.dtype import DTYPES
    from clnet.runtime import get_device
    dev = get_device(ctx)
    for name in supported_dtypes(ctx, ALL):
        dt = DTYPES[name]
        dev.kernel(red.source(dt), f"reduce_sum_{dt.suffix}")


def test_each_part_is_a_program_of_its_own_kernels(ctx):
    """A reduction builds only its family of kernels (reduce.PARTS): a program per part."""
    from clnet.dtype import DTYPES
    from clnet.runtime import get_device
    dev = get_device(ctx)
    group = red.GROUP_ROWS[dev.kind]
    for name in ("float32", "int32"):
        dt = DTYPES[name]
        for part in red.PARTS:
            kernels = {k.function_name for k in dev.program(red.source(dt, group, part))
                       .all_kernels()}
            if part == "arg":
                want = {f"{k}arg{op}_{dt.suffix}" for k in ("reduce_", "combine_")
                        for op in ("max", "min")}
            elif part == "softmax":
                want = {f"softmax_{dt.suffix}"} if dt.is_float else set()
            elif not dt.is_float and part in ("nansum", "nanprod", "l1", "l2"):
                want = set()  # float-only ops (integers reduce nansum as sum)
            else:
                want = {f"reduce_{part}_{dt.suffix}", f"reduce_cols8_{part}_{dt.suffix}"}
                want |= {f"reduce_group_{part}_{dt.suffix}"} if group else set()
            assert kernels == want, (name, part)
    x = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4), ctx=ctx)
    np.testing.assert_array_equal(mx.nd.sum(x, axis=1).asnumpy(), [6, 22, 38])
    np.testing.assert_array_equal(mx.nd.argmax(x, axis=0).asnumpy(), [2, 2, 2, 2])
