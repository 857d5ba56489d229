"""Imperative elementwise ops held back and fused (clnet.ops.deferred): an expression is one
launch with numpy's values; held work runs, in order, before any other use of the device
(host reads, other kernels, copies between devices, waits, executors, autograd); inputs
overwritten after an op keep the op's result; in-place chains; CLNET_DEFER=0."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.ops import deferred
from clnet.runtime import get_device
from clnet.test_utils import assert_almost_equal

from conftest import supported_dtypes

TOL = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12)}


def _launched(ctx, fn):
    """(fn's result, launches it queued once the held work is flushed)."""
    dev = get_device(ctx)
    mx.nd.waitall()
    before = dev.launches
    result = fn()
    dev.flush_deferred()
    return result, dev.launches - before


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_expression_is_one_launch(ctx, dtype):
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} has no {dtype}")
    for n in (1, 7, 1000):
        a = np.random.uniform(-2, 2, n).astype(dtype)
        b = np.random.uniform(-2, 2, n).astype(dtype)
        x, y = mx.nd.array(a, dtype=dtype), mx.nd.array(b, dtype=dtype)
        got, launches = _launched(ctx, lambda: mx.nd.tanh(x * y + x))
        assert launches == 1
        assert_almost_equal(got, np.tanh(a.astype(np.float64) * b + a), *TOL[dtype])
        # scalars of several steps, and offset views as inputs
        got, launches = _launched(ctx, lambda: (x[1:] * 2.5 - y[:-1]) / 4 + 1)
        assert launches == (1 if n > 1 else 0)
        want = (a[1:].astype(np.float64) * 2.5 - b[:-1]) / 4 + 1
        assert_almost_equal(got, want.astype(dtype), *TOL[dtype])
        # a lone op reading one array twice (one leaf, two operands) runs its own kernel
        got, launches = _launched(ctx, lambda: x[1:] * x[1:])
        assert launches == (1 if n > 1 else 0)
        assert_almost_equal(got, a[1:] * a[1:], *TOL[dtype])
    s = mx.nd.array(np.array(1.5, dtype), dtype=dtype)  # 0-d operands are held too
    got, launches = _launched(ctx, lambda: s * s + s)
    assert launches == 1 and got.shape == ()
    assert_almost_equal(got, np.array(3.75, dtype), *TOL[dtype])


def test_held_work_runs_before_other_uses_of_the_device(ctx):
    a = np.random.uniform(-1, 1, (4, 6)).astype(np.float32)
    x = mx.nd.array(a)
    checks = {
        "host read": lambda y: y.asnumpy(),
        "reduction": lambda y: mx.nd.sum(y, axis=1).asnumpy(),
        "matrix product": lambda y: mx.nd.dot(y, mx.nd.ones((6, 2))).asnumpy(),
        "copy to a new array": lambda y: y.copy().asnumpy(),
        "slice": lambda y: y[1:3].asnumpy(),
    }
    want = np.exp(a) * 3
    refs = {"host read": want, "reduction": want.sum(1), "matrix product": want @ np.ones((6, 2)),
            "copy to a new array": want, "slice": want[1:3]}
    for name, use in checks.items():
        y = mx.nd.exp(x) * 3
        assert get_device(ctx).deferred, name
        assert_almost_equal(use(y), refs[name], 1e-5, 1e-5, names=(name, "numpy"))
    y = mx.nd.exp(x) * 3
    y.wait_to_read()
    assert not get_device(ctx).deferred
    y = mx.nd.exp(x) * 3
    mx.nd.waitall()
    assert not get_device(ctx).deferred


def test_inputs_overwritten_after_an_op_keep_its_result(ctx):
    a = np.random.uniform(1, 2, 50).astype(np.float32)
    b = np.random.uniform(1, 2, 50).astype(np.float32)
    x, y = mx.nd.array(a), mx.nd.array(b)
    t = x * y       # held, reads x
    x += 1          # held, writes x: t's steps must not be copied into a later chain
    u = t + 0.5
    x[:] = 0        # not elementwise-held: runs everything first
    assert_almost_equal(u, a * b + 0.5, 1e-6, 1e-6)
    assert_almost_equal(t, a * b, 1e-6, 1e-6)
    assert not x.asnumpy().any()
    # in-place chains: each reads the value the one before wrote
    z = mx.nd.array(a)
    z *= 2
    z -= 1
    z /= 4
    w = z * 3
    assert_almost_equal(z, (a * 2 - 1) / 4, 1e-6, 1e-6)
    assert_almost_equal(w, (a * 2 - 1) / 4 * 3, 1e-6, 1e-6)


