"""One training step of the example LeNet (examples/train_mnist.py, `lenet(small=True)`: the
network trained on the 8x8 digits) against an independent float64 numpy implementation of its
forward and hand-written backward pass: through `mx.mod.Module` in float32 (probabilities,
loss, every parameter gradient, the SGD update, and a second forward with the updated
parameters) and through a float64 `simple_bind` executor, where the match is exact to 1e-8."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import clnet as mx
from clnet.data import load_digits
from clnet.runtime import get_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("conv1", "conv2", "fc1", "fc2")
LR = 0.1


def _example_lenet():
    """The symbol the example trains on the digits, imported from the example file itself."""
    spec = importlib.util.spec_from_file_location(
        "train_mnist_example", os.path.join(ROOT, "examples", "train_mnist.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lenet(small=True)


def _digits_batch(n=4, seed=7):
    """n real digit images (1x8x8 in [0, 1]): their blank borders give all-zero receptive
    fields, hence tied maxima (at zero bias), so the data gradient depends on which tied
    element max pooling routes to."""
    x, y = load_digits()
    pick = np.random.RandomState(seed).choice(len(x), n, replace=False)
    return x[pick].reshape(n, 1, 8, 8), y[pick].astype(np.float32)


# -- numpy reference (float64) -------------------------------------------------------------------
def _patches(x, k, pad):
    """im2col: cols[n, c, i, j, y, x] = padded x[n, c, y + i, x + j]."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = np.empty((n, c, k, k, oh, ow))
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + oh, j:j + ow]
    return cols


def _conv_forward(x, w, b, pad):
    """MXNet's Convolution is a cross-correlation: out[n,o,y,x] = sum w[o,c,i,j] *
    xpad[n,c,y+i,x+j] + b[o]."""
    cols = _patches(x, w.shape[2], pad)
    return np.einsum("ocij,ncijyx->noyx", w, cols) + b[None, :, None, None], cols


def _conv_backward(g, x_shape, w, cols, pad):
    dw = np.einsum("noyx,ncijyx->ocij", g, cols)
    db = g.sum(axis=(0, 2, 3))
    dcols = np.einsum("ocij,noyx->ncijyx", w, g)
    n, c, h, wd = x_shape
    k = w.shape[2]
    oh, ow = g.shape[2:]
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    for i in range(k):  # col2im: each patch position adds back where it was read from
        for j in range(k):
            dxp[:, :, i:i + oh, j:j + ow] += dcols[:, :, i, j]
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, db


