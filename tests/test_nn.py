"""Tests for clnet.ops.nn: every layer op's forward against numpy (float32 and float64), its
gradient against central differences in float64 through both autograd (mx.nd) and the
executor (mx.sym), the loss heads' MXNet gradients (ignore_label, normalization, label
smoothing, multi_output layouts), shape inference of weights and labels with MXNet's auto
names, and the error messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

import clnet as mx
import clnet.ops.nn  # registers the ops until clnet/ops/__init__.py lists the family
from clnet.base import MXNetError

from conftest import supported_dtypes

FLOATS = ("float32", "float64")
TOL = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _dtypes(ctx):
    return supported_dtypes(ctx, FLOATS)


def _need64(ctx):
    if "float64" not in _dtypes(ctx):
        pytest.skip(f"{ctx} lacks float64")


def _nd(host, dtype=None):
    host = np.asarray(host)
    return mx.nd.array(host, dtype=dtype or host.dtype)


def _close(got, want, dtype="float64", rtol=None, atol=None):
    rt, at = TOL[np.dtype(dtype).name]
    got = got.asnumpy() if hasattr(got, "asnumpy") else np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    np.testing.assert_allclose(got, want, rtol=rtol or rt, atol=atol or at)


def _uniform(shape, low=-1.0, high=1.0, dtype="float64"):
    return np.random.uniform(low, high, shape).astype(dtype)


# -- gradient checking -------------------------------------------------------------------------
def _numeric(run, values, k, head, eps=1e-6):
    """Central differences of sum(run(values) * head) with respect to values[k]."""
    values = [v.copy() for v in values]
    x = values[k]
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        orig = x[i]
        x[i] = orig + eps
        up = np.sum(run(values) * head)
        x[i] = orig - eps
        down = np.sum(run(values) * head)
        x[i] = orig
        grad[i] = (up - down) / (2 * eps)
    return grad


def _autograd_grads(op, values, params, wrt, head):
    arrays = [_nd(v) for v in values]
    for k in wrt:
        arrays[k].attach_grad()
    with mx.autograd.record():
        out = getattr(mx.nd, op)(*arrays, **params)
    out.backward(_nd(head))
    return [arrays[k].grad.asnumpy() for k in wrt]


def _symbolic_grads(ctx, op, names, values, params, wrt, head):
    sym = getattr(mx.sym, op)(*[mx.sym.var(n) for n in names], **params)
    args = {n: _nd(v) for n, v in zip(names, values)}
    grads = {names[k]: mx.nd.zeros(values[k].shape, dtype=values[k].dtype) for k in wrt}
    ex = sym.bind(ctx, args, args_grad=grads, grad_req={n: "write" for n in grads})
    ex.forward(is_train=True)
    ex.backward(_nd(head))
    return ex.outputs[0].asnumpy(), [grads[names[k]].asnumpy() for k in wrt]


def check_grad(ctx, op, names, values, params=None, wrt=None, rtol=1e-6, atol=1e-8):
    """Gradients of `op` (float64) through autograd and the executor against central
    differences, with a random head gradient; also checks the executor's forward."""
    params = params or {}
    wrt = list(range(len(values))) if wrt is None else wrt

    def run(vals):
        return getattr(mx.nd, op)(*[_nd(v) for v in vals], **params).asnumpy()

    out = run(values)
    head = np.random.uniform(-1, 1, out.shape)
    want = [_numeric(run, values, k, head) for k in wrt]
    for got, expect, k in zip(_autograd_grads(op, values, params, wrt, head), want, wrt):
        np.testing.assert_allclose(got, expect, rtol=rtol, atol=atol,
                                   err_msg=f"autograd d/d{names[k]}")
    sym_out, sym_grads = _symbolic_grads(ctx, op, names, values, params, wrt, head)
    np.testing.assert_allclose(sym_out, out, rtol=1e-12, atol=1e-12)
    for got, expect, k in zip(sym_grads, want, wrt):
        np.testing.assert_allclose(got, expect, rtol=rtol, atol=atol,
                                   err_msg=f"executor d/d{names[k]}")


def loss_grads(ctx, op, values, params=None, names=("data", "label")):
    """d data of a loss head through autograd and the executor, each with a random head
    gradient (which the head must ignore); asserts the two agree and returns one."""
    params = params or {}
    out = getattr(mx.nd, op)(*[_nd(v) for v in values], **params)
    head = np.random.uniform(-1, 1, out.shape)
    auto = _autograd_grads(op, values, params, [0], head)[0]
    _, (sym,) = _symbolic_grads(ctx, op, list(names), values, params, [0], head * 3)
    np.testing.assert_allclose(sym, auto, rtol=1e-12, atol=1e-14)
    return auto


# -- numpy references ---------------------------------------------------------------------------
def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


