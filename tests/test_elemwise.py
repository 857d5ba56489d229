"""Elementwise ops against numpy: every op of op_cases on every dtype it accepts, with
broadcasting and edge shapes, plus operator syntax, in-place forms and errors."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.ops import elemwise, registry
from clnet.test_utils import assert_almost_equal
from conftest import supported_dtypes
from op_cases import (BINARY_CASES, INT_SCALAR_REF, SCALAR_CASES, UNARY_CASES, uniform)

SHAPES = [(2, 3, 4), (), (0, 3), (1, 1), (7,)]
BINARY_SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((4,), ()), ((), ()),
                 ((0, 3), (1, 3)), ((2, 1, 3), (1, 4, 1)), ((1,), (5,)), ((3, 3), (3,)),
                 ((2, 3, 4, 5, 6), (3, 1, 5, 1))]


def _accepts(name):
    op = registry.get(name)
    return op.dtypes or tuple(mx.dtype.DTYPES) if hasattr(mx, "dtype") else op.dtypes


def _dtypes(ctx, name):
    op = registry.get(name)
    return supported_dtypes(ctx, op.dtypes or ("float32", "float64", "float16", "int32",
                                               "int64", "int8", "uint8"))


def test_every_elementwise_op_has_a_case():
    for name, op in registry.all_ops().items():
        # clip, Cast, _copy, where, zeros_like and ones_like have tests of their own below;
        # _backward_* ops are gradients, checked in test_elemwise_grad.py
        if op.extra.get("elementwise") and name == op.name and not name.startswith(
                "_backward_") and name not in ("clip", "Cast", "_copy", "where", "zeros_like",
                                               "ones_like"):
            assert name in UNARY_CASES or name in BINARY_CASES or name in SCALAR_CASES, name


@pytest.mark.parametrize("name", sorted(UNARY_CASES))
def test_unary(ctx, name):
    (low, high), ref = UNARY_CASES[name]
    for dtype in _dtypes(ctx, name):
        for shape in SHAPES:
            x = uniform(low, high, shape, dtype)
            if name == "logical_not" and x.size:
                x.reshape(-1)[0] = 0
            got = getattr(mx.nd, name)(mx.nd.array(x, dtype=dtype))
            assert got.dtype == np.dtype(dtype) and got.shape == shape
            expect = ref(x.astype(np.float64) if x.dtype.kind == "f" else x)
            assert_almost_equal(got, np.asarray(expect).astype(dtype), names=(name, "numpy"))


@pytest.mark.parametrize("name", sorted(BINARY_CASES))
def test_binary_broadcast(ctx, name):
    (dom_a, dom_b), ref, int_ref = BINARY_CASES[name]
    for dtype in _dtypes(ctx, name):
        is_int = np.dtype(dtype).kind != "f"
        if is_int and name == "broadcast_power":
            dom_a, dom_b = (0, 3), (0, 2)
        for sa, sb in BINARY_SHAPES:
            a, b = uniform(*dom_a, sa, dtype), uniform(*dom_b, sb, dtype)
            if "equal" in name or "greater" in name or "lesser" in name:
                a, b = np.round(a), np.round(b)
            got = getattr(mx.nd, name)(mx.nd.array(a, dtype=dtype), mx.nd.array(b, dtype=dtype))
            fn = int_ref if (is_int and int_ref) else ref
            expect = np.asarray(fn(a, b)).astype(dtype)
            assert got.shape == expect.shape and got.dtype == np.dtype(dtype)
            assert_almost_equal(got, expect, names=(f"{name} {sa} {sb}", "numpy"))


@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_ops(ctx, name):
    for dtype in _dtypes(ctx, name):
        is_int = np.dtype(dtype).kind != "f"
        s = 3 if is_int else 2.5
        x = uniform(1, 4, (3, 5), dtype)
        got = getattr(mx.nd, name)(mx.nd.array(x, dtype=dtype), scalar=s)
        fn = INT_SCALAR_REF.get(name) if is_int else None
        expect = (fn or SCALAR_CASES[name])(x, s)
        assert_almost_equal(got, np.asarray(expect).astype(dtype), names=(name, "numpy"))


def test_operators_match_numpy(ctx):
    a = np.random.uniform(1, 3, (4, 5)).astype(np.float32)
    b = np.random.uniform(1, 3, (5,)).astype(np.float32)
    x, y = mx.nd.array(a), mx.nd.array(b)
    pairs = [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b), (x % y, a % b),
             (x ** y, a ** b), (x == y, a == b), (x != y, a != b), (x < y, a < b),
             (x <= y, a <= b), (x > y, a > b), (x >= y, a >= b), (-x, -a), (abs(-x), a),
             (2 + x, 2 + a), (2 - x, 2 - a), (2 * x, 2 * a), (2 / x, 2 / a), (2 % x, 2 % a),
             (2 ** x, 2 ** a), (x + 1.5, a + 1.5), (x ** 2, a ** 2), (x + b, a + b),
             (b * x, b * a)]
    for got, expect in pairs:
        assert_almost_equal(got, np.asarray(expect, dtype=np.float32))


def test_inplace_operators_write_into_the_array(ctx):
    a = np.random.uniform(1, 3, (4, 5)).astype(np.float32)
    b = np.random.uniform(1, 3, (5,)).astype(np.float32)
    x, y = mx.nd.array(a), mx.nd.array(b)
    alias = x
    x += y
    x *= 2
    x -= 1
    x /= y
    x **= 1
    x %= 100
    assert alias is x
    assert_almost_equal(x, ((a + b) * 2 - 1) / b % 100)


def test_inplace_shape_mismatch_leaves_input_untouched(ctx):
    a = np.arange(3, dtype=np.float32)
    x = mx.nd.array(a)
    with pytest.raises(MXNetError, match=r"shape \(2, 3\)"):
        x += mx.nd.ones((2, 3))
    assert np.array_equal(x.asnumpy(), a)


def test_broadcast_mismatch_names_shapes(ctx):
    with pytest.raises(MXNetError, match=r"\(2, 3\) and \(4,\)"):
        mx.nd.ones((2, 3)) + mx.nd.ones((4,))


def test_float_only_op_rejects_ints_naming_dtype(ctx):
    with pytest.raises(MXNetError, match="exp: input 0 has dtype int32"):
        mx.nd.exp(mx.nd.ones((2,), dtype="int32"))


def test_mixed_contexts_error_names_both():
    if len(mx.runtime.discovery.devices_of_kind("cpu")) < 2:
        pytest.skip("needs two OpenCL CPU devices (POCL_DEVICES='pthread pthread')")
    a, b = mx.nd.ones((2,), ctx=mx.cpu(0)), mx.nd.ones((2,), ctx=mx.cpu(1))
    with pytest.raises(MXNetError, match=r"lhs@cpu\(0\), rhs@cpu\(1\)"):
        a + b


def test_mixed_dtypes_promote_like_pytorch(ctx):
    a = mx.nd.array([1, 2], dtype="int32")
    b = mx.nd.array([0.5, 0.25], dtype="float32")
    got = a + b
    assert got.dtype == np.float32
    assert_almost_equal(got, np.array([1.5, 2.25], dtype=np.float32))


def test_non_contiguous_inputs(ctx):
    base = np.random.uniform(-1, 1, (6, 8)).astype(np.float32)
    x = mx.nd.array(base)
    a, b = x[:, ::2], x[::-1, 1::2]
    assert_almost_equal(mx.nd.tanh(a) * b + a, np.tanh(base[:, ::2]) * base[::-1, 1::2]
                        + base[:, ::2])


def test_clip_where_cast(ctx):
    a = np.random.uniform(-3, 3, (4, 5)).astype(np.float32)
    x = mx.nd.array(a)
    assert_almost_equal(mx.nd.clip(x, -1, 1.5), np.clip(a, -1, 1.5))
    assert_almost_equal(x.clip(a_min=0, a_max=1), np.clip(a, 0, 1))
    with pytest.raises(MXNetError, match="a_min=2.0 is greater than a_max=1.0"):
        mx.nd.clip(x, a_min=2, a_max=1)
    cond = (a > 0).astype(np.float32)
    y = np.random.uniform(-3, 3, (4, 5)).astype(np.float32)
    assert_almost_equal(mx.nd.where(mx.nd.array(cond), x, mx.nd.array(y)),
                        np.where(cond != 0, a, y))
    row = np.array([1, 0, 0, 1], dtype=np.float32)
    assert_almost_equal(mx.nd.where(mx.nd.array(row), x, mx.nd.array(y)),
                        np.where(row[:, None] != 0, a, y))
    with pytest.raises(MXNetError, match="where: x shape"):
        mx.nd.where(x, x, mx.nd.ones((2,)))
    for dtype in supported_dtypes(ctx):
        got = x.astype(dtype)
        assert got.dtype == np.dtype(dtype)
        expect = a.astype(dtype) if np.dtype(dtype).kind == "f" else np.trunc(a).astype(dtype)
        if np.dtype(dtype).kind == "u":
            expect = np.trunc(np.abs(a)).astype(dtype)
            got = mx.nd.abs(x).astype(dtype)
        assert_almost_equal(got, expect)
    assert mx.nd.cast(x, dtype="int64").dtype == np.int64
    for dtype in supported_dtypes(ctx):
        y = mx.nd.array(a, dtype=dtype)
        assert np.array_equal(mx.nd.invoke("zeros_like", [y], {}).asnumpy(), np.zeros_like(
            a, dtype=dtype))
        assert np.array_equal(mx.nd.invoke("ones_like", [y], {}).asnumpy(), np.ones_like(
            a, dtype=dtype))


def test_unknown_param_and_missing_param_errors(ctx):
    x = mx.nd.ones((2,))
    with pytest.raises(MXNetError, match=r"clip: unknown argument\(s\) \['a_mn'\]"):
        mx.nd.clip(x, a_mn=1, a_max=2)
    with pytest.raises(MXNetError, match="required argument 'a_max' is missing"):
        mx.nd.clip(x, a_min=1)


def test_expressions_are_printed_from_sympy():
    # adding a unary op is one row: the kernel text comes from the expression
    from clnet.ops import mapping
    from clnet.dtype import DTYPES
    src = mapping.source("1/(1 + exp(-x))", DTYPES["float64"], (DTYPES["float64"],), "t")
    assert "#define EXPR ((((CT)1)/(((CT)1) + exp(-x))))" in src
    assert "cl_khr_fp64" in src and "#define CT double" in src
    assert len(elemwise.UNARY) >= 40
