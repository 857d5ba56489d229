"""Optimizers, their fused kernels, the Updater and the learning-rate schedules, against numpy
implementations of MXNet's update formulas."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.codegen import templates
from clnet.optimizer import lr_scheduler as lrs
from clnet.optimizer import optimizer as opt
from clnet.runtime import get_device
from conftest import supported_dtypes

LR_MULT, WD_MULT = 0.5, 2.0  # set on index 0 in every case below


def _clip(x, c):
    return np.clip(x, -c, c) if c else x


def _f(p, key, default):
    """Optimizer parameter `key` as the kernels see it (a float32 scalar by default)."""
    return float(p.get("scalar_type", np.float32)(p.get(key, default)))


# Each reference: (weight, grad, states, p, t) -> new weight; states (float64 arrays) updated in
# place. p holds the optimizer kwargs with lr and wd already multiplied by the multipliers.
def _sgd(w, g, st, p, t):
    step = _clip(p["rescale_grad"] * g, p.get("clip_gradient")) + p["wd"] * w
    if not p.get("momentum"):
        return w - p["learning_rate"] * step
    st[0][:] = p["momentum"] * st[0] - p["learning_rate"] * step
    return w + st[0]


def _nag(w, g, st, p, t):
    grad = _clip(p["rescale_grad"] * g, p.get("clip_gradient")) + p["wd"] * w
    if not p.get("momentum"):
        return w - p["learning_rate"] * grad
    st[0][:] = p["momentum"] * st[0] + grad
    return w - p["learning_rate"] * (grad + p["momentum"] * st[0])


def _adam(w, g, st, p, t, decoupled=False):
    b1, b2 = _f(p, "beta1", 0.9), _f(p, "beta2", 0.999)
    eps = _f(p, "epsilon", 1e-6 if decoupled else 1e-8)
    grad = p["rescale_grad"] * g + (0 if decoupled else p["wd"] * w)
    grad = _clip(grad, p.get("clip_gradient"))
    st[0][:] = b1 * st[0] + (1 - b1) * grad
    st[1][:] = b2 * st[1] + (1 - b2) * grad ** 2
    # the bias correction is computed on the host, from the unrounded betas
    c1, c2 = 1 - p.get("beta1", 0.9) ** t, 1 - p.get("beta2", 0.999) ** t
    lr = p["learning_rate"] * math.sqrt(c2) / c1
    if decoupled:
        return w - lr * (st[0] / (np.sqrt(st[1]) + eps) + p["wd"] * w)
    return w - lr * st[0] / (np.sqrt(st[1]) + eps)


def _adamw(w, g, st, p, t):
    return _adam(w, g, st, p, t, decoupled=True)


def _rmsprop(w, g, st, p, t):
    g1, eps, lr = _f(p, "gamma1", 0.9), _f(p, "epsilon", 1e-8), p["learning_rate"]
    grad = _clip(p["rescale_grad"] * g + p["wd"] * w, p.get("clip_gradient"))
    st[0][:] = (1 - g1) * grad ** 2 + g1 * st[0]
    if p.get("centered"):
        st[1][:] = (1 - g1) * grad + g1 * st[1]
        gamma2 = _f(p, "gamma2", 0.9)
        st[2][:] = gamma2 * st[2] - lr * grad / np.sqrt(st[0] - st[1] ** 2 + eps)
        w = w + st[2]
    else:
        w = w - lr * grad / np.sqrt(st[0] + eps)
    return _clip(w, p.get("clip_weights"))


def _adagrad(w, g, st, p, t):
    grad = _clip(p["rescale_grad"] * g, p.get("clip_gradient"))
    st[0][:] += grad ** 2
    eps = _f(p, "eps", 1e-7)
    return w - p["learning_rate"] * (grad / np.sqrt(st[0] + eps) + p["wd"] * w)


def _adadelta(w, g, st, p, t):
    rho, eps = _f(p, "rho", 0.9), _f(p, "epsilon", 1e-5)
    grad = _clip(p["rescale_grad"] * g, p.get("clip_gradient"))
    st[0][:] = rho * st[0] + (1 - rho) * grad ** 2
    delta = np.sqrt(st[1] + eps) / np.sqrt(st[0] + eps) * grad
    st[1][:] = rho * st[1] + (1 - rho) * delta ** 2
    return w - (delta + p["wd"] * w)


def _signum(w, g, st, p, t):
    lr, mom = p["learning_rate"], _f(p, "momentum", 0.9)
    if not mom:
        return (1 - lr * p["wd"]) * w - lr * np.sign(g)
    grad = _clip(p["rescale_grad"] * g, p.get("clip_gradient")) + p["wd"] * w
    st[0][:] = mom * st[0] - (1 - mom) * grad
    return (1 - lr * _f(p, "wd_lh", 0.0)) * w + lr * np.sign(st[0])


def _ftrl(w, g, st, p, t):
    lr, l1, beta = p["learning_rate"], _f(p, "lamda1", 0.01), _f(p, "beta", 1)
    grad = _clip(p["rescale_grad"] * g, p.get("clip_gradient"))
    z, n = st
    z[:] += grad - (np.sqrt(n + grad ** 2) - np.sqrt(n)) * w / lr
    n[:] += grad ** 2
    return (np.sign(z) * l1 - z) / ((beta + np.sqrt(n)) / lr + p["wd"]) * (np.abs(z) > l1)


COMMON = dict(learning_rate=0.1, wd=0.03, rescale_grad=0.5)
CASES = [
    ("sgd", _sgd, 0, dict(COMMON, clip_gradient=0.3)),
    ("sgd", _sgd, 1, dict(COMMON, momentum=0.9)),
    ("sgd", _sgd, 1, dict(COMMON, momentum=0.9, clip_gradient=0.2)),
    ("nag", _nag, 1, dict(COMMON, momentum=0.9, clip_gradient=0.4)),
    ("nag", _nag, 0, dict(COMMON)),
    ("adam", _adam, 2, dict(COMMON, clip_gradient=0.5)),
    ("adamw", _adamw, 2, dict(COMMON, clip_gradient=0.5, epsilon=1e-7)),
    ("rmsprop", _rmsprop, 1, dict(COMMON, learning_rate=0.01, clip_weights=0.9)),
    ("rmsprop", _rmsprop, 3, dict(COMMON, learning_rate=0.01, centered=True, gamma2=0.8,
                                  clip_gradient=0.6)),
    ("adagrad", _adagrad, 1, dict(COMMON, clip_gradient=0.4)),
    ("adadelta", _adadelta, 2, dict(COMMON, clip_gradient=0.4, rho=0.8)),
    ("signum", _signum, 1, dict(COMMON, momentum=0.9, wd_lh=0.02, clip_gradient=0.3)),
    ("signum", _signum, 0, dict(COMMON, momentum=0.0)),
    ("ftrl", _ftrl, 2, dict(COMMON, lamda1=0.02, beta=0.5, clip_gradient=0.6)),
]
# (shape, row offset of the weight inside a larger array): 72 elements are 9 full vectors,
# 35 leave a tail, and a view at a 5-element offset takes the element-by-element path
LAYOUTS = {"aligned": ((9, 8), 0), "tail": ((7, 5), 0), "offset": ((7, 5), 1)}


def _state_list(state):
    if state is None:
        return []
    return list(state) if isinstance(state, (tuple, list)) else [state]


def _run_case(name, kwargs, nstates, ref, shape, row, dtype, scalar_type):
    """5 steps of optimizer `name` through an Updater (with lr/wd multipliers on index 0)
    against `ref`; the weight is rows row: of a larger array."""
    optimizer = mx.optimizer.create(name, **kwargs)
    optimizer.set_lr_mult({0: LR_MULT})
    optimizer.set_wd_mult({0: WD_MULT})
    updater = opt.get_updater(optimizer)
    w_host = np.random.uniform(-1, 1, shape).astype(dtype)
    base = mx.nd.array(np.concatenate([np.zeros((row,) + shape[1:], dtype), w_host]),
                       dtype=dtype)
    weight = base[row:]
    ref_w = w_host.astype(np.float64)
    ref_states = [np.zeros(shape) for _ in range(nstates)]
    p = dict(kwargs, learning_rate=kwargs["learning_rate"] * LR_MULT,
             wd=kwargs["wd"] * WD_MULT, scalar_type=scalar_type)
    # the kernels take scalars of the compute type: 1 - float32(0.999) is 1.3e-5 off 0.001
    p = {k: float(scalar_type(v)) if isinstance(v, float) else v for k, v in p.items()}
    for t in range(1, 6):
        g_host = np.random.normal(0, 1, shape).astype(dtype)
        updater(0, mx.nd.array(g_host, dtype=dtype), weight)
        ref_w = ref(ref_w, g_host.astype(np.float64), ref_states, p, t)
    assert optimizer.num_update == 5
    if row:
        assert np.all(base[:row].asnumpy() == 0)  # the rows before the view are untouched
    return weight, _state_list(updater.states[0]), ref_w, ref_states


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name, ref, nstates, kwargs", CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_update_matches_numpy(ctx, name, ref, nstates, kwargs, layout):
    shape, row = LAYOUTS[layout]
    weight, states, ref_w, ref_states = _run_case(name, kwargs, nstates, ref, shape, row,
                                                  np.float32, np.float32)
    assert len(states) == nstates and all(s.dtype == np.float32 for s in states)
    np.testing.assert_allclose(weight.asnumpy(), ref_w, rtol=1e-5, atol=1e-6)
    for got, want in zip(states, ref_states):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, ref, nstates, kwargs", CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_update_float64(ctx, name, ref, nstates, kwargs):
    if "float64" not in supported_dtypes(ctx, ["float64"]):
        pytest.skip("device lacks cl_khr_fp64")
    weight, states, ref_w, ref_states = _run_case(name, kwargs, nstates, ref, (7, 5), 0,
                                                  np.float64, np.float64)
    assert all(s.dtype == np.float64 for s in states)
    np.testing.assert_allclose(weight.asnumpy(), ref_w, rtol=1e-10, atol=1e-12)
    for got, want in zip(states, ref_states):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-10, atol=1e-12)


def test_multi_precision_sgd(ctx):
    if "float16" not in supported_dtypes(ctx, ["float16"]):
        pytest.skip("device lacks cl_khr_fp16")
    for kwargs in (dict(momentum=0.9), dict(momentum=0.0)):
        optimizer = mx.optimizer.SGD(learning_rate=0.1, wd=0.01, multi_precision=True,
                                     **kwargs)
        w_host = np.random.uniform(-1, 1, (4, 9)).astype(np.float16)
        weight = mx.nd.array(w_host, dtype="float16")
        updater = opt.get_updater(optimizer)
        master = w_host.astype(np.float64)
        mom = [np.zeros((4, 9))]
        p = dict(kwargs, learning_rate=0.1, wd=0.01, rescale_grad=1.0)
        for t in range(1, 6):
            g = np.random.normal(0, 1, (4, 9)).astype(np.float16)
            updater(0, mx.nd.array(g, dtype="float16"), weight)
            master = _sgd(master, g.astype(np.float64), mom, p, t)
        state_mom, state_master = updater.states[0]
        assert state_master.dtype == np.float32
        np.testing.assert_allclose(state_master.asnumpy(), master, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weight.asnumpy(), master.astype(np.float16), rtol=1e-3)


def _run_raw(dev, knl, arrays, scalars):
    """Launch an optimizer kernel on raw buffers (host arrays copied back)."""
    import pyopencl as cl
    n = arrays[0].size
    bufs = [cl.Buffer(dev.cl_context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                      hostbuf=a) for a in arrays]
    args = [np.int64(n), np.int32(1)]
    for b in bufs:
        args += [b, np.int64(0)]
    args += [np.float32(s) for s in scalars]
    knl(dev.queue, (-(-n // 8),), None, *args)
    for a, b in zip(arrays, bufs):
        cl.enqueue_copy(dev.queue, a, b)
    dev.queue.finish()


def test_half_program_kernels(ctx):
    """The float16 program's mixed-precision kernel, run on raw buffers: half storage goes
    through vload_half / vstore_half, so this runs on devices without cl_khr_fp16 too."""
    dev = get_device(ctx)
    src = templates.render("optimizer", {"T": "half", "CT": "float", "SFX": "f16", "VW": 8,
                                         "HALF": 1})
    import pyopencl as cl
    prg = cl.Program(dev.cl_context, src).build(devices=[dev.cl_device])
    n = 37  # 4 vectors and a tail
    w32 = np.random.uniform(-1, 1, n).astype(np.float32)
    w16 = w32.astype(np.float16)
    g16 = np.random.normal(0, 1, n).astype(np.float16)
    mom = np.random.normal(0, 0.1, n).astype(np.float32)
    lr, wd, rescale, clip, momentum = 0.1, 0.01, 0.5, 0.3, 0.9
    arrays = [w16.copy(), g16, mom.copy(), w32.copy()]
    _run_raw(dev, prg.opt_mp_sgd_mom_f16, arrays, (lr, wd, rescale, clip, momentum))
    ref_m = momentum * mom - lr * (np.clip(rescale * g16.astype(np.float32), -clip, clip)
                                   + wd * w32)
    np.testing.assert_allclose(arrays[2], ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(arrays[3], w32 + ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(arrays[0], arrays[3].astype(np.float16))


def test_lr_wd_mult_from_symbol():
    data = mx.sym.var("data")
    w = mx.sym.var("fc_weight", lr_mult=2.0)
    b = mx.sym.var("fc_bias", wd_mult=0.5)
    gamma, beta = mx.sym.var("bn_gamma"), mx.sym.var("bn_beta")
    net = data * w + b + gamma + beta
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta"}
    o = mx.optimizer.SGD(learning_rate=0.1, wd=0.01, sym=net, param_idx2name=names)
    assert o._get_lr(0) == pytest.approx(0.2)
    assert o._get_lr(1) == pytest.approx(0.1)
    assert o._get_wd(0) == pytest.approx(0.01)
    assert o._get_wd(1) == pytest.approx(0.005)  # __wd_mult__ beats the bias default of 0
    assert o._get_wd(2) == pytest.approx(0.01)  # _gamma keeps its decay, as in MXNet
    assert o._get_wd(3) == 0.0
    o.set_lr_mult({"fc_bias": 3.0})
    assert o._get_lr(1) == pytest.approx(0.3)
    assert o._get_lr(0) == pytest.approx(0.2)


def test_multiplier_by_param_dict():
    class Param:
        lr_mult, wd_mult = 4.0, 0.0
    o = mx.optimizer.SGD(learning_rate=0.1, wd=0.01, param_dict={7: Param()})
    assert o._get_lr(7) == pytest.approx(0.4)
    assert o._get_wd(7) == 0.0
    assert pickle.loads(pickle.dumps(o)).param_dict == {}


def test_scheduler_drives_updates(ctx):
    sched = lrs.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    o = mx.optimizer.SGD(lr_scheduler=sched)
    assert o.learning_rate == 1.0
    weight = mx.nd.zeros((3,))
    for _ in range(5):
        o.update(0, weight, mx.nd.ones((3,)), None)
    # lr at updates 1..5: 1, 1, 0.5, 0.5, 0.25
    np.testing.assert_allclose(weight.asnumpy(), -3.25, rtol=1e-6)
    assert o.learning_rate == 0.25
    with pytest.raises(UserWarning):
        o.set_learning_rate(0.1)
    with pytest.warns(UserWarning, match="overwritten"):
        mx.optimizer.SGD(learning_rate=0.3, lr_scheduler=lrs.FactorScheduler(step=1))


def test_updater_states_round_trip(ctx):
    o = mx.optimizer.Adam(learning_rate=0.05, wd=0.01)
    updater = opt.get_updater(o)
    w1 = mx.nd.array(np.random.uniform(-1, 1, (4, 6)))
    grads = [mx.nd.array(np.random.normal(0, 1, (4, 6))) for _ in range(3)]
    for g in grads[:2]:
        updater(0, g, w1)
    blob = updater.get_states(dump_optimizer=True)
    plain = updater.get_states()
    w2 = w1.copy()
    restored = opt.get_updater(mx.optimizer.SGD())
    restored.set_states(blob)
    assert isinstance(restored.optimizer, mx.optimizer.Adam)
    assert restored.optimizer._index_update_count[0] == 2
    for a, b in zip(updater.states[0], restored.states[0]):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    updater(0, grads[2], w1)
    restored(0, grads[2], w2)
    np.testing.assert_array_equal(w1.asnumpy(), w2.asnumpy())
    only_states = opt.get_updater(o)
    only_states.set_states(plain)
    assert set(only_states.states) == {0} and only_states.optimizer is o


def test_updater_lists_and_create(ctx):
    o = mx.optimizer.create("SGD", learning_rate=1.0)
    updater = mx.optimizer.get_updater(o)
    ws = [mx.nd.ones((2,)), mx.nd.ones((3,))]
    updater([0, 1], [mx.nd.ones((2,)), mx.nd.ones((3,))], ws)
    assert [w.asnumpy().tolist() for w in ws] == [[0, 0], [0, 0, 0]]
    assert isinstance(mx.optimizer.create("ccsgd"), mx.optimizer.SGD)
    for name, klass in (("nag", "NAG"), ("ftrl", "Ftrl"), ("adamw", "AdamW"),
                        ("rmsprop", "RMSProp"), ("adagrad", "AdaGrad"),
                        ("adadelta", "AdaDelta"), ("signum", "Signum")):
        assert type(mx.optimizer.create(name)).__name__ == klass
    with pytest.raises(MXNetError, match="Cannot find optimizer nosuch"):
        mx.optimizer.create("nosuch")


def test_register_custom_optimizer():
    @mx.optimizer.Optimizer.register
    class MyTestOpt(mx.optimizer.Optimizer):
        def update(self, index, weight, grad, state):
            weight[:] = 7

    o = mx.optimizer.create("mytestopt")
    w = mx.nd.zeros((2,))
    mx.optimizer.get_updater(o)(0, mx.nd.ones((2,)), w)
    assert w.asnumpy().tolist() == [7, 7]


def test_defaults_match_mxnet():
    assert mx.optimizer.SGD().lr == 0.01
    a = mx.optimizer.Adam()
    assert (a.lr, a.beta1, a.beta2, a.epsilon) == (0.001, 0.9, 0.999, 1e-8)
    r = mx.optimizer.RMSProp()
    assert (r.lr, r.gamma1, r.gamma2, r.epsilon, r.centered) == (0.001, 0.9, 0.9, 1e-8, False)
    f = mx.optimizer.Ftrl()
    assert (f.lamda1, f.lr, f.beta) == (0.01, 0.1, 1)
    s = mx.optimizer.Signum()
    assert (s.lr, s.momentum, s.wd_lh) == (0.01, 0.9, 0.0)
    assert mx.optimizer.AdamW().epsilon == 1e-6
    assert mx.optimizer.AdaDelta().rho == 0.9
    assert mx.optimizer.AdaGrad().float_stable_eps == 1e-7


def test_update_errors_and_edges(ctx):
    o = mx.optimizer.SGD(momentum=0.9)
    w = mx.nd.ones((3, 4))
    state = o.create_state(0, w)
    with pytest.raises(MXNetError, match=r"grad has shape \(4, 3\).*shape \(3, 4\)"):
        o.update(0, w, mx.nd.ones((4, 3)), state)
    np.testing.assert_array_equal(w.asnumpy(), 1)  # nothing was enqueued
    with pytest.raises(MXNetError, match="weight dtype int32 is not a float"):
        opt.fused_update("sgd", mx.nd.ones((2,), dtype="int32"),
                         mx.nd.ones((2,), dtype="int32"), [], (0.1, 0, 1, -1))
    empty = mx.nd.zeros((0, 5))
    o.update(1, empty, mx.nd.zeros((0, 5)), o.create_state(1, empty))
    scalar = mx.nd.array(2.0)
    o.update(2, scalar, mx.nd.array(1.0), o.create_state(2, scalar))
    assert scalar.asscalar() == pytest.approx(2.0 - 0.01)


# -- learning-rate schedules -------------------------------------------------------------------
def test_factor_scheduler():
    s = lrs.FactorScheduler(step=2, factor=0.5, base_lr=1.0, stop_factor_lr=0.2)
    assert [s(n) for n in range(1, 9)] == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    w = lrs.FactorScheduler(step=10, factor=0.1, base_lr=1.0, warmup_steps=4,
                            warmup_begin_lr=0.2)
    assert [w(n) for n in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert w(4) == 1.0
    c = lrs.FactorScheduler(step=10, base_lr=1.0, warmup_steps=3, warmup_begin_lr=0.1,
                            warmup_mode="constant")
    assert [c(n) for n in range(4)] == [0.1, 0.1, 0.1, 1.0]
    with pytest.raises(MXNetError, match="step must be >= 1"):
        lrs.FactorScheduler(step=0)
    with pytest.raises(MXNetError, match="no more than 1"):
        lrs.FactorScheduler(step=1, factor=2)
    with pytest.raises(MXNetError, match="warmup_mode"):
        lrs.FactorScheduler(step=1, warmup_mode="cubic")


def test_multifactor_scheduler():
    s = lrs.MultiFactorScheduler(step=[3, 6], factor=0.1, base_lr=1.0)
    assert [s(n) for n in range(1, 9)] == pytest.approx([1, 1, 1, .1, .1, .1, .01, .01])
    # a resumed run jumps straight to its update count
    assert lrs.MultiFactorScheduler(step=[3, 6], factor=0.1, base_lr=1.0)(10) == \
        pytest.approx(0.01)
    with pytest.raises(MXNetError, match="increasing"):
        lrs.MultiFactorScheduler(step=[5, 3])


def test_poly_and_cosine_schedulers():
    p = lrs.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1, warmup_steps=2)
    assert p(0) == 0.0 and p(1) == 0.5
    assert p(2) == pytest.approx(1.0)
    assert p(5) == pytest.approx(0.1 + 0.9 * (1 - 3 / 8) ** 2)
    assert p(10) == pytest.approx(0.1) and p(20) == pytest.approx(0.1)
    c = lrs.CosineScheduler(max_update=10, base_lr=2.0, final_lr=0.0)
    assert c(0) == 2.0
    assert c(5) == pytest.approx(1.0)
    assert c(8) == pytest.approx((1 + math.cos(math.pi * 0.8)))
    assert c(10) == pytest.approx(0.0, abs=1e-12) and c(15) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(MXNetError, match="strictly positive"):
        lrs.CosineScheduler(max_update=0)