_SELU_L, _SELU_A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0), "sigmoid": _sigmoid, "tanh": np.tanh,
    "softrelu": lambda x: np.log1p(np.exp(x)), "softsign": lambda x: x / (1 + np.abs(x)),
}
LEAKY = {
    "leaky": lambda x, s: np.where(x > 0, x, s * x),
    "elu": lambda x, s: np.where(x > 0, x, s * np.expm1(np.minimum(x, 0))),
    "selu": lambda x, s: _SELU_L * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x, s: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
}


def _away_from_zero(shape, dtype="float64"):
    """Values in [-2, -0.1] U [0.1, 2]: kinks at 0 are out of the differences' reach."""
    x = np.random.uniform(0.1, 2, shape) * np.random.choice([-1, 1], shape)
    return x.astype(dtype)


# -- FullyConnected ------------------------------------------------------------------------------
FC_CASES = [  # data shape, num_hidden, flatten
    ((4, 7), 5, True), ((2, 3, 4), 6, True), ((2, 3, 4), 6, False), ((5,), 3, False),
    ((0, 5), 4, True), ((3, 0), 2, True), ((64, 300), 70, True),
]


def _fc_ref(x, w, b, flatten):
    x2 = x.reshape(x.shape[0], int(np.prod(x.shape[1:]))) if flatten else x
    y = x2.astype(np.float64) @ w.T.astype(np.float64)
    return y if b is None else y + b


@pytest.mark.parametrize("shape,hidden,flatten", FC_CASES)
def test_fully_connected_forward(ctx, shape, hidden, flatten):
    k = int(np.prod(shape[1:])) if flatten else shape[-1]
    for dtype in _dtypes(ctx):
        x, w, b = _uniform(shape, dtype=dtype), _uniform((hidden, k), dtype=dtype), _uniform(
            (hidden,), dtype=dtype)
        got = mx.nd.FullyConnected(_nd(x), _nd(w), _nd(b), num_hidden=hidden, flatten=flatten)
        assert got.dtype == np.dtype(dtype)
        _close(got, _fc_ref(x, w, b, flatten), dtype, rtol=1e-4 if dtype == "float32" else None)
        got = mx.nd.FullyConnected(_nd(x), _nd(w), num_hidden=hidden, no_bias=True,
                                   flatten=flatten)
        _close(got, _fc_ref(x, w, None, flatten), dtype,
               rtol=1e-4 if dtype == "float32" else None)


def test_fully_connected_non_contiguous_input(ctx):
    host = _uniform((6, 5))
    x = _nd(host)[::2]  # rows 0, 2, 4 (NDArray slicing with a step copies)
    w, b = _uniform((3, 5)), _uniform((3,))
    _close(mx.nd.FullyConnected(x, _nd(w), _nd(b), num_hidden=3),
           _fc_ref(host[::2], w, b, True))
    w2 = _uniform((3, 6))
    _close(mx.nd.FullyConnected(_nd(host).T, _nd(w2), num_hidden=3, no_bias=True),
           _fc_ref(host.T, w2, None, True))


@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("no_bias", [False, True])
def test_fully_connected_backward(ctx, flatten, no_bias):
    _need64(ctx)
    x = _uniform((2, 3, 4))
    k = 12 if flatten else 4
    values = [x, _uniform((3, k))] + ([] if no_bias else [_uniform((3,))])
    names = ["data", "weight", "bias"][:len(values)]
    check_grad(ctx, "FullyConnected", names, values,
               {"num_hidden": 3, "no_bias": no_bias, "flatten": flatten})


def test_fully_connected_backward_vector_data(ctx):
    """flatten=False on 1-D data maps the vector itself: (in,) -> (num_hidden,)."""
    _need64(ctx)
    check_grad(ctx, "FullyConnected", ["data", "weight", "bias"],
               [_uniform((4,)), _uniform((3, 4)), _uniform((3,))],
               {"num_hidden": 3, "flatten": False})


def test_fully_connected_backward_only_weight(ctx):
    """A data argument without gradient (the first layer) still gives weight and bias."""
    _need64(ctx)
    check_grad(ctx, "FullyConnected", ["data", "weight", "bias"],
               [_uniform((3, 4)), _uniform((2, 4)), _uniform((2,))], {"num_hidden": 2},
               wrt=[1, 2])


def test_fully_connected_shape_inference_and_names():
    fc = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=10, name="fc1")
    assert fc.list_arguments() == ["data", "fc1_weight", "fc1_bias"]
    args, outs, aux = fc.infer_shape(data=(4, 7))
    assert args == [(4, 7), (10, 7), (10,)] and outs == [(4, 10)] and aux == []
    args, outs, _ = fc.infer_shape(data=(4, 2, 3, 5))
    assert args[1] == (10, 30) and outs == [(4, 10)]
    nf = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=10, flatten=False, name="fc2")
    args, outs, _ = nf.infer_shape(data=(4, 2, 3, 5))
    assert args[1] == (10, 5) and outs == [(4, 2, 3, 10)]
    nb = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=3, no_bias=True, name="fc3")
    assert nb.list_arguments() == ["data", "fc3_weight"]
    assert nb.infer_shape(data=(2, 5))[0] == [(2, 5), (3, 5)]
    auto = mx.sym.FullyConnected(mx.sym.var("x"), num_hidden=2)
    assert auto.list_arguments()[1].startswith("fullyconnected") and auto.list_arguments()[
        1].endswith("_weight")


