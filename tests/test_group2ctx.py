"""Model parallelism: `mx.AttrScope(ctx_group=...)` and `group2ctx` at bind.

An MLP split in two halves over cpu(0) / cpu(1) (conftest asks pocl for two devices) must give
the single-device results forward and backward, with outputs and gradients on the expected
contexts; placement of ungrouped and gradient nodes, fusion within one device, copies of
arguments, shared weights, auxiliary states, reshape, the errors, and the example script.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.runtime import discovery
from clnet.test_utils import assert_almost_equal

pytestmark = pytest.mark.skipif(
    len(discovery.devices_of_kind("cpu", missing_ok=True)) < 2,
    reason="needs two CPU OpenCL devices (POCL_DEVICES='pthread pthread')")

C0, C1 = mx.cpu(0), mx.cpu(1)
G2C = {"dev1": C0, "dev2": C1}
TOL = {"rtol": 1e-6, "atol": 1e-6}


def _mlp(loss_in_group=True):
    """data -> fc1 -> relu (dev1) -> fc2 (dev2) -> softmax (dev2, or no group)."""
    with mx.AttrScope(ctx_group="dev1"):
        data = mx.sym.var("data")
        h = mx.sym.FullyConnected(data, num_hidden=12, name="fc1")
        h = mx.sym.Activation(h, act_type="relu", name="relu1")
    with mx.AttrScope(ctx_group="dev2"):
        h = mx.sym.FullyConnected(h, num_hidden=5, name="fc2")
        if loss_in_group:
            return mx.sym.SoftmaxOutput(h, name="softmax")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def _values(ex, batch=6):
    out = {}
    for name, arr in ex.arg_dict.items():
        if name == "softmax_label":
            out[name] = np.random.randint(0, 5, arr.shape).astype(np.float32)
        else:
            out[name] = np.random.uniform(-1, 1, arr.shape).astype(np.float32)
    return out


def _load(ex, values):
    for name, value in values.items():
        ex.arg_dict[name][:] = value


def _lines(ex, word):
    return [line for line in ex.debug_str().splitlines() if word in line]


def test_mlp_split_matches_single_device_forward_and_backward():
    sym = _mlp()
    split = sym.simple_bind(C0, data=(6, 7), group2ctx=G2C)
    single = sym.simple_bind(C0, data=(6, 7))
    homes = {"data": C0, "fc1_weight": C0, "fc1_bias": C0, "fc2_weight": C1, "fc2_bias": C1,
             "softmax_label": C1}
    assert {n: a.context for n, a in split.arg_dict.items()} == homes
    assert {n: a.context for n, a in split.grad_dict.items()} == homes
    values = _values(single)
    _load(split, values)
    _load(single, values)
    for step in range(3):  # replays, with new data and weights moved by SGD in between
        if step:
            data = np.random.uniform(-1, 1, (6, 7)).astype(np.float32)
            split.forward(is_train=True, data=data)
            single.forward(is_train=True, data=data)
        else:
            split.forward(is_train=True)
            single.forward(is_train=True)
        assert split.outputs[0].context == C1
        assert_almost_equal(split.outputs[0], single.outputs[0], **TOL)
        split.backward()
        single.backward()
        for name in single.arg_names:
            assert_almost_equal(split.grad_dict[name], single.grad_dict[name], **TOL,
                                names=(f"split d{name}", f"single d{name}"))
        for ex in (split, single):
            for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
                ex.arg_dict[name][:] -= 0.5 * ex.grad_dict[name]
    for name in single.arg_names:
        assert_almost_equal(split.arg_dict[name], single.arg_dict[name], **TOL)


def test_gradient_nodes_run_beside_the_forward_nodes_they_differentiate():
    ex = _mlp().simple_bind(C0, data=(6, 7), group2ctx=G2C)
    listing = ex.debug_str()
    for node, ctx in (("_backward_softmaxoutput", C1), ("_backward_relu", C0)):
        assert all(f"{ctx}: {node}" in line for line in _lines(ex, node)), listing
    # fc2's weight and data gradients on cpu(1), fc1's on cpu(0)
    fc = _lines(ex, "_backward_FullyConnected")
    assert [line.split(":")[0].split()[-1] for line in fc].count(str(C1)) == 2, listing
    assert [line.split(":")[0].split()[-1] for line in fc].count(str(C0)) == 2, listing
    # one copy each way: relu1's output forward, fc2's data gradient backward
    copies = _lines(ex, "copy")
    assert ex.cross_device_copies == 2 and len(copies) == 2, listing
    assert "relu1_output from cpu(0) to cpu(1)" in copies[0]
    assert copies[1].startswith("backward") and "from cpu(1) to cpu(0)" in copies[1]
    devices = ex.memory_plan["devices"]
    assert set(devices) == {"cpu(0)", "cpu(1)"} and all(b > 0 for b in devices.values())


def test_nodes_without_a_group_run_on_the_bind_context():
    sym = _mlp(loss_in_group=False)
    for default in (C0, C1):
        split = sym.simple_bind(default, data=(6, 7), group2ctx=G2C)
        single = sym.simple_bind(C0, data=(6, 7))
        assert split.outputs[0].context == default
        assert split.arg_dict["softmax_label"].context == default  # made outside the scopes
        assert "softmax (SoftmaxOutput)" in _lines(split, f"forward  {default}")[-1]
        values = _values(single)
        _load(split, values)
        _load(single, values)
        split.forward(is_train=True)
        single.forward(is_train=True)
        split.backward()
        single.backward()
        assert_almost_equal(split.outputs[0], single.outputs[0], **TOL)
        for name in single.arg_names:
            assert_almost_equal(split.grad_dict[name], single.grad_dict[name], **TOL)


def test_bind_copies_arguments_to_the_devices_that_read_them():
    sym = _mlp()
    shapes = dict(zip(sym.list_arguments(), sym.infer_shape(data=(4, 3))[0]))
    values = {n: np.random.uniform(-1, 1, s).astype(np.float32) for n, s in shapes.items()}
    values["softmax_label"] = np.array([0, 4, 2, 1], np.float32)
    head = np.random.uniform(-1, 1, (4, 5)).astype(np.float32)
    # every array on cpu(0), although fc2 and the loss run on cpu(1); gradients accumulate
    args = {n: mx.nd.array(v, ctx=C0) for n, v in values.items()}
    grads = {n: mx.nd.ones(s, ctx=C0) for n, s in shapes.items()}
    split = sym.bind(C0, args, args_grad=grads, grad_req="add", group2ctx=G2C)
    single = sym.bind(C0, {n: mx.nd.array(v, ctx=C0) for n, v in values.items()},
                      args_grad={n: mx.nd.ones(s, ctx=C0) for n, s in shapes.items()},
                      grad_req="add")
    assert len(_lines(split, "copy")) == 5  # fc2_weight, fc2_bias, label; relu1; gradient
    for _ in range(2):
        for ex in (split, single):
            ex.forward(is_train=True)
            ex.backward(mx.nd.array(head, ctx=C1))  # head gradient from another device
    assert split.outputs[0].context == C1
    assert_almost_equal(split.outputs[0], single.outputs[0], **TOL)
    for name in shapes:
        assert split.grad_dict[name].context == C0
        assert_almost_equal(split.grad_dict[name], single.grad_dict[name], **TOL)
        assert not np.allclose(split.grad_dict[name].asnumpy(), 1) or name == "softmax_label"


def test_fusion_stays_within_one_device():
    with mx.AttrScope(ctx_group="dev1"):
        x = mx.sym.var("x")
        h = mx.sym.tanh(x) * 2 + 1
    with mx.AttrScope(ctx_group="dev2"):
        y = mx.sym.exp(mx.sym.sin(h) - 0.5)
    data = np.random.uniform(-1, 1, (5, 9)).astype(np.float32)
    ref = np.exp(np.sin(np.tanh(data) * 2 + 1) - 0.5)
    # forward only: each half is one kernel
    ex = y.bind(C0, {"x": mx.nd.array(data, ctx=C0)}, group2ctx=G2C)
    ex.forward()
    launches = _lines(ex, "forward ")
    assert len(launches) == 3 and "copy" in launches[1], ex.debug_str()
    assert launches[0].startswith("forward  cpu(0)") and launches[0].count("+") == 2
    assert launches[2].startswith("forward  cpu(1)") and launches[2].count("+") == 2
    assert ex.fused_kernels == 2 and ex.outputs[0].context == C1
    assert_almost_equal(ex.outputs[0], ref, 1e-5, 1e-6)
    # with the gradient the backward chain is fused per device, the copy between
    ex = y.bind(C0, {"x": mx.nd.array(data, ctx=C0)}, args_grad={"x": mx.nd.zeros((5, 9))},
                group2ctx=G2C)
    ex.forward(is_train=True)
    ex.backward()
    launches = _lines(ex, "backward ")
    assert len(launches) == 3 and "copy" in launches[1], ex.debug_str()
    assert launches[0].startswith("backward cpu(1)") and launches[0].count("+") == 2
    assert launches[2].startswith("backward cpu(0)") and launches[2].count("+") == 2
    assert_almost_equal(ex.outputs[0], ref, 1e-5, 1e-6)
    t = np.tanh(data)
    assert_almost_equal(ex.grad_dict["x"], ref * np.cos(t * 2 + 1) * 2 * (1 - t * t), 1e-5,
                        1e-6)


def test_weight_shared_by_both_devices_gets_both_gradients():
    w = mx.sym.var("w")
    with mx.AttrScope(ctx_group="dev1"):
        x = mx.sym.var("x")
        h = mx.sym.FullyConnected(x, w, num_hidden=6, no_bias=True, name="a")
    with mx.AttrScope(ctx_group="dev2"):
        y = mx.sym.FullyConnected(mx.sym.tanh(h), w, num_hidden=6, no_bias=True, name="b")
    xv = np.random.uniform(-1, 1, (3, 6)).astype(np.float32)
    wv = np.random.uniform(-1, 1, (6, 6)).astype(np.float32)
    results = []
    for g2c in (G2C, None):
        ex = y.simple_bind(C0, x=(3, 6), group2ctx=g2c)
        assert ex.arg_dict["w"].context == C0  # no group: the bind context
        ex.arg_dict["x"][:] = xv
        ex.arg_dict["w"][:] = wv
        ex.forward(is_train=True)
        ex.backward()
        results.append((ex.outputs[0].asnumpy(), ex.grad_dict["w"].asnumpy(),
                        ex.grad_dict["x"].asnumpy()))
    for a, b in zip(*results):
        assert_almost_equal(a, b, **TOL)
    t = np.tanh(xv @ wv.T)
    dw = np.ones((3, 6)).T @ t + ((np.ones((3, 6)) @ wv) * (1 - t * t)).T @ xv
    assert_almost_equal(results[0][1], dw, 1e-5, 1e-5)


def test_batchnorm_statistics_stay_with_their_node():
    with mx.AttrScope(ctx_group="dev1"):
        data = mx.sym.var("data")
        h = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    with mx.AttrScope(ctx_group="dev2"):
        out = mx.sym.BatchNorm(h, name="bn")
    split = out.simple_bind(C0, data=(5, 3), group2ctx=G2C)
    single = out.simple_bind(C0, data=(5, 3))
    assert [a.context for a in split.aux_arrays] == [C1, C1]
    values = _values(single)
    _load(split, values)
    _load(single, values)
    for ex in (split, single):
        ex.aux_dict["bn_moving_var"][:] = 1
        ex.forward(is_train=True)
        ex.backward(mx.nd.ones((5, 4)))
    assert_almost_equal(split.outputs[0], single.outputs[0], **TOL)
    for name in split.aux_names:
        assert_almost_equal(split.aux_dict[name], single.aux_dict[name], **TOL)
    for name in split.arg_names:
        assert_almost_equal(split.grad_dict[name], single.grad_dict[name], **TOL)
    # statistics on another device than BatchNorm would be updated on a copy: refused
    arrays = {n: a.as_in_context(C0) for n, a in split.arg_dict.items()}
    aux = [a.as_in_context(C0) for a in split.aux_arrays]
    with pytest.raises(MXNetError, match="auxiliary state 'bn_moving_mean' is on cpu.0., but "
                                         "node 'bn'.*runs on cpu.1."):
        out.bind(C0, arrays, aux_states=aux, group2ctx=G2C)


@pytest.mark.parametrize("group2ctx", [None, G2C], ids=["one device", "two devices"])
def test_memory_plan_per_device_with_a_value_read_twice(group2ctx):
    x = mx.sym.var("x")
    with mx.AttrScope(ctx_group="dev1"):
        t = mx.sym.tanh(x)
        d = mx.sym.dot(t, t)  # one node reading a value twice frees its slot once
    with mx.AttrScope(ctx_group="dev2"):
        y = mx.sym.dot(mx.sym.dot(d, d), mx.sym.sin(d))  # two values of d's size alive
    xv = np.random.uniform(-1, 1, (8, 8)).astype(np.float32)
    ex = y.bind(C0, {"x": mx.nd.array(xv, ctx=C0)}, group2ctx=group2ctx)
    ex.forward()
    t = np.tanh(xv)
    d = t @ t
    assert_almost_equal(ex.outputs[0], (d @ d) @ np.sin(d), 1e-5, 1e-5)
    plan = ex.memory_plan
    assert plan["planned_bytes"] == sum(plan["devices"].values()) <= plan["naive_bytes"]
    assert len(plan["devices"]) == (1 if group2ctx is None else 2)


def test_reshape_keeps_the_placement():
    ex = _mlp().simple_bind(C0, data=(6, 7), group2ctx=G2C)
    _load(ex, _values(ex))
    small = ex.reshape(data=(2, 7), softmax_label=(2,))
    assert small.arg_dict["fc2_weight"] is ex.arg_dict["fc2_weight"]
    assert small.arg_dict["data"].context == C0 and small.outputs[0].context == C1
    single = _mlp().bind(C0, {n: a.as_in_context(C0) for n, a in small.arg_dict.items()})
    small.forward()
    single.forward()
    assert_almost_equal(small.outputs[0], single.outputs[0], **TOL)


def test_groups_are_ignored_without_group2ctx():
    ex = _mlp().simple_bind(C1, data=(2, 7))
    assert {a.context for a in ex.arg_arrays + list(ex.grad_dict.values())} == {C1}
    assert not _lines(ex, "copy") and ex.cross_device_copies == 0
    assert list(ex.memory_plan["devices"]) == ["cpu(1)"]


def test_errors():
    sym = _mlp()
    with pytest.raises(MXNetError, match="ctx_group 'dev2', which group2ctx does not map .it "
                                         "maps \\['dev1'\\]\\); add 'dev2'"):
        sym.simple_bind(C0, data=(2, 7), group2ctx={"dev1": C0})
    with pytest.raises(MXNetError, match="group2ctx\\['dev2'\\] must be a Context"):
        sym.simple_bind(C0, data=(2, 7), group2ctx={"dev1": C0, "dev2": "cpu(1)"})
    with pytest.raises(MXNetError, match="group2ctx must be a dict"):
        sym.simple_bind(C0, data=(2, 7), group2ctx=[C0, C1])
    ex = sym.simple_bind(C0, data=(2, 7), group2ctx=G2C)
    with pytest.raises(MXNetError, match="args\\['fc2_weight'\\] is on cpu.1., the executor "
                                         "on cpu.0.*bind with group2ctx"):
        sym.bind(C0, ex.arg_dict)
    with pytest.raises(MXNetError, match="ctx_group 'dev1', which group2ctx does not map"):
        sym.bind(C0, ex.arg_dict, group2ctx={"dev2": C1})


@pytest.mark.slow
def test_example_matches_one_device():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "examples/model_parallel_mlp.py", "--steps", "5"],
                         cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    diffs = out.stdout.split("largest difference to one device:")[1].split("\n")[1]
    numbers = [float(part.split()[-1]) for part in diffs.split(",")]
    assert len(numbers) == 3 and max(numbers) <= 1e-6, out.stdout
