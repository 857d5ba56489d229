"""The executor and the autograd API: binding and running symbols, a 3-layer MLP against a
hand-written numpy backprop, memory planning, elementwise fusion (counted kernel launches),
JSON round trips, grad_req semantics, simple_bind / reshape / copy_params_from, bind errors,
and record / pause / train_mode / backward / grad (second order) / detach.

Per-op gradients are tests/test_gradients.py's; the Symbol API itself is tests/test_symbol.py's.
"""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet import autograd
from clnet.base import MXNetError
from clnet.ops import registry
from clnet.runtime import get_device
from clnet.test_utils import assert_almost_equal, check_symbolic_backward, same


def _fp64(ctx):
    if not get_device(ctx).has_fp64:
        pytest.skip(f"{ctx} has no float64")


def _nd(a, dtype="float64"):
    return mx.nd.array(np.asarray(a), dtype=dtype)


# -- (a) the seed example ----------------------------------------------------------------------
def test_seed_example():
    X = mx.nd.array(np.random.uniform(-1, 1, (3, 4)), ctx=mx.cpu())
    Y = mx.nd.array(np.random.uniform(-1, 1, (3, 4)), ctx=mx.cpu())
    a = mx.sym.Variable('a'); b = mx.sym.Variable('b'); c = a + b; ex = c.bind(mx.cpu(), {'a': X, 'b': Y}); ex.forward()  # noqa: E501,E702
    assert_almost_equal(ex.outputs[0], X.asnumpy() + Y.asnumpy(), rtol=0, atol=0)
    assert ex.outputs[0].shape == (3, 4) and ex.outputs[0].context == mx.cpu()


# -- (b) a 3-layer MLP against numpy backprop ------------------------------------------------
def _mlp_symbol(x=None):
    x = mx.sym.var("x") if x is None else x
    w1, b1, w2, b2, w3, b3 = (mx.sym.var(n) for n in ("w1", "b1", "w2", "b2", "w3", "b3"))
    h1 = mx.sym.tanh(mx.sym.broadcast_add(mx.sym.dot(x, w1), b1))
    h2 = mx.sym.tanh(mx.sym.broadcast_add(mx.sym.dot(h1, w2), b2))
    return mx.sym.broadcast_add(mx.sym.dot(h2, w3), b3, name="out")


def _mlp_params(n=8, d=6, h1=5, h2=4, c=3):
    def rnd(*shape):
        return np.random.uniform(-1, 1, shape)
    return {"x": rnd(n, d), "w1": rnd(d, h1), "b1": rnd(1, h1), "w2": rnd(h1, h2),
            "b2": rnd(1, h2), "w3": rnd(h2, c), "b3": rnd(1, c)}


def _mlp_numpy(p, head):
    """Forward output and every gradient of sum(head * out), by hand."""
    h1 = np.tanh(p["x"] @ p["w1"] + p["b1"])
    h2 = np.tanh(h1 @ p["w2"] + p["b2"])
    out = h2 @ p["w3"] + p["b3"]
    g = {"w3": h2.T @ head, "b3": head.sum(0, keepdims=True)}
    dz2 = (head @ p["w3"].T) * (1 - h2 ** 2)
    g.update(w2=h1.T @ dz2, b2=dz2.sum(0, keepdims=True))
    dz1 = (dz2 @ p["w2"].T) * (1 - h1 ** 2)
    g.update(w1=p["x"].T @ dz1, b1=dz1.sum(0, keepdims=True), x=dz1 @ p["w1"].T)
    return out, g


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_matches_numpy_backprop(ctx, dtype):
    if dtype == "float64":
        _fp64(ctx)
    tol = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5)}[dtype]
    sym = _mlp_symbol()
    p = _mlp_params()
    p = {k: v.astype(dtype).astype(np.float64) for k, v in p.items()}  # the same inputs
    head = np.random.uniform(-1, 1, (8, 3)).astype(dtype).astype(np.float64)
    out, grads = _mlp_numpy(p, head)
    args = {k: _nd(v, dtype) for k, v in p.items()}
    args_grad = {k: mx.nd.zeros(v.shape, dtype=dtype) for k, v in p.items()}
    ex = sym.bind(ctx, args, args_grad=args_grad)
    assert ex.arg_names == ["x", "w1", "b1", "w2", "b2", "w3", "b3"]
    ex.forward(is_train=True)
    assert_almost_equal(ex.outputs[0], out, *tol, names=("executor", "numpy"))
    ex.backward([_nd(head, dtype)])
    for name, want in grads.items():
        assert ex.grad_dict[name].dtype == np.dtype(dtype)
        assert_almost_equal(ex.grad_dict[name], want, *tol, names=(f"d{name}", "numpy"))


