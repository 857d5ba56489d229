"""End-to-end tests of NDArray.__getitem__ / __setitem__ (clnet.ndarray.indexing) against
numpy: basic keys (ints, slices with steps, None, Ellipsis), integer-array and boolean-mask
reads, assignment with broadcasting, range errors, and views sharing memory as in MXNet."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from conftest import supported_dtypes

ALL = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8")

BASIC_KEYS = [
    1, -1, (1, 2), (-1, -3), (0, -1, 1),
    slice(1, 3), slice(None, None, 2), slice(None, None, -1), slice(3, 0, -2),
    slice(-2, None), slice(5, 9), (slice(None), slice(1, None, 2)),
    (slice(None, None, -1), slice(None, None, -2), 0), (1, slice(None, None, -1)),
    None, (slice(None), None), (None, 1), (1, None, slice(None, 2)),
    Ellipsis, (Ellipsis, 1), (1, Ellipsis), (Ellipsis, slice(None, None, -1)),
    (0, Ellipsis, None), (slice(1, 2), Ellipsis, slice(0, 0)),
]


def _sample(shape, dtype):
    v = np.arange(int(np.prod(shape)), dtype=np.int64)
    v = (v * 7) % 241 - 120 if dtype == "int8" else (v * 5 + 1) % 251 if dtype == "uint8" else v
    return v.astype(dtype).reshape(shape)


def _nd(host, ctx):
    return mx.nd.array(host, ctx=ctx, dtype=host.dtype)


def _same(got, want):
    want = np.asarray(want)
    if want.ndim == 0:
        want = want.reshape(1)  # MXNet 1.x: a fully indexed element has shape (1,)
    assert isinstance(got, mx.nd.NDArray)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_basic_read(ctx, key):
    host = _sample((4, 3, 5), "float32")
    _same(_nd(host, ctx)[key], host[key])


def test_basic_read_dtypes(ctx):
    for dt in supported_dtypes(ctx, ALL):
        host = _sample((4, 3, 5), dt)
        x = _nd(host, ctx)
        for key in BASIC_KEYS:
            _same(x[key], host[key])
        # indexing a view again (offsets compose)
        _same(x[1:][::-1, 1], host[1:][::-1, 1])


def test_edge_shapes(ctx):
    flat = np.zeros((2, 0), np.float32)
    _same(_nd(flat, ctx)[np.array([True, False])], flat[[True, False]])
    empty = np.zeros((0, 3), np.float32)
    _same(_nd(empty, ctx)[:, 1], empty[:, 1])
    _same(_nd(empty, ctx)[::-1], empty[::-1])
    one = np.arange(3, dtype=np.float32).reshape(1, 3)
    _same(_nd(one, ctx)[0], one[0])
    _same(_nd(one, ctx)[:, ::-1], one[:, ::-1])
    scalar = _nd(np.array(7, np.int32), ctx)
    for got in (scalar[()], scalar[...]):  # a 0-d array indexed with nothing stays 0-d
        assert got.shape == () and got.asnumpy() == 7 and got.dtype == np.int32
    _same(scalar[None], np.array([7], np.int32))


def test_views_share_memory(ctx):
    host = _sample((4, 3), "float32")
    x = _nd(host, ctx)
    rows = x[1:3]
    row = x[2]
    assert rows._buf is x._buf and row._buf is x._buf
    rows[:] = 9
    host[1:3] = 9
    np.testing.assert_array_equal(x.asnumpy(), host)
    row[:] = -1
    host[2] = -1
    np.testing.assert_array_equal(x.asnumpy(), host)
    row += 5
    host[2] += 5
    np.testing.assert_array_equal(x.asnumpy(), host)
    # and writing x shows through the views
    x[:] = 3
    np.testing.assert_array_equal(rows.asnumpy(), np.full((2, 3), 3, np.float32))
    np.testing.assert_array_equal(row.asnumpy(), np.full(3, 3, np.float32))
    # a strided read is a copy, as in MXNet
    col = x[:, 1]
    col[:] = 0
    np.testing.assert_array_equal(x.asnumpy(), np.full((4, 3), 3, np.float32))


INT_KEYS = [
    [0, 2], [-1, 0, -1], np.array([3, 1]), np.array([[0, 1], [3, 2]]), (slice(None), [2, 0]),
    (1, [0, 2, 1]), (slice(1, None), np.array([-1, 0])), ([1, 3], slice(None, None, -1)),
    (slice(None), slice(None), [4, 0]), np.array(2), (Ellipsis, [4, 0]), ([2], Ellipsis),
    (Ellipsis, 1, np.array([[0], [3]])), (Ellipsis, [1], slice(None, None, 2)),
]


@pytest.mark.parametrize("key", INT_KEYS, ids=repr)
def test_integer_array_read(ctx, key):
    host = _sample((4, 3, 5), "float32")
    _same(_nd(host, ctx)[key], host[key])


def test_integer_array_read_dtypes(ctx):
    for dt in supported_dtypes(ctx, ALL):
        host = _sample((4, 3), dt)
        x = _nd(host, ctx)
        _same(x[[3, 0, 0]], host[[3, 0, 0]])
        _same(x[:, [2, -3]], host[:, [2, 0]])
        for it in ("int32", "int64", "float32"):
            idx = mx.nd.array([2, 1], ctx=ctx, dtype=it)
            _same(x[idx], host[[2, 1]])
            _same(x[1:, idx], host[1:, [2, 1]])
        _same(x[[]], host[np.array([], np.int64)])


def test_boolean_mask_read(ctx):
    for dt in supported_dtypes(ctx, ALL):
        host = _sample((4, 3), dt)
        x = _nd(host, ctx)
        full = (host.astype(np.int64) % 3) == 0
        _same(x[full], host[full])
        rows = np.array([True, False, True, True])
        _same(x[rows], host[rows])
        _same(x[[False, True, False, True]], host[[False, True, False, True]])
        _same(x[:, np.array([True, False, True])], host[:, [True, False, True]])
        none = np.zeros(4, bool)
        _same(x[none], host[none])
        nested = full.tolist()  # a mask given as nested lists of bools
        _same(x[nested], host[full])


def test_read_errors(ctx):
    x = _nd(_sample((4, 3), "float32"), ctx)
    with pytest.raises(MXNetError, match="index 4 is out of bounds for axis 0 with size 4"):
        x[4]
    with pytest.raises(MXNetError, match="index -4 is out of bounds for axis 1 with size 3"):
        x[0, -4]
    with pytest.raises(MXNetError, match="too many indices \\(3\\) for an array with 2"):
        x[0, 0, 0]
    with pytest.raises(MXNetError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(MXNetError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(MXNetError, match="index 7 .*out of range for axis 0 of size 4"):
        x[[0, 7]]
    with pytest.raises(MXNetError, match="index -5 .*out of range for axis 0 of size 4"):
        x[mx.nd.array([-5], ctx=ctx, dtype="int64")]
    with pytest.raises(MXNetError, match="index 3 .*out of range for axis 1 of size 3"):
        x[:, [3]]
    with pytest.raises(MXNetError, match="boolean index of shape \\(3,\\) does not match"):
        x[np.array([True, False, True])]
    with pytest.raises(MXNetError, match="index arrays must be integers or booleans"):
        x[np.array([0.5, 1.0])]
    with pytest.raises(MXNetError, match="more than one index array is not supported"):
        x[[0, 1], [1, 2]]


def test_setitem_basic(ctx):
    for dt in supported_dtypes(ctx, ALL):
        host = _sample((4, 3, 2), dt)
        x = _nd(host, ctx)
        steps = [
            (1, 5), ((slice(None), 0), 7), (Ellipsis, 1), (slice(None, None, -2), 2),
            ((-1, slice(None), 1), np.array([3, 4, 5], dtype=dt)),
            (slice(1, 3), _sample((2, 3, 2), dt)[::-1].copy()),
            ((slice(None), 1), np.array([[1], [2], [3], [4]], dtype=dt)),  # broadcast
            ((None, 0), np.array([[1], [2], [3]], dtype=dt)),
            ((0, slice(None, None, -1)), _nd(np.array([6, 8], dtype=dt), ctx)),
            ((2, Ellipsis), [[9, 8], [7, 6], [5, 4]]),
        ]
        for key, value in steps:
            x[key] = value
            host[key] = value.asnumpy() if isinstance(value, mx.nd.NDArray) else value
            np.testing.assert_array_equal(x.asnumpy(), host, err_msg=f"{dt} {key!r}")


def test_setitem_conversions_and_self(ctx):
    x = _nd(np.zeros((3, 4), np.int32), ctx)
    x[0] = 2.7  # scalars convert to the array's dtype
    x[1] = mx.nd.array([1.5, 2.5, 3.5, 4.5], ctx=ctx)  # so do NDArrays of other dtypes
    x[2] = x[0]  # a view of the same buffer as the value
    want = np.array([[2] * 4, [1, 2, 3, 4], [2] * 4], np.int32)
    np.testing.assert_array_equal(x.asnumpy(), want)
    y = _nd(np.arange(6, dtype=np.float32), ctx)
    y[1:] = y[:-1]  # overlapping source and target
    np.testing.assert_array_equal(y.asnumpy(), [0, 0, 1, 2, 3, 4])


def test_setitem_advanced(ctx):
    host = _sample((4, 3), "float32")
    x = _nd(host, ctx)
    x[[0, 2]] = 7
    host[[0, 2]] = 7
    x[host > 100] = 0
    host[host > 100] = 0
    x[:, [2, 0]] = np.array([1, 2], np.float32)
    host[:, [2, 0]] = [1, 2]
    x[mx.nd.array([3], ctx=ctx, dtype="int64")] = mx.nd.array([[4, 5, 6]], ctx=ctx)
    host[[3]] = [[4, 5, 6]]
    np.testing.assert_array_equal(x.asnumpy(), host)
    row = x[1]
    row[[0, 2]] = -3  # on a view at an offset: only that row changes
    host[1, [0, 2]] = -3
    np.testing.assert_array_equal(x.asnumpy(), host)


def test_setitem_errors(ctx):
    x = _nd(np.zeros((4, 3), np.float32), ctx)
    before = x.asnumpy()
    with pytest.raises(MXNetError, match="value of shape \\(2,\\) cannot be broadcast to the "
                                         "indexed region of shape \\(4, 3\\)"):
        x[:] = np.ones(2, np.float32)
    with pytest.raises(MXNetError, match="value of shape \\(3, 3\\) cannot be broadcast .* "
                                         "shape \\(2, 3\\)"):
        x[1:3] = mx.nd.ones((3, 3), ctx=ctx)
    with pytest.raises(MXNetError, match="index 5 is out of bounds for axis 0 with size 4"):
        x[5] = 1
    with pytest.raises(MXNetError, match="setitem: .*array shape \\(4, 3\\)"):
        x[[0, 9]] = 1
    np.testing.assert_array_equal(x.asnumpy(), before)
