"""BatchNorm, LayerNorm and Dropout against numpy: forward in training and inference, the
moving statistics after a training step, gradients against central differences (float64)
through autograd and the executor, Dropout's mask statistics, reuse in the backward,
reproducibility and shared axes, edge shapes and errors."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
import clnet.ops.norm  # noqa: F401  (registers the ops)
from clnet.base import MXNetError
from clnet.test_utils import check_numeric_gradient
from conftest import supported_dtypes

TOL = {"float32": 1e-4, "float64": 1e-10}


def _nd(host, dtype=None):
    host = np.asarray(host)
    return mx.nd.array(host, dtype=dtype or host.dtype)


def _need_fp64(ctx):
    if not supported_dtypes(ctx, ("float64",)):
        pytest.skip("the device has no float64")


def _numeric_grads(f, arrays, eps=1e-6):
    """Central differences of scalar f() with respect to each numpy array (changed in place
    and restored)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            fp = f()
            a[i] = old - eps
            fm = f()
            a[i] = old
            g[i] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


# -- BatchNorm ---------------------------------------------------------------------------------
def _bcast(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def _batch_stats(x, axis):
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    return x.mean(axis=axes), x.var(axis=axes)


def _bn_ref(x, gamma, beta, mean, var, eps, axis, fix_gamma):
    axis %= x.ndim
    g = np.ones_like(gamma) if fix_gamma else gamma
    return ((x - _bcast(mean, x.ndim, axis)) / np.sqrt(_bcast(var, x.ndim, axis) + eps)
            * _bcast(g, x.ndim, axis) + _bcast(beta, x.ndim, axis))


def _bn_inputs(shape, axis, dtype):
    c = shape[axis]
    return [np.random.uniform(-2, 3, shape).astype(dtype),
            np.random.uniform(0.5, 1.5, c).astype(dtype),
            np.random.uniform(-1, 1, c).astype(dtype),
            np.random.uniform(-1, 1, c).astype(dtype),
            np.random.uniform(0.5, 2, c).astype(dtype)]


# (outer, C) layouts (channel axis last) take the column kernels on CPUs: C = 37 spans three
# blocks of 16 channels
BN_CASES = [((6, 4), 1), ((3, 4, 5, 2), 1), ((3, 4, 5, 2), -1), ((2, 3, 4), 2),
            ((5, 3), 0), ((2, 1, 3, 3), 1), ((5, 37), 1)]


def _check_bn_training(shape, axis, fix_gamma, dtype):
    x, g, b, mm, mv = _bn_inputs(shape, axis, dtype)
    arrays = [_nd(a) for a in (x, g, b, mm, mv)]
    with mx.autograd.train_mode():
        out, mean, invstd = mx.nd.BatchNorm(*arrays, eps=1e-3, momentum=0.8, axis=axis,
                                            fix_gamma=fix_gamma, output_mean_var=True)
    bm, bv = _batch_stats(x.astype(np.float64), axis)
    tol = TOL[dtype]
    np.testing.assert_allclose(out.asnumpy(), _bn_ref(x, g, b, bm, bv, 1e-3, axis, fix_gamma),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(mean.asnumpy(), bm, rtol=tol, atol=tol)
    np.testing.assert_allclose(invstd.asnumpy(), 1 / np.sqrt(bv + 1e-3), rtol=tol)
    # moving = moving * momentum + batch * (1 - momentum), biased batch variance
    np.testing.assert_allclose(arrays[3].asnumpy(), mm * 0.8 + bm * 0.2, rtol=tol, atol=tol)
    np.testing.assert_allclose(arrays[4].asnumpy(), mv * 0.8 + bv * 0.2, rtol=tol)
    np.testing.assert_array_equal(arrays[1].asnumpy(), g)  # fix_gamma leaves gamma


@pytest.mark.parametrize("shape,axis", BN_CASES)
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_training_forward(ctx, shape, axis, fix_gamma):
    for dtype in supported_dtypes(ctx, ("float32", "float64")):
        _check_bn_training(shape, axis, fix_gamma, dtype)


@pytest.mark.parametrize("shape,axis", BN_CASES[:3])
@pytest.mark.parametrize("mode", ["inference", "use_global_stats"])
def test_batchnorm_moving_stats_forward(ctx, shape, axis, mode):
    for dtype in supported_dtypes(ctx, ("float32", "float64")):
        x, g, b, mm, mv = _bn_inputs(shape, axis, dtype)
        arrays = [_nd(a) for a in (x, g, b, mm, mv)]
        with mx.autograd.train_mode() if mode == "use_global_stats" else (
                mx.autograd.predict_mode()):
            out, mean, invstd = mx.nd.BatchNorm(*arrays, fix_gamma=False, axis=axis,
                                                use_global_stats=mode == "use_global_stats",
                                                output_mean_var=True)
        tol = TOL[dtype]
        np.testing.assert_allclose(out.asnumpy(), _bn_ref(x, g, b, mm, mv, 1e-3, axis, False),
                                   rtol=tol, atol=tol)
        np.testing.assert_allclose(mean.asnumpy(), mm, rtol=tol)
        np.testing.assert_allclose(invstd.asnumpy(), 1 / np.sqrt(mv + 1e-3), rtol=tol)
        np.testing.assert_array_equal(arrays[3].asnumpy(), mm)
        np.testing.assert_array_equal(arrays[4].asnumpy(), mv)


def test_batchnorm_offset_inputs_and_default_outputs(ctx):
    """Views at an offset (slices along axis 0) for data and every parameter; one output
    by default; an imperative call outside record() is inference."""
    big = np.random.uniform(-1, 1, (5, 3, 4)).astype(np.float32)
    params = np.random.uniform(0.5, 1.5, (4, 3)).astype(np.float32)
    bx, bp = _nd(big), _nd(params)
    out = mx.nd.BatchNorm(bx[2:], bp[0], bp[1], bp[2], bp[3], fix_gamma=False)
    assert isinstance(out, mx.nd.NDArray) and out.shape == (3, 3, 4)
    np.testing.assert_allclose(out.asnumpy(), _bn_ref(big[2:], *params, 1e-3, 1, False),
                               rtol=1e-5, atol=1e-5)
    with mx.autograd.train_mode():
        out = mx.nd.BatchNorm(bx[2:], bp[0], bp[1], bp[2], bp[3], fix_gamma=False)
    bm, bv = _batch_stats(big[2:].astype(np.float64), 1)
    np.testing.assert_allclose(out.asnumpy(), _bn_ref(big[2:], *params[:2], bm, bv, 1e-3, 1,
                                                      False), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bp.asnumpy()[2], params[2] * 0.9 + bm * 0.1, rtol=1e-5)
    np.testing.assert_array_equal(bp.asnumpy()[:2], params[:2])


def test_batchnorm_edge_shapes(ctx):
    # a constant channel: variance 0, the output is beta
    x = np.zeros((4, 2), np.float32)
    x[:, 1] = 3.0
    arrays = [_nd(x), mx.nd.ones(2), _nd(np.array([0.5, -0.5], np.float32)), mx.nd.zeros(2),
              mx.nd.ones(2)]
    with mx.autograd.train_mode():
        out = mx.nd.BatchNorm(*arrays)
    np.testing.assert_allclose(out.asnumpy(), np.tile([0.5, -0.5], (4, 1)), atol=1e-6)
    np.testing.assert_allclose(arrays[3].asnumpy(), [0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(arrays[4].asnumpy(), [0.9, 0.9], rtol=1e-6)
    # an empty batch: empty output, moving statistics unchanged
    with mx.autograd.train_mode():
        out = mx.nd.BatchNorm(mx.nd.zeros((0, 2)), *arrays[1:])
    assert out.shape == (0, 2)
    np.testing.assert_allclose(arrays[3].asnumpy(), [0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(arrays[4].asnumpy(), [0.9, 0.9], rtol=1e-6)
    # no channels
    empty = mx.nd.zeros(0)
    assert mx.nd.BatchNorm(mx.nd.zeros((4, 0)), empty, empty, empty, empty).shape == (4, 0)


def _check_bn_backward(shape, axis, fix_gamma):
    """The batch-statistics gradient in training, against central differences (float64)."""
    x, g, b, mm, mv = _bn_inputs(shape, axis, np.float64)
    head = np.random.uniform(-1, 1, shape)
    xs, gs, bs = _nd(x), _nd(g), _nd(b)
    for a in (xs, gs, bs):
        a.attach_grad()
    with mx.autograd.record():
        out = mx.nd.BatchNorm(xs, gs, bs, _nd(mm), _nd(mv), fix_gamma=fix_gamma, axis=axis)
    out.backward(_nd(head))

    def loss():
        with mx.autograd.train_mode():
            y = mx.nd.BatchNorm(_nd(x), _nd(g), _nd(b), _nd(mm), _nd(mv), fix_gamma=fix_gamma,
                                axis=axis)
        return float((y.asnumpy() * head).sum())

    nx, ng, nb = _numeric_grads(loss, [x, g, b])
    np.testing.assert_allclose(xs.grad.asnumpy(), nx, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gs.grad.asnumpy(), 0 * ng if fix_gamma else ng, rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(bs.grad.asnumpy(), nb, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape,axis", [((4, 3), 1), ((3, 2, 2, 3), 1), ((2, 3, 4), -1),
                                        ((3, 37), 1)])
@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_backward_autograd(ctx, shape, axis, fix_gamma):
    _need_fp64(ctx)
    _check_bn_backward(shape, axis, fix_gamma)


def test_batchnorm_backward_inference_autograd(ctx):
    """Recorded in predict mode: the affine gradient with the moving statistics."""
    _need_fp64(ctx)
    shape, axis = (3, 4, 2), 1
    x, g, b, mm, mv = _bn_inputs(shape, axis, np.float64)
    head = np.random.uniform(-1, 1, shape)
    xs, gs, bs = _nd(x), _nd(g), _nd(b)
    for a in (xs, gs, bs):
        a.attach_grad()
    with mx.autograd.record(train_mode=False):
        out = mx.nd.BatchNorm(xs, gs, bs, _nd(mm), _nd(mv), fix_gamma=False, eps=1e-2)
    out.backward(_nd(head))
    invstd = 1 / np.sqrt(mv + 1e-2)
    np.testing.assert_allclose(xs.grad.asnumpy(), head * _bcast(g * invstd, 3, axis),
                               rtol=1e-12)
    xhat = (x - _bcast(mm, 3, axis)) * _bcast(invstd, 3, axis)
    np.testing.assert_allclose(gs.grad.asnumpy(), (head * xhat).sum(axis=(0, 2)), rtol=1e-10)
    np.testing.assert_allclose(bs.grad.asnumpy(), head.sum(axis=(0, 2)), rtol=1e-10)


def test_batchnorm_symbol_interface():
    data = mx.sym.var("data")
    bn = mx.sym.BatchNorm(data=data, name="bn")
    assert bn.list_arguments() == ["data", "bn_gamma", "bn_beta"]
    assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert bn.list_outputs() == ["bn_output"]
    arg, out, aux = bn.infer_shape(data=(2, 5, 3, 3))
    assert arg == [(2, 5, 3, 3), (5,), (5,)] and out == [(2, 5, 3, 3)]
    assert aux == [(5,), (5,)]
    both = mx.sym.BatchNorm(data=data, output_mean_var=True, axis=-1, name="bn2")
    assert both.list_outputs() == ["bn2_output", "bn2_mean", "bn2_var"]
    assert both.infer_shape(data=(2, 5, 3))[1] == [(2, 5, 3), (3,), (3,)]


@pytest.mark.parametrize("fix_gamma,global_stats", [(False, False), (True, False),
                                                    (False, True)])
@pytest.mark.parametrize("shape", [(4, 3, 2), (5, 20)])
def test_batchnorm_backward_executor(ctx, fix_gamma, global_stats, shape):
    _need_fp64(ctx)
    x, g, b, mm, mv = _bn_inputs(shape, 1, np.float64)
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn", fix_gamma=fix_gamma,
                           use_global_stats=global_stats)
    check_numeric_gradient(sym, {"data": x, "bn_gamma": g, "bn_beta": b},
                           aux_states={"bn_moving_mean": mm, "bn_moving_var": mv},
                           numeric_eps=1e-6, rtol=1e-5, atol=1e-7, dtype=np.float64)


def test_batchnorm_executor_steps(ctx):
    """simple_bind from the data shape; each training forward updates the aux states; the
    backward follows the latest forward (training, then inference)."""
    _need_fp64(ctx)
    shape = (5, 2, 3)
    x, g, b, _, _ = _bn_inputs(shape, 1, np.float64)
    head = np.random.uniform(-1, 1, shape)
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn", fix_gamma=False, momentum=0.5)
    ex = sym.simple_bind(ctx, data=shape, type_dict={n: np.float64 for n in sym.list_arguments()})
    assert ex.aux_dict["bn_moving_mean"].shape == (2,)
    ex.arg_dict["data"][:] = x
    ex.arg_dict["bn_gamma"][:] = g
    ex.arg_dict["bn_beta"][:] = b
    ex.aux_dict["bn_moving_var"][:] = 1
    bm, bv = _batch_stats(x, 1)
    for step in range(2):
        ex.forward(is_train=True)
        ex.backward(_nd(head))
    np.testing.assert_allclose(ex.aux_dict["bn_moving_mean"].asnumpy(), bm * 0.75, rtol=1e-12)
    np.testing.assert_allclose(ex.aux_dict["bn_moving_var"].asnumpy(),
                               0.25 + bv * 0.75, rtol=1e-12)
    # training gradient of data sums to zero per channel; dbeta is the head's sum
    dx = ex.grad_dict["data"].asnumpy()
    np.testing.assert_allclose(dx.sum(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(ex.grad_dict["bn_beta"].asnumpy(), head.sum(axis=(0, 2)),
                               rtol=1e-12)
    ex.forward(is_train=False)
    ex.backward(_nd(head))
    invstd = 1 / np.sqrt(ex.aux_dict["bn_moving_var"].asnumpy() + 1e-3)
    np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(),
                               head * _bcast(g * invstd, 3, 1), rtol=1e-12)


def test_batchnorm_backward_needs_forward(ctx):
    sym = mx.sym.BatchNorm(mx.sym.var("data"), name="bn")
    ex = sym.simple_bind(ctx, data=(2, 3))
    with pytest.raises(MXNetError, match="_backward_BatchNorm.*run that forward first"):
        ex.backward(mx.nd.ones((2, 3)))


def test_batchnorm_errors(ctx):
    ones = mx.nd.ones(3)
    with pytest.raises(MXNetError, match=r"BatchNorm: axis 2 is out of range.*\(4, 3\)"):
        mx.nd.BatchNorm(mx.nd.ones((4, 3)), ones, ones, ones, ones, axis=2)
    with pytest.raises(MXNetError, match=r"BatchNorm: gamma has shape \(4,\); it must be "
                                         r"\(3,\)"):
        mx.nd.BatchNorm(mx.nd.ones((4, 3)), mx.nd.ones(4), ones, ones, ones)
    if supported_dtypes(ctx, ("float64",)):
        with pytest.raises(MXNetError, match="BatchNorm: inputs have dtypes.*beta=float64"):
            mx.nd.BatchNorm(mx.nd.ones((4, 3)), ones, mx.nd.ones(3, dtype="float64"), ones,
                            ones)
    with pytest.raises(MXNetError, match="BatchNorm: input 0 has dtype int32"):
        mx.nd.BatchNorm(mx.nd.ones((4, 3), dtype="int32"), ones, ones, ones, ones)


# -- LayerNorm ---------------------------------------------------------------------------------
def _ln_ref(x, gamma, beta, axis, eps):
    mean = x.mean(axis=axis, keepdims=True)
    std = np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    return ((x - mean) / std * _bcast(gamma, x.ndim, axis % x.ndim)
            + _bcast(beta, x.ndim, axis % x.ndim)), mean, std


def _check_ln_forward(shape, axis, dtype):
    n = shape[axis]
    x = np.random.uniform(-2, 4, shape).astype(dtype)
    g = np.random.uniform(0.5, 1.5, n).astype(dtype)
    b = np.random.uniform(-1, 1, n).astype(dtype)
    out, mean, std = mx.nd.LayerNorm(_nd(x), _nd(g), _nd(b), axis=axis, eps=1e-4,
                                     output_mean_var=True)
    ref, rmean, rstd = _ln_ref(x.astype(np.float64), g, b, axis, 1e-4)
    tol = TOL[dtype]
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=tol, atol=tol)
    assert mean.shape == rmean.shape and std.shape == rstd.shape
    np.testing.assert_allclose(mean.asnumpy(), rmean, rtol=tol, atol=tol)
    np.testing.assert_allclose(std.asnumpy(), rstd, rtol=tol)
    single = mx.nd.LayerNorm(_nd(x), _nd(g), _nd(b), axis=axis, eps=1e-4)
    np.testing.assert_array_equal(single.asnumpy(), out.asnumpy())


def _check_ln_backward(shape, axis):
    """Autograd's gradients against central differences of numpy's LayerNorm (float64)."""
    n = shape[axis]
    x = np.random.uniform(-2, 2, shape)
    g = np.random.uniform(0.5, 1.5, n)
    b = np.random.uniform(-1, 1, n)
    head = np.random.uniform(-1, 1, shape)
    xs, gs, bs = _nd(x), _nd(g), _nd(b)
    for a in (xs, gs, bs):
        a.attach_grad()
    with mx.autograd.record():
        out = mx.nd.LayerNorm(xs, gs, bs, axis=axis)
    out.backward(_nd(head))

    def loss():
        return float((_ln_ref(x, g, b, axis, 1e-5)[0] * head).sum())

    for got, want in zip((xs.grad, gs.grad, bs.grad), _numeric_grads(loss, [x, g, b])):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-7)
    return x, g, b


LN_CASES = [((4, 7), -1), ((2, 3, 5), 1), ((3, 4), 0), ((2, 200), -1), ((3, 1), -1),
            ((2, 37, 3), 1)]


@pytest.mark.parametrize("shape,axis", LN_CASES)
def test_layernorm_forward(ctx, shape, axis):
    for dtype in supported_dtypes(ctx, ("float32", "float64")):
        _check_ln_forward(shape, axis, dtype)


@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 3, 4), 1), ((4, 2), 0),
                                        ((2, 19), 1)])