def test_mlp_autograd_matches_executor(ctx):
    _fp64(ctx)
    p = _mlp_params()
    head = np.random.uniform(-1, 1, (8, 3))
    ex = _mlp_symbol().bind(ctx, {k: _nd(v) for k, v in p.items()},
                            args_grad={k: mx.nd.zeros(v.shape, dtype="float64")
                                       for k, v in p.items()})
    ex.forward(is_train=True)
    ex.backward(_nd(head))
    arrays = {k: _nd(v) for k, v in p.items()}
    for a in arrays.values():
        a.attach_grad()
    with autograd.record():
        h1 = mx.nd.tanh(mx.nd.broadcast_add(mx.nd.dot(arrays["x"], arrays["w1"]), arrays["b1"]))
        h2 = mx.nd.tanh(mx.nd.broadcast_add(mx.nd.dot(h1, arrays["w2"]), arrays["b2"]))
        out = mx.nd.broadcast_add(mx.nd.dot(h2, arrays["w3"]), arrays["b3"])
    out.backward(_nd(head))
    assert_almost_equal(out, ex.outputs[0], 1e-12, 1e-14)
    for k, a in arrays.items():
        assert_almost_equal(a.grad, ex.grad_dict[k], 1e-12, 1e-14, names=(f"autograd d{k}",
                                                                           "executor"))


# -- (c) memory planning ---------------------------------------------------------------------
def _deep_graph(layers=10):
    """Each layer: a broadcast product (not fusable: its operands differ in shape), then an
    elementwise tail whose first value is read twice."""
    x = mx.sym.var("x")
    h = x
    for i in range(layers):
        a = mx.sym.broadcast_mul(h, mx.sym.var(f"s{i}"))
        h = mx.sym.tanh(a) * 0.5 + mx.sym.sigmoid(a)
    return h


def _deep_numpy(x, scales):
    h = x
    for s in scales:
        a = h * s
        h = np.tanh(a) * 0.5 + 1 / (1 + np.exp(-a))
    return h


def test_memory_plan_reuses_intermediate_buffers(ctx, capsys):
    sym = _deep_graph()
    x = np.random.uniform(-1, 1, (64, 32))
    scales = [np.random.uniform(0.5, 1.5, (1, 32)) for _ in range(10)]
    args = {"x": mx.nd.array(x, ctx=ctx)}
    args.update({f"s{i}": mx.nd.array(s, ctx=ctx) for i, s in enumerate(scales)})
    ex = sym.bind(ctx, args)
    plan = ex.memory_plan
    with capsys.disabled():
        print(f"\n10-layer graph, intermediates: planned {plan['planned_bytes']} bytes, "
              f"naive {plan['naive_bytes']} bytes")
    # at least the product of every layer is an intermediate (fusion merges the rest)
    assert plan["naive_bytes"] >= 10 * 64 * 32 * 4
    assert plan["planned_bytes"] < plan["naive_bytes"] / 2
    for _ in range(2):  # a replay reuses the same buffers and still gives the right values
        ex.forward()
        assert_almost_equal(ex.outputs[0], _deep_numpy(x, scales), 1e-5, 1e-6)