def test_fully_connected_simple_bind_trains(ctx):
    """simple_bind from the data shape alone, then a forward/backward step."""
    net = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=4, name="fc")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias", "softmax_label"]
    ex = net.simple_bind(ctx, data=(5, 3))
    assert ex.arg_dict["softmax_label"].shape == (5,)
    x, w, b = _uniform((5, 3), dtype="float32"), _uniform((4, 3), dtype="float32"), _uniform(
        (4,), dtype="float32")
    label = np.array([0, 1, 2, 3, 1], dtype=np.float32)
    for name, value in (("data", x), ("fc_weight", w), ("fc_bias", b), ("softmax_label", label)):
        ex.arg_dict[name][:] = value
    ex.forward(is_train=True)
    p = _softmax(x @ w.T + b)
    _close(ex.outputs[0], p, "float32")
    ex.backward()
    d = p.copy()
    d[np.arange(5), label.astype(int)] -= 1
    _close(ex.grad_dict["fc_weight"], d.T @ x, "float32")
    _close(ex.grad_dict["fc_bias"], d.sum(0), "float32")


def test_fully_connected_errors():
    x, w = mx.nd.ones((4, 7)), mx.nd.ones((10, 6))
    with pytest.raises(MXNetError, match=r"FullyConnected: weight has shape \(10, 6\).*needs "
                                         r"\(10, 7\)"):
        mx.nd.FullyConnected(x, w, mx.nd.ones((10,)), num_hidden=10)
    with pytest.raises(MXNetError, match=r"bias has shape \(3,\).*needs \(10,\)"):
        mx.nd.FullyConnected(x, mx.nd.ones((10, 7)), mx.nd.ones((3,)), num_hidden=10)
    with pytest.raises(MXNetError, match="num_hidden.*missing"):
        mx.nd.FullyConnected(x, w, mx.nd.ones((10,)))
    with pytest.raises(MXNetError, match="num_hidden=0 must be >= 1"):
        mx.nd.FullyConnected(x, w, mx.nd.ones((10,)), num_hidden=0)
    with pytest.raises(MXNetError, match="expects 3 input"):
        mx.nd.FullyConnected(x, mx.nd.ones((10, 7)), num_hidden=10)
    with pytest.raises(MXNetError, match="0-d|dims"):
        mx.nd.FullyConnected(mx.nd.ones(()), mx.nd.ones((2, 1)), num_hidden=2, no_bias=True)
    with pytest.raises(MXNetError, match="same dtype"):
        mx.nd.FullyConnected(x, mx.nd.ones((10, 7), dtype="float64"), num_hidden=10,
                             no_bias=True)
    fc = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=10, name="fc")
    with pytest.raises(MXNetError, match="fc_weight|weight"):
        fc.infer_shape(data=(4, 7), fc_weight=(10, 8))


# -- Activation --------------------------------------------------------------------------------
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation(ctx, act):
    for dtype in _dtypes(ctx):
        x = _uniform((3, 4, 2), -3, 3, dtype)
        got = mx.nd.Activation(_nd(x), act_type=act)
        assert got.dtype == np.dtype(dtype)
        _close(got, ACTIVATIONS[act](x.astype(np.float64)).astype(dtype), dtype)
        assert mx.nd.Activation(_nd(np.zeros((0, 3), dtype)), act_type=act).shape == (0, 3)
    if "float64" in _dtypes(ctx):
        check_grad(ctx, "Activation", ["data"], [_away_from_zero((3, 4))], {"act_type": act})


def test_activation_errors():
    with pytest.raises(MXNetError, match="act_type='swish' must be one of"):
        mx.nd.Activation(mx.nd.ones((2,)), act_type="swish")
    with pytest.raises(MXNetError, match="act_type.*missing"):
        mx.nd.Activation(mx.nd.ones((2,)))
    with pytest.raises(MXNetError, match="int32.*does not accept"):
        mx.nd.Activation(mx.nd.ones((2,), dtype="int32"), act_type="relu")


# -- LeakyReLU ---------------------------------------------------------------------------------
@pytest.mark.parametrize("act", sorted(LEAKY))
def test_leaky_relu(ctx, act):
    for dtype in _dtypes(ctx):
        x = _uniform((2, 3, 5), -3, 3, dtype)
        for slope in (0.25, 0.1):
            got = mx.nd.LeakyReLU(_nd(x), act_type=act, slope=slope)
            _close(got, LEAKY[act](x.astype(np.float64), slope).astype(dtype), dtype)
    if "float64" in _dtypes(ctx):
        check_grad(ctx, "LeakyReLU", ["data"], [_away_from_zero((3, 4))],
                   {"act_type": act, "slope": 0.3})


