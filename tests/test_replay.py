"""A bound executor replays its recorded launches: the same results as running the ops, no
op Python on replay, and the ops themselves for steps a replay cannot repeat (random draws,
debug and sync modes)."""
import gc

import numpy as np
import pytest

import clnet as mx
from clnet.runtime import get_device, replay


def _net():
    data = mx.sym.var("data")
    h = mx.sym.FullyConnected(data, num_hidden=24, name="fc1")
    h = mx.sym.Activation(h, act_type="tanh")
    h = mx.sym.BatchNorm(h, name="bn")
    h = mx.sym.FullyConnected(h, num_hidden=5, name="fc2")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def _bind(ctx, sym, shapes):
    ex = sym.simple_bind(ctx, **shapes)
    rng = np.random.RandomState(3)
    for name, arr in ex.arg_dict.items():
        arr[:] = rng.uniform(-0.5, 0.5, arr.shape)
    for arr in ex.aux_dict.values():
        arr[:] = 1
    return ex


def _step(ex, x, y, is_train=True):
    ex.forward(is_train=is_train, data=x, softmax_label=y)
    grads = []
    if is_train:
        ex.backward()
        grads = list(ex.grad_dict.values())
    return [a.asnumpy() for a in ex.outputs + grads + list(ex.aux_dict.values())]


def test_replayed_steps_match_the_ops(ctx):
    """Five training steps and an inference step on new data each time, with allocations in
    between that would reuse a temporary's memory were the replay not holding it; against
    fresh executors whose only step runs the ops. Bit-identical: the same kernels run."""
    shapes = {"data": (9, 13), "softmax_label": (9,)}
    replayed = _bind(ctx, _net(), shapes)
    rng = np.random.RandomState(0)
    for step in range(6):
        x = rng.uniform(-1, 1, shapes["data"]).astype(np.float32)
        y = rng.randint(0, 5, 9).astype(np.float32)
        is_train = step != 3
        fresh = _bind(ctx, _net(), shapes)
        for name in replayed.aux_dict:  # the moving statistics have moved: start equal
            replayed.aux_dict[name].copyto(fresh.aux_dict[name])
        want = _step(fresh, x, y, is_train)
        scratch = [mx.nd.ones((257, 31), ctx=ctx) * k for k in range(4)]
        got = _step(replayed, x, y, is_train)
        del scratch
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_replay_skips_the_ops_python(ctx, monkeypatch):
    """After the first step, forward and backward enqueue through recorded kernels only,
    and count the same launches."""
    shapes = {"data": (4, 7), "softmax_label": (4,)}
    ex = _bind(ctx, _net(), shapes)
    x = np.ones(shapes["data"], np.float32)
    y = np.zeros(4, np.float32)
    dev = get_device(ctx)
    _step(ex, x, y)
    monkeypatch.setenv("CLNET_SYNC", "1")  # the ops run, one by one
    before = dev.launches
    ex.forward(is_train=True)
    ex.backward()
    through_ops = dev.launches - before
    monkeypatch.delenv("CLNET_SYNC")
    calls = []
    monkeypatch.setattr(type(dev), "enqueue", lambda *a, **k: calls.append(a))
    before = dev.launches
    ex.forward(is_train=True)
    ex.backward()
    mx.nd.waitall()
    assert calls == []
    assert dev.launches - before == through_ops


def test_random_steps_run_their_ops_each_time(ctx):
    """Dropout's mask is drawn anew on every training forward, replayed or not."""
    data = mx.sym.var("data")
    ex = mx.sym.Dropout(data * 2, p=0.5).simple_bind(ctx, data=(64,))
    ex.arg_dict["data"][:] = 1
    masks = [ex.forward(is_train=True)[0].asnumpy() for _ in range(3)]
    assert all(set(np.unique(m)) <= {0.0, 4.0} for m in masks)
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[1], masks[2])
    np.testing.assert_array_equal(ex.forward(is_train=False)[0].asnumpy(), np.full(64, 2))


