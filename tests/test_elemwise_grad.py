"""Gradient rules of the elementwise ops against central differences (float64), run through
the imperative namespace; and every given grad_expr checked against sympy's derivative."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.ops import elemwise, registry
from op_cases import BINARY_CASES, SCALAR_CASES, UNARY_CASES

H = 1e-6


def _fwd(name, arrays, params):
    return mx.nd.invoke(name, [mx.nd.array(a, dtype="float64") for a in arrays], params)


def _analytic(name, arrays, head, params):
    op = registry.get(name)
    xs = [mx.nd.array(a, dtype="float64") for a in arrays]
    out = mx.nd.invoke(op, xs, params)
    return [None if g is None else g.asnumpy()
            for g in op.grad(mx.nd, params, xs, [out], [mx.nd.array(head)])]


def _check(name, arrays, params=None, rtol=1e-5, atol=1e-7):
    params = params or {}
    out = _fwd(name, arrays, params).asnumpy()
    head = np.random.uniform(0.5, 1.5, out.shape)
    grads = _analytic(name, arrays, head, params)
    for k, a in enumerate(arrays):
        # random direction: <grad, v> against the directional difference of <head, f>
        v = np.random.uniform(-1, 1, a.shape)
        plus = [b + H * v if i == k else b for i, b in enumerate(arrays)]
        minus = [b - H * v if i == k else b for i, b in enumerate(arrays)]
        numeric = np.sum(head * (_fwd(name, plus, params).asnumpy()
                                 - _fwd(name, minus, params).asnumpy())) / (2 * H)
        assert grads[k].shape == a.shape, (name, k, grads[k].shape, a.shape)
        # the directional sum can cancel to far below its terms: bound the error by the
        # terms' magnitude (finite differences of device math in float64 err ~1e-7 of it)
        scale = np.sum(np.abs(grads[k] * v))
        np.testing.assert_allclose(np.sum(grads[k] * v), numeric, rtol=rtol,
                                   atol=max(atol, 1e-6 * scale), err_msg=f"{name} input {k}")


@pytest.mark.parametrize("name", sorted(UNARY_CASES))
def test_unary_gradients(ctx, name):
    if not mx.runtime.get_device(ctx).has_fp64:
        pytest.skip("needs float64")
    (low, high), _ = UNARY_CASES[name]
    x = np.random.uniform(low, high, (3, 4))
    if name in ("floor", "ceil", "round", "rint", "trunc", "fix", "sign", "logical_not"):
        x = np.round(x) + 0.3  # away from the jumps
    if name in ("relu", "abs"):
        x = np.where(np.abs(x) < 0.05, 0.5, x)
    _check(name, [x])


@pytest.mark.parametrize("name", sorted(BINARY_CASES))
def test_binary_gradients_with_broadcasting(ctx, name):
    (dom_a, dom_b), _, _ = BINARY_CASES[name]
    for sa, sb in [((3, 4), (3, 4)), ((2, 3, 4), (3, 1)), ((4,), ())]:
        a, b = np.random.uniform(*dom_a, sa), np.random.uniform(*dom_b, sb)
        if name in ("broadcast_maximum", "broadcast_minimum"):
            b = b + 0.2 * np.sign(b - a.mean())  # avoid ties
        if name == "broadcast_mod":
            a = np.round(a) + 0.37
            b = np.full(sb, 1.7)
        _check(name, [a, b])


@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_op_gradients(ctx, name):
    x = np.random.uniform(0.6, 3.5, (5,))
    if "mod" in name:
        x = np.round(x) + 0.37
    _check(name, [x], {"scalar": 2.25})


def test_clip_where_cast_copy_gradients(ctx):
    x = np.random.uniform(-3, 3, (4, 5))
    x = np.where(np.abs(np.abs(x) - 1) < 0.05, 0.0, x)
    _check("clip", [x], {"a_min": -1.0, "a_max": 1.0})
    _check("_copy", [x])
    cond = (np.random.uniform(size=(4, 5)) > 0.5).astype(np.float64)
    y = np.random.uniform(-1, 1, (4, 5))
    grads = _analytic("where", [cond, x, y], np.ones((4, 5)), {})
    assert grads[0] is None
    np.testing.assert_array_equal(grads[1], cond)
    np.testing.assert_array_equal(grads[2], 1 - cond)
    g = registry.get("Cast").grad(mx.nd, {"dtype": "float32"}, [mx.nd.array(x, dtype="float64")],
                                  [], [mx.nd.ones((4, 5))])[0]
    assert g.dtype == np.float64


def test_given_grad_exprs_equal_sympys_derivative():
    import sympy
    from clnet.codegen import printer
    x = printer.symbols()["x"]
    for name, text in {**elemwise.UNARY_GRAD}.items():
        op = registry.get(name)
        if text == "0" or text.startswith("C:") or op.expr.startswith("C:"):
            continue
        derived = sympy.diff(printer.parse(op.expr), x)
        given = printer.parse(text)
        for value in (-2.5, -0.3, 0.7, 3.1):
            assert abs(float((derived - given).subs(x, value))) < 1e-12, name


def test_output_form_gradients_equal_sympys_derivative():
    """OUTPUT_GRAD gives d op/dx with x standing for the op's output: substituting the
    forward expression for it gives sympy's derivative."""
    import sympy
    from clnet.codegen import printer
    x = printer.symbols()["x"]
    for name, text in elemwise.OUTPUT_GRAD.items():
        forward = printer.parse(registry.get(name).expr)
        given = printer.parse(text).subs(x, forward)
        derived = sympy.diff(forward, x)
        for value in (-2.5, -0.3, 0.7, 3.1):
            assert abs(float((derived - given).subs(x, value))) < 1e-12, name