def test_layernorm_backward(ctx, shape, axis):
    _need_fp64(ctx)
    x, g, b = _check_ln_backward(shape, axis)
    sym = mx.sym.LayerNorm(mx.sym.var("data"), axis=axis, name="ln")
    assert sym.list_arguments() == ["data", "ln_gamma", "ln_beta"]
    assert sym.infer_shape(data=shape)[0][1] == (shape[axis],)
    check_numeric_gradient(sym, {"data": x, "ln_gamma": g, "ln_beta": b}, numeric_eps=1e-6,
                           rtol=1e-5, atol=1e-7, dtype=np.float64)


def test_layernorm_empty_shapes(ctx):
    out = mx.nd.LayerNorm(mx.nd.zeros((0, 4)), mx.nd.ones(4), mx.nd.zeros(4))
    assert out.shape == (0, 4)
    out, mean, std = mx.nd.LayerNorm(mx.nd.zeros((3, 0)), mx.nd.ones(0), mx.nd.zeros(0),
                                     output_mean_var=True)
    assert out.shape == (3, 0) and mean.shape == (3, 1) and std.shape == (3, 1)
    x = mx.nd.zeros((0, 4))
    x.attach_grad()
    g = mx.nd.ones(4)
    g.attach_grad()
    with mx.autograd.record():
        y = mx.nd.LayerNorm(x, g, mx.nd.zeros(4))
    y.backward(mx.nd.zeros((0, 4)))
    np.testing.assert_array_equal(g.grad.asnumpy(), 0)


