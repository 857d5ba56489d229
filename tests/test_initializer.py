"""Initializers: statistics of the device draws, MXNet's name dispatch, `__init__` attributes,
the registry and JSON, Mixed, Load, Constant, Orthogonal, Bilinear."""
from __future__ import annotations

import json

import numpy as np
import pytest

import clnet as mx
from clnet import initializer as init
from clnet.base import MXNetError


def _filled(initializer, name, shape, dtype="float32"):
    arr = mx.nd.full(shape, -123.0, dtype=dtype)
    initializer(init.InitDesc(name), arr)
    return arr.asnumpy()


def test_uniform_bounds_and_moments(ctx):
    w = _filled(init.Uniform(0.1), "fc_weight", (200, 100))
    assert w.min() >= -0.1 and w.max() < 0.1
    assert abs(w.mean()) < 0.002
    assert w.std() == pytest.approx(0.1 / np.sqrt(3), rel=0.02)
    assert init.Uniform().scale == 0.07


def test_normal_moments(ctx):
    w = _filled(init.Normal(0.5), "fc_weight", (200, 100))
    assert abs(w.mean()) < 0.01
    assert w.std() == pytest.approx(0.5, rel=0.02)
    assert init.Normal().sigma == 0.01


def test_xavier_scale_from_fans(ctx):
    shape = (64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    bound = np.sqrt(3.0 / ((fan_in + fan_out) / 2))
    w = _filled(init.Xavier(), "conv_weight", shape)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    w = _filled(init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), "c_weight",
                shape)
    assert w.std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.02)
    w = _filled(init.Xavier(factor_type="out"), "c_weight", shape)
    assert np.abs(w).max() <= np.sqrt(3.0 / fan_out)
    w = _filled(init.MSRAPrelu(slope=0.0), "c_weight", shape)
    assert w.std() == pytest.approx(np.sqrt(2.0 / ((fan_in + fan_out) / 2)), rel=0.02)
    with pytest.raises(MXNetError, match="requires at least 2D"):
        _filled(init.Xavier(), "fc_weight", (5,))
    with pytest.raises(MXNetError, match="factor_type"):
        _filled(init.Xavier(factor_type="both"), "fc_weight", (5, 5))


def test_seeded_draws_repeat(ctx):
    mx.random.seed(11)
    a = _filled(init.Uniform(1.0), "w_weight", (50,))
    b = _filled(init.Uniform(1.0), "w_weight", (50,))
    mx.random.seed(11)
    c = _filled(init.Uniform(1.0), "w_weight", (50,))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_name_dispatch(ctx):
    u = init.Uniform(0.5)
    expected = {"fc1_bias": 0.0, "bn_gamma": 1.0, "bn_beta": 0.0, "bn_moving_mean": 0.0,
                "bn_moving_var": 1.0, "bn_moving_inv_var": 0.0, "x_moving_avg": 0.0}
    for name, value in expected.items():
        np.testing.assert_array_equal(_filled(u, name, (3, 2)), value, err_msg=name)
    w = _filled(u, "fc1_weight", (30, 20))
    assert np.abs(w).max() < 0.5 and w.std() > 0.1
    # plain names are accepted too
    arr = mx.nd.ones((2,))
    u("fc2_bias", arr)
    np.testing.assert_array_equal(arr.asnumpy(), 0.0)
    with pytest.raises(MXNetError, match="Unknown initialization pattern for data"):
        _filled(u, "data", (2,))


def test_init_attribute_overrides(ctx):
    desc = init.InitDesc("fc_weight", attrs={"__init__": init.Constant(3.0).dumps()})
    arr = mx.nd.zeros((2, 3))
    init.Uniform()(desc, arr)
    np.testing.assert_array_equal(arr.asnumpy(), 3.0)
    assert desc.global_init is not None
    # the attribute also applies to names that have no default pattern
    var = mx.sym.var("data_scale", init=init.One())
    attrs = var.attr_dict()["data_scale"]
    arr = mx.nd.zeros((4,))
    init.Xavier()(init.InitDesc("data_scale", attrs), arr)
    np.testing.assert_array_equal(arr.asnumpy(), 1.0)


def test_constant_zero_one(ctx):
    np.testing.assert_array_equal(_filled(init.Constant(2.5), "a_weight", (3, 4)), 2.5)
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(_filled(init.Constant(value), "a_weight", (3, 4)), value)
    np.testing.assert_array_equal(_filled(init.Constant(mx.nd.array(value)), "a_weight",
                                          (3, 4)), value)
    np.testing.assert_array_equal(_filled(init.Zero(), "a_weight", (3,)), 0)
    np.testing.assert_array_equal(_filled(init.One(), "a_weight", (3,)), 1)
    np.testing.assert_array_equal(_filled(init.One(), "a_bias", (3,)), 0)  # bias stays 0