def test_memory_plan_keeps_values_the_backward_pass_reads(ctx):
    _fp64(ctx)
    sym = _deep_graph(6)
    x = np.random.uniform(-1, 1, (5, 4))
    scales = [np.random.uniform(0.5, 1.5, (1, 4)) for _ in range(6)]
    location = [x] + scales
    head = np.random.uniform(-1, 1, (5, 4))
    arrays = [_nd(a) for a in location]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        h = arrays[0]
        for s in arrays[1:]:
            a = mx.nd.broadcast_mul(h, s)
            h = mx.nd.tanh(a) * 0.5 + mx.nd.sigmoid(a)
    h.backward(_nd(head))
    assert sym.list_arguments() == ["x"] + [f"s{i}" for i in range(6)]
    check_symbolic_backward(sym, location, [head], [a.grad.asnumpy() for a in arrays],
                            rtol=1e-12, atol=1e-14, ctx=ctx, dtype=np.float64)


# -- (d) fusion ----------------------------------------------------------------------------------
def _launches(ctx, fn):
    dev = get_device(ctx)
    mx.nd.waitall()
    before = dev.launches
    fn()
    return dev.launches - before


def test_chain_of_five_elementwise_ops_is_one_launch(ctx):
    x = mx.sym.var("x")
    y = mx.sym.exp(mx.sym.sin(mx.sym.tanh(x) * 2 + 1))  # tanh, *2, +1, sin, exp
    data = np.random.uniform(-1, 1, (7, 33))
    ex = y.bind(ctx, {"x": mx.nd.array(data, ctx=ctx)})
    ex.forward()  # builds the fused kernel
    assert ex.fused_kernels == 1
    assert _launches(ctx, ex.forward) == 1
    assert_almost_equal(ex.outputs[0], np.exp(np.sin(np.tanh(data) * 2 + 1)), 1e-5, 1e-6)
    data2 = np.random.uniform(-1, 1, (7, 33))
    ex.forward(x=data2)
    assert_almost_equal(ex.outputs[0], np.exp(np.sin(np.tanh(data2) * 2 + 1)), 1e-5, 1e-6)


