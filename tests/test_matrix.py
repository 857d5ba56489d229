"""Tests for clnet.ops.matrix: dot and batch_dot against numpy (every float dtype, transpose
flags, odd and size-0 shapes, non-contiguous inputs, both kernel paths, every PARAMS row), the
`gemm` launcher's alpha/beta/stride forms and its bias epilogue on every kernel path, the
split over k of both the tiled and the packed path (recorded and replayed too), a B
passed already packed (and the fallback where no packing happens), the gradients (autograd
against numpy, the symbolic executor against finite differences) and the error messages. The
measured search and the GEMV kernel's own cases are in test_gemm_tuning.py."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.dtype import as_dtype
from clnet.ops import matrix
from clnet.runtime import get_device

from conftest import supported_dtypes

FLOATS = ("float32", "float64", "float16")
FLAGS = list(itertools.product((False, True), repeat=2))
# (m, k, n): below and above the direct-kernel threshold, none a multiple of the blocks;
# k = 300 crosses the CPU k-block (256), 256 x 300 x 200 fills whole register blocks
SHAPES = [(1, 1, 1), (3, 17, 65), (17, 65, 3), (127, 3, 17), (65, 127, 33), (256, 300, 200)]


def _need(ctx, dtype):
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} lacks {dtype}")


def _uniform(shape, dtype):
    return np.random.uniform(-1, 1, shape).astype(dtype)


def _nd(host):
    """An NDArray with the numpy array's own dtype (mx.nd.array defaults to float32)."""
    return mx.nd.array(host, dtype=host.dtype)


def _check(got, want, k, dtype):
    """Compare with a tolerance that grows with the contracted length k."""
    eps = {"float16": 1e-3, "float32": 1.2e-7, "float64": 2.3e-16}[dtype]
    assert got.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                               rtol=8 * eps * max(k, 1) ** 0.5, atol=4 * eps * max(k, 1))


def _ref_dot(lhs, rhs, ta=False, tb=False):
    """MXNet's dot in numpy: flatten to 2-D around the contracted axis, multiply, reshape."""
    acc = np.float64
    if lhs.ndim == 1 and rhs.ndim == 1:
        return np.array([np.dot(lhs.astype(acc), rhs.astype(acc))])
    out_l = lhs.shape[1:] if ta else lhs.shape[:-1]
    out_r = rhs.shape[:-1] if tb else rhs.shape[1:]
    m, n = int(np.prod(out_l)), int(np.prod(out_r))
    lmat = lhs.reshape(lhs.shape[0], m).T if ta else lhs.reshape(m, lhs.shape[-1])
    rmat = rhs.reshape(n, rhs.shape[-1]).T if tb else rhs.reshape(rhs.shape[0], n)
    return (lmat.astype(acc) @ rmat.astype(acc)).reshape(out_l + out_r)


def _ref_batch_dot(lhs, rhs, ta=False, tb=False):
    lhs = np.swapaxes(lhs, -1, -2) if ta else lhs
    rhs = np.swapaxes(rhs, -1, -2) if tb else rhs
    return np.matmul(lhs.astype(np.float64), rhs.astype(np.float64))