def test_orthogonal_rows_and_columns(ctx):
    w = _filled(init.Orthogonal(scale=1.5), "r_weight", (16, 4, 10))
    flat = w.reshape(16, 40).astype(np.float64)
    np.testing.assert_allclose(flat @ flat.T, 2.25 * np.eye(16), atol=1e-5)
    w = _filled(init.Orthogonal(rand_type="normal"), "r_weight", (40, 16))
    np.testing.assert_allclose(w.T.astype(np.float64) @ w, 1.414 ** 2 * np.eye(16), atol=1e-5)
    with pytest.raises(MXNetError, match="rand_type"):
        _filled(init.Orthogonal(rand_type="cauchy"), "r_weight", (3, 3))


def test_mixed(ctx):
    mixed = init.Mixed(["^conv", ".*"], [init.Constant(5.0), init.One()])
    for name, value in (("conv1_weight", 5.0), ("fc_weight", 1.0), ("fc_bias", 0.0)):
        arr = mx.nd.zeros((2, 2))
        mixed(name, arr)
        np.testing.assert_array_equal(arr.asnumpy(), value, err_msg=name)
    with pytest.raises(MXNetError, match="did not match any pattern"):
        init.Mixed(["^conv"], [init.One()])("fc_weight", mx.nd.zeros((1,)))
    with pytest.raises(MXNetError, match="one initializer per pattern"):
        init.Mixed(["a", "b"], [init.One()])


def test_load(ctx, tmp_path):
    saved = {"arg:fc_weight": mx.nd.array(np.arange(6).reshape(2, 3)),
             "aux:bn_moving_mean": mx.nd.array([1.5, 2.5]), "plain": mx.nd.array([7.0])}
    loader = init.Load(saved, default_init=init.Constant(9.0))
    for name, want in (("fc_weight", np.arange(6).reshape(2, 3)),
                       ("bn_moving_mean", [1.5, 2.5]), ("plain", [7.0])):
        arr = mx.nd.zeros(np.shape(want))
        loader(name, arr)
        np.testing.assert_array_equal(arr.asnumpy(), want)
    arr = mx.nd.zeros((2,))
    loader("other_weight", arr)
    np.testing.assert_array_equal(arr.asnumpy(), 9.0)
    with pytest.raises(MXNetError, match="Shape mismatch"):
        loader("fc_weight", mx.nd.zeros((3, 2)))
    with pytest.raises(MXNetError, match="no default Initializer"):
        init.Load(saved)("missing", mx.nd.zeros((1,)))
    path = str(tmp_path / "p.params")
    mx.nd.save(path, saved)
    arr = mx.nd.zeros((2, 3))
    init.Load(path)("fc_weight", arr)
    np.testing.assert_array_equal(arr.asnumpy(), np.arange(6).reshape(2, 3))


def test_registry_and_dumps():
    assert init.Normal(0.5).dumps() == '["normal", {"sigma": 0.5}]'
    x = init.Xavier(factor_type="in", magnitude=2.34)
    assert json.loads(x.dumps()) == ["xavier", {"rnd_type": "uniform", "factor_type": "in",
                                                "magnitude": 2.34}]
    again = init.create(x.dumps())
    assert isinstance(again, init.Xavier) and again.magnitude == 2.34
    assert json.loads(init.MSRAPrelu().dumps()) == ["msraprelu",
                                                    {"factor_type": "avg", "slope": 0.25}]
    assert isinstance(init.create("zeros"), init.Zero)
    assert isinstance(init.create("ONES"), init.One)
    assert init.create(x) is x
    assert isinstance(init.create("uniform", 0.2), init.Uniform)
    with pytest.raises(MXNetError, match="not registered"):
        init.create("nosuch")

    @init.register
    @init.alias("myinit")
    class CustomInit(init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 0.25

    arr = mx.nd.zeros((2,))
    init.create("myinit")(init.InitDesc("a_weight"), arr)
    np.testing.assert_array_equal(arr.asnumpy(), 0.25)
    assert isinstance(init.create("custominit"), CustomInit)


def test_bilinear_and_lstm_bias(ctx):
    shape = (2, 1, 4, 4)
    f = np.ceil(shape[3] / 2.)
    c = (2 * f - 1 - f % 2) / (2. * f)
    want = np.zeros(int(np.prod(shape)), dtype=np.float32)
    for i in range(want.size):
        x, y = i % shape[3], (i // shape[3]) % shape[2]
        want[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
    np.testing.assert_allclose(_filled(init.Bilinear(), "up_weight", shape),
                               want.reshape(shape), rtol=1e-6)
    arr = mx.nd.zeros(shape)
    init.Uniform()("upsampling0_weight", arr)  # MXNet's legacy name pattern
    np.testing.assert_allclose(arr.asnumpy(), want.reshape(shape), rtol=1e-6)
    bias = _filled(init.LSTMBias(forget_bias=2.0), "lstm_weight", (8,))
    np.testing.assert_array_equal(bias, [0, 0, 2, 2, 0, 0, 0, 0])