def test_leaky_relu_default_is_leaky(ctx):
    x = _uniform((4, 3))
    _close(mx.nd.LeakyReLU(_nd(x)), np.where(x > 0, x, 0.25 * x))


@pytest.mark.parametrize("gamma_shape", [(3,), (1,)])
def test_prelu(ctx, gamma_shape):
    _need64(ctx)
    x, gamma = _away_from_zero((2, 3, 4)), _uniform(gamma_shape, 0.1, 0.5)
    g = gamma.reshape((1, -1, 1)) if gamma.size > 1 else gamma
    got = mx.nd.LeakyReLU(_nd(x), _nd(gamma), act_type="prelu")
    _close(got, np.where(x > 0, x, g * x))
    f32 = mx.nd.LeakyReLU(_nd(x, "float32"), _nd(gamma, "float32"), act_type="prelu")
    _close(f32, np.where(x > 0, x, g * x), "float32")
    check_grad(ctx, "LeakyReLU", ["data", "gamma"], [x, gamma], {"act_type": "prelu"})


def test_prelu_shape_inference_and_errors():
    sym = mx.sym.LeakyReLU(mx.sym.var("data"), act_type="prelu", name="p")
    assert sym.list_arguments() == ["data", "p_gamma"]
    assert sym.infer_shape(data=(2, 6, 3))[0] == [(2, 6, 3), (6,)]
    assert mx.sym.LeakyReLU(mx.sym.var("d"), name="l").list_arguments() == ["d"]
    with pytest.raises(MXNetError, match=r"gamma has shape \(4,\).*needs \(6,\)"):
        mx.nd.LeakyReLU(mx.nd.ones((2, 6)), mx.nd.ones((4,)), act_type="prelu")
    with pytest.raises(MXNetError, match="at least 2"):
        mx.nd.LeakyReLU(mx.nd.ones((6,)), mx.nd.ones((6,)), act_type="prelu")
    with pytest.raises(MXNetError, match="expects 2 input"):
        mx.nd.LeakyReLU(mx.nd.ones((2, 6)), act_type="prelu")
    with pytest.raises(MXNetError, match="act_type='swish' must be one of"):
        mx.nd.LeakyReLU(mx.nd.ones((2, 6)), act_type="swish")


def test_rrelu(ctx):
    _need64(ctx)
    low, high = 0.2, 0.4
    x = _away_from_zero((6, 50))
    params = {"act_type": "rrelu", "lower_bound": low, "upper_bound": high}
    # outside training: the mean slope
    _close(mx.nd.LeakyReLU(_nd(x), **params), np.where(x > 0, x, (low + high) / 2 * x))
    # training: a random slope per element within the bounds, and the matching gradient
    data = _nd(x)
    data.attach_grad()
    with mx.autograd.record():
        out = mx.nd.LeakyReLU(data, **params)
    out.backward()
    y = out.asnumpy()
    neg = x < 0
    slopes = y[neg] / x[neg]
    assert np.all(slopes >= low - 1e-12) and np.all(slopes <= high + 1e-12)
    assert slopes.std() > 0.01
    np.testing.assert_array_equal(y[~neg], x[~neg])
    np.testing.assert_allclose(data.grad.asnumpy(), np.where(neg, y / x, 1.0), rtol=1e-12)


# -- SoftmaxActivation -------------------------------------------------------------------------
def test_softmax_activation(ctx):
    for dtype in _dtypes(ctx):
        x = _uniform((2, 3, 4), -2, 2, dtype)
        inst = _softmax(x.reshape(2, -1).astype(np.float64)).reshape(x.shape)
        _close(mx.nd.SoftmaxActivation(_nd(x)), inst.astype(dtype), dtype)
        _close(mx.nd.SoftmaxActivation(_nd(x), mode="channel"),
               _softmax(x.astype(np.float64), axis=1).astype(dtype), dtype)
        x2 = _uniform((5, 3), dtype=dtype)
        _close(mx.nd.SoftmaxActivation(_nd(x2)), _softmax(x2.astype(np.float64)).astype(dtype),
               dtype)
    if "float64" in _dtypes(ctx):
        x = _uniform((2, 3, 2), -2, 2)
        check_grad(ctx, "SoftmaxActivation", ["data"], [x])
        check_grad(ctx, "SoftmaxActivation", ["data"], [x], {"mode": "channel"})


def test_softmax_activation_errors():
    with pytest.raises(MXNetError, match=r"shape \(2, 3\).*at least 3 \(mode='channel'"):
        mx.nd.SoftmaxActivation(mx.nd.ones((2, 3)), mode="channel")
    with pytest.raises(MXNetError, match="mode='batch' must be one of"):
        mx.nd.SoftmaxActivation(mx.nd.ones((2, 3)), mode="batch")


