"""KVStore ('local', 'device'): push/pull against numpy, the optimizer on the store and its
saved states, errors, and Module data parallelism on two devices matching one device."""
from __future__ import annotations

import os

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.runtime import discovery

from conftest import supported_dtypes

TYPES = ("local", "device")


def _two_devices():
    if len(discovery.devices_of_kind("cpu", missing_ok=True)) < 2:
        pytest.skip("needs two OpenCL CPU devices (POCL_DEVICES='pthread pthread')")
    return [mx.cpu(0), mx.cpu(1)]


@pytest.mark.parametrize("kv_type", TYPES)
def test_push_sums_and_pull_copies(ctx, kv_type):
    kv = mx.kv.create(kv_type)
    assert (kv.type, kv.rank, kv.num_workers) == (kv_type, 0, 1)
    shape = (3, 4)
    init = np.random.uniform(-1, 1, shape).astype(np.float32)
    kv.init(3, mx.nd.array(init, ctx))
    outs = [mx.nd.zeros(shape, ctx) for _ in range(3)]
    kv.pull(3, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), init)
    pushed = [np.random.uniform(-1, 1, shape).astype(np.float32) for _ in range(4)]
    kv.push(3, [mx.nd.array(p, ctx) for p in pushed])
    kv.pull(3, out=outs)
    for o in outs:  # without an optimizer the sum replaces the value
        np.testing.assert_allclose(o.asnumpy(), sum(pushed), rtol=1e-6)
    kv.barrier()


@pytest.mark.parametrize("kv_type", TYPES)
def test_str_keys_lists_and_repeated_keys(ctx, kv_type):
    kv = mx.kv.create(kv_type)
    a, b = np.ones((2, 3), np.float32), np.arange(5, dtype=np.float32)
    kv.init(["a", "b"], [mx.nd.array(a, ctx), mx.nd.array(b, ctx)])
    kv.push(["a", "b", "a"], [mx.nd.array(a, ctx), [mx.nd.array(b, ctx)] * 2,
                              mx.nd.array(3 * a, ctx)])
    out_a, out_b = mx.nd.zeros((2, 3), ctx), [mx.nd.zeros((5,), ctx), mx.nd.zeros((5,), ctx)]
    kv.pull(["a", "b"], out=[out_a, out_b])
    np.testing.assert_array_equal(out_a.asnumpy(), 4 * a)
    for o in out_b:
        np.testing.assert_array_equal(o.asnumpy(), 2 * b)
    # int 3 and str '3' are different keys
    kv.init(3, mx.nd.full((1,), 7, ctx))
    kv.init("3", mx.nd.full((1,), 8, ctx))
    x = mx.nd.zeros((1,), ctx)
    kv.pull(3, out=x)
    assert x.asscalar() == 7
    g = mx.nd.full((1,), 2, ctx)
    kv.pushpull("3", [g, g])  # out=None: pulls into the pushed arrays
    assert g.asscalar() == 4


def test_dtypes_and_edge_shapes(ctx):
    kv = mx.kv.create("local")
    for i, dt in enumerate(supported_dtypes(ctx, ("float32", "float64", "int32", "int64"))):
        for j, shape in enumerate([(), (0, 3), (1, 1), (7,)]):
            key = f"{dt}-{j}"
            values = [np.random.randint(-5, 5, shape).astype(dt) for _ in range(2)]
            kv.init(key, mx.nd.zeros(shape, ctx, dtype=dt))
            kv.push(key, [mx.nd.array(v, ctx, dtype=dt) for v in values])
            out = mx.nd.ones(shape, ctx, dtype=dt)
            kv.pull(key, out=out)
            assert out.dtype == np.dtype(dt)
            np.testing.assert_array_equal(out.asnumpy(), values[0] + values[1])


def test_row_sparse_pull_densifies(ctx):
    kv = mx.kv.create("local")
    value = np.random.uniform(-1, 1, (6, 2, 3)).astype(np.float32)
    kv.init("emb", mx.nd.array(value, ctx))
    outs = [mx.nd.ones((6, 2, 3), ctx), mx.nd.ones((6, 2, 3), ctx)]
    ids = [mx.nd.array([4, 0, 4], ctx, dtype="int64"), mx.nd.array([], ctx, dtype="int64")]
    kv.row_sparse_pull("emb", out=outs, row_ids=ids)
    expect = np.zeros_like(value)
    expect[[0, 4]] = value[[0, 4]]
    np.testing.assert_array_equal(outs[0].asnumpy(), expect)
    np.testing.assert_array_equal(outs[1].asnumpy(), np.zeros_like(value))
    with pytest.raises(MXNetError, match="row_ids are required"):
        kv.row_sparse_pull("emb", out=outs[0])