def _operands(m, k, n, ta, tb, dtype, lead=()):
    a = _uniform(lead + ((k, m) if ta else (m, k)), dtype)
    b = _uniform(lead + ((n, k) if tb else (k, n)), dtype)
    return a, b


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ta,tb", FLAGS)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_dot_2d(ctx, dtype, ta, tb, m, k, n):
    _need(ctx, dtype)
    a, b = _operands(m, k, n, ta, tb, dtype)
    got = mx.nd.dot(_nd(a), _nd(b), transpose_a=ta, transpose_b=tb)
    _check(got.asnumpy(), _ref_dot(a, b, ta, tb).astype(dtype), k, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ta,tb", FLAGS)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 17, 3), (33, 70, 65), (40, 300, 24)])
def test_batch_dot(ctx, dtype, ta, tb, m, k, n):
    _need(ctx, dtype)
    a, b = _operands(m, k, n, ta, tb, dtype, lead=(3,))
    got = mx.nd.batch_dot(_nd(a), _nd(b), transpose_a=ta, transpose_b=tb)
    _check(got.asnumpy(), _ref_batch_dot(a, b, ta, tb).astype(dtype), k, dtype)


@pytest.mark.parametrize("ta,tb", FLAGS)
def test_batch_dot_4d(ctx, ta, tb):
    a, b = _operands(19, 23, 37, ta, tb, "float32", lead=(2, 3))
    got = mx.nd.batch_dot(_nd(a), _nd(b), transpose_a=ta, transpose_b=tb)
    _check(got.asnumpy(), _ref_batch_dot(a, b, ta, tb).astype("float32"), 23, "float32")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("lshape,rshape,ta,tb", [
    ((7,), (7,), False, False),                # inner product -> (1,)
    ((300,), (300,), False, False),
    ((5, 7), (7,), False, False),              # matrix . vector
    ((7, 5), (7,), True, False),
    ((7,), (7, 6), False, False),              # vector . matrix
    ((7,), (6, 7), False, True),
    ((7,), (7, 6), True, False),               # a 1-D lhs is the same with transpose_a
    ((130,), (130, 70), False, False),
    ((2, 3, 4), (4, 5), False, False),         # N-D: last axis of lhs, first of rhs
    ((2, 3, 4), (4, 5, 6), False, False),
    ((4, 2, 3), (4, 5), True, False),          # transpose_a contracts lhs's first axis
    ((2, 3, 4), (5, 6, 4), False, True),       # transpose_b contracts rhs's last axis
    ((4, 2, 3), (5, 6, 4), True, True),
])
def test_dot_vectors_and_nd(ctx, dtype, lshape, rshape, ta, tb):
    _need(ctx, dtype)
    a, b = _uniform(lshape, dtype), _uniform(rshape, dtype)
    got = mx.nd.dot(_nd(a), _nd(b), transpose_a=ta, transpose_b=tb)
    k = lshape[0] if ta else lshape[-1]
    _check(got.asnumpy(), _ref_dot(a, b, ta, tb).astype(dtype), k, dtype)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("lshape,rshape,oshape", [
    ((0, 5), (5, 3), (0, 3)),
    ((4, 5), (5, 0), (4, 0)),
    ((4, 0), (0, 3), (4, 3)),        # empty sum: zeros
    ((0,), (0,), (1,)),
    ((3, 0), (0,), (3,)),
    ((0, 2, 3), (3, 4), (0, 2, 4)),
])
def test_dot_size_zero(ctx, dtype, lshape, rshape, oshape):
    _need(ctx, dtype)
    a, b = np.ones(lshape, dtype), np.ones(rshape, dtype)
    want = _ref_dot(a, b).astype(dtype)
    assert want.shape == oshape
    out = _nd(np.full(oshape, np.nan, dtype))  # zeros must be written, not assumed
    got = mx.nd.dot(_nd(a), _nd(b), out=out)
    np.testing.assert_array_equal(got.asnumpy(), want)


@pytest.mark.parametrize("lshape,rshape,oshape", [
    ((0, 3, 4), (0, 4, 5), (0, 3, 5)),
    ((2, 3, 0), (2, 0, 5), (2, 3, 5)),
    ((2, 0, 4), (2, 4, 5), (2, 0, 5)),
])
def test_batch_dot_size_zero(ctx, lshape, rshape, oshape):
    a, b = np.ones(lshape, "float32"), np.ones(rshape, "float32")
    out = _nd(np.full(oshape, np.nan, "float32"))
    got = mx.nd.batch_dot(_nd(a), _nd(b), out=out)
    np.testing.assert_array_equal(got.asnumpy(), np.matmul(a, b))


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_non_contiguous_inputs(ctx, dtype):
    _need(ctx, dtype)
    a, b = _uniform((70, 2 * 67), dtype), _uniform((67, 90), dtype)
    xa, xb = _nd(a), _nd(b)
    got = mx.nd.dot(xa[:, ::2], xb[::-1])
    _check(got.asnumpy(), (a[:, ::2].astype(np.float64) @ b[::-1]).astype(dtype), 67, dtype)
    # a row range is a view at an element offset into the parent's buffer
    got = mx.nd.dot(xa[5:40, 1:68], xa[40:70, :67], transpose_b=True)
    want = a[5:40, 1:68].astype(np.float64) @ a[40:70, :67].T
    _check(got.asnumpy(), want.astype(dtype), 67, dtype)
    c = _uniform((4, 30, 20), dtype)
    xc = _nd(c)
    got = mx.nd.batch_dot(xc[1:3], xc[::-1][:2], transpose_b=True)
    _check(got.asnumpy(), _ref_batch_dot(c[1:3], c[::-1][:2], False, True).astype(dtype),
           20, dtype)


def test_fluent_and_out(ctx):
    a, b = _uniform((9, 8), "float32"), _uniform((8, 7), "float32")
    xa, xb = _nd(a), _nd(b)
    _check(xa.dot(xb).asnumpy(), (a @ b), 8, "float32")
    out = mx.nd.zeros((9, 7))
    assert mx.nd.dot(xa, xb, out=out) is out
    _check(out.asnumpy(), a @ b, 8, "float32")
    lb = _nd(_uniform((2, 9, 8), "float32"))
    assert lb.batch_dot(lb, transpose_b=True).shape == (2, 9, 9)
    # out may be an input: the product is formed before it is overwritten
    sq = _uniform((70, 70), "float32")
    xs = _nd(sq)
    mx.nd.dot(xs, xs, out=xs)
    _check(xs.asnumpy(), sq.astype(np.float64) @ sq, 70, "float32")


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.0, 0.5), (-1.0, 1.0)])
@pytest.mark.parametrize("m,k,n", [(5, 6, 7), (70, 300, 40)])
@pytest.mark.parametrize("pad,off", [(0, 0), (5, 2)])
def test_gemm_alpha_beta_and_shared_operand(ctx, alpha, beta, m, k, n, pad, off):
    """gemm's full form, with B shared by every batch (batch stride 0) and C either dense or
    strided inside a larger array (row stride > n, element offset > 0)."""
    batch, ldc = 3, n + pad
    a, b = _uniform((batch, k, m), "float32"), _uniform((k, n), "float32")
    c = _uniform((batch, m, ldc + off), "float32")
    xa, xb, xc = _nd(a), _nd(b), _nd(c)
    matrix.gemm(get_device(ctx), xc._dt, m, n, k,
                matrix.Operand(xa._buf, xa._offset, 1, m, m * k),
                matrix.Operand(xb._buf, xb._offset, n, 1, 0),
                matrix.Operand(xc._buf, xc._offset + off, ldc + off, 1, m * (ldc + off)),
                batch=batch, alpha=alpha, beta=beta)
    want = c.astype(np.float64)
    block = (slice(None), slice(None), slice(off, off + n))
    want[block] = alpha * np.matmul(np.swapaxes(a, 1, 2), b) + beta * c[block]
    _check(xc.asnumpy(), want.astype("float32"), k, "float32")