def test_layernorm_offset_input(ctx):
    big = np.random.uniform(-1, 1, (5, 6)).astype(np.float32)
    params = np.random.uniform(0.5, 1.5, (3, 6)).astype(np.float32)
    bp = _nd(params)
    out = mx.nd.LayerNorm(_nd(big)[2:], bp[1], bp[2])
    np.testing.assert_allclose(out.asnumpy(), _ln_ref(big[2:], params[1], params[2], -1,
                                                      1e-5)[0], rtol=1e-5, atol=1e-5)


def test_layernorm_symbol_outputs_and_errors(ctx):
    both = mx.sym.LayerNorm(mx.sym.var("data"), output_mean_var=True, name="ln")
    assert both.list_outputs() == ["ln_output", "ln_mean", "ln_std"]
    assert both.infer_shape(data=(2, 3, 4))[1] == [(2, 3, 4), (2, 3, 1), (2, 3, 1)]
    with pytest.raises(MXNetError, match=r"LayerNorm: beta has shape \(3,\); it must be "
                                         r"\(4,\)"):
        mx.nd.LayerNorm(mx.nd.ones((2, 4)), mx.nd.ones(4), mx.nd.ones(3))
    with pytest.raises(MXNetError, match="LayerNorm: axis -3 is out of range"):
        mx.nd.LayerNorm(mx.nd.ones((2, 4)), mx.nd.ones(4), mx.nd.ones(4), axis=-3)