def test_fusion_with_two_inputs_and_an_intermediate_head(ctx):
    x, w = mx.sym.var("x"), mx.sym.var("w")
    t = mx.sym.tanh(x)
    y = mx.sym.sqrt(mx.sym.square(t * w) + 1) - w  # *, square, +1, sqrt, -: one kernel
    # 64 elements: whole vectors, so the unfused tanh below is one launch too
    xs, ws = np.random.uniform(-1, 1, (2, 4, 8)), np.random.uniform(-1, 1, (2, 4, 8))
    args = {"x": mx.nd.array(xs, ctx=ctx), "w": mx.nd.array(ws, ctx=ctx)}
    ex = y.bind(ctx, args)
    ex.forward()
    assert _launches(ctx, ex.forward) == 1
    want_t = np.tanh(xs)
    want_y = np.sqrt(np.square(want_t * ws) + 1) - ws
    assert_almost_equal(ex.outputs[0], want_y, 1e-5, 1e-6)
    # t is also an output: it is written by its own launch, the rest stays fused
    both = mx.sym.Group([t, y]).bind(ctx, args)
    both.forward()
    assert _launches(ctx, both.forward) == 2
    assert_almost_equal(both.outputs[0], want_t, 1e-5, 1e-6)
    assert_almost_equal(both.outputs[1], want_y, 1e-5, 1e-6)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_fully_connected_stores_its_relu_in_inference(ctx, dtype):
    """A forward-only graph runs FullyConnected + relu (Activation or the op) as one launch,
    the GEMM clamping in its store: bit-identical to the imperative ops (at batch 1 the GEMV
    kernels, three launches in all; at 300 the first layer takes the packed or tiled path, the
    others the direct kernel). A relu whose input is also a head, or whose input the backward
    pass reads (training), runs on its own."""
    if dtype == "float64":
        _fp64(ctx)
    data = mx.sym.var("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=40, name="fc1"),
                          act_type="relu", name="r1")
    fc2 = mx.sym.FullyConnected(h, num_hidden=24, no_bias=True, name="fc2")
    net = mx.sym.FullyConnected(mx.sym.relu(fc2, name="r2"), num_hidden=3, name="fc3")
    rng = np.random.RandomState(5)
    for batch in (1, 300):
        args = {"data": rng.uniform(-1, 1, (batch, 50))}
        for name, shape in (("fc1_weight", (40, 50)), ("fc1_bias", (40,)),
                            ("fc2_weight", (24, 40)), ("fc3_weight", (3, 24)),
                            ("fc3_bias", (3,))):
            args[name] = rng.uniform(-1, 1, shape)
        arrays = {k: _nd(v, dtype) for k, v in args.items()}
        ex = net.bind(ctx, arrays)
        ex.forward()
        listing = ex.debug_str()
        assert "fc1 (FullyConnected) + r1 (Activation)" in listing
        assert "fc2 (FullyConnected) + r2 (relu)" in listing
        if batch == 1:
            assert _launches(ctx, ex.forward) == 3
        nd = mx.nd
        r1 = nd.Activation(nd.FullyConnected(arrays["data"], arrays["fc1_weight"],
                                             arrays["fc1_bias"], num_hidden=40), act_type="relu")
        assert (r1.asnumpy() == 0).any() and (r1.asnumpy() > 0).any()
        r2 = nd.relu(nd.FullyConnected(r1, arrays["fc2_weight"], num_hidden=24, no_bias=True))
        want = nd.FullyConnected(r2, arrays["fc3_weight"], arrays["fc3_bias"], num_hidden=3)
        np.testing.assert_array_equal(ex.outputs[0].asnumpy(), want.asnumpy())
        # fc2's output is a head as well: the relu after it runs on its own
        both = mx.sym.Group([net, fc2]).bind(ctx, arrays)
        both.forward()
        assert "fc2 (FullyConnected) + r2" not in both.debug_str()
        np.testing.assert_array_equal(both.outputs[0].asnumpy(), want.asnumpy())
    # training: the relu's gradient reads the FullyConnected output, so both are kept
    grads = {k: mx.nd.zeros(v.shape, ctx=ctx, dtype=dtype) for k, v in arrays.items()}
    train = net.bind(ctx, arrays, args_grad=grads)
    assert "+ r1" not in train.debug_str() and "+ r2" not in train.debug_str()
    train.forward(is_train=True)
    np.testing.assert_array_equal(train.outputs[0].asnumpy(), want.asnumpy())


def test_fused_backward_matches_numpy(ctx):
    _fp64(ctx)
    x = mx.sym.var("x")
    y = mx.sym.exp(mx.sym.sin(mx.sym.tanh(x) * 2 + 1))
    data = np.random.uniform(-1, 1, (4, 5))
    head = np.random.uniform(-1, 1, (4, 5))
    t = np.tanh(data)
    u = np.sin(t * 2 + 1)
    want = head * np.exp(u) * np.cos(t * 2 + 1) * 2 * (1 - t ** 2)
    check_symbolic_backward(y, [data], [head], [want], rtol=1e-12, atol=1e-14, ctx=ctx,
                            dtype=np.float64)


# -- (e) JSON round trip -------------------------------------------------------------------------
def test_json_round_trip_binds_to_the_same_results(ctx):
    _fp64(ctx)
    x = mx.sym.var("x")
    sym = mx.sym.Group([_mlp_symbol(x), mx.sym.sigmoid(x * 3, name="side")])
    loaded = mx.sym.load_json(sym.tojson())
    assert loaded.list_arguments() == sym.list_arguments()
    assert loaded.list_outputs() == sym.list_outputs()
    assert loaded.tojson() == sym.tojson()
    p = _mlp_params()
    heads = [np.random.uniform(-1, 1, (8, 3)), np.random.uniform(-1, 1, (8, 6))]
    results = []
    for s in (sym, loaded):
        grads = {k: mx.nd.zeros(v.shape, dtype="float64") for k, v in p.items()}
        ex = s.bind(ctx, {k: _nd(v) for k, v in p.items()}, args_grad=grads)
        ex.forward(is_train=True)
        ex.backward([_nd(h) for h in heads])
        results.append([o.asnumpy() for o in ex.outputs]
                       + [grads[k].asnumpy() for k in sorted(grads)])
    for a, b in zip(*results):
        assert same(a, b)