@pytest.mark.parametrize("name", sorted(elemwise.OUTPUT_GRAD))
def test_output_form_gradients_run_from_the_output(ctx, name):
    """The backward of tanh, sigmoid and exp reads the forward's output (one launch over
    output and head gradient) and matches the numerical gradient, to second order."""
    from clnet.test_utils import check_numeric_gradient
    x = np.random.uniform(-2, 2, (3, 5))
    sym = getattr(mx.sym, name)(mx.sym.var("x"))
    grad_json = sym.gradient(["x"]).tojson()
    assert f"_backward_{name}_out" in grad_json and f"_backward_{name}_0" not in grad_json
    check_numeric_gradient(sym, {"x": x}, numeric_eps=1e-6, rtol=1e-6, atol=1e-9,
                           dtype=np.float64)
    check_numeric_gradient(mx.sym.sum(sym.gradient(["x"])[0]), {"x": x}, numeric_eps=1e-6,
                           rtol=1e-5, atol=1e-8, dtype=np.float64)


@pytest.mark.parametrize("dtype", ("float32", "float64", "int32"))
def test_step_derivatives_at_the_edges(ctx, dtype):
    """The derivatives holding a step (relu, maximum, minimum: kernels/heaviside.cl) are 0 at
    0, at -0 and at NaN, 1 above 0, on vector-kernel sizes and offsets as on scalars."""
    from clnet.ops.elemwise_grad import backward_op
    from conftest import supported_dtypes
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} has no {dtype}")
    if dtype == "int32":
        edges = np.array([0, 1, -1, 7, -7, 1000, -1000])
    else:
        tiny = np.finfo(dtype).tiny
        edges = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, tiny, -tiny, tiny / 4, 0.5,
                          -0.5, 1.0, 3.0, np.finfo(dtype).max, -np.finfo(dtype).max])
    for n in (len(edges), 1003):  # one scalar launch; vectors with a scalar head and tail
        x = np.resize(edges, n).astype(dtype)
        y = np.resize(edges[::-1], n).astype(dtype)
        g = np.random.randint(1, 5, n).astype(dtype)
        cx, cy, cg = (mx.nd.array(a, ctx=ctx, dtype=dtype) for a in (x, y, g))
        for sl in (slice(None), slice(1, None)):  # vector-aligned and not
            with np.errstate(invalid="ignore", over="ignore"):
                cases = [("relu", [cx[sl]], g[sl] * (x[sl] > 0)),
                         ("broadcast_maximum", [cx[sl], cy[sl]],
                          g[sl] * (x[sl].astype(np.float64) - y[sl] > 0)),
                         ("broadcast_minimum", [cx[sl], cy[sl]],
                          g[sl] * (y[sl].astype(np.float64) - x[sl] > 0))]
            for name, ins, want in cases:
                got = mx.nd.invoke(backward_op(name, 0), ins + [cg[sl]], {}).asnumpy()
                np.testing.assert_array_equal(got, want.astype(dtype), err_msg=f"{name} n={n}")


@pytest.mark.parametrize("dtype", ("float32", "float64", "int32", "int64", "int8", "uint8"))
def test_sign_and_abs_derivative_at_the_edges(ctx, dtype):
    """sign (kernels/heaviside.cl's SIGN) and abs's derivative g * sign(x) are -1, 0, 1 (0 at
    NaN, as MXNet's sign) at zeros, infinities, denormals and the extremes of each type, on
    vector-kernel sizes and offsets as on scalars."""
    from clnet.ops.elemwise_grad import backward_op
    from conftest import supported_dtypes
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} has no {dtype}")
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        edges = np.array([0, 1, 7, info.max, info.max - 1] + (
            [-1, -7, info.min, info.min + 1] if info.min else [2, 100]))
    else:
        tiny = np.finfo(dtype).tiny
        edges = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, tiny, -tiny, tiny / 4,
                          -tiny / 4, 0.5, -0.5, np.finfo(dtype).max, -np.finfo(dtype).max])
    for n in (len(edges), 1003):  # one scalar launch; vectors with a scalar head and tail
        x = np.resize(edges, n).astype(dtype)
        g = np.random.randint(1, 5, n).astype(dtype)
        want_sign = np.where(np.isnan(x), 0, np.sign(x)).astype(dtype)
        cx, cg = (mx.nd.array(a, ctx=ctx, dtype=dtype) for a in (x, g))
        for sl in (slice(None), slice(1, None)):  # vector-aligned and not
            np.testing.assert_array_equal(mx.nd.sign(cx[sl]).asnumpy(), want_sign[sl],
                                          err_msg=f"sign n={n}")
            got = mx.nd.invoke(backward_op("abs", 0), [cx[sl], cg[sl]], {}).asnumpy()
            np.testing.assert_array_equal(got, (g[sl] * want_sign[sl]).astype(dtype),
                                          err_msg=f"abs backward n={n}")