# -- Dropout -----------------------------------------------------------------------------------
def test_dropout_inference_is_identity(ctx):
    x = _nd(np.random.uniform(-1, 1, (5, 6)).astype(np.float32))
    y = mx.nd.Dropout(x, p=0.7)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
    assert y._buf is not x._buf
    with mx.autograd.record(train_mode=False):
        y = mx.nd.Dropout(x, p=0.7)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())
    with mx.autograd.train_mode():
        y = mx.nd.Dropout(x, p=0.0)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy())


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_training_mask_statistics(ctx, p):
    for dtype in supported_dtypes(ctx, ("float32", "float64")):
        x = np.random.uniform(1, 2, (200, 250)).astype(dtype)
        with mx.autograd.train_mode():
            y = mx.nd.Dropout(_nd(x), p=p).asnumpy()
        kept = y != 0
        # 50000 Bernoulli draws: the kept fraction's standard deviation is below 0.0023
        assert abs(kept.mean() - (1 - p)) < 0.012
        np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=TOL[dtype])


def test_dropout_mode_always_and_extremes(ctx):
    x = mx.nd.ones((40, 50))
    y = mx.nd.Dropout(x, p=0.5, mode="always").asnumpy()  # outside training
    assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < (y == 2).mean() < 0.6
    with mx.autograd.train_mode():
        np.testing.assert_array_equal(mx.nd.Dropout(x, p=1.0).asnumpy(), 0)
        assert mx.nd.Dropout(mx.nd.ones((0, 3)), p=0.5).shape == (0, 3)
        np.testing.assert_array_equal(mx.nd.Dropout(mx.nd.ones(()), p=0.0).asnumpy(), 1)