# -- SoftmaxOutput -----------------------------------------------------------------------------
def _labels(shape, classes, dtype="float64"):
    return np.random.randint(0, classes, shape).astype(dtype)


def _softmax_output_ref(x, label, axis, grad_scale=1.0, use_ignore=False, ignore=-1,
                        norm="null", alpha=0.0, multi=False):
    """MXNet's SoftmaxOutput gradient for class labels, classes along `axis`."""
    p = _softmax(x, axis)
    classes = x.shape[axis]
    onehot = np.moveaxis(np.eye(classes)[label.astype(int)], -1, axis)
    target = onehot * (1 - alpha) + (1 - onehot) * (alpha / (classes - 1))
    grad = p - target
    if use_ignore:
        grad = grad * np.expand_dims(label.astype(int) != int(ignore), axis)
    valid = max(np.sum(label.astype(int) != int(ignore)), 1)
    if multi:
        inner = int(np.prod(x.shape[2:]))
        scale = {"null": 1 / inner, "batch": 1 / inner / x.shape[0], "valid": 1 / valid}[norm]
    else:
        scale = {"null": 1.0, "batch": 1 / label.size, "valid": 1 / valid}[norm]
    return p, grad * grad_scale * scale


def test_softmax_output_forward(ctx):
    for dtype in _dtypes(ctx):
        x = _uniform((4, 5), -3, 3, dtype)
        label = _labels((4,), 5, dtype)
        got = mx.nd.SoftmaxOutput(_nd(x), _nd(label))
        assert got.dtype == np.dtype(dtype)
        _close(got, _softmax(x.astype(np.float64)).astype(dtype), dtype)
        x3 = _uniform((2, 3, 4), -3, 3, dtype)
        _close(mx.nd.SoftmaxOutput(_nd(x3), _nd(_labels((2, 3), 4, dtype)),
                                   preserve_shape=True),
               _softmax(x3.astype(np.float64)).astype(dtype), dtype)
        _close(mx.nd.SoftmaxOutput(_nd(x3), _nd(_labels((2, 4), 3, dtype)), multi_output=True),
               _softmax(x3.astype(np.float64), 1).astype(dtype), dtype)
        # without either flag each instance is normalised over all its features
        _close(mx.nd.SoftmaxOutput(_nd(x3), _nd(_labels((2, 3), 4, dtype))),
               _softmax(x3.reshape(2, -1).astype(np.float64)).reshape(x3.shape).astype(dtype),
               dtype)
        assert mx.nd.Softmax(_nd(x), _nd(label)).shape == (4, 5)


@pytest.mark.parametrize("kwargs", [
    {}, {"grad_scale": 2.5}, {"normalization": "batch"}, {"normalization": "valid"},
    {"use_ignore": True, "ignore_label": 2}, {"use_ignore": True, "normalization": "valid",
                                              "ignore_label": 1},
    {"smooth_alpha": 0.2}, {"smooth_alpha": 0.1, "use_ignore": True, "ignore_label": 0},
])
def test_softmax_output_backward(ctx, kwargs):
    _need64(ctx)
    x = _uniform((6, 4), -2, 2)
    label = _labels((6,), 4)
    label[:2] = max(kwargs.get("ignore_label", -1), 0)
    got = loss_grads(ctx, "SoftmaxOutput", [x, label], kwargs)
    _, want = _softmax_output_ref(x, label, -1, kwargs.get("grad_scale", 1.0),
                                  kwargs.get("use_ignore", False), kwargs.get("ignore_label", -1),
                                  kwargs.get("normalization", "null"),
                                  kwargs.get("smooth_alpha", 0.0))
    _close(got, want)