# -- (f) grad_req, simple_bind, dictionaries, reshape, errors ----------------------------------
def _mul_symbol():
    x, w = mx.sym.var("x"), mx.sym.var("w")
    return mx.sym.broadcast_mul(mx.sym.sin(x), w, name="out")


def test_grad_req_write_add_null(ctx):
    _fp64(ctx)
    xs, ws = np.random.uniform(-1, 1, (2, 3)), np.random.uniform(-1, 1, (1, 3))
    head = np.random.uniform(-1, 1, (2, 3))
    dx, dw = head * ws * np.cos(xs), (head * np.sin(xs)).sum(0, keepdims=True)
    sym = _mul_symbol()
    for req in ("write", "add", "null"):
        check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], rtol=1e-12, atol=1e-14,
                                grad_req=req, ctx=ctx, dtype=np.float64)
    check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], rtol=1e-12, atol=1e-14,
                            grad_req={"x": "add", "w": "null"}, ctx=ctx, dtype=np.float64)
    check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], rtol=1e-12, atol=1e-14,
                            grad_req=["null", "write"], ctx=ctx, dtype=np.float64)
    # repeated backward: write overwrites, add accumulates
    gx, gw = mx.nd.zeros((2, 3), dtype="float64"), mx.nd.zeros((1, 3), dtype="float64")
    ex = sym.bind(ctx, {"x": _nd(xs), "w": _nd(ws)}, args_grad={"x": gx, "w": gw},
                  grad_req={"x": "write", "w": "add"})
    for _ in range(3):
        ex.forward(is_train=True)
        ex.backward(_nd(head))
    assert_almost_equal(gx, dx, 1e-12, 1e-14)
    assert_almost_equal(gw, 3 * dw, 1e-12, 1e-14)


def test_argument_without_gradient_gets_zeros_under_write(ctx):
    a, i = mx.sym.var("a"), mx.sym.var("i")
    ex = mx.sym.take(a, i).bind(ctx, {"a": mx.nd.array(np.random.rand(4, 3)),
                                      "i": mx.nd.array([0, 2, 2], dtype="int32")},
                                args_grad={"a": mx.nd.full((4, 3), 7.0),
                                           "i": mx.nd.full((3,), 5, dtype="int32")})
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones((3, 3)))
    assert_almost_equal(ex.grad_dict["a"], [[1, 1, 1], [0, 0, 0], [2, 2, 2], [0, 0, 0]])
    assert same(ex.grad_dict["i"], np.zeros(3, np.int32))  # MXNet: zeros, not left as is