def test_dropout_gradient_uses_forward_mask(ctx):
    x = _nd(np.random.uniform(1, 2, (30, 40)).astype(np.float32))
    head = np.random.uniform(-1, 1, (30, 40)).astype(np.float32)
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Dropout(x, p=0.4)
        z = mx.nd.Dropout(x, p=0.4)  # a second draw in between must not matter
    y.backward(_nd(head))
    mask = (y.asnumpy() != 0) / 0.6
    assert not np.array_equal(y.asnumpy() != 0, z.asnumpy() != 0)
    np.testing.assert_allclose(x.grad.asnumpy(), head * mask, rtol=1e-6)


def test_dropout_executor_gradient_follows_each_forward(ctx):
    sym = mx.sym.Dropout(mx.sym.var("data"), p=0.3, name="drop")
    assert sym.list_outputs() == ["drop_output"]
    assert sym.list_arguments() == ["data"]
    ex = sym.simple_bind(ctx, data=(20, 30))
    x = np.random.uniform(1, 2, (20, 30)).astype(np.float32)
    head = np.random.uniform(-1, 1, (20, 30)).astype(np.float32)
    ex.arg_dict["data"][:] = x
    masks = []
    for _ in range(2):
        y = ex.forward(is_train=True)[0].asnumpy()
        ex.backward(_nd(head))
        masks.append(y != 0)
        np.testing.assert_allclose(ex.grad_dict["data"].asnumpy(), head * masks[-1] / 0.7,
                                   rtol=1e-6)
    assert not np.array_equal(masks[0], masks[1])
    ex.forward(is_train=False)
    ex.backward(_nd(head))
    np.testing.assert_array_equal(ex.grad_dict["data"].asnumpy(), head)