@pytest.mark.parametrize("relu", (False, True))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("m,k,n,paths", [(3, 5, 7, "direct"), (2, 70, 33, "gemv"),
                                         (4, 70, 33, {"cpu": "direct", "gpu": "tiled"}),
                                         (70, 300, 40, {"cpu": "packed", "gpu": "tiled"})])
def test_gemm_bias_epilogue(ctx, dtype, m, k, n, paths, relu):
    """gemm's bias (a vector along n, here a strided view) is added once to every row in
    each kernel path's store, with beta reading C as well, and `relu` clamps the sum after
    them (after the last k block of the packed path). Which path a shape takes depends on
    the device kind's PARAMS row (GPUs tile 4-row products)."""
    _need(ctx, dtype)
    path = paths if isinstance(paths, str) else paths[matrix.device_kind(get_device(ctx))]
    a, w = _uniform((m, k), dtype), _uniform((n, k), dtype)
    c, bias = _uniform((m, n), dtype), _uniform((3 * n,), dtype)
    xa, xw, xc, xb = _nd(a), _nd(w), _nd(c), _nd(bias)
    dev, dt = get_device(ctx), xa._dt
    op_a = matrix.Operand(xa._buf, 0, k, 1, 0)
    # gemv reads W^T (both operands contiguous along k); the others a row-major copy
    op_b = matrix.Operand(xw._buf, 0, 1, k, 0)
    if path != "gemv":
        xw = _nd(np.ascontiguousarray(w.T))
        op_b = matrix.Operand(xw._buf, 0, n, 1, 0)
    assert matrix.kernel_path(dev, dt, m, n, k, op_a, op_b) == path
    matrix.gemm(dev, dt, m, n, k, op_a, op_b, matrix.Operand(xc._buf, 0, n, 1, 0),
                beta=0.5, bias=matrix.Operand(xb._buf, 2, 0, 3, 0), relu=relu)
    want = a.astype(np.float64) @ w.T + 0.5 * c + bias[2::3]
    got = xc.asnumpy()
    if relu:
        assert (want < 0).any()  # the clamp has work (each sum is negative half the time)
        want = np.maximum(want, 0)
    _check(got, want.astype(dtype), k, dtype)


