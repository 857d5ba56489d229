"""clnet.test_utils: MXNet's testing helpers -- tolerances, comparisons and their messages,
random shapes and arrays, and the symbolic checks, each shown to pass on right results and to
fail, with a useful message, on wrong ones (a stand-in op with a wrong gradient rule)."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet import test_utils as tu
from clnet.base import MXNetError
from clnet.ops.registry import OpDef
from clnet.runtime import get_device
from clnet.symbol.symbol import create


def _fp64(ctx):
    if not get_device(ctx).has_fp64:
        pytest.skip(f"{ctx} has no float64")


def _square_forward(params, inputs, outputs):
    mx.nd.invoke("square", inputs, {}, out=outputs[0])


# x**2 with the gradient 3 x g instead of 2 x g
WRONG_SQUARE = OpDef("_wrong_square", forward=_square_forward,
                     grad=lambda F, p, ins, outs, g: [ins[0] * g[0] * 3])


# -- contexts and tolerances -----------------------------------------------------------------
def test_default_context_follows_set_default_context():
    old = tu.default_context()
    assert old == mx.current_context()
    try:
        tu.set_default_context(mx.cpu(1))
        assert tu.default_context() == mx.cpu(1) == mx.current_context()
        with mx.cpu(0):
            assert tu.default_context() == mx.cpu(0)
        assert tu.default_context() == mx.cpu(1)
    finally:
        tu.set_default_context(old)
    assert tu.default_dtype() is np.float32
    assert list(tu.list_gpus()) == list(range(mx.context.num_gpus()))


def test_tolerance_table_and_get_tols():
    assert tu.TOLERANCES["float16"].rtol > tu.TOLERANCES["float32"].rtol > \
        tu.TOLERANCES["float64"].rtol
    assert tu.TOLERANCES["int32"] == (0, 0, 0)
    f32, f64 = np.zeros(2, np.float32), np.zeros(2, np.float64)
    assert tu.get_tols(f64, f64, None, None) == (tu.TOLERANCES["float64"].rtol,
                                                 tu.TOLERANCES["float64"].atol)
    # mixed: the looser dtype's defaults; given values win
    assert tu.get_tols(f32, f64, None, None) == (tu.TOLERANCES["float32"].rtol,
                                                 tu.TOLERANCES["float32"].atol)
    assert tu.get_tols(f32, f64, 0.5, None)[0] == 0.5
    assert tu.get_rtol() == tu.TOLERANCES["float64"].rtol and tu.get_rtol(0.1) == 0.1
    assert tu.get_atol() == tu.TOLERANCES["float64"].atol and tu.get_atol(0.2) == 0.2


# -- comparisons ---------------------------------------------------------------------------
def test_assert_almost_equal_passes_within_tolerance(ctx):
    a = np.random.uniform(-1, 1, (3, 4)).astype(np.float32)
    tu.assert_almost_equal(a, a * (1 + 5e-5))  # float32's default rtol is 1e-4
    tu.assert_almost_equal(mx.nd.array(a, ctx=ctx), a)  # NDArrays are read back
    tu.assert_almost_equal(np.full((2, 3), 1.0), np.array(1.0))  # broadcasting
    tu.assert_almost_equal(np.array([1.0, np.nan]), np.array([1.0, np.nan]), equal_nan=True)
    tu.assert_almost_equal(np.array([True, False]), np.array([True, False]))
    assert tu.almost_equal(a, a + 1e-6) and not tu.almost_equal(a, a + 1)
    assert not tu.almost_equal(a, a[:, :1], use_broadcast=False)


def test_assert_almost_equal_failure_message():
    a = np.arange(6.0).reshape(2, 3)
    b = a.copy()
    b[1, 2] += 1e-3
    b[0, 1] += 1e-4
    with pytest.raises(AssertionError) as err:
        tu.assert_almost_equal(a, b, rtol=1e-6, atol=1e-9, names=("got", "want"))
    msg = str(err.value)
    assert "got vs want" in msg and "rtol=1.000e-06" in msg and "atol=1.000e-09" in msg
    assert "2 of 6 elements" in msg and "33.33%" in msg
    first = msg.splitlines()[2]  # the largest violation comes first
    assert "(1, 2)" in first and "got=5.0" in first and "want=5.001" in first
    assert "(0, 1)" in msg.splitlines()[3]
    with pytest.raises(AssertionError, match=r"a.shape = \(2, 3\) and b.shape = \(3,\)"):
        tu.assert_almost_equal(a, a[0], use_broadcast=False)
    with pytest.raises(AssertionError, match="cannot be compared"):
        tu.assert_almost_equal(a, np.zeros(4))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.array([1.0, np.nan]), np.array([1.0, np.nan]))


def test_find_max_violation_same_and_ignore_nan():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[1.0, 2.5], [3.1, 4.0]])
    idx, ratio = tu.find_max_violation(a, b, rtol=0, atol=0.01)
    assert idx == (0, 1) and ratio == pytest.approx(50, rel=1e-6)
    assert tu.same(mx.nd.array(a), a.astype(np.float32)) and not tu.same(a, b)
    assert not tu.same(a, a[0])
    x = np.array([1.0, np.nan, 3.0])
    y = np.array([1.0, 2.0, np.nan])
    assert tu.almost_equal_ignore_nan(x, y)
    tu.assert_almost_equal_ignore_nan(x, y)
    tu.assert_allclose(x, x)  # equal_nan by default, like numpy's
    tu.assert_exception(tu.assert_almost_equal, AssertionError, x, y)
    with pytest.raises(AssertionError, match="did not raise"):
        tu.assert_exception(tu.same, ValueError, x, y)


# -- random shapes and arrays --------------------------------------------------------------
def test_random_shapes():
    for _ in range(20):
        s2, s3 = tu.rand_shape_2d(4, 5), tu.rand_shape_3d(2, 3, 4)
        assert len(s2) == 2 and 1 <= s2[0] <= 4 and 1 <= s2[1] <= 5
        assert len(s3) == 3 and all(1 <= d <= m for d, m in zip(s3, (2, 3, 4)))
        sn = tu.rand_shape_nd(5, 3)
        assert isinstance(sn, tuple) and len(sn) == 5 and all(1 <= d <= 3 for d in sn)
        assert all(isinstance(d, int) for d in sn)
    zeros = {d for _ in range(200) for d in tu.rand_shape_nd(4, 2, allow_zero_size=True)}
    assert zeros == {0, 1, 2}


def test_random_arrays_and_rand_ndarray(ctx):
    a = tu.random_arrays((2, 3))
    assert a.shape == (2, 3) and a.dtype == np.float32
    b, c = tu.random_arrays((4,), ())
    assert b.shape == (4,) and c.shape == ()
    (u,) = tu.random_uniform_arrays((50,), low=2, high=3)
    assert u.min() >= 2 and u.max() < 3
    x = tu.rand_ndarray((3, 5))
    assert x.shape == (3, 5) and x.dtype == np.float32 and x.context == ctx
    y = tu.rand_ndarray((2, 2), dtype="int32", ctx=ctx)
    assert y.dtype == np.int32
    with pytest.raises(MXNetError, match="stype 'csr'.*dense"):
        tu.rand_ndarray((2, 2), stype="csr")


def test_np_reduce():
    x = np.random.uniform(size=(2, 3, 4))
    tu.assert_almost_equal(tu.np_reduce(x, (0, 2), False, np.sum), x.sum(axis=(0, 2)))
    tu.assert_almost_equal(tu.np_reduce(x, 1, True, np.max), x.max(axis=1, keepdims=True))
    tu.assert_almost_equal(tu.np_reduce(x, None, True, np.sum), x.sum(keepdims=True))


# -- check_numeric_gradient ----------------------------------------------------------------
def test_check_numeric_gradient_passes_right_rules(ctx):
    _fp64(ctx)
    x, y = mx.sym.var("x"), mx.sym.var("y")
    sym = mx.sym.tanh(x) * mx.sym.exp(y) + x
    loc = [np.random.uniform(-1, 1, (3, 4)), np.random.uniform(-1, 1, (3, 4))]
    tu.check_numeric_gradient(sym, loc, numeric_eps=1e-4, rtol=1e-6, atol=1e-9,
                              dtype=np.float64)
    tu.check_numeric_gradient(sym, {"y": loc[1], "x": loc[0]}, dtype=np.float64)
    tu.check_numeric_gradient(sym, loc)  # float32 with MXNet's defaults (eps 1e-3, rtol 1e-2)
    # grad_req through grad_nodes: add is checked as an increment, null as untouched
    tu.check_numeric_gradient(sym, loc, grad_nodes={"x": "add", "y": "null"},
                              dtype=np.float64)
    tu.check_numeric_gradient(sym, loc, grad_nodes=["y"], dtype=np.float64)


def test_check_numeric_gradient_catches_a_wrong_rule(ctx):
    _fp64(ctx)
    sym = create(WRONG_SQUARE, [mx.sym.var("x")], {})
    loc = [np.random.uniform(0.5, 1, (2, 3))]
    with pytest.raises(AssertionError, match="NUMERICAL_x vs BACKWARD_x"):
        tu.check_numeric_gradient(sym, loc, dtype=np.float64)
    with pytest.raises(AssertionError, match="NUMERICAL_x vs BACKWARD_x"):
        tu.check_numeric_gradient(sym, loc)


def test_check_numeric_gradient_multi_output_and_integer_inputs(ctx):
    _fp64(ctx)
    x = mx.sym.var("x")
    parts = mx.sym.SliceChannel(mx.sym.sin(x), num_outputs=2, axis=1)
    tu.check_numeric_gradient(parts, [np.random.uniform(-1, 1, (2, 4))], dtype=np.float64,
                              rtol=1e-6, atol=1e-9)
    a, i = mx.sym.var("a"), mx.sym.var("i")
    taken = mx.sym.take(mx.sym.square(a), i)
    # integer indices keep their dtype and are not differentiated
    tu.check_numeric_gradient(taken, {"a": np.random.uniform(-1, 1, (4, 3)),
                                      "i": np.array([3, 0, 3], np.int32)}, dtype=np.float64,
                              rtol=1e-6, atol=1e-9)


def test_check_numeric_gradient_argument_errors():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    sym = x * y
    with pytest.raises(ValueError, match="do not match"):
        tu.check_numeric_gradient(sym, {"x": np.ones(2)})
    with pytest.raises(ValueError, match="1 arrays.*2 arguments"):
        tu.check_numeric_gradient(sym, [np.ones(2)])
    with pytest.raises(ValueError, match="too small for float32"):
        tu.check_numeric_gradient(sym, [np.ones(2), np.ones(2)], numeric_eps=1e-6)
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        tu.check_numeric_gradient(sym, [np.ones(2), np.ones(2)], dtype=np.int32)
    with pytest.raises(MXNetError, match="row_sparse"):
        tu.check_numeric_gradient(sym, [np.ones(2), np.ones(2)],
                                  grad_stype_dict={"x": "row_sparse"})


def test_numeric_grad_of_a_bound_executor(ctx):
    _fp64(ctx)
    x = mx.sym.var("x")
    xs = np.random.uniform(-1, 1, (2, 3))
    ex = mx.sym.square(x).bind(ctx, {"x": mx.nd.array(xs, dtype="float64")})
    grads = tu.numeric_grad(ex, {"x": xs}, eps=1e-4, dtype=np.float64)
    tu.assert_almost_equal(grads["x"], 2 * xs, rtol=1e-8, atol=1e-10)
    tu.assert_almost_equal(ex.arg_dict["x"], xs, rtol=0, atol=0)  # restored


# -- check_symbolic_forward / backward -----------------------------------------------------
def test_check_symbolic_forward(ctx):
    x, y = mx.sym.var("x"), mx.sym.var("y")
    sym = mx.sym.Group([mx.sym.dot(x, y, name="d"), mx.sym.exp(x, name="e")])
    a, b = np.random.uniform(-1, 1, (2, 3)), np.random.uniform(-1, 1, (3, 2))
    outs = tu.check_symbolic_forward(sym, [a, b], [a @ b, np.exp(a)], ctx=ctx)
    assert len(outs) == 2 and outs[0].shape == (2, 2) and outs[0].dtype == np.float32
    tu.check_symbolic_forward(sym, {"x": a, "y": b}, {"d_output": a @ b, "e_output": np.exp(a)})
    with pytest.raises(AssertionError, match="EXPECTED_e_output vs FORWARD_e_output"):
        tu.check_symbolic_forward(sym, [a, b], [a @ b, np.exp(a) + 0.1])
    with pytest.raises(AssertionError, match="1 expected arrays for 2 outputs"):
        tu.check_symbolic_forward(sym, [a, b], [a @ b])
    if get_device(ctx).has_fp64:
        outs = tu.check_symbolic_forward(sym, [a, b], [a @ b, np.exp(a)], rtol=1e-12,
                                         atol=1e-14, dtype=np.float64)
        assert outs[1].dtype == np.float64


def test_check_symbolic_backward(ctx):
    _fp64(ctx)
    x, w = mx.sym.var("x"), mx.sym.var("w")
    sym = mx.sym.broadcast_mul(mx.sym.sin(x), w)
    xs, ws = np.random.uniform(-1, 1, (2, 3)), np.random.uniform(-1, 1, (1, 3))
    head = np.random.uniform(-1, 1, (2, 3))
    dx, dw = head * ws * np.cos(xs), (head * np.sin(xs)).sum(0, keepdims=True)
    kw = {"rtol": 1e-12, "atol": 1e-14, "dtype": np.float64}
    grads = tu.check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], **kw)
    assert set(grads) == {"x", "w"} and grads["x"].dtype == np.float64
    for req in ("add", "null", {"x": "write", "w": "add"}, ["null", "add"]):
        tu.check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], grad_req=req, **kw)
    tu.check_symbolic_backward(sym, [xs, ws], [head], {"w": dw}, **kw)  # x: no gradient
    ones = [np.cos(xs) * ws, np.sin(xs).sum(0, keepdims=True)]
    tu.check_symbolic_backward(sym, [xs, ws], None, ones, **kw)  # out_grads None: ones
    with pytest.raises(AssertionError, match="EXPECTED_w vs BACKWARD_w"):
        tu.check_symbolic_backward(sym, [xs, ws], [head], [dx, dw * 1.01], **kw)
    with pytest.raises(MXNetError, match="grad_req 'sometimes' for 'x'"):
        tu.check_symbolic_backward(sym, [xs, ws], [head], [dx, dw], grad_req="sometimes", **kw)
    wrong = create(WRONG_SQUARE, [mx.sym.var("x")], {})
    with pytest.raises(AssertionError, match="EXPECTED_x vs BACKWARD_x"):
        tu.check_symbolic_backward(wrong, [xs], [head], [2 * xs * head], **kw)


def test_simple_forward(ctx):
    x = mx.sym.var("x")
    xs = np.random.uniform(-1, 1, (2, 3))
    tu.assert_almost_equal(tu.simple_forward(mx.sym.sin(x), x=xs), np.sin(xs))
    both = tu.simple_forward(mx.sym.Group([mx.sym.sin(x), mx.sym.cos(x)]), ctx=ctx, x=xs)
    tu.assert_almost_equal(both[1], np.cos(xs))


# -- check_consistency ---------------------------------------------------------------------
def _ctx_list(ctx, dtypes, shape=(3, 4), **extra):
    return [{"ctx": ctx, "x": shape, "w": shape, "type_dict": {"x": d, "w": d}, **extra}
            for d in dtypes]


def test_check_consistency_across_dtypes(ctx):
    _fp64(ctx)
    x, w = mx.sym.var("x"), mx.sym.var("w")
    sym = mx.sym.tanh(x * w, name="f")
    gt = tu.check_consistency(sym, _ctx_list(ctx, [np.float32, np.float64]))
    assert set(gt) == {"f_output", "x", "w"} and gt["f_output"].dtype == np.float64
    params = {"x": np.random.uniform(-1, 1, (3, 4))}
    gt = tu.check_consistency(sym, _ctx_list(ctx, [np.float64, np.float32]), tol=1e-4,
                              arg_params=params, grad_req="add", use_uniform=True)
    assert np.abs(params["w"]).max() <= 0.92  # drawn (uniform) and stored, as MXNet
    f = np.tanh(params["x"] * params["w"])  # backward's head gradient is the output
    tu.assert_almost_equal(gt["x"], (1 - f ** 2) * params["w"] * f, 1e-10, 1e-12)
    gt = tu.check_consistency(sym, _ctx_list(ctx, [np.float64, np.float32]), grad_req="null")
    assert set(gt) == {"f_output"}


def test_check_consistency_reports_differences(ctx, capsys):
    x, w = mx.sym.var("x"), mx.sym.var("w")
    syms = [mx.sym.tanh(x * w, name="f"), mx.sym.sin(x * w, name="f")]
    specs = _ctx_list(ctx, [np.float32, np.float32])
    with pytest.raises(AssertionError, match="f_output@run1 vs f_output@run0"):
        tu.check_consistency(syms, specs, scale=2.0)
    tu.check_consistency(syms, specs, scale=2.0, raise_on_err=False)
    assert "Predict error: run 1" in capsys.readouterr().out
    tu.check_consistency(syms, _ctx_list(ctx, [np.float32, np.float32], atol=10), scale=2.0)
    with pytest.raises(ValueError, match="at least two"):
        tu.check_consistency(syms[0], specs[:1])
    with pytest.raises(ValueError, match="differ in arguments"):
        tu.check_consistency([syms[0], mx.sym.sin(x, name="f")], specs)