def test_dropout_reproducible_with_seed(ctx):
    x = mx.nd.ones((50, 60))
    draws = []
    for seed in (7, 7, 8):
        mx.random.seed(seed)
        with mx.autograd.train_mode():
            draws.append(mx.nd.Dropout(x, p=0.5).asnumpy())
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("shape,axes", [((40, 30), (0,)), ((6, 5, 8, 7), (2, 3)),
                                        ((6, 20, 8), (-1, 0))])
def test_dropout_shared_axes(ctx, shape, axes):
    x = np.random.uniform(1, 2, shape).astype(np.float32)
    xs = _nd(x)
    xs.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Dropout(xs, p=0.5, axes=axes)
    y.backward(mx.nd.ones(shape))
    kept = y.asnumpy() != 0
    norm_axes = tuple(a % len(shape) for a in axes)
    # one mask value along the shared axes: every slice along them is all kept or all dropped
    assert np.array_equal(kept.all(axis=norm_axes), kept.any(axis=norm_axes))
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y.asnumpy()[kept], x[kept] * 2, rtol=1e-6)
    np.testing.assert_allclose(xs.grad.asnumpy(), kept * 2.0, rtol=1e-6)


def test_dropout_errors(ctx):
    x = mx.nd.ones((3, 4))
    with pytest.raises(MXNetError, match=r"Dropout: p=1.5 must be in \[0, 1\]"):
        mx.nd.Dropout(x, p=1.5)
    with pytest.raises(MXNetError, match=r"Dropout: argument p=-0.1 must be >= 0"):
        mx.nd.Dropout(x, p=-0.1)
    with pytest.raises(MXNetError, match=r"Dropout: axis 2 in axes=\(2,\) is out of range"):
        mx.nd.Dropout(x, axes=(2,))
    with pytest.raises(MXNetError, match="Dropout: argument mode='sometimes' must be one of"):
        mx.nd.Dropout(x, mode="sometimes")
    with pytest.raises(MXNetError, match="_backward_Dropout: .*run that forward first"):
        mx.nd.invoke("_backward_Dropout", [x, mx.nd.ones((3, 4))], {})