def test_simple_bind_dicts_copy_params_and_forward_kwargs(ctx):
    sym = _mul_symbol()
    ex = sym.simple_bind(ctx, x=(2, 3), w=(1, 3))
    assert list(ex.arg_dict) == ["x", "w"] and list(ex.output_dict) == ["out_output"]
    assert {k: v.shape for k, v in ex.grad_dict.items()} == {"x": (2, 3), "w": (1, 3)}
    assert all(v.context == ctx for v in list(ex.arg_dict.values()) + ex.grad_arrays)
    assert ex.output_dict["out_output"] is ex.outputs[0]
    ws = np.array([[1.0, -2.0, 0.5]], np.float32)
    ex.copy_params_from({"w": mx.nd.array(ws, ctx=ctx)})
    assert same(ex.arg_dict["w"], ws)
    with pytest.raises(MXNetError, match="'b'.*allow_extra_params"):
        ex.copy_params_from({"b": mx.nd.ones((1,), ctx=ctx)})
    ex.copy_params_from({"b": mx.nd.ones((1,), ctx=ctx)}, allow_extra_params=True)
    xs = np.random.uniform(-1, 1, (2, 3)).astype(np.float32)
    outs = ex.forward(is_train=True, x=xs)
    assert outs[0] is ex.outputs[0]
    assert_almost_equal(ex.outputs[0], np.sin(xs) * ws)
    ex.backward(mx.nd.ones((2, 3), ctx=ctx))
    assert_almost_equal(ex.grad_dict["w"], np.sin(xs).sum(0, keepdims=True))
    ex.backward({"out_output": mx.nd.full((2, 3), 2.0, ctx=ctx)})  # out_grads by name
    assert_almost_equal(ex.grad_dict["w"], 2 * np.sin(xs).sum(0, keepdims=True))
    # simple_bind with grad_req null allocates no gradients; type_dict picks dtypes
    ex2 = (mx.sym.var("x") * mx.sym.var("w")).simple_bind(
        ctx, grad_req="null", type_dict={"x": "int32", "w": "int32"}, x=(2, 3), w=(1, 3))
    assert ex2.grad_dict == {} and ex2.arg_dict["x"].dtype == np.int32
    assert ex2.outputs[0].dtype == np.int32
    ex2.forward(is_train=True)
    ex2.backward()  # nothing to compute (MXNet runs an empty backward)
    with pytest.raises(MXNetError, match="'z' is not an argument.*'x', 'w'"):
        ex.forward(z=xs)
    with pytest.raises(MXNetError, match=r"'x' has shape \(3, 3\).*\(2, 3\).*reshape"):
        ex.forward(x=np.ones((3, 3)))