def test_softmax_output_gradient_is_cross_entropy_derivative(ctx):
    """With default params the data gradient is d/d data of sum(-log softmax[label])."""
    _need64(ctx)
    x, label = _uniform((3, 5), -2, 2), _labels((3,), 5)

    def loss(vals):
        p = mx.nd.SoftmaxOutput(_nd(vals[0]), _nd(label)).asnumpy()
        return -np.log(p[np.arange(3), label.astype(int)]).sum()

    want = _numeric(loss, [x], 0, 1.0)
    np.testing.assert_allclose(loss_grads(ctx, "SoftmaxOutput", [x, label]), want, rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("label_shape", [(2, 12), (2, 3, 4), (2, 1, 3, 4)])
@pytest.mark.parametrize("norm", ["null", "batch", "valid"])
def test_softmax_output_multi_output(ctx, label_shape, norm):
    _need64(ctx)
    x = _uniform((2, 5, 3, 4), -2, 2)
    label = _labels(label_shape, 5)
    label.reshape(-1)[:3] = 1
    params = {"multi_output": True, "normalization": norm, "use_ignore": True,
              "ignore_label": 1, "grad_scale": 1.5}
    _close(mx.nd.SoftmaxOutput(_nd(x), _nd(label), **params), _softmax(x, 1))
    got = loss_grads(ctx, "SoftmaxOutput", [x, label], params)
    _, want = _softmax_output_ref(x, label.reshape(2, 3, 4), 1, 1.5, True, 1, norm,
                                  multi=True)
    _close(got, want)


def test_softmax_output_preserve_shape(ctx):
    _need64(ctx)
    x, label = _uniform((2, 3, 4), -2, 2), _labels((2, 3), 4)
    params = {"preserve_shape": True, "normalization": "batch"}
    got = loss_grads(ctx, "SoftmaxOutput", [x, label], params)
    _close(got, _softmax_output_ref(x, label, -1, norm="batch")[1])


def test_softmax_output_probability_labels_and_out_grad(ctx):
    _need64(ctx)
    x = _uniform((3, 4), -2, 2)
    target = _softmax(_uniform((3, 4)))
    got = loss_grads(ctx, "SoftmaxOutput", [x, target], {"grad_scale": 2.0,
                                                         "normalization": "batch"})
    _close(got, (_softmax(x) - target) * 2.0)
    # out_grad: the head gradient multiplies the gradient
    label = _labels((3,), 4)
    head = _uniform((3, 4))
    data = _nd(x)
    data.attach_grad()
    with mx.autograd.record():
        out = mx.nd.SoftmaxOutput(data, _nd(label), out_grad=True)
    out.backward(_nd(head))
    _close(data.grad, _softmax_output_ref(x, label, -1)[1] * head)


def test_softmax_output_label_gets_no_gradient(ctx):
    x, label = mx.nd.array(_uniform((2, 3))), mx.nd.array([0, 2])
    label.attach_grad()
    x.attach_grad()
    with mx.autograd.record():
        out = mx.nd.SoftmaxOutput(x, label)
    out.backward()
    np.testing.assert_array_equal(label.grad.asnumpy(), 0)
    sym = mx.sym.SoftmaxOutput(mx.sym.var("data"), name="softmax")
    ex = sym.simple_bind(ctx, data=(2, 3), grad_req="write")
    ex.forward(is_train=True, data=x, softmax_label=label)
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["softmax_label"].asnumpy(), 0)


def test_softmax_output_shape_inference_and_names():
    sym = mx.sym.SoftmaxOutput(mx.sym.var("data"), name="softmax")
    assert sym.list_arguments() == ["data", "softmax_label"]
    assert sym.infer_shape(data=(4, 10))[0] == [(4, 10), (4,)]
    assert sym.infer_shape(data=(4, 3, 10))[0][1] == (4, 3)
    multi = mx.sym.SoftmaxOutput(mx.sym.var("data"), multi_output=True, name="sm")
    assert multi.infer_shape(data=(2, 5, 3, 4))[0][1] == (2, 12)
    assert multi.infer_shape(data=(2, 5, 3, 4), sm_label=(2, 3, 4))[1] == [(2, 5, 3, 4)]
    auto = mx.sym.SoftmaxOutput(mx.sym.var("d"))
    assert auto.list_arguments()[1].startswith("softmaxoutput")
    assert auto.list_arguments()[1].endswith("_label")


def test_softmax_output_errors():
    with pytest.raises(MXNetError, match=r"SoftmaxOutput: label has shape \(3,\).*must be "
                                         r"\(4,\)"):
        mx.nd.SoftmaxOutput(mx.nd.ones((4, 5)), mx.nd.ones((3,)))
    with pytest.raises(MXNetError, match=r"must be \(2, 12\) or \(2, 3, 4\) or \(2, 1, 3, 4\)"):
        mx.nd.SoftmaxOutput(mx.nd.ones((2, 5, 3, 4)), mx.nd.ones((2, 5)), multi_output=True)
    with pytest.raises(MXNetError, match="at least 2"):
        mx.nd.SoftmaxOutput(mx.nd.ones((5,)), mx.nd.ones(()))
    with pytest.raises(MXNetError, match="input 1 has dtype int32, which this op does not"):
        mx.nd.SoftmaxOutput(mx.nd.ones((4, 5)), mx.nd.ones((4,), dtype="int32"))
    with pytest.raises(MXNetError, match="label has dtype float64 but data has float32; all"):
        mx.nd.SoftmaxOutput(mx.nd.ones((4, 5)), mx.nd.ones((4,), dtype="float64"))
    with pytest.raises(MXNetError, match="normalization='mean' must be one of"):
        mx.nd.SoftmaxOutput(mx.nd.ones((4, 5)), mx.nd.ones((4,)), normalization="mean")


def test_softmax_output_empty_batch(ctx):
    x = mx.nd.zeros((0, 4))
    x.attach_grad()
    with mx.autograd.record():
        out = mx.nd.SoftmaxOutput(x, mx.nd.zeros((0,)), normalization="valid")
    out.backward()
    assert out.shape == (0, 4) and x.grad.shape == (0, 4)


