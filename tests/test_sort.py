"""sort, argsort and topk against numpy: every dtype, several axes, both orders, every topk
ret_typ, lengths around the kernel's block sizes, ties, NaN, edge shapes, non-contiguous
inputs and errors."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.ops.sort import INDEX_DTYPES
from conftest import supported_dtypes


def _nd(host):
    """An NDArray keeping the host array's dtype (mx.nd.array defaults to float32)."""
    return mx.nd.array(host, dtype=np.asarray(host).dtype)

ALL = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8")


def distinct(shape, dtype):
    """Values without ties (so every correct argsort is numpy's), covering negative numbers
    and the type's extremes where it has room."""
    size = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        pool = np.random.permutation(np.arange(-size, size + 2))[:size].astype(np.float64) / 4
        if size > 2 and dt.itemsize > 2:
            pool[:2] = [np.inf, -np.inf]
    else:
        info = np.iinfo(dt)
        low, high = max(int(info.min), -50_000), min(int(info.max), 50_000)
        pool = np.concatenate([[info.min, info.max], np.arange(low + 1, high)]).astype(dt)
        pool = pool[np.random.choice(len(pool), size, replace=False)]
    return np.random.permutation(pool).astype(dt).reshape(shape)


def ref_argsort(x, axis, asc):
    """numpy's stable argsort; descending keeps ties in index order and puts NaN first."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    if asc:
        return np.argsort(x, axis=axis, kind="stable")
    rank = np.unique(x, return_inverse=True)[1].reshape(x.shape)  # NaN ranks last
    return np.argsort(-rank, axis=axis, kind="stable")


def ref_topk(x, axis, k, ret_typ, asc, dtype="float32"):
    order = ref_argsort(x, axis, asc)
    flat = x.reshape(-1) if axis is None else x
    ax = 0 if axis is None else axis
    k = k if k >= 1 else flat.shape[ax]
    idx = np.take(order, np.arange(k), axis=ax)
    values = np.take_along_axis(flat, idx, axis=ax)
    if ret_typ == "value":
        return values
    if ret_typ == "indices":
        return idx.astype(dtype)
    if ret_typ == "both":
        return values, idx.astype(dtype)
    mask = np.zeros_like(flat)
    np.put_along_axis(mask, idx, 1, axis=ax)
    return mask.reshape(x.shape)


def check(got, expect):
    got = got.asnumpy()
    assert got.dtype == expect.dtype and got.shape == expect.shape
    np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("dtype", ALL)
def test_sort_argsort(ctx, dtype):
    if dtype not in supported_dtypes(ctx):
        pytest.skip(f"{ctx} lacks {dtype}")
    x = distinct((3, 5, 7), dtype)
    a = mx.nd.array(x, dtype=dtype)
    for axis in (-1, 0, 1, None):
        for asc in (True, False):
            order = ref_argsort(x, axis, asc)
            flat, ax = (x.reshape(-1), 0) if axis is None else (x, axis)
            check(mx.nd.sort(a, axis=axis, is_ascend=asc), np.take_along_axis(flat, order, ax))
            check(mx.nd.argsort(a, axis=axis, is_ascend=asc), order.astype(np.float32))
    check(a.sort(), np.sort(x))
    check(a.argsort(1, False, "int64"), ref_argsort(x, 1, False))


@pytest.mark.parametrize("dtype", ALL)
def test_topk(ctx, dtype):
    if dtype not in supported_dtypes(ctx):
        pytest.skip(f"{ctx} lacks {dtype}")
    x = distinct((4, 6, 5), dtype)
    a = mx.nd.array(x, dtype=dtype)
    for axis, k in ((-1, 2), (0, 1), (1, 6), (None, 7), (2, 0)):
        for asc in (False, True):
            for ret in ("value", "indices", "mask", "both"):
                got = mx.nd.topk(a, axis=axis, k=k, ret_typ=ret, is_ascend=asc)
                expect = ref_topk(x, axis, k, ret, asc)
                if ret == "both":
                    check(got[0], expect[0])
                    check(got[1], expect[1])
                else:
                    check(got, expect)
    check(a.topk(k=3, ret_typ="value"), ref_topk(x, -1, 3, "value", False))
    check(mx.nd.topk(a), ref_topk(x, -1, 1, "indices", False))


@pytest.mark.parametrize("n", [1, 2, 3, 31, 64, 100, 511, 513, 1000, 2048, 5000])
def test_lengths(ctx, n):
    """Lengths below, at and past powers of two and the local-memory block."""
    for shape, axis in (((2, n), -1), ((n, 3), 0)):
        x = distinct(shape, "float32")
        a = _nd(x)
        for asc in (True, False):
            order = ref_argsort(x, axis, asc)
            check(mx.nd.argsort(a, axis=axis, is_ascend=asc, dtype="int32"),
                  order.astype(np.int32))
            check(mx.nd.sort(a, axis=axis, is_ascend=asc), np.take_along_axis(x, order, axis))


def test_many_rows_int64(ctx):
    x = np.random.randint(-2**62, 2**62, size=(40, 30, 50), dtype=np.int64)
    a = _nd(x)
    for axis in (0, 1, 2):
        check(mx.nd.sort(a, axis=axis), np.sort(x, axis=axis, kind="stable"))
        check(mx.nd.argsort(a, axis=axis, dtype="int64"), np.argsort(x, axis=axis, kind="stable"))


@pytest.mark.parametrize("dtype", ALL)
def test_ties(ctx, dtype):
    """Few distinct values: sorted values match; argsort is stable in both orders."""
    if dtype not in supported_dtypes(ctx):
        pytest.skip(f"{ctx} lacks {dtype}")
    x = np.random.randint(0, 4, size=(6, 9, 20)).astype(dtype)
    a = mx.nd.array(x, dtype=dtype)
    for axis in (-1, 0, None):
        check(mx.nd.sort(a, axis=axis), np.sort(x, axis=axis))
        desc = np.flip(np.sort(x, axis=axis), axis=axis if axis is not None else 0)
        check(mx.nd.sort(a, axis=axis, is_ascend=False), desc)
        for asc in (True, False):
            check(mx.nd.argsort(a, axis=axis, is_ascend=asc, dtype="int64"),
                  ref_argsort(x, axis, asc))
            got = mx.nd.topk(a, axis=axis, k=3, ret_typ="both", is_ascend=asc, dtype="int32")
            want = ref_topk(x, axis, 3, "both", asc, "int32")
            check(got[0], want[0])
            check(got[1], want[1])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_nan_and_inf(ctx, dtype):
    """NaN goes after every number ascending and first descending (NaN is the largest)."""
    if dtype not in supported_dtypes(ctx):
        pytest.skip(f"{ctx} lacks {dtype}")
    x = np.random.uniform(-5, 5, size=(5, 37)).astype(dtype)
    x[np.random.rand(*x.shape) < 0.2] = np.nan
    x[0, :3] = [np.inf, -np.inf, np.nan]
    a = mx.nd.array(x, dtype=dtype)
    np.testing.assert_array_equal(mx.nd.sort(a).asnumpy(), np.sort(x))
    check(mx.nd.argsort(a, dtype="int64"), np.argsort(x, kind="stable"))
    check(mx.nd.argsort(a, is_ascend=False, dtype="int64"), ref_argsort(x, -1, False))
    got = mx.nd.topk(a, k=4, ret_typ="value").asnumpy()
    np.testing.assert_array_equal(got, ref_topk(x, -1, 4, "value", False))


@pytest.mark.parametrize("dtype", INDEX_DTYPES)
def test_index_dtypes(ctx, dtype):
    if dtype not in supported_dtypes(ctx):
        pytest.skip(f"{ctx} lacks {dtype}")
    x = distinct((3, 40), "float32")
    a = _nd(x)
    check(mx.nd.argsort(a, dtype=dtype), np.argsort(x, kind="stable").astype(dtype))
    got = mx.nd.topk(a, k=5, ret_typ="both", dtype=dtype)
    want = ref_topk(x, -1, 5, "both", False, dtype)
    check(got[0], want[0])
    check(got[1], want[1])
    check(mx.nd.topk(a, k=2, axis=0, dtype=dtype), ref_topk(x, 0, 2, "indices", False, dtype))


def test_non_contiguous_inputs(ctx):
    x = distinct((6, 10, 4), "float32")
    a = _nd(x)
    for view, host in ((a[:, ::2], x[:, ::2]), (a[::-1], x[::-1]), (a[2:5], x[2:5]),
                       (a[1], x[1]), (a[:, 3:7, 1:3], x[:, 3:7, 1:3])):
        for axis in (-1, 0):
            check(mx.nd.sort(view, axis=axis), np.sort(host, axis=axis))
            check(mx.nd.argsort(view, axis=axis, dtype="int64"),
                  np.argsort(host, axis=axis, kind="stable"))
            check(mx.nd.topk(view, axis=axis, k=2, ret_typ="mask"),
                  ref_topk(host, axis, 2, "mask", False))
    check(a, x)  # inputs untouched


def test_edge_shapes(ctx):
    # size 0 along the sorted axis, along another axis, and flattened
    for shape in ((0, 4), (3, 0), (2, 0, 3)):
        x = np.zeros(shape, np.float32)
        a = _nd(x)
        for axis in (-1, 0, None):
            check(mx.nd.sort(a, axis=axis), np.sort(x, axis=axis))
            check(mx.nd.argsort(a, axis=axis), np.argsort(x, axis=axis).astype(np.float32))
            check(mx.nd.topk(a, axis=axis, k=0, ret_typ="mask"), x)
    check(mx.nd.topk(mx.nd.zeros((0, 4)), k=2, ret_typ="value"), np.zeros((0, 2), np.float32))
    # 0-d: flattened to (1,); argsort of a 0-d array gives (1,) for any axis, as in MXNet
    s = _nd(np.float32(3.5))
    check(mx.nd.sort(s, axis=None), np.array([3.5], np.float32))
    check(mx.nd.argsort(s), np.zeros(1, np.float32))
    check(mx.nd.topk(s, axis=None, ret_typ="both")[0], np.array([3.5], np.float32))
    check(mx.nd.topk(s, axis=None, ret_typ="mask"), np.array(1, np.float32))
    # rows of length 1
    x = distinct((5, 1, 3), "int32")
    a = _nd(x)
    check(mx.nd.sort(a, axis=1), x)
    check(mx.nd.argsort(a, axis=1, dtype="int32"), np.zeros_like(x))
    check(mx.nd.topk(a, axis=1, ret_typ="mask"), np.ones_like(x))


def test_out_argument(ctx):
    x = distinct((4, 9), "float32")
    out = mx.nd.zeros((4, 9))
    mx.nd.sort(_nd(x), out=out)
    check(out, np.sort(x))
    a = _nd(x)
    mx.nd.sort(a, out=a)  # in place
    check(a, np.sort(x))


def test_errors(ctx):
    a = _nd(distinct((3, 4), "float32"))
    with pytest.raises(MXNetError, match=r"topk: k=5 .*length 4 of axis 1.*\(3, 4\)"):
        mx.nd.topk(a, k=5)
    with pytest.raises(MXNetError, match=r"k=13 .*length 12 of the flattened"):
        mx.nd.topk(a, k=13, axis=None)
    with pytest.raises(MXNetError, match=r"sort: axis 2 is out of range .*\(3, 4\)"):
        mx.nd.sort(a, axis=2)
    with pytest.raises(MXNetError, match=r"argsort: axis -3 is out of range"):
        mx.nd.argsort(a, axis=-3)
    with pytest.raises(MXNetError, match=r"sort: axis -1 is out of range .*shape \(\)"):
        mx.nd.sort(_nd(np.float32(1)))
    with pytest.raises(MXNetError, match=r"axis must be a single int"):
        mx.nd.sort(a, axis=(0, 1))
    with pytest.raises(MXNetError, match=r"ret_typ='values' must be one of"):
        mx.nd.topk(a, ret_typ="values")
    with pytest.raises(MXNetError, match=r"dtype='int8' must be one of"):
        mx.nd.argsort(a, dtype="int8")
    with pytest.raises(MXNetError, match=r"argsort: dtype uint8 cannot represent .*length 300"):
        mx.nd.argsort(mx.nd.zeros((2, 300)), dtype="uint8")
    mx.nd.argsort(mx.nd.zeros((2, 256)), dtype="uint8")  # indices up to 255 fit
    with pytest.raises(MXNetError, match=r"topk: dtype float16 cannot represent"):
        mx.nd.topk(mx.nd.zeros((3000,)), dtype="float16")
    with pytest.raises(MXNetError, match=r"topk: k=1 .*length 0"):
        mx.nd.topk(mx.nd.zeros((3, 0)))