def test_a_host_read_makes_a_step_unreplayable(ctx):
    dev = get_device(ctx)
    a = mx.nd.ones((3,), ctx=ctx)

    def step():
        a.asnumpy()
        a.__iadd__(1)

    def launches_only():
        a.__imul__(2)
    recorded = replay.record([step, launches_only])
    assert recorded[0] is step and recorded[1] is not launches_only
    before = dev.launches
    for item in recorded:
        item()
    assert dev.launches - before == 2
    np.testing.assert_array_equal(a.asnumpy(), np.full(3, 10.0))  # ((1+1)*2+1)*2


@pytest.mark.parametrize("variable", ["CLNET_SYNC", "CLNET_DEBUG"])
def test_sync_and_debug_modes_run_the_ops(ctx, monkeypatch, capsys, variable):
    ex = (mx.sym.var("a") * 3).bind(ctx, {"a": mx.nd.ones((4,), ctx=ctx)})
    ex.forward()
    ex.forward()
    dev = get_device(ctx)
    calls = []
    inner = type(dev).enqueue
    monkeypatch.setattr(type(dev), "enqueue",
                        lambda self, *a, **k: calls.append(a) or inner(self, *a, **k))
    monkeypatch.setenv(variable, "1")
    np.testing.assert_array_equal(ex.forward()[0].asnumpy(), np.full(4, 3.0))
    assert len(calls) == 1


def test_write_gradients_are_computed_in_their_arrays(ctx):
    """With grad_req 'write' the backward computes each gradient straight into its grad
    array; with 'add' one more launch per argument adds it in. Both give numpy's values."""
    rng = np.random.RandomState(5)
    # whole 32-byte vectors, so each elementwise op is one launch
    x, w = rng.uniform(-1, 1, (8, 8)), rng.uniform(-1, 1, (16, 8))
    sym = mx.sym.FullyConnected(mx.sym.var("x"), mx.sym.var("w"), no_bias=True, num_hidden=16)
    dev = get_device(ctx)
    counts = {}
    for req in ("write", "add"):
        grads = {n: mx.nd.zeros(a.shape, ctx=ctx) for n, a in (("x", x), ("w", w))}
        ex = sym.bind(ctx, {"x": mx.nd.array(x, ctx=ctx), "w": mx.nd.array(w, ctx=ctx)},
                      args_grad=grads, grad_req=req)
        ex.forward(is_train=True)
        head = mx.nd.ones((8, 16), ctx=ctx)
        before = dev.launches
        ex.backward(head)
        counts[req] = dev.launches - before
        np.testing.assert_allclose(grads["x"].asnumpy(), np.ones((8, 16)) @ w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grads["w"].asnumpy(), np.ones((16, 8)) @ x, rtol=1e-5, atol=1e-6)
    assert counts["add"] == counts["write"] + 2


def test_temporaries_of_recorded_steps_share_memory(ctx):
    """Each step makes a temporary (t = a * k) and drops it: the replay gives the three
    temporaries one shared buffer, not three, and computes what the ops compute."""
    dev = get_device(ctx)
    a = mx.nd.ones((4096,), ctx=ctx)

    def make(k):
        def step():
            t = a * k
            a.__iadd__(t)
        return step
    steps = [make(2), make(3), make(4)]
    gc.collect()  # earlier tests' garbage must not be freed while the pool is measured
    gc.disable()
    try:
        before = dev.pool.in_use
        recorded = replay.record(steps)
        held = dev.pool.in_use - before
    finally:
        gc.enable()
    np.testing.assert_array_equal(a.asnumpy(), np.full(4096, 60.0))  # ((1*3)*4)*5
    assert held == 4096 * 4  # one slot of one temporary's size
    others = [mx.nd.zeros((4096,), ctx=ctx) for _ in range(3)]  # take the freed memory
    for item in recorded:
        item()
    np.testing.assert_array_equal(a.asnumpy(), np.full(4096, 3600.0))
    assert all(o.asnumpy().max() == 0 for o in others)