def test_default_head_gradient_filled_only_where_read(ctx):
    """backward() without out_grads fills the head gradients with ones only where the
    gradient graph reads them: SoftmaxOutput ignores its own, so its backward is the one
    label-gradient launch; a head that is its own argument's gradient still gets ones."""
    dev = get_device(ctx)
    x = np.random.uniform(-2, 2, (4, 5)).astype(np.float32)
    labels = np.array([0, 3, 1, 4], np.float32)
    net = mx.sym.SoftmaxOutput(mx.sym.var("data"), mx.sym.var("label"), name="sm")
    ex = net.simple_bind(ctx, grad_req={"data": "write", "label": "null"}, data=(4, 5),
                         label=(4,))
    ex.forward(is_train=True, data=x, label=labels)
    ex.outputs[0].wait_to_read()
    before = dev.launches
    ex.backward()
    assert dev.launches - before == 1
    prob = np.exp(x - x.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    assert_almost_equal(ex.grad_dict["data"], prob - np.eye(5)[labels.astype(int)],
                        rtol=1e-5, atol=1e-6)
    # the gradient of a variable output with respect to itself is the head gradient
    ident = mx.sym.var("v").simple_bind(ctx, v=(2, 3))
    ident.forward(is_train=True, v=np.zeros((2, 3)))
    ident.backward()
    assert same(ident.grad_dict["v"], np.ones((2, 3), np.float32))

def test_reshape_shares_parameters(ctx):
    sym = _mul_symbol()
    ex = sym.simple_bind(ctx, x=(4, 3), w=(1, 3))
    ex.arg_dict["w"][:] = np.array([[1.0, 2.0, 3.0]])
    small = ex.reshape(x=(2, 3))
    assert small.arg_dict["x"].shape == (2, 3) and small.outputs[0].shape == (2, 3)
    assert small.arg_dict["w"] is ex.arg_dict["w"]
    xs = np.random.uniform(-1, 1, (2, 3))
    small.forward(x=xs)
    assert_almost_equal(small.outputs[0], np.sin(xs) * [[1, 2, 3]])
    with pytest.raises(MXNetError, match="allow_up_sizing"):
        ex.reshape(x=(8, 3))
    big = ex.reshape(allow_up_sizing=True, x=(8, 3))
    xs = np.random.uniform(-1, 1, (8, 3))
    big.forward(x=xs)
    assert_almost_equal(big.outputs[0], np.sin(xs) * [[1, 2, 3]])


def test_bind_errors_name_arguments_and_shapes(ctx):
    a, b = mx.sym.var("a"), mx.sym.var("b")
    c = a + b
    X = mx.nd.ones((2, 3), ctx=ctx)
    with pytest.raises(MXNetError, match=r"lacks \['b'\]"):
        c.bind(ctx, {"a": X})
    with pytest.raises(MXNetError, match=r"2 arrays.*needs 3.*\['a', 'b', 'c'\]"):
        (c * mx.sym.var("c")).bind(ctx, [X, X])
    with pytest.raises(MXNetError, match=r"\(2, 3\).*\(3, 2\)"):
        c.bind(ctx, {"a": X, "b": mx.nd.ones((3, 2), ctx=ctx)})
    with pytest.raises(MXNetError, match=r"args_grad\['a'\].*\(3, 2\).*\(2, 3\)"):
        mx.sym.exp(a).bind(ctx, {"a": X}, args_grad={"a": mx.nd.ones((3, 2), ctx=ctx)})
    with pytest.raises(MXNetError, match="'c'.*does not use"):
        c.bind(ctx, {"a": X, "b": X, "c": X})
    with pytest.raises(MXNetError, match="'b'.*must be an NDArray"):
        c.bind(ctx, {"a": X, "b": np.ones((2, 3))})
    with pytest.raises(MXNetError, match="several variables named 'a'"):
        (c * mx.sym.var("a")).bind(ctx, {"a": X, "b": X})
    with pytest.raises(MXNetError, match="several variables named 'a'"):
        (c * mx.sym.var("a")).simple_bind(ctx, a=(2, 3), b=(2, 3))
    with pytest.raises(MXNetError, match="grad_req 'sometimes'"):
        c.bind(ctx, {"a": X, "b": X}, args_grad={"a": X}, grad_req="sometimes")
    ex = c.bind(ctx, {"a": X, "b": X}, args_grad={"a": mx.nd.zeros((2, 3), ctx=ctx)})
    ex.forward(is_train=True)
    with pytest.raises(MXNetError, match="2 out_grads for 1 outputs"):
        ex.backward([X, X])


# -- (g) the autograd API ------------------------------------------------------------------------
def test_record_pause_and_modes():
    assert not autograd.is_recording() and not autograd.is_training()
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
            with autograd.train_mode():
                assert autograd.is_training() and not autograd.is_recording()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
    with autograd.record(train_mode=False):
        assert autograd.is_recording() and not autograd.is_training()
    assert not autograd.is_recording() and not autograd.is_training()
    assert autograd.set_recording(True) is False
    assert autograd.set_training(True) is False
    assert autograd.is_recording() and autograd.is_training()
    assert autograd.set_recording(False) is True and autograd.set_training(False) is True


def test_paused_ops_are_not_recorded(ctx):
    _fp64(ctx)
    x = _nd([0.5, -1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * x
        with autograd.pause():
            c = y * 3  # a constant for the gradient
        z = y * c
    z.backward()
    xs = x.asnumpy()
    assert_almost_equal(x.grad, 6 * xs ** 3, 1e-12, 1e-14)  # c * d(x^2)/dx, c = 3x^2 fixed


def test_attach_grad_add_backward_out_grad_and_retain_graph(ctx):
    _fp64(ctx)
    xs = np.array([0.5, -1.0, 2.0])
    x = _nd(xs)
    x.attach_grad(grad_req="add")
    for _ in range(2):
        with autograd.record():
            y = x * x
        y.backward()
    assert_almost_equal(x.grad, 2 * (2 * xs), 1e-12, 1e-14)
    x.attach_grad()  # write: a fresh zero gradient
    assert same(x.grad, np.zeros(3))
    head = np.array([1.0, 0.5, -2.0])
    with autograd.record():
        z = mx.nd.square(x * 2)
    z.backward(_nd(head), retain_graph=True)
    assert_almost_equal(x.grad, head * 8 * xs, 1e-12, 1e-14)
    z.backward(_nd(head))  # the graph was kept once
    assert_almost_equal(x.grad, head * 8 * xs, 1e-12, 1e-14)
    with pytest.raises(MXNetError, match="record"):
        z.backward()  # freed by the last backward
    with pytest.raises(MXNetError, match="record"):
        (x * 2).backward()  # not recorded at all


def test_autograd_backward_several_heads_and_grad_function(ctx):
    _fp64(ctx)
    xs = np.random.uniform(-1, 1, (2, 3))
    x = _nd(xs)
    x.attach_grad()
    with autograd.record():
        a = mx.nd.sin(x)
        b = x * 3
    autograd.backward([a, b], [_nd(np.ones((2, 3))), _nd(np.full((2, 3), 2.0))])
    assert_almost_equal(x.grad, np.cos(xs) + 6, 1e-12, 1e-14)
    with autograd.record():
        y = mx.nd.exp(x) * x
    (g,) = autograd.grad(y, [x])
    assert_almost_equal(g, np.exp(xs) * (1 + xs), 1e-12, 1e-14)
    assert_almost_equal(x.grad, np.cos(xs) + 6, 1e-12, 1e-14)  # grad() leaves .grad alone


def test_second_order_gradients(ctx):
    _fp64(ctx)
    xs = np.array([0.5, -1.0, 2.0, 0.1])
    x = _nd(xs)
    x.attach_grad()
    with autograd.record():
        y = x ** 3
        (dy,) = autograd.grad(y, [x], create_graph=True)
    assert_almost_equal(dy, 3 * xs ** 2, 1e-12, 1e-14)
    dy.backward()
    assert_almost_equal(x.grad, 6 * xs, 1e-12, 1e-14)
    with autograd.record():
        t = mx.nd.tanh(x)
        (dt,) = autograd.grad(t, [x], create_graph=True)
    dt.backward()
    th = np.tanh(xs)
    assert_almost_equal(dt, 1 - th ** 2, 1e-12, 1e-14)
    assert_almost_equal(x.grad, -2 * th * (1 - th ** 2), 1e-12, 1e-14)
    # the gradient ops made on the way are well-formed ops: distinct input names, in mx.sym
    for name, op in registry.all_ops().items():
        if name.startswith("_backward__backward_"):
            assert len(set(op.inputs)) == len(op.inputs), (name, op.inputs)
            assert callable(getattr(mx.sym, name))


def test_detach_cuts_the_graph(ctx):
    _fp64(ctx)
    xs = np.array([0.5, -1.0, 2.0])
    x = _nd(xs)
    x.attach_grad()
    with autograd.record():
        y = x * x
        z = y.detach() * x + y
    z.backward()
    assert_almost_equal(x.grad, xs ** 2 + 2 * xs, 1e-12, 1e-14)
    assert same(y.detach(), xs ** 2)


def test_symbol_gradient_returns_the_gradient_graph(ctx):
    x, y = mx.sym.var("x"), mx.sym.var("y")
    loss = mx.sym.sum(mx.sym.tanh(x) * y)
    grads = loss.gradient(["x", "y"])
    assert len(grads.list_outputs()) == 2
    xv = np.random.uniform(-1, 1, (3, 4))
    yv = np.random.uniform(-1, 1, (3, 4))
    ex = grads.bind(ctx, {"x": mx.nd.array(xv, dtype="float64"),
                          "y": mx.nd.array(yv, dtype="float64")})
    gx, gy = [o.asnumpy() for o in ex.forward()]
    np.testing.assert_allclose(gx, (1 - np.tanh(xv) ** 2) * yv, rtol=1e-10)
    np.testing.assert_allclose(gy, np.tanh(xv), rtol=1e-10)
    with pytest.raises(mx.MXNetError, match=r"\['z'\] are not variables"):
        loss.gradient("z")