@pytest.mark.parametrize("kv_type", TYPES)
def test_set_optimizer_updates_on_the_store(ctx, kv_type):
    kv = mx.kv.create(kv_type)
    lr, mom, wd = 0.1, 0.9, 0.01
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=lr, momentum=mom, wd=wd,
                                      rescale_grad=0.5))
    w = np.random.uniform(-1, 1, (4, 5))
    kv.init("fc_weight", mx.nd.array(w, ctx))
    state = np.zeros_like(w)
    out = [mx.nd.zeros(w.shape, ctx), mx.nd.zeros(w.shape, ctx)]
    for _ in range(3):
        grads = [np.random.uniform(-1, 1, w.shape) for _ in range(2)]
        kv.pushpull("fc_weight", [mx.nd.array(g, ctx) for g in grads], out=out)
        g = 0.5 * (grads[0].astype(np.float32) + grads[1].astype(np.float32)) + wd * w
        state = mom * state - lr * g
        w = w + state
        for o in out:
            np.testing.assert_allclose(o.asnumpy(), w, rtol=1e-5, atol=1e-6)
    calls = []
    kv._set_updater(lambda key, grad, weight: calls.append((key, grad.shape)))
    kv.push("fc_weight", mx.nd.ones(w.shape, ctx))
    assert calls == [("fc_weight", w.shape)]


def test_save_load_optimizer_states(ctx, tmp_path):
    def store():
        kv = mx.kv.create("local")
        kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9))
        return kv

    w0 = np.random.uniform(-1, 1, (3, 3)).astype(np.float32)
    grads = [np.random.uniform(-1, 1, (3, 3)).astype(np.float32) for _ in range(2)]
    kv = store()
    kv.init(0, mx.nd.array(w0, ctx))
    kv.push(0, mx.nd.array(grads[0], ctx))
    fname = str(tmp_path / "kv.states")
    kv.save_optimizer_states(fname)
    w1 = mx.nd.zeros((3, 3), ctx)
    kv.pull(0, out=w1)
    kv.push(0, mx.nd.array(grads[1], ctx))
    w2 = mx.nd.zeros((3, 3), ctx)
    kv.pull(0, out=w2)
    assert os.listdir(tmp_path) == ["kv.states"]  # written through a temporary file

    other = store()
    other.init(0, w1)
    other.load_optimizer_states(fname)  # the momentum after the first push
    other.push(0, mx.nd.array(grads[1], ctx))
    again = mx.nd.zeros((3, 3), ctx)
    other.pull(0, out=again)
    np.testing.assert_array_equal(again.asnumpy(), w2.asnumpy())
    plain = mx.kv.create("local")
    with pytest.raises(MXNetError, match="runs no optimizer; call set_optimizer"):
        plain.save_optimizer_states(fname)


def test_errors(ctx):
    kv = mx.kv.create("local")
    kv.init("w", mx.nd.zeros((2, 3), ctx))
    out = mx.nd.zeros((2, 3), ctx)
    with pytest.raises(MXNetError, match=r"key 'v' is not initialised; call kv.init\('v'"):
        kv.push("v", out)
    with pytest.raises(MXNetError, match=r"key 7 is not initialised"):
        kv.pull(7, out=out)
    with pytest.raises(MXNetError, match=r"key 'w' holds shape \(2, 3\) float32, got an array "
                                         r"of shape \(3, 2\) float32"):
        kv.push("w", [out, mx.nd.zeros((3, 2), ctx)])
    with pytest.raises(MXNetError, match=r"got an array of shape \(2, 3\) int32"):
        kv.pull("w", out=mx.nd.zeros((2, 3), ctx, dtype="int32"))
    with pytest.raises(MXNetError, match="key 'w' is already initialised"):
        kv.init("w", out)
    with pytest.raises(MXNetError, match="initialised with exactly one"):
        kv.init("x", [out, out])
    with pytest.raises(MXNetError, match="keys are int or str, got 1.5"):
        kv.push(1.5, out)
    with pytest.raises(MXNetError, match="all int or all str"):
        kv.pull(["w", 0], out=[out, out])
    with pytest.raises(MXNetError, match="2 keys need a list of 2 values"):
        kv.push(["w", "w"], out)
    with pytest.raises(MXNetError, match="must be an NDArray, got ndarray"):
        kv.push("w", np.zeros((2, 3)))
    with pytest.raises(MXNetError, match="out is required"):
        kv.pull("w")
    with pytest.raises(MXNetError, match="expected an mx.optimizer.Optimizer"):
        kv.set_optimizer("sgd")
    with pytest.raises(MXNetError, match="unknown type 'nccl'"):
        mx.kv.create("nccl")
    with pytest.raises(MXNetError, match="'dist_async' is not supported: asynchronous"):
        mx.kv.create("dist_async")
    kv.set_gradient_compression({"type": "2bit", "threshold": 0.5})  # accepted, not applied
    with pytest.raises(MXNetError, match="unknown type '3bit'"):
        kv.set_gradient_compression({"type": "3bit"})
    assert kv.is_capable(mx.kv.KVStore.OPTIMIZER)
    assert mx.kvstore.create is mx.kv.create