def test_dropout_views_in_place_and_0d(ctx):
    big = _nd(np.random.uniform(1, 2, (4, 50)).astype(np.float32))
    with mx.autograd.train_mode():
        y = mx.nd.Dropout(big[1:], p=0.5).asnumpy()
        np.testing.assert_allclose(y[y != 0], big.asnumpy()[1:][y != 0] * 2, rtol=1e-6)
        x = _nd(np.random.uniform(1, 2, (30, 40)).astype(np.float32))
        host = x.asnumpy()
        mx.nd.Dropout(x, p=0.25, out=x)
        kept = x.asnumpy() != 0
        assert 0.6 < kept.mean() < 0.9
        np.testing.assert_allclose(x.asnumpy()[kept], host[kept] / 0.75, rtol=1e-6)
        assert mx.nd.Dropout(mx.nd.ones(()), p=0.5).asnumpy() in (0.0, 2.0)


# -- the interleaved (GPU) work-group layout, run on this device ----------------------------
def test_interleaved_work_groups(ctx, monkeypatch):
    """GPUs run the norm kernels with wide work-groups whose items interleave over each
    segment and reduce in local memory; force that layout here."""
    monkeypatch.setattr(clnet.ops.norm, "work_group", lambda device: 64)
    for shape, axis in [((70, 3), 1), ((3, 5, 7, 3), 1), ((2, 3, 4), -1)]:
        _check_bn_training(shape, axis, False, "float32")
    for shape, axis in [((4, 100), -1), ((2, 70, 3), 1), ((3, 5), 0)]:
        _check_ln_forward(shape, axis, "float32")
    if supported_dtypes(ctx, ("float64",)):
        _check_bn_backward((3, 4, 5, 6), 1, False)
        _check_bn_backward((70, 2), 1, True)
        _check_ln_backward((3, 70), -1)
        _check_ln_backward((2, 5, 3), 1)