def _maxpool_forward(x):
    """2x2 stride-2 max pooling; the argmax is each window's FIRST maximum in row-major order
    (MXNet's unpool_max routes the gradient to it)."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)
    ties = int((np.sum(win == win.max(axis=-1, keepdims=True), axis=-1) > 1).sum())
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg, ties


def _maxpool_backward(g, arg, x_shape):
    n, c, h, w = x_shape
    win = np.zeros((n, c, h // 2, w // 2, 4))
    np.put_along_axis(win, arg[..., None], g[..., None], -1)
    win = win.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return win.reshape(x_shape)


def _lenet_step(x, y, params):
    """Forward and backward of lenet(small=True) + SoftmaxOutput in float64. Returns the
    probabilities, the mean cross entropy, the gradients of every parameter and of "data"
    (SoftmaxOutput's gradient is softmax - onehot: normalization 'null', grad_scale 1) and
    the number of tied pooling windows seen."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = np.asarray(x, np.float64)
    labels = np.asarray(y).astype(int)
    z1, cols1 = _conv_forward(x, p["conv1_weight"], p["conv1_bias"], 2)
    a1 = np.tanh(z1)
    m1, arg1, ties1 = _maxpool_forward(a1)
    z2, cols2 = _conv_forward(m1, p["conv2_weight"], p["conv2_bias"], 2)
    a2 = np.tanh(z2)
    m2, arg2, ties2 = _maxpool_forward(a2)
    flat = m2.reshape(len(x), -1)
    a3 = np.tanh(flat @ p["fc1_weight"].T + p["fc1_bias"])
    logits = a3 @ p["fc2_weight"].T + p["fc2_bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(x))
    loss = -np.log(prob[rows, labels]).mean()

    grads = {}
    g = prob.copy()
    g[rows, labels] -= 1
    grads["fc2_weight"], grads["fc2_bias"] = g.T @ a3, g.sum(axis=0)
    g = (g @ p["fc2_weight"]) * (1 - a3 ** 2)
    grads["fc1_weight"], grads["fc1_bias"] = g.T @ flat, g.sum(axis=0)
    g = (g @ p["fc1_weight"]).reshape(m2.shape)
    g = _maxpool_backward(g, arg2, a2.shape) * (1 - a2 ** 2)
    g, grads["conv2_weight"], grads["conv2_bias"] = _conv_backward(
        g, m1.shape, p["conv2_weight"], cols2, 2)
    g = _maxpool_backward(g, arg1, a1.shape) * (1 - a1 ** 2)
    grads["data"], grads["conv1_weight"], grads["conv1_bias"] = _conv_backward(
        g, x.shape, p["conv1_weight"], cols1, 2)
    return prob, loss, grads, ties1 + ties2


def _close(actual, expected, rtol, name):
    """Relative to the array's scale, so entries that cancel to ~0 do not demand more than the
    arithmetic's precision."""
    expected = np.asarray(expected)
    atol = rtol * float(np.abs(expected).max())
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol,
                               err_msg=name)


# -- the reference against itself --------------------------------------------------------------
def test_reference_backward_matches_central_differences():
    """The hand-written backward pass is the derivative of the reference's own loss (a few
    coordinates of every parameter; inputs in general position so no max is tied)."""
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (2, 1, 8, 8))
    y = np.array([3.0, 7.0])
    shapes = {"conv1_weight": (20, 1, 5, 5), "conv1_bias": (20,),
              "conv2_weight": (50, 20, 5, 5), "conv2_bias": (50,),
              "fc1_weight": (500, 200), "fc1_bias": (500,),
              "fc2_weight": (10, 500), "fc2_bias": (10,)}
    params = {k: rng.uniform(-0.3, 0.3, s) for k, s in shapes.items()}
    _, _, grads, ties = _lenet_step(x, y, params)
    assert ties == 0
    eps = 1e-6
    for name, value in params.items():
        for flat_index in rng.choice(value.size, 3, replace=False):
            idx = np.unravel_index(flat_index, value.shape)
            old = value[idx]
            value[idx] = old + eps
            plus = _lenet_step(x, y, params)[1]
            value[idx] = old - eps
            minus = _lenet_step(x, y, params)[1]
            value[idx] = old
            # the reference's gradient is of the summed loss; its loss is the batch mean
            numeric = (plus - minus) / (2 * eps) * len(x)
            assert grads[name][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


# -- clnet against the reference ---------------------------------------------------------------
def test_module_training_step_matches_numpy(ctx):
    x, y = _digits_batch()
    mx.random.seed(11)
    mod = mx.mod.Module(_example_lenet(), context=ctx)
    mod.bind(data_shapes=[("data", x.shape)], label_shapes=[("softmax_label", y.shape)],
             inputs_need_grad=True)
    mod.init_params(mx.init.Xavier(magnitude=2.0))
    mod.init_optimizer(optimizer="sgd", optimizer_params={
        "learning_rate": LR, "rescale_grad": 1.0, "momentum": 0.0, "wd": 0.0})
    assert sorted(mod._param_names) == sorted(f"{n}_{k}" for n in LAYERS
                                              for k in ("weight", "bias"))
    arg, _ = mod.get_params()
    params = {k: v.asnumpy().astype(np.float64) for k, v in arg.items()}
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])

    mod.forward(batch, is_train=True)
    mod.backward()
    prob, loss, grads, ties = _lenet_step(x, y, params)
    assert ties > 0  # routed to each window's first maximum, as MXNet's unpool_max
    out = mod.get_outputs()[0].asnumpy()
    _close(out, prob, 1e-4, "probabilities")
    ce = -np.log(out[np.arange(len(y)), y.astype(int)].astype(np.float64)).mean()
    assert ce == pytest.approx(loss, rel=1e-4)
    metric = mx.metric.CrossEntropy()
    mod.update_metric(metric, batch.label)
    assert metric.get()[1] == pytest.approx(loss, rel=1e-4)
    ex = mod._group.execs[0]
    for name in params:
        _close(ex.grad_dict[name].asnumpy(), grads[name], 1e-4, name)
    _close(mod.get_input_grads()[0].asnumpy(), grads["data"], 1e-4, "data")

    mod.update()
    arg2, _ = mod.get_params()
    for name, value in params.items():
        _close(arg2[name].asnumpy(), value - LR * grads[name], 1e-4, f"updated {name}")

    # the next forward uses the updated (now nonzero) biases
    mod.forward(batch, is_train=False)
    prob2 = _lenet_step(x, y, {k: v.asnumpy() for k, v in arg2.items()})[0]
    _close(mod.get_outputs()[0].asnumpy(), prob2, 1e-4, "probabilities after the update")


def test_float64_executor_is_exact(ctx):
    if not get_device(ctx).has_fp64:
        pytest.skip("the device has no float64")
    x, y = _digits_batch(seed=8)
    rng = np.random.RandomState(5)
    x = x + rng.uniform(-0.05, 0.05, x.shape)  # no all-zero fields: biases nonzero below
    net = _example_lenet()
    ex = net.simple_bind(ctx, data=x.shape, softmax_label=y.shape,
                         type_dict={"data": np.float64, "softmax_label": np.float64})
    names = [n for n in net.list_arguments() if n not in ("data", "softmax_label")]
    params = {}
    for name in names:
        assert ex.arg_dict[name].dtype == np.float64, name
        shape = ex.arg_dict[name].shape
        if name.endswith("_weight"):
            bound = np.sqrt(6.0 / (shape[0] + shape[1]) / float(np.prod(shape[2:])))
        else:
            bound = 0.1
        params[name] = rng.uniform(-bound, bound, shape)
        ex.arg_dict[name][:] = params[name]
    ex.arg_dict["data"][:] = x
    ex.arg_dict["softmax_label"][:] = y

    ex.forward(is_train=True)
    ex.backward()
    prob, loss, grads, _ = _lenet_step(x, y, params)
    out = ex.outputs[0].asnumpy()
    assert out.dtype == np.float64
    _close(out, prob, 1e-8, "probabilities")
    ce = -np.log(out[np.arange(len(y)), y.astype(int)]).mean()
    assert ce == pytest.approx(loss, rel=1e-8)
    for name in names + ["data"]:
        assert ex.grad_dict[name].dtype == np.float64, name
        _close(ex.grad_dict[name].asnumpy(), grads[name], 1e-8, name)

    opt = mx.optimizer.SGD(learning_rate=LR, rescale_grad=1.0, momentum=0.0, wd=0.0)
    updater = mx.optimizer.get_updater(opt)
    for i, name in enumerate(names):
        updater(i, ex.grad_dict[name], ex.arg_dict[name])
        _close(ex.arg_dict[name].asnumpy(), params[name] - LR * grads[name], 1e-8,
               f"updated {name}")
