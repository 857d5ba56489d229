"""Tests for clnet.ops.shape: views (Reshape, Flatten, expand_dims, squeeze), strided copies
(transpose, SwapAxis, reverse, broadcasts, tile, repeat, concat, stack, split, slice,
slice_axis) and gathers (take, pick, one_hot), each against numpy for every dtype."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.ops.shape import infer_reshape
from conftest import supported_dtypes

ALL = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8")
INDEX_DTYPES = ("float32", "float64", "int32", "int64", "int8", "uint8")


def _sample(shape, dtype):
    """Distinct values (up to 120 elements) that every dtype can hold exactly."""
    n = int(np.prod(shape, dtype=np.int64))
    v = np.arange(n, dtype=np.int64)
    if dtype == "uint8":
        v = (v * 7 + 3) % 251
    elif dtype == "int8":
        v = (v * 7) % 241 - 120
    else:
        v = v * 3 - 20
    out = v.astype(dtype).reshape(shape)
    return out / 2 if np.dtype(dtype).kind == "f" else out


def _nd(host, ctx):
    return mx.nd.array(host, ctx=ctx, dtype=host.dtype)


def _offset_nd(host, ctx):
    """`host` on the device as a view at a non-zero offset into a larger buffer."""
    big = np.concatenate([np.zeros((1,) + host.shape, host.dtype), host[None]])
    view = _nd(big, ctx)[1]
    assert view._offset > 0 or host.size == 0
    return view


def _same(got, want):
    want = np.asarray(want)
    assert isinstance(got, mx.nd.NDArray)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got.asnumpy(), want)


@pytest.fixture
def dtypes(ctx):
    return supported_dtypes(ctx, ALL)


# -- Reshape and the other views ---------------------------------------------------------------

RESHAPE_CASES = [
    ((2, 3, 4), (4, 0, 2), False, (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), False, (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)),
    ((2, 3, 4), (-1,), False, (24,)),
    ((2, 3, 4), (-2,), False, (2, 3, 4)),
    ((2, 3, 4), (2, -2), False, (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), False, (2, 3, 4, 1, 1)),
    ((2, 3, 4), (-3, 4), False, (6, 4)),
    ((2, 3, 4, 5), (-3, -3), False, (6, 20)),
    ((2, 3, 4), (0, -3), False, (2, 12)),
    ((2, 3, 4), (-3, -2), False, (6, 4)),
    ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)),
    ((10, 5, 4), (-1, 0), False, (40, 5)),
    ((10, 5, 4), (-1, 0), True, (50, 4)),
    ((1,), (), False, ()),
    ((), (1, 1), False, (1, 1)),
    ((0, 3), (-1, 6), False, (0, 6)),
    ((0, 3), (3, -1), False, (3, 0)),
]


@pytest.mark.parametrize("shape,target,reverse,want", RESHAPE_CASES)
def test_infer_reshape(shape, target, reverse, want):
    assert infer_reshape(shape, target, reverse) == want


@pytest.mark.parametrize("shape,target,why", [
    ((2, 3), (4, 2), "the input has 6 elements, shape \\(4, 2\\) has 8"),
    ((2, 3), (4, -1), "6 elements do not divide"),
    ((2, 3), (-1, -1), "more than one -1"),
    ((2, 3), (0, 0, 0), "0 at position 2 copies input dim 2"),
    ((2,), (-3,), "-3 at position 0 merges input dims 0 and 1"),
    ((6,), (-4, 4, -1), "-4 splits input dim of size 6 into \\(4, 1\\)"),
    ((6,), (-4, -1, -1), "two -1s"),
    ((6,), (-4, 2), "must be followed by the two dims"),
    ((6,), (-5,), "-5 at position 0 is not a size"),
    ((3, 0), (-1, 0), "cannot be inferred"),
])
def test_reshape_errors(ctx, shape, target, why):
    x = mx.nd.zeros(shape)
    with pytest.raises(MXNetError, match=f"Reshape: cannot reshape input of shape "
                                         f"{shape!r}".replace("(", "\\(").replace(")", "\\)")):
        x.reshape(target)
    with pytest.raises(MXNetError, match=why):
        mx.nd.reshape(x, shape=target)


def test_reshape_values_and_views(ctx, dtypes):
    for dt in dtypes:
        host = _sample((2, 3, 4), dt)
        x = _nd(host, ctx)
        _same(x.reshape((4, -1)), host.reshape(4, -1))
        _same(x.reshape(-3, -2), host.reshape(6, 4))
        _same(mx.nd.Reshape(x, shape=(-1, 0), reverse=True), host.reshape(6, 4))
        _same(mx.nd.Flatten(x), host.reshape(2, 12))
        _same(x.flatten(), host.reshape(2, 12))
        _same(mx.nd.expand_dims(x, axis=-1), host[..., None])
        _same(x.expand_dims(1), host[:, None])
        _same(mx.nd.squeeze(x.reshape(1, 2, 1, 12), axis=(0, -2)), host.reshape(2, 12))
        # a view of a view at an offset keeps the offset
        row = x[1]
        _same(row.reshape((-1,)), host[1].reshape(-1))


def test_views_share_memory(ctx):
    x = mx.nd.array(np.arange(24, dtype=np.float32).reshape(2, 3, 4), ctx=ctx)
    want = x.asnumpy()
    for view in (x.reshape((6, 4)), mx.nd.Flatten(x), mx.nd.expand_dims(x, axis=0),
                 mx.nd.squeeze(x.reshape(1, 2, 1, 12)), x[1].reshape((4, 3))):
        assert view._buf is x._buf
    y = x.reshape((6, 4))
    y[2:4] = 7
    want.reshape(6, 4)[2:4] = 7
    np.testing.assert_array_equal(x.asnumpy(), want)
    z = x[1].reshape((-1,))
    z[:] = -1
    want[1] = -1
    np.testing.assert_array_equal(x.asnumpy(), want)


def test_view_ops_with_out_copy(ctx):
    x = mx.nd.array(np.arange(6, dtype=np.float32), ctx=ctx)
    out = mx.nd.zeros((2, 3), ctx=ctx)
    got = mx.nd.reshape(x, shape=(2, 3), out=out)
    assert got is out and out._buf is not x._buf
    np.testing.assert_array_equal(out.asnumpy(), np.arange(6).reshape(2, 3))
    with pytest.raises(MXNetError, match="out has shape \\(3, 2\\)"):
        mx.nd.reshape(x, shape=(2, 3), out=mx.nd.zeros((3, 2), ctx=ctx))


def test_squeeze_expand_dims_edges(ctx):
    x = mx.nd.zeros((1, 3, 1), ctx=ctx)
    assert mx.nd.squeeze(x).shape == (3,)
    assert mx.nd.squeeze(mx.nd.zeros((1, 1), ctx=ctx)).shape == (1,)  # MXNet keeps one dim
    assert mx.nd.squeeze(mx.nd.zeros((0, 1), ctx=ctx)).shape == (0,)
    assert mx.nd.expand_dims(mx.nd.zeros((), ctx=ctx), axis=0).shape == (1,)
    assert mx.nd.expand_dims(x, axis=3).shape == (1, 3, 1, 1)
    assert mx.nd.Flatten(mx.nd.zeros((4,), ctx=ctx)).shape == (4, 1)
    assert mx.nd.Flatten(mx.nd.zeros((2, 0, 3), ctx=ctx)).shape == (2, 0)
    with pytest.raises(MXNetError, match="squeeze: axis 1 has size 3"):
        mx.nd.squeeze(x, axis=1)
    with pytest.raises(MXNetError, match="squeeze: axis=5 is out of range for input shape"):
        mx.nd.squeeze(x, axis=5)
    with pytest.raises(MXNetError, match="expand_dims: axis=4 is out of range .* "
                                         "\\(valid: -4..3\\)"):
        mx.nd.expand_dims(x, axis=4)
    with pytest.raises(MXNetError, match="Flatten: the input is 0-d"):
        mx.nd.Flatten(mx.nd.zeros((), ctx=ctx))


# -- permutations ------------------------------------------------------------------------------


def test_transpose(ctx, dtypes):
    for dt in dtypes:
        host = _sample((2, 3, 4), dt)
        x = _offset_nd(host, ctx)
        _same(mx.nd.transpose(x), host.T)
        _same(x.T, host.T)
        _same(mx.nd.transpose(x, axes=(1, 0, 2)), host.transpose(1, 0, 2))
        _same(x.transpose(axes=(-1, 0, 1)), host.transpose(2, 0, 1))
        # a transposed (non-contiguous) input read again through another permutation
        _same(mx.nd.transpose(x.T, axes=(0, 2, 1)), host.T.transpose(0, 2, 1))
        _same(mx.nd.swapaxes(x, dim1=0, dim2=2), host.swapaxes(0, 2))
        _same(mx.nd.SwapAxis(x, 1, -1), host.swapaxes(1, 2))
    _same(mx.nd.transpose(mx.nd.array(np.float32(3), ctx=ctx)), np.float32(3))
    _same(mx.nd.transpose(mx.nd.zeros((0, 2), ctx=ctx)), np.zeros((2, 0), np.float32))
    _same(mx.nd.transpose(mx.nd.ones((1, 5), ctx=ctx)), np.ones((5, 1), np.float32))


def test_transpose_errors(ctx):
    x = mx.nd.zeros((2, 3), ctx=ctx)
    with pytest.raises(MXNetError, match="transpose: axes=\\(0, 0\\) is not a permutation of "
                                         "the 2 axes of input shape \\(2, 3\\)"):
        mx.nd.transpose(x, axes=(0, 0))
    with pytest.raises(MXNetError, match="not a permutation"):
        mx.nd.transpose(x, axes=(0, 1, 2))
    with pytest.raises(MXNetError, match="SwapAxis: dim2=2 is out of range for input shape"):
        mx.nd.swapaxes(x, dim1=0, dim2=2)


def test_flip(ctx, dtypes):
    for dt in dtypes:
        host = _sample((3, 4, 2), dt)
        x = _offset_nd(host, ctx)
        _same(mx.nd.flip(x, axis=0), host[::-1])
        _same(mx.nd.reverse(x, axis=(0, 2)), host[::-1, :, ::-1])
        _same(x.flip(axis=-2), host[:, ::-1])
        _same(mx.nd.flip(x, axis=None), host[::-1, ::-1, ::-1])
        _same(mx.nd.flip(x[:, ::2], axis=1), host[:, ::2][:, ::-1])
    _same(mx.nd.flip(mx.nd.zeros((0, 3), ctx=ctx), axis=0), np.zeros((0, 3), np.float32))
    _same(mx.nd.flip(mx.nd.ones((1, 3), ctx=ctx), axis=0), np.ones((1, 3), np.float32))
    with pytest.raises(MXNetError, match="reverse: axis=2 is out of range for input shape "
                                         "\\(0, 3\\)"):
        mx.nd.flip(mx.nd.zeros((0, 3), ctx=ctx), axis=2)
    with pytest.raises(MXNetError, match="repeats an axis"):
        mx.nd.flip(mx.nd.zeros((2, 3), ctx=ctx), axis=(1, -1))


# -- broadcasts, tile, repeat ------------------------------------------------------------------


def test_broadcasts(ctx, dtypes):
    for dt in dtypes:
        host = _sample((3, 1, 2), dt)
        x = _offset_nd(host, ctx)
        _same(mx.nd.broadcast_to(x, shape=(3, 4, 2)), np.broadcast_to(host, (3, 4, 2)))
        _same(mx.nd.broadcast_to(x, shape=(0, 5, 0)), np.broadcast_to(host, (3, 5, 2)))
        _same(mx.nd.broadcast_to(x, shape=(2, 3, 4, 2)), np.broadcast_to(host, (2, 3, 4, 2)))
        _same(mx.nd.broadcast_axis(x, axis=1, size=4), np.broadcast_to(host, (3, 4, 2)))
        _same(mx.nd.broadcast_axes(x, axis=(-2,), size=(5,)), np.broadcast_to(host, (3, 5, 2)))
        rhs = mx.nd.zeros((3, 6, 2), ctx=ctx, dtype="int32")
        _same(mx.nd.broadcast_like(x, rhs), np.broadcast_to(host, (3, 6, 2)))
        rhs = mx.nd.zeros((7, 4), ctx=ctx)
        _same(mx.nd.broadcast_like(x, rhs, lhs_axes=(1,), rhs_axes=(0,)),
              np.broadcast_to(host, (3, 7, 2)))
    one = mx.nd.array([[5.0]], ctx=ctx)
    _same(mx.nd.broadcast_to(one, shape=(0, 3)), np.full((1, 3), 5, np.float32))  # 0 keeps
    _same(mx.nd.broadcast_axis(one, axis=0, size=0), np.zeros((0, 1), np.float32))
    _same(mx.nd.broadcast_to(mx.nd.array(np.float32(2), ctx=ctx), shape=(2, 2)),
          np.full((2, 2), 2, np.float32))


def test_broadcast_errors(ctx):
    x = mx.nd.zeros((3, 2), ctx=ctx)
    with pytest.raises(MXNetError, match="broadcast_to: input of shape \\(3, 2\\) cannot be "
                                         "broadcast to \\(4, 2\\)"):
        mx.nd.broadcast_to(x, shape=(4, 2))
    with pytest.raises(MXNetError, match="fewer dims"):
        mx.nd.broadcast_to(x, shape=(6,))
    with pytest.raises(MXNetError, match="broadcast_to: shape=\\(-1, 2\\) has a negative size"):
        mx.nd.broadcast_to(x, shape=(-1, 2))
    with pytest.raises(MXNetError, match="broadcast_axis: size=\\(-2,\\) has a negative"):
        mx.nd.broadcast_axis(x[:, :1], axis=1, size=-2)
    with pytest.raises(MXNetError, match="broadcast_axis: axis 0 has size 3"):
        mx.nd.broadcast_axis(x, axis=0, size=4)
    with pytest.raises(MXNetError, match="must have the same length"):
        mx.nd.broadcast_axis(x, axis=(0, 1), size=(4,))
    with pytest.raises(MXNetError, match="broadcast_like: input of shape \\(3, 2\\) cannot"):
        mx.nd.broadcast_like(x, mx.nd.zeros((3, 5), ctx=ctx))


@pytest.mark.parametrize("shape,reps", [((2, 3), (2, 2)), ((2, 3), (3,)), ((3,), (2, 1, 2)),
                                        ((2, 1, 3), (1, 4, 1)), ((2, 3), (0, 2)),
                                        ((), (3,)), ((0, 2), (2, 2))])
def test_tile(ctx, shape, reps):
    for dt in supported_dtypes(ctx, ("float32", "int8")):
        host = _sample(shape, dt)
        _same(mx.nd.tile(_nd(host, ctx), reps=reps), np.tile(host, reps))


def test_tile_repeat_dtypes(ctx, dtypes):
    for dt in dtypes:
        host = _sample((2, 3), dt)
        x = _offset_nd(host, ctx)
        _same(x.tile(reps=(2, 3)), np.tile(host, (2, 3)))
        _same(mx.nd.repeat(x, repeats=2), np.repeat(host, 2))
        _same(mx.nd.repeat(x, 3, axis=1), np.repeat(host, 3, axis=1))
        _same(x.repeat(2, axis=-2), np.repeat(host, 2, axis=0))
    _same(mx.nd.repeat(mx.nd.ones((2, 3), ctx=ctx), 0, axis=1), np.ones((2, 0), np.float32))
    _same(mx.nd.repeat(mx.nd.array(np.float32(4), ctx=ctx), 3), np.full(3, 4, np.float32))
    with pytest.raises(MXNetError, match="repeat: axis=2 is out of range"):
        mx.nd.repeat(mx.nd.ones((2, 3), ctx=ctx), 2, axis=2)
    with pytest.raises(MXNetError, match="tile: reps=\\(-1,\\) must not be negative"):
        mx.nd.tile(mx.nd.ones((2, 3), ctx=ctx), reps=(-1,))


# -- concat, stack, split ----------------------------------------------------------------------


def test_concat(ctx, dtypes):
    for dt in dtypes:
        a, b, c = _sample((2, 3), dt), _sample((2, 1), dt), _sample((2, 0), dt)
        xa, xb, xc = _offset_nd(a, ctx), _nd(b, ctx), _nd(c, ctx)
        _same(mx.nd.concat(xa, xb, xc), np.concatenate([a, b, c], axis=1))
        _same(mx.nd.concat(xa, xa, dim=0), np.concatenate([a, a], axis=0))
        _same(mx.nd.Concat(xa, xb, dim=-1, num_args=2), np.concatenate([a, b], axis=1))
        _same(mx.nd.concat(xa.T, xa.T, dim=0), np.concatenate([a.T, a.T]))
        _same(mx.nd.concatenate([xa, xa], axis=1), np.concatenate([a, a], axis=1))
        _same(mx.nd.concat(xa), a)


def test_concat_promotes_and_errors(ctx):
    a = mx.nd.array([[1, 2]], ctx=ctx, dtype="int32")
    b = mx.nd.array([[0.5, 1.5]], ctx=ctx)
    _same(mx.nd.concat(a, b, dim=0), np.array([[1, 2], [0.5, 1.5]], np.float32))
    with pytest.raises(MXNetError, match="concat: input 2 has shape \\(2, 4\\), which does "
                                         "not match input 0's shape \\(1, 2\\) outside dim 0"):
        mx.nd.concat(a, a, mx.nd.zeros((2, 4), ctx=ctx), dim=0)
    with pytest.raises(MXNetError, match="concat: input 1 has shape \\(2,\\)"):
        mx.nd.concat(a, mx.nd.zeros((2,), ctx=ctx), dim=0)
    with pytest.raises(MXNetError, match="concat: dim=2 is out of range for input shape"):
        mx.nd.concat(a, a, dim=2)
    with pytest.raises(MXNetError, match="needs at least one input"):
        mx.nd.concat(dim=0)
    with pytest.raises(MXNetError, match="num_args=3 but 2 arrays"):
        mx.nd.invoke("concat", [a, a], {"dim": 0, "num_args": 3})


def test_stack(ctx, dtypes):
    for dt in dtypes:
        a, b = _sample((2, 3), dt), _sample((2, 3), dt)[::-1]
        xa, xb = _offset_nd(a, ctx), _nd(np.ascontiguousarray(b), ctx)
        for axis in (0, 1, 2, -1, -3):
            _same(mx.nd.stack(xa, xb, axis=axis), np.stack([a, b], axis=axis))
    _same(mx.nd.stack(mx.nd.zeros((0, 2), ctx=ctx), axis=1), np.zeros((0, 1, 2), np.float32))
    _same(mx.nd.stack(mx.nd.array(np.float32(1), ctx=ctx), mx.nd.array(np.float32(2), ctx=ctx)),
          np.array([1, 2], np.float32))
    with pytest.raises(MXNetError, match="stack: input 1 has shape \\(3, 2\\), but input 0 "
                                         "has \\(2, 3\\)"):
        mx.nd.stack(mx.nd.zeros((2, 3), ctx=ctx), mx.nd.zeros((3, 2), ctx=ctx))
    with pytest.raises(MXNetError, match="stack: axis=3 is out of range"):
        mx.nd.stack(mx.nd.zeros((2, 3), ctx=ctx), axis=3)


def test_split(ctx, dtypes):
    for dt in dtypes:
        host = _sample((2, 6, 3), dt)
        x = _offset_nd(host, ctx)
        parts = mx.nd.split(x, num_outputs=3)
        assert isinstance(parts, list) and len(parts) == 3
        for got, want in zip(parts, np.split(host, 3, axis=1)):
            _same(got, want)
        for got, want in zip(mx.nd.SliceChannel(x, num_outputs=3, axis=-1, squeeze_axis=True),
                             np.split(host, 3, axis=2)):
            _same(got, want[..., 0])
        for got, want in zip(x.split(num_outputs=2, axis=0), np.split(host, 2, axis=0)):
            _same(got, want)
    one = mx.nd.split(mx.nd.ones((2, 4), ctx=ctx), num_outputs=1)
    assert isinstance(one, mx.nd.NDArray) and one.shape == (2, 4)
    empty = mx.nd.split(mx.nd.ones((0, 4), ctx=ctx), num_outputs=2, axis=1)
    assert [e.shape for e in empty] == [(0, 2), (0, 2)]
    with pytest.raises(MXNetError, match="split: cannot split axis 1 of input shape \\(2, 5\\) "
                                         "into num_outputs=2"):
        mx.nd.split(mx.nd.ones((2, 5), ctx=ctx), num_outputs=2)
    with pytest.raises(MXNetError, match="squeeze_axis=True needs each part to have size 1"):
        mx.nd.split(mx.nd.ones((2, 4), ctx=ctx), num_outputs=2, squeeze_axis=True)
    with pytest.raises(MXNetError, match="split: axis=2 is out of range"):
        mx.nd.split(mx.nd.ones((2, 4), ctx=ctx), num_outputs=2, axis=2)


# -- slice, slice_axis -------------------------------------------------------------------------

SLICES = [
    ((1,), (3,), ()), ((0, 1), (2, 4), ()), ((None, 1), (None, None), (None, 2)),
    ((-1,), (None,), (-1,)), ((None,), (None,), (-2,)), ((4, -2), (0, 0), (-1, -1)),
    ((-10, 2), (10, 100), ()), ((3,), (1,), ()), ((0, None, None), (5, None, -3), (2, 1, 1)),
]


@pytest.mark.parametrize("begin,end,step", SLICES)
def test_slice(ctx, begin, end, step):
    host = _sample((5, 4, 3), "float32")
    key = tuple(slice(b, e, s) for b, e, s in zip(begin, end, step or (None,) * len(begin)))
    _same(mx.nd.slice(_offset_nd(host, ctx), begin=begin, end=end, step=step), host[key])


def test_slice_dtypes_and_errors(ctx, dtypes):
    for dt in dtypes:
        host = _sample((4, 5), dt)
        x = _offset_nd(host, ctx)
        _same(x.slice(begin=(1, None), end=(None, -1), step=(2, -1)), host[1::2, -1:-1:-1])
        _same(x.slice(begin=(3, None), end=(None, None), step=(-1, -2)), host[3::-1, ::-2])
        _same(x.slice(begin="(1, None)", end="[None, 3]", step="(1, -1)"), host[1:, :3:-1])
        _same(mx.nd.slice_axis(x, axis=1, begin=1, end=3), host[:, 1:3])
        _same(x.slice_axis(axis=-2, begin=-3, end=None), host[-3:])
        _same(mx.nd.slice_axis(x, axis=0, begin=2, end=2), host[2:2])
    x = mx.nd.zeros((4, 5), ctx=ctx)
    with pytest.raises(MXNetError, match="slice: step\\[1\\] is 0"):
        mx.nd.slice(x, begin=(0, 0), end=(1, 1), step=(1, 0))
    with pytest.raises(MXNetError, match="must have the same length"):
        mx.nd.slice(x, begin=(0, 0), end=(1,))
    with pytest.raises(MXNetError, match="at most the input's 2 dims"):
        mx.nd.slice(x, begin=(0, 0, 0), end=(1, 1, 1))
    with pytest.raises(MXNetError, match="slice: the input is 0-d"):
        mx.nd.slice(mx.nd.zeros((), ctx=ctx), begin=(), end=())
    with pytest.raises(MXNetError, match="slice_axis: begin=3, end=1 do not give a range "
                                         "within axis 0 of size 4"):
        mx.nd.slice_axis(x, axis=0, begin=3, end=1)
    with pytest.raises(MXNetError, match="end=9 do not give a range"):
        mx.nd.slice_axis(x, axis=1, begin=0, end=9)
    with pytest.raises(MXNetError, match="slice_axis: axis=2 is out of range"):
        mx.nd.slice_axis(x, axis=2, begin=0, end=1)


# -- take, pick, one_hot -----------------------------------------------------------------------


def _np_take(a, idx, axis, mode):
    j = np.asarray(idx).astype(np.int64)
    n = a.shape[axis]
    j = np.clip(j, 0, n - 1) if mode == "clip" else j % n
    return np.take(a, j, axis=axis)


def test_take_dtypes(ctx, dtypes):
    idx_host = np.array([[2, 0], [3, 1], [1, 1]])
    for dt in dtypes:
        host = _sample((4, 3, 2), dt)
        a = _offset_nd(host, ctx)
        for it in supported_dtypes(ctx, INDEX_DTYPES):
            idx = _nd(idx_host.astype(it), ctx)
            _same(mx.nd.take(a, idx), np.take(host, idx_host, axis=0))
        _same(a.take(mx.nd.array([1, 0], ctx=ctx), axis=1), host[:, [1, 0]])
        _same(mx.nd.take(a, mx.nd.array([1, 0, 1], ctx=ctx), axis=-1), host[..., [1, 0, 1]])


@pytest.mark.parametrize("mode", ["clip", "wrap", "raise"])
def test_take_modes(ctx, mode):
    host = _sample((5, 3), "float32")
    a = _nd(host, ctx)
    idx = np.array([0, 4, -1, -5, 7, -8, 2]) if mode != "raise" else np.array([0, 4, -1, -5])
    for it in ("float32", "int32", "int64"):
        got = mx.nd.take(a, _nd(idx.astype(it), ctx), mode=mode)
        want = np.take(host, idx, axis=0) if mode == "raise" else _np_take(host, idx, 0, mode)
        _same(got, want)
    # float indices truncate toward zero, as MXNet's cast does
    _same(mx.nd.take(a, mx.nd.array([1.7, -0.5, 3.2], ctx=ctx), mode=mode), host[[1, 0, 3]])


def test_take_edges_and_errors(ctx):
    host = _sample((4, 3), "int32")
    a = _nd(host, ctx)
    _same(mx.nd.take(a, mx.nd.array(np.float32(2), ctx=ctx)), host[2])
    _same(mx.nd.take(a, mx.nd.zeros((0,), ctx=ctx)), host[[]])
    _same(mx.nd.take(a, mx.nd.zeros((2, 0), ctx=ctx), axis=1), np.zeros((4, 2, 0), np.int32))
    _same(mx.nd.take(mx.nd.zeros((0, 3), ctx=ctx), mx.nd.zeros((0,), ctx=ctx)),
          np.zeros((0, 3), np.float32))
    # index arrays at an offset into their buffer, and out=
    idx = mx.nd.array([[9, 9], [3, 1]], ctx=ctx, dtype="int32")[1]
    out = mx.nd.zeros((2, 3), ctx=ctx, dtype="int32")
    assert mx.nd.take(a, idx, out=out) is out
    _same(out, host[[3, 1]])
    _same(mx.nd.one_hot(idx, depth=4, dtype="int32"), np.eye(4, dtype=np.int32)[[3, 1]])
    _same(mx.nd.pick(a, mx.nd.array([[7] * 4, [2, 0, 1, 2]], ctx=ctx)[1], axis=1),
          host[np.arange(4), [2, 0, 1, 2]])
    bad = mx.nd.array([0, 1, 4, 2], ctx=ctx, dtype="int64")
    with pytest.raises(MXNetError, match="take: index 4 \\(at position 2 of the indices\\) is "
                                         "out of range for axis 0 of size 4 \\(input shape "
                                         "\\(4, 3\\), mode='raise'\\)"):
        mx.nd.take(a, bad, mode="raise")
    with pytest.raises(MXNetError, match="take: index -4.0 .* out of range for axis 1 of size 3"):
        mx.nd.take(a, mx.nd.array([0, -4], ctx=ctx), axis=1, mode="raise")
    with pytest.raises(MXNetError, match="take: axis=2 is out of range for input shape"):
        mx.nd.take(a, bad, axis=2)
    with pytest.raises(MXNetError, match="take: axis 0 of input shape \\(0, 3\\) is empty"):
        mx.nd.take(mx.nd.zeros((0, 3), ctx=ctx), bad)
    with pytest.raises(MXNetError, match="mode='bogus' must be one of"):
        mx.nd.take(a, bad, mode="bogus")


def test_pick(ctx, dtypes):
    for dt in dtypes:
        host = _sample((3, 4, 2), dt)
        data = _offset_nd(host, ctx)
        idx = np.array([[0, 3], [2, 1], [3, 3]])
        want = np.take_along_axis(host, idx[:, None, :], axis=1)
        _same(mx.nd.pick(data, mx.nd.array(idx, ctx=ctx), axis=1), want[:, 0])
        _same(data.pick(mx.nd.array(idx, ctx=ctx, dtype="int64"), axis=-2, keepdims=True), want)
        last = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]])
        _same(mx.nd.pick(data, mx.nd.array(last[..., None], ctx=ctx, dtype="int32")),
              np.take_along_axis(host, last[..., None], axis=-1)[..., 0])
    host = _sample((2, 3), "float32")
    data = _nd(host, ctx)
    _same(mx.nd.pick(data, mx.nd.array([5, -1], ctx=ctx), axis=1), host[[0, 1], [2, 0]])
    _same(mx.nd.pick(data, mx.nd.array([5, -1], ctx=ctx), axis=1, mode="wrap"),
          host[[0, 1], [2, 2]])
    _same(mx.nd.pick(mx.nd.zeros((0, 3), ctx=ctx), mx.nd.zeros((0,), ctx=ctx)),
          np.zeros((0,), np.float32))
    with pytest.raises(MXNetError, match="pick: index shape \\(3,\\) must be \\(2,\\) \\(or "
                                         "\\(2, 1\\)\\) for data shape \\(2, 3\\)"):
        mx.nd.pick(data, mx.nd.zeros((3,), ctx=ctx), axis=1)
    with pytest.raises(MXNetError, match="pick: axis=2 is out of range"):
        mx.nd.pick(data, mx.nd.zeros((2,), ctx=ctx), axis=2)


def test_one_hot(ctx, dtypes):
    idx = np.array([[1, 0, 3], [4, -1, 2]])
    for dt in dtypes:
        for it in ("float32", "int64"):
            got = mx.nd.one_hot(_nd(idx.astype(it), ctx), depth=4, dtype=dt)
            want = (idx[..., None] == np.arange(4)).astype(dt)
            _same(got, want)
        got = mx.nd.one_hot(mx.nd.array([2, 0], ctx=ctx), 3, on_value=5, off_value=-2, dtype=dt)
        _same(got, np.array([[-2, -2, 5], [5, -2, -2]]).astype(dt))
    _same(mx.nd.one_hot(mx.nd.zeros((0,), ctx=ctx), depth=3), np.zeros((0, 3), np.float32))
    _same(mx.nd.one_hot(mx.nd.array([1], ctx=ctx), depth=0), np.zeros((1, 0), np.float32))
    _same(mx.nd.one_hot(mx.nd.array(np.float32(1), ctx=ctx), depth=2),
          np.array([0, 1], np.float32))
    with pytest.raises(MXNetError, match="one_hot: argument depth=-1 must be >= 0"):
        mx.nd.one_hot(mx.nd.array([1], ctx=ctx), depth=-1)


def test_namespace_and_methods():
    for name in ("Reshape", "reshape", "Flatten", "flatten", "expand_dims", "squeeze",
                 "transpose", "swapaxes", "SwapAxis", "flip", "reverse", "broadcast_to",
                 "broadcast_axis", "broadcast_axes", "broadcast_like", "tile", "repeat",
                 "concat", "Concat", "stack", "split", "SliceChannel", "slice", "slice_axis",
                 "take", "pick", "one_hot"):
        assert callable(getattr(mx.nd, name)), name
    for name in ("flatten", "expand_dims", "squeeze", "transpose", "swapaxes", "flip",
                 "broadcast_to", "tile", "repeat", "split", "slice", "slice_axis", "take",
                 "pick", "one_hot"):
        assert callable(getattr(mx.nd.NDArray, name)), name