def _pack_panels(b, nr):
    """numpy's gemm_pack_b: (batch, k, n) -> panels of nr columns, element (q, kk, c) at
    (q * k + kk) * nr + c per batch, columns past n zero."""
    batch, k, n = b.shape
    q = -(-n // nr)
    wide = np.zeros((batch, k, q * nr), np.float64)
    wide[:, :, :n] = b
    return np.ascontiguousarray(wide.reshape(batch, k, q, nr).transpose(0, 2, 1, 3))


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("m,k,n,batch,tb", [(70, 301, 45, 1, False), (37, 65, 129, 3, True),
                                            (130, 9, 151, 2, False)])
def test_gemm_prepacked_b(ctx, dtype, m, k, n, batch, tb, monkeypatch, request):
    """A B written by the caller in the packed panel layout (odd n and k, batches) gives the
    product of the ordinary call, with the parameters packed_b_params chose for it (the CPU
    row's packed path, on whatever device there is: GPUs take the tiled path instead)."""
    _need(ctx, dtype)
    monkeypatch.setattr(matrix, "device_kind", lambda device: "cpu")
    matrix.forget_choices()
    request.addfinalizer(matrix.forget_choices)
    dev = get_device(ctx)
    a, b = _uniform((batch, m, k), dtype), _uniform((batch, k, n), dtype)
    c = _uniform((batch, m, n), dtype)
    xa, xc = _nd(a), _nd(c)
    dt = xa._dt
    op_a = matrix.Operand(xa._buf, 0, k, 1, m * k)
    # the ordinary layout the caller stands for: row-major B, or B stored transposed
    op_b = matrix.Operand(None, 0, *((1, k) if tb else (n, 1)), k * n)
    params = matrix.packed_b_params(dev, dt, m, n, k, op_a, op_b, batch=batch)
    assert params is not None
    assert params == matrix._plan(dev, dt, m, n, k, op_a, op_b, batch)[1]
    nr = params["NV"] * params["VW"]
    panels = _pack_panels(b, nr)
    assert panels[0].size == matrix.packed_b_stride(params, n, k)
    xp = _nd(panels.astype(dtype))
    matrix.gemm(dev, dt, m, n, k, op_a, op_b, matrix.Operand(xc._buf, 0, n, 1, m * n),
                batch=batch, beta=0.5, packed_b=xp._buf)
    want = np.matmul(a.astype(np.float64), b) + 0.5 * c
    _check(xc.asnumpy(), want.astype(dtype), k, dtype)


def test_gemm_prepacked_b_fallback(ctx):
    """Products off the packed path have no packed parameters, and refuse a packed B."""
    dev = get_device(ctx)
    x = _nd(_uniform((8,), "float32"))
    dt = x._dt
    row = matrix.Operand(x._buf, 0, 4, 1, 0)
    for m, n, k, a, b in ((3, 4, 5, row, row), (2, 70, 300, row, matrix.Operand(x._buf, 0, 1,
                                                                                 300, 0))):
        assert matrix.kernel_path(dev, dt, m, n, k, a, b) != "packed"
        assert matrix.packed_b_params(dev, dt, m, n, k, a, b) is None
        with pytest.raises(MXNetError, match="takes the (direct|gemv) path"):
            matrix.gemm(dev, dt, m, n, k, a, b, row, packed_b=x._buf)
    assert matrix.packed_b_params(dev, dt, 0, 4, 5, row, row) is None


@pytest.mark.parametrize("kind", sorted(matrix.PARAMS))
def test_every_params_row(ctx, kind, monkeypatch, request):
    """Each device kind's blocking computes the same products (the GPU row runs here on
    whatever device there is), over both kernel paths, edges and k blocks."""
    monkeypatch.setattr(matrix, "device_kind", lambda device: kind)
    matrix.forget_choices()
    request.addfinalizer(matrix.forget_choices)
    for (m, k, n), (ta, tb) in zip([(1, 300, 70), (37, 300, 29), (130, 70, 9), (3, 5, 2)],
                                   FLAGS):
        a, b = _operands(m, k, n, ta, tb, "float32", lead=(2,))
        got = mx.nd.batch_dot(_nd(a), _nd(b), transpose_a=ta, transpose_b=tb)
        _check(got.asnumpy(), _ref_batch_dot(a, b, ta, tb).astype("float32"), k, "float32")


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_tiled_split_k(ctx, dtype, monkeypatch, request):
    """The tiled path splits a long k over several work-groups when C has few blocks (the
    weight gradient of a convolution), then sums the splits with the epilogue: batches, every
    transpose case, beta, a bias, k not a multiple of the split, 1 to 64 compute units."""
    _need(ctx, dtype)
    monkeypatch.setattr(matrix, "device_kind", lambda device: "gpu")
    matrix.forget_choices()
    request.addfinalizer(matrix.forget_choices)
    dev = get_device(ctx)
    params = matrix.gemm_params(dev, _nd(np.zeros(1, dtype))._dt)
    cases = [(64, (20, 3001, 25), True), (4, (5, 1100, 130), True), (1, (20, 3001, 25), False),
             (64, (1, 999, 1), True)]
    for (units, (m, k, n), split), (ta, tb) in zip(cases, FLAGS):
        monkeypatch.setattr(dev, "compute_units", units)
        blocks = -(-m // (params["TM"] * params["WY"])) * -(-n // (params["TN"] * params["WX"]))
        assert (matrix._splits(dev, params, blocks * 2, k) > 1) == split
        a, b = _operands(m, k, n, ta, tb, dtype, lead=(2,))
        c, bias = _uniform((2, m, n), dtype), _uniform((n,), dtype)
        xa, xb, xc, xv = _nd(a), _nd(b), _nd(c), _nd(bias)
        op_a = matrix.Operand(xa._buf, 0, *((1, m) if ta else (k, 1)), m * k)
        op_b = matrix.Operand(xb._buf, 0, *((1, k) if tb else (n, 1)), k * n)
        relu = ta != tb  # the epilogue's relu after the splits' sum, in half the cases
        matrix.gemm(dev, xa._dt, m, n, k, op_a, op_b, matrix.Operand(xc._buf, 0, n, 1, m * n),
                    batch=2, alpha=2.0, beta=0.5, bias=matrix.Operand(xv._buf, 0, 0, 1, 0),
                    path="tiled", relu=relu)
        want = 2.0 * _ref_batch_dot(a, b, ta, tb) + 0.5 * c + bias
        want = np.maximum(want, 0) if relu else want
        _check(xc.asnumpy(), want.astype(dtype), k, dtype)


@pytest.fixture
def split_calls(monkeypatch, request):
    """The CPU row's parameters on whatever device there is; the list of the split counts
    of the products split over k."""
    monkeypatch.setattr(matrix, "device_kind", lambda device: "cpu")
    matrix.forget_choices()
    request.addfinalizer(matrix.forget_choices)
    calls = []
    split_k = matrix._split_k

    def counted(device, dt, params, dims, a, b, c, alpha, beta, splits, relu):
        calls.append(splits)
        split_k(device, dt, params, dims, a, b, c, alpha, beta, splits, relu)
    monkeypatch.setattr(matrix, "_split_k", counted)
    return calls


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_packed_split_k(ctx, dtype, split_calls, monkeypatch):
    """The packed path splits a long k when the micro-kernel would have too few work-groups
    (M x N small): partial products batched over ranges of k, a shorter last range, then
    the ones-row sum with alpha and beta. Every transpose case, 2 to 64 compute units, up to
    SPLIT_MAX ranges; products with enough work-groups stay whole."""
    _need(ctx, dtype)
    dev, calls = get_device(ctx), split_calls
    # (compute units, (m, k, n), ranges): 4099 = 7 x 513 + 508, 6000 = 8 x 750,
    # 9000 = 15 x 563 + 555 (SPLIT_MAX), 70 x 200 has 8 work-groups already
    cases = [(2, (25, 4099, 20), 8), (2, (17, 6000, 3), 8), (64, (20, 9000, 5), 16),
             (2, (70, 5000, 200), 1)]
    for (units, (m, k, n), ranges), (ta, tb) in zip(cases, FLAGS):
        monkeypatch.setattr(dev, "compute_units", units)
        a, b = _operands(m, k, n, ta, tb, dtype)
        c = _uniform((m, n), dtype)
        xa, xb, xc = _nd(a), _nd(b), _nd(c)
        op_a = matrix.Operand(xa._buf, 0, *((1, m) if ta else (k, 1)), 0)
        op_b = matrix.Operand(xb._buf, 0, *((1, k) if tb else (n, 1)), 0)
        calls.clear()
        relu = ta != tb  # applied by the sum of the partials only
        matrix.gemm(dev, xa._dt, m, n, k, op_a, op_b, matrix.Operand(xc._buf, 0, n, 1, 0),
                    alpha=2.0, beta=0.5, path="packed", relu=relu)
        assert calls == ([ranges] if ranges > 1 else [])
        want = 2.0 * _ref_dot(a, b, ta, tb) + 0.5 * c
        want = np.maximum(want, 0) if relu else want
        _check(xc.asnumpy(), want.astype(dtype), k, dtype)
    # kept whole: a bias, a C with rows apart (the partials are summed as one row), batches
    params = matrix.gemm_params(dev, xa._dt)
    dims = (25, 20, 4099, 1)
    c_dense = matrix.Operand(None, 0, 20, 1, 0)
    assert matrix._packed_splits(dev, xa._dt, params, dims, c_dense, None) == 8
    assert matrix._packed_splits(dev, xa._dt, params, dims, c_dense, c_dense) == 1
    assert matrix._packed_splits(dev, xa._dt, params, dims, c_dense._replace(rs=24), None) == 1
    assert matrix._packed_splits(dev, xa._dt, params, dims[:3] + (2,), c_dense, None) == 1
    half = as_dtype("float16")  # half partials would round: float16 stays whole
    assert matrix._packed_splits(dev, half, params, dims, c_dense, None) == 1


def test_packed_split_k_replayed(ctx, split_calls):
    """A FullyConnected weight gradient that splits k (10 x 20 over a batch of 2048) in a
    bound executor: the recorded step and its replays, on new data each time, against
    numpy (the row of ones the sums use was filled outside the recording)."""
    calls = split_calls
    sym = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=10, name="fc")
    ex = sym.simple_bind(ctx, data=(2048, 20), grad_req={"data": "null", "fc_weight": "write",
                                                         "fc_bias": "write"})
    for step in range(3):
        x, og = _uniform((2048, 20), "float32"), _uniform((2048, 10), "float32")
        ex.forward(is_train=True, data=x)
        ex.backward([mx.nd.array(og, ctx=ctx)])
        _check(ex.grad_dict["fc_weight"].asnumpy(), (og.T.astype(np.float64) @ x).astype(
            np.float32), 2048, "float32")
        np.testing.assert_allclose(ex.grad_dict["fc_bias"].asnumpy(), og.sum(0), rtol=1e-4,
                                   atol=1e-4)
    assert calls and calls[0] > 1


def test_params_table(ctx):
    dev = get_device(ctx)
    for dtype in supported_dtypes(ctx, FLOATS):
        params = matrix.gemm_params(dev, mx.nd.array([1], dtype=dtype)._dt)
        assert params["VW"] >= 1 and params["MR"] >= 1 and params["KC"] % params["KU"] == 0


def _ref_grads(lhs, rhs, og, ta, tb, batched):
    """numpy gradients of sum(og * op(lhs, rhs)) for lhs and rhs, from the flattened products:
    d op(A) = G op(B)^T, d op(B) = op(A)^T G."""
    if batched:
        opa = np.swapaxes(lhs, -1, -2) if ta else lhs
        opb = np.swapaxes(rhs, -1, -2) if tb else rhs
        da = np.matmul(og, np.swapaxes(opb, -1, -2))
        db = np.matmul(np.swapaxes(opa, -1, -2), og)
        return (np.swapaxes(da, -1, -2) if ta else da), (np.swapaxes(db, -1, -2) if tb else db)
    out_l = lhs.shape[1:] if ta else lhs.shape[:-1]
    out_r = rhs.shape[:-1] if tb else rhs.shape[1:]
    m, n = int(np.prod(out_l)), int(np.prod(out_r))
    a2 = lhs.reshape((lhs.shape[0], m) if ta else (m, lhs.shape[-1]))
    b2 = rhs.reshape((n, rhs.shape[-1]) if tb else (rhs.shape[0], n))
    opa, opb = (a2.T if ta else a2), (b2.T if tb else b2)
    g = og.reshape(m, n)
    da, db = g @ opb.T, opa.T @ g
    return (da.T if ta else da).reshape(lhs.shape), (db.T if tb else db).reshape(rhs.shape)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("op,lshape,rshape,ta,tb", [
    ("dot", (5, 7), (7, 3), False, False),
    ("dot", (7, 5), (7, 70), True, False),
    ("dot", (70, 7), (3, 7), False, True),
    ("dot", (7, 65), (33, 7), True, True),
    ("dot", (7,), (7,), False, False),
    ("dot", (9,), (9, 4), False, False),
    ("dot", (2, 3, 4), (4, 5, 6), False, False),
    ("dot", (4, 2, 3), (5, 6, 4), True, True),
    ("batch_dot", (2, 5, 7), (2, 7, 3), False, False),
    ("batch_dot", (3, 70, 17), (3, 70, 40), True, False),
    ("batch_dot", (2, 3, 7, 5), (2, 3, 6, 5), False, True),
    ("batch_dot", (2, 7, 5), (2, 6, 7), True, True),
])
def test_gradients(ctx, dtype, op, lshape, rshape, ta, tb):
    _need(ctx, dtype)
    a, b = _uniform(lshape, dtype), _uniform(rshape, dtype)
    xa, xb = _nd(a), _nd(b)
    xa.attach_grad()
    xb.attach_grad()
    with mx.autograd.record():
        out = getattr(mx.nd, op)(xa, xb, transpose_a=ta, transpose_b=tb)
    og = _uniform(out.shape, dtype)
    out.backward(_nd(og))
    da, db = _ref_grads(a.astype(np.float64), b.astype(np.float64), og.astype(np.float64),
                        ta, tb, op == "batch_dot")
    # the sums behind each gradient are over output rows or columns: at most out.size terms
    _check(xa.grad.asnumpy(), da.astype(dtype), out.size, dtype)
    _check(xb.grad.asnumpy(), db.astype(dtype), out.size, dtype)


@pytest.mark.parametrize("op,shapes,kwargs", [
    ("dot", {"a": (3, 4), "b": (5, 4)}, {"transpose_b": True}),
    ("batch_dot", {"a": (2, 4, 3), "b": (2, 4, 5)}, {"transpose_a": True}),
])
def test_symbolic_gradient(ctx, op, shapes, kwargs):
    """The rule through the symbolic executor, against central differences."""
    from clnet.test_utils import check_numeric_gradient
    dtype = "float64" if "float64" in supported_dtypes(ctx, ("float64",)) else "float32"
    net = getattr(mx.sym, op)(mx.sym.var("a"), mx.sym.var("b"), **kwargs)
    location = {name: _uniform(shape, dtype) for name, shape in shapes.items()}
    check_numeric_gradient(net, location, ctx=ctx, dtype=np.dtype(dtype).type,
                           numeric_eps=1e-6 if dtype == "float64" else 1e-3)


@pytest.mark.parametrize("op,lshape,rshape,kwargs,match", [
    ("dot", (2, 3), (4, 5), {}, r"dot: lhs shape \(2, 3\) x rhs shape \(4, 5\) "
     r"\(transpose_a=False, transpose_b=False\).*contracted dimensions differ \(3 vs 4\)"),
    ("dot", (2, 3), (2, 3), {"transpose_b": True, "transpose_a": True},
     r"\(2, 3\) x rhs shape \(2, 3\) \(transpose_a=True, transpose_b=True\).*2 vs 3"),
    ("dot", (3,), (3,), {"transpose_a": True}, "1-D vectors cannot be transposed"),
    ("dot", (), (3,), {}, "0-d"),
    ("batch_dot", (2, 3, 4), (2, 5, 6), {}, r"batch_dot: lhs shape \(2, 3, 4\) x rhs shape "
     r"\(2, 5, 6\) \(transpose_a=False, transpose_b=False\).*4 vs 5"),
    ("batch_dot", (2, 3, 4), (3, 4, 6), {}, "leading batch dimensions must be equal"),
    ("batch_dot", (3, 4), (4, 6), {}, "at least 3"),
    ("batch_dot", (2, 3, 4), (4, 6), {}, "same number of dimensions"),
    ("_backward_dot", (2, 3), (3, 4), {}, r"out_grad has shape \(2, 3\), but dot of lhs "
     r"\(2, 3\) x rhs \(3, 4\) has shape \(2, 4\)"),
])
def test_shape_errors(ctx, op, lshape, rshape, kwargs, match):
    a, b = mx.nd.zeros(lshape), mx.nd.zeros(rshape)
    args = (a, a, b) if op.startswith("_backward") else (a, b)  # out_grad comes first
    with pytest.raises(MXNetError, match=match):
        getattr(mx.nd, op)(*args, **kwargs)


@pytest.mark.parametrize("op", ["dot", "batch_dot"])
def test_dtype_errors(ctx, op):
    a = mx.nd.zeros((2, 2, 2), dtype="int32")
    with pytest.raises(MXNetError, match=rf"{op}: input 0 has dtype int32.*accepted"):
        getattr(mx.nd, op)(a, a)
    if "float64" in supported_dtypes(ctx, ("float64",)):
        x, y = mx.nd.zeros((2, 2, 2)), mx.nd.zeros((2, 2, 2), dtype="float64")
        with pytest.raises(MXNetError, match=rf"{op}: lhs has dtype float32 and rhs float64"):
            getattr(mx.nd, op)(x, y)


def test_failed_op_leaves_out_untouched(ctx):
    out = mx.nd.ones((2, 5))
    with pytest.raises(MXNetError):
        mx.nd.dot(mx.nd.zeros((2, 3)), mx.nd.zeros((4, 5)), out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.ones((2, 5), "float32"))