# -- softmax_cross_entropy ---------------------------------------------------------------------
def test_softmax_cross_entropy(ctx):
    for dtype in _dtypes(ctx):
        x, label = _uniform((4, 6), -3, 3, dtype), _labels((4,), 6, dtype)
        got = mx.nd.softmax_cross_entropy(_nd(x), _nd(label))
        p = _softmax(x.astype(np.float64))
        want = -np.log(p[np.arange(4), label.astype(int)]).sum()
        assert got.shape == (1,) and got.dtype == np.dtype(dtype)
        _close(got, np.array([want]).astype(dtype), dtype)
    if "float64" in _dtypes(ctx):
        check_grad(ctx, "softmax_cross_entropy", ["data", "label"],
                   [_uniform((3, 5), -2, 2), _labels((3,), 5)], wrt=[0])
    with pytest.raises(MXNetError, match="2-D data.*1-D labels"):
        mx.nd.softmax_cross_entropy(mx.nd.ones((4, 5, 2)), mx.nd.ones((4,)))


# -- regression outputs ------------------------------------------------------------------------
REGRESSIONS = {
    "LinearRegressionOutput": (lambda x: x, lambda o, y: o - y),
    "LogisticRegressionOutput": (_sigmoid, lambda o, y: o - y),
    "MAERegressionOutput": (lambda x: x, lambda o, y: np.where(o - y > 0, 1.0, -1.0)),
}


@pytest.mark.parametrize("op", sorted(REGRESSIONS))
def test_regression_output(ctx, op):
    fwd, bwd = REGRESSIONS[op]
    for dtype in _dtypes(ctx):
        x, label = _uniform((4, 3), -2, 2, dtype), _uniform((4, 3), dtype=dtype)
        got = getattr(mx.nd, op)(_nd(x), _nd(label))
        _close(got, fwd(x.astype(np.float64)).astype(dtype), dtype)
    if "float64" not in _dtypes(ctx):
        return
    for shape, lshape in (((4, 3), (4, 3)), ((5, 1), (5,)), ((2, 3, 2), (2, 6))):
        x, label = _uniform(shape, -2, 2), _uniform(lshape)
        got = loss_grads(ctx, op, [x, label], {"grad_scale": 3.0})
        out = fwd(x)
        per_sample = int(np.prod(lshape[1:]))
        _close(got, bwd(out, label.reshape(shape)) * 3.0 / per_sample)


def test_regression_output_shape_inference_and_errors():
    sym = mx.sym.LinearRegressionOutput(mx.sym.var("data"), name="lro")
    assert sym.list_arguments() == ["data", "lro_label"]
    assert sym.infer_shape(data=(8, 1))[0] == [(8, 1), (8,)]
    assert sym.infer_shape(data=(8, 3))[0] == [(8, 3), (8, 3)]
    with pytest.raises(MXNetError, match=r"MAERegressionOutput: label has shape \(3, 2\)"):
        mx.nd.MAERegressionOutput(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)))


# -- MakeLoss, BlockGrad -----------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["null", "batch", "valid"])
def test_make_loss(ctx, norm):
    _need64(ctx)
    x = _uniform((4, 5))
    _close(mx.nd.MakeLoss(_nd(x)), x)
    params = {"grad_scale": 2.0, "normalization": norm, "valid_thresh": 0.2}
    got = loss_grads(ctx, "MakeLoss", [x], params, names=("data",))
    scale = {"null": 2.0, "batch": 2.0 / 4, "valid": 2.0 / max(np.sum(x > 0.2), 1)}[norm]
    _close(got, np.full(x.shape, scale))


def test_make_loss_of_a_composition(ctx):
    """MakeLoss over a computed loss: gradients flow through the ops below it."""
    _need64(ctx)
    x = _uniform((3, 2))
    data = _nd(x)
    data.attach_grad()
    with mx.autograd.record():
        loss = mx.nd.MakeLoss(mx.nd.square(data), normalization="batch")
    loss.backward()
    _close(data.grad, 2 * x / 3)
    assert mx.nd.make_loss(_nd(x)).shape == (3, 2)


def test_block_grad(ctx):
    x = _uniform((3, 4), dtype="float32")
    for op in ("BlockGrad", "stop_gradient"):
        a = mx.nd.array(x)
        a.attach_grad()
        a.grad[:] = 7
        with mx.autograd.record():
            y = getattr(mx.nd, op)(a) * 2 + a
        y.backward()
        np.testing.assert_array_equal(a.grad.asnumpy(), np.ones((3, 4)))
        _close(getattr(mx.nd, op)(a), x, "float32")
    v = mx.sym.var("x")
    sym = mx.sym.BlockGrad(v) * v
    grads = {"x": mx.nd.ones((3, 4))}
    ex = sym.bind(ctx, {"x": mx.nd.array(x)}, args_grad=grads)
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones((3, 4)))
    _close(grads["x"], x, "float32")
    only = mx.sym.BlockGrad(v)
    grads = {"x": mx.nd.ones((3, 4))}
    ex = only.bind(ctx, {"x": mx.nd.array(x)}, args_grad=grads)
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones((3, 4)))
    np.testing.assert_array_equal(grads["x"].asnumpy(), 0)