def test_cross_device_push_pull_and_placement():
    devs = _two_devices()
    kv = mx.kv.create("device")
    shapes = {"big": (64, 32), "mid": (32, 16), "small": (8,)}
    host = {k: np.random.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    keys = list(shapes)
    kv.init(keys, [mx.nd.array(host[k], devs[0]) for k in keys])
    grads = {k: [np.random.uniform(-1, 1, shapes[k]).astype(np.float32) for _ in devs]
             for k in keys}
    outs = [[mx.nd.zeros(shapes[k], d) for d in devs] for k in keys]
    kv.pushpull(keys, [[mx.nd.array(g, d) for g, d in zip(grads[k], devs)] for k in keys],
                out=outs)
    for k, out in zip(keys, outs):
        for o in out:
            np.testing.assert_allclose(o.asnumpy(), grads[k][0] + grads[k][1], rtol=1e-6)
    # largest key first on the least loaded device: 'big' on one device, the rest on the other
    assert kv._placed["big"] != kv._placed["mid"] == kv._placed["small"]
    local = mx.kv.create("local")
    local.init("w", mx.nd.array(host["big"], devs[1]))
    local.push("w", [mx.nd.array(g, d) for g, d in zip(grads["big"], devs)])
    out = mx.nd.zeros(shapes["big"], devs[0])
    local.pull("w", out=out)
    np.testing.assert_allclose(out.asnumpy(), grads["big"][0] + grads["big"][1], rtol=1e-6)
    assert local._data["w"].context == devs[1]  # summed where it was initialised


def _mlp():
    net = mx.sym.var("data")
    net = mx.sym.FullyConnected(net, num_hidden=16, name="fc1")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.FullyConnected(net, num_hidden=4, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _train(contexts, kvstore, x, y, epochs=3, optimizer="sgd"):
    mx.random.seed(11)
    mod = mx.mod.Module(_mlp(), context=contexts)
    mod.fit(mx.io.NDArrayIter(x, y, 16), num_epoch=epochs, kvstore=kvstore,
            optimizer=optimizer, optimizer_params={"learning_rate": 0.2, "momentum": 0.9},
            initializer=mx.init.Xavier())
    arg, _ = mod.get_params()
    return mod, {k: v.asnumpy() for k, v in arg.items()}


@pytest.mark.parametrize("kvstore,update_on_kvstore", [("local", "1"), ("device", "1"),
                                                       ("local", "0"), ("object", "1")])
def test_module_two_devices_match_one(kvstore, update_on_kvstore, monkeypatch):
    devs = _two_devices()
    monkeypatch.setenv("CLNET_UPDATE_ON_KVSTORE", update_on_kvstore)
    rng = np.random.RandomState(1)
    x = rng.uniform(-1, 1, (64, 10)).astype(np.float32)
    y = rng.randint(0, 4, 64).astype(np.float32)
    _, single = _train([devs[0]], "local", x, y)
    kv = mx.kv.create("device") if kvstore == "object" else kvstore
    mod, multi = _train(devs, kv, x, y)
    assert mod._update_on_kvstore == (update_on_kvstore == "1")
    assert mod._kvstore.type == ("device" if kvstore == "object" else kvstore)
    for name in single:
        np.testing.assert_allclose(multi[name], single[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        copies = [ex.arg_dict[name].asnumpy() for ex in mod._group.execs]
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=name)
    if kvstore == "device":
        assert set(mod._kvstore._placed.values()) == set(devs)


def test_module_kvstore_optimizer_states_round_trip(tmp_path):
    devs = _two_devices()
    rng = np.random.RandomState(2)
    x = rng.uniform(-1, 1, (32, 10)).astype(np.float32)
    y = rng.randint(0, 4, 32).astype(np.float32)
    mod, _ = _train(devs, "device", x, y, epochs=1)
    fname = str(tmp_path / "mod.states")
    mod.save_optimizer_states(fname)
    before = {k: v.asnumpy() for k, v in mod._kvstore._updater.states.items()}
    assert sorted(before) == sorted(mod._param_names)  # states keyed by parameter name
    mod._kvstore._updater.states = {}
    mod.load_optimizer_states(fname)
    after = mod._kvstore._updater.states
    for name, value in before.items():
        np.testing.assert_array_equal(after[name].asnumpy(), value)
    with pytest.raises(MXNetError, match="kvstore must be a KVStore, a str or None"):
        mod.init_optimizer(kvstore=3, force_init=True)


def test_set_params_after_init_optimizer_reaches_the_store():
    devs = _two_devices()
    x = np.random.uniform(-1, 1, (8, 10)).astype(np.float32)
    y = np.random.randint(0, 4, 8).astype(np.float32)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    results = []
    for contexts in (devs[:1], devs):
        mod = mx.mod.Module(_mlp(), context=contexts)
        mod.bind(data_shapes=[("data", x.shape)], label_shapes=[("softmax_label", y.shape)])
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(kvstore="local", optimizer_params={"learning_rate": 0.5})
        if len(contexts) == 1:
            start = {k: v.copy() for k, v in mod.get_params()[0].items()}
        mod.set_params(start, {})  # after init_optimizer: the store must take these
        mod.forward_backward(batch)
        mod.update()
        results.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    assert mod._update_on_kvstore
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-5, atol=1e-6)