# -- a graph of them: planned memory, autograd and the executor agree -------------------------
def test_chain_executor_matches_autograd(ctx):
    _need_fp64(ctx)
    shape = (6, 4, 5)
    x = np.random.uniform(-1, 1, shape)
    head = np.random.uniform(-1, 1, shape)
    params = {f"bn{i}_{k}": np.random.uniform(0.5, 1.5, 4) for i in range(2)
              for k in ("gamma", "beta")}
    params.update(ln_gamma=np.random.uniform(0.5, 1.5, 5), ln_beta=np.random.uniform(-1, 1, 5))

    def net(F, data, p, aux):
        h = F.BatchNorm(data, p["bn0_gamma"], p["bn0_beta"], aux[0], aux[1], fix_gamma=False,
                        name="bn0")
        h = F.Dropout(F.tanh(h), p=0.3)
        h = F.BatchNorm(h, p["bn1_gamma"], p["bn1_beta"], aux[2], aux[3], fix_gamma=False,
                        name="bn1")
        return F.LayerNorm(F.Dropout(h, p=0.5, axes=(1,)), p["ln_gamma"], p["ln_beta"],
                           name="ln") * 2.0

    aux_init = [np.zeros(4), np.ones(4)] * 2
    # executor
    names = list(params)
    sym = net(mx.sym, mx.sym.var("data"), {n: mx.sym.var(n) for n in names},
              [mx.sym.var(f"aux{i}") for i in range(4)])
    assert sym.list_auxiliary_states() == [f"aux{i}" for i in range(4)]
    args = {"data": _nd(x), **{n: _nd(v) for n, v in params.items()}}
    grads = {n: mx.nd.zeros(a.shape, dtype="float64") for n, a in args.items()}
    aux = {f"aux{i}": _nd(a) for i, a in enumerate(aux_init)}
    ex = sym.bind(ctx, args, args_grad=grads, aux_states=aux)
    mx.random.seed(11)
    ex_out = ex.forward(is_train=True)[0].asnumpy()
    ex.backward(_nd(head))
    # autograd on the same inputs and seed
    arrays = {n: _nd(v) for n, v in [("data", x)] + list(params.items())}
    for a in arrays.values():
        a.attach_grad()
    aux_nd = [_nd(a) for a in aux_init]
    mx.random.seed(11)
    with mx.autograd.record():
        out = net(mx.nd, arrays["data"], arrays, aux_nd)
    out.backward(_nd(head))
    np.testing.assert_allclose(out.asnumpy(), ex_out, rtol=1e-12, atol=1e-12)
    for n, a in arrays.items():
        np.testing.assert_allclose(a.grad.asnumpy(), grads[n].asnumpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=n)
    for i in range(4):
        np.testing.assert_allclose(aux_nd[i].asnumpy(), aux[f"aux{i}"].asnumpy(), rtol=1e-12)