def test_kept_intermediates_are_computed_and_temporaries_dropped(ctx):
    a = np.random.uniform(-1, 1, 300).astype(np.float32)
    x = mx.nd.array(a)

    def chain():
        kept = x * 2
        return kept, mx.nd.sigmoid(kept + 1) * 2  # the temporary kept + 1 is never stored
    (kept, out), launches = _launched(ctx, chain)
    assert launches == 2
    assert_almost_equal(kept, a * 2, 1e-6, 1e-6)
    assert_almost_equal(out, 2 / (1 + np.exp(-(a * 2 + 1))), 1e-5, 1e-6)


def test_executor_and_autograd_see_held_results(ctx):
    a = np.random.uniform(-1, 1, (3, 4)).astype(np.float32)
    data = mx.sym.var("data")
    arg = mx.nd.zeros((3, 4))
    ex = mx.sym.tanh(data * 2).bind(ctx, {"data": arg})
    ex.forward()
    ex.forward()  # replayed from now on
    mx.nd.elemwise_add(mx.nd.array(a), mx.nd.ones((3, 4)), out=arg)  # held, writes the arg
    assert_almost_equal(ex.forward()[0], np.tanh((a + 1) * 2), 1e-5, 1e-6)
    x = mx.nd.array(a)
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.tanh(x * x + x)
    y.backward()
    t = np.tanh(a * a + a)
    assert_almost_equal(y, t, 1e-5, 1e-6)
    assert_almost_equal(x.grad, (1 - t ** 2) * (2 * a + 1), 1e-4, 1e-5)


def test_copy_to_another_device_runs_held_work_first():
    try:
        other = mx.cpu(1)
        get_device(other)
    except mx.base.MXNetError:
        pytest.skip("one CPU device only")
    a = np.random.uniform(-1, 1, 40).astype(np.float32)
    y = mx.nd.array(a, ctx=mx.cpu(0)) * 4 - 1
    z = y.copyto(other)
    assert_almost_equal(z, a * 4 - 1, 1e-6, 1e-6)


def test_off_switch_and_limits(ctx, monkeypatch):
    a = np.random.uniform(-1, 1, 100).astype(np.float32)
    x = mx.nd.array(a)
    monkeypatch.setenv("CLNET_DEFER", "0")
    _, launches = _launched(ctx, lambda: mx.nd.tanh(x * x + x))
    assert launches == 3
    monkeypatch.delenv("CLNET_DEFER")
    # more waiting chains than the limit: the op beyond it runs everything first
    kept, launches = _launched(ctx, lambda: [x * float(i) for i in range(deferred.MAX_WAITING
                                                                          + 3)])
    assert launches == deferred.MAX_WAITING + 3
    for i, k in enumerate(kept):
        assert_almost_equal(k, a * i, 1e-6, 1e-6)
    # a chain longer than MAX_STEPS continues as a new chain reading the stored result
    y = x
    for _ in range(deferred.MAX_STEPS + 5):
        y = y + 1
    assert_almost_equal(y, a + deferred.MAX_STEPS + 5, 1e-5, 1e-5)
    # broadcasting and mixed dtypes launch at once, as before
    _, launches = _launched(ctx, lambda: x.reshape((10, 10)) + mx.nd.ones((10,)))
    assert launches >= 1


def test_failed_op_holds_nothing_and_leaves_inputs(ctx):
    a = np.arange(6, dtype=np.float32)
    x = mx.nd.array(a)
    with pytest.raises(mx.base.MXNetError, match=r"shape"):
        x += mx.nd.ones((2, 3))
    assert not get_device(ctx).deferred
    assert np.array_equal(x.asnumpy(), a)


def test_threads_holding_and_flushing_at_once(ctx):
    """Ops held and flushed from two threads (a data loader beside the training loop): every
    result is numpy's."""
    import threading
    a = np.random.uniform(-1, 1, 2000).astype(np.float32)
    errors = []

    def work(seed):
        try:
            rng = np.random.RandomState(seed)
            with ctx:
                for _ in range(30):
                    h = rng.uniform(-1, 1, 2000).astype(np.float32)
                    x = mx.nd.array(h)  # a host write: flushes whatever waits
                    y = mx.nd.tanh(x * 2 + mx.nd.array(a)) - x
                    want = np.tanh(h * 2 + a) - h
                    if np.abs(y.asnumpy() - want).max() > 1e-5:
                        errors.append(seed)
        except Exception as err:  # reported below, not lost in the thread
            errors.append(err)
    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