# -- Embedding ---------------------------------------------------------------------------------
def test_embedding_forward(ctx):
    for dtype in _dtypes(ctx):
        weight = _uniform((10, 4), dtype=dtype)
        idx = np.array([[1, 3, 9], [0, 3, 12]], dtype=np.float32)  # 12 clips to 9
        got = mx.nd.Embedding(mx.nd.array(idx), _nd(weight), input_dim=10, output_dim=4,
                              dtype=dtype)
        assert got.shape == (2, 3, 4) and got.dtype == np.dtype(dtype)
        _close(got, weight[np.clip(idx.astype(int), 0, 9)], dtype)
    sparse = mx.nd.Embedding(mx.nd.array([1.0]), mx.nd.ones((3, 2)), input_dim=3, output_dim=2,
                             sparse_grad=True)  # accepted; the gradient is stored dense
    assert sparse.shape == (1, 2)
    iidx = mx.nd.array([2, 2], dtype="int32")
    w = _uniform((3, 2), dtype="float32")
    _close(mx.nd.Embedding(iidx, _nd(w), input_dim=3, output_dim=2), w[[2, 2]], "float32")


def test_embedding_backward(ctx):
    _need64(ctx)
    idx = np.array([[1, 3], [3, 0], [3, 1]], dtype=np.float64)
    weight = _uniform((5, 2))
    params = {"input_dim": 5, "output_dim": 2, "dtype": "float64"}
    check_grad(ctx, "Embedding", ["data", "weight"], [idx, weight], params, wrt=[1])
    head = _uniform((3, 2, 2))
    want = np.zeros((5, 2))
    np.add.at(want, idx.astype(int), head)
    got = _autograd_grads("Embedding", [idx, weight], params, [1], head)[0]
    _close(got, want)


def test_embedding_shape_inference_and_errors():
    sym = mx.sym.Embedding(mx.sym.var("data"), input_dim=100, output_dim=16, name="embed")
    assert sym.list_arguments() == ["data", "embed_weight"]
    args, outs, _ = sym.infer_shape(data=(4, 7))
    assert args == [(4, 7), (100, 16)] and outs == [(4, 7, 16)]
    with pytest.raises(MXNetError, match=r"weight has shape \(10, 3\).*need \(10, 4\)"):
        mx.nd.Embedding(mx.nd.ones((2,)), mx.nd.ones((10, 3)), input_dim=10, output_dim=4)
    with pytest.raises(MXNetError, match="weight has dtype float64 but dtype='float32'"):
        mx.nd.Embedding(mx.nd.ones((2,)), mx.nd.ones((10, 4), dtype="float64"), input_dim=10,
                        output_dim=4)
    with pytest.raises(MXNetError, match="output_dim.*missing"):
        mx.nd.Embedding(mx.nd.ones((2,)), mx.nd.ones((10, 4)), input_dim=10)


# -- a small network end to end ----------------------------------------------------------------
def test_mlp_executor_matches_autograd(ctx):
    """FullyConnected -> Activation -> FullyConnected -> SoftmaxOutput: one executor
    backward equals autograd's."""
    _need64(ctx)
    x, label = _uniform((6, 5)), _labels((6,), 3)
    w1, b1, w2, b2 = _uniform((4, 5)), _uniform((4,)), _uniform((3, 4)), _uniform((3,))
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    net = mx.sym.Activation(net, act_type="tanh", name="act")
    net = mx.sym.FullyConnected(net, num_hidden=3, name="fc2")
    net = mx.sym.SoftmaxOutput(net, name="softmax", normalization="batch")
    values = {"data": x, "fc1_weight": w1, "fc1_bias": b1, "fc2_weight": w2, "fc2_bias": b2,
              "softmax_label": label}
    net = mx.sym.load_json(net.tojson())  # params survive their string form
    ex = net.simple_bind(ctx, data=(6, 5), type_dict={n: "float64" for n in values})
    ex.forward(is_train=True, **values)
    ex.backward()
    arrays = {n: _nd(v) for n, v in values.items()}
    for n in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
        arrays[n].attach_grad()
    with mx.autograd.record():
        h = mx.nd.Activation(mx.nd.FullyConnected(arrays["data"], arrays["fc1_weight"],
                                                  arrays["fc1_bias"], num_hidden=4),
                             act_type="tanh")
        out = mx.nd.SoftmaxOutput(mx.nd.FullyConnected(h, arrays["fc2_weight"],
                                                       arrays["fc2_bias"], num_hidden=3),
                                  arrays["softmax_label"], normalization="batch")
    out.backward()
    _close(ex.outputs[0], out.asnumpy())
    for n in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
        _close(ex.grad_dict[n], arrays[n].grad.asnumpy())
