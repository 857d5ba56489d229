"""Gradient rules of the shape, reduction and ordering ops (and of the internal ops those rules
use) against central differences in float64, through autograd; the same gradients through the
symbolic executor must match autograd's."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
from clnet.ops import registry

H = 1e-6
U = np.random.uniform


def _idx(values):
    return np.array(values, dtype=np.int32)


class Case:
    """An op applied to `arrays` (float64 unless integer-typed: index inputs) with `params`;
    the gradient is checked for inputs `wrt` (default: every float input)."""

    def __init__(self, name, arrays, wrt=None, **params):
        self.name, self.arrays, self.params = name, arrays, params
        self.wrt = wrt if wrt is not None else [
            k for k, a in enumerate(arrays) if a.dtype.kind == "f"]

    def __repr__(self):
        return f"{self.name}{[a.shape for a in self.arrays]}{self.params}"


def _nd(a):
    return mx.nd.array(a, dtype="float64" if a.dtype.kind == "f" else a.dtype)


def _outputs(result):
    return result if isinstance(result, list) else [result]


def _forward(case, arrays):
    return [o.asnumpy() for o in _outputs(mx.nd.invoke(case.name, [_nd(a) for a in arrays],
                                                       case.params))]


def _heads(outs):
    """Random head gradients for float outputs, zeros for index outputs (which carry none)."""
    return [U(0.5, 1.5, o.shape) if o.dtype == np.float64 else np.zeros(o.shape)
            for o in outs]


def _autograd(case, heads):
    xs = [_nd(a) for a in case.arrays]
    for k in case.wrt:
        xs[k].attach_grad()
    with mx.autograd.record():
        outs = _outputs(mx.nd.invoke(case.name, xs, case.params))
    mx.autograd.backward(outs, [mx.nd.array(h, dtype=o.dtype) for h, o in zip(heads, outs)])
    return [xs[k].grad.asnumpy() for k in case.wrt]


def _symbolic(case, heads):
    names = [f"x{k}" for k in range(len(case.arrays))]
    sym = getattr(mx.sym, case.name)(*[mx.sym.var(n) for n in names], **case.params)
    args = {n: _nd(a) for n, a in zip(names, case.arrays)}
    grads = {names[k]: mx.nd.zeros(case.arrays[k].shape, dtype="float64") for k in case.wrt}
    ex = sym.bind(mx.current_context(), args, args_grad=grads)
    ex.forward(is_train=True)
    ex.backward([mx.nd.array(h, dtype=o.dtype) for h, o in zip(heads, ex.outputs)])
    return [grads[names[k]].asnumpy() for k in case.wrt]


def check(case, rtol=1e-5, atol=1e-7):
    outs = _forward(case, case.arrays)
    heads = _heads(outs)
    grads = _autograd(case, heads)
    for k, grad in zip(case.wrt, grads):
        a = case.arrays[k]
        assert grad.shape == a.shape, (case, k)
        # random direction: <grad, v> against the directional difference of <heads, f>
        v = U(-1, 1, a.shape)
        plus = _forward(case, [b + H * v if i == k else b for i, b in enumerate(case.arrays)])
        minus = _forward(case, [b - H * v if i == k else b for i, b in enumerate(case.arrays)])
        numeric = sum(np.sum(h * (p - m)) for h, p, m in zip(heads, plus, minus)) / (2 * H)
        np.testing.assert_allclose(np.sum(grad * v), numeric, rtol=rtol, atol=atol,
                                   err_msg=f"{case} input {k}")
    for k, sym_grad, grad in zip(case.wrt, _symbolic(case, heads), grads):
        np.testing.assert_allclose(sym_grad, grad, rtol=1e-12, atol=1e-14,
                                   err_msg=f"{case} input {k}: executor vs autograd")


@pytest.fixture(autouse=True)
def _fp64(ctx):
    if not mx.runtime.get_device(ctx).has_fp64:
        pytest.skip("needs float64")


# -- shape ops -------------------------------------------------------------------------------
def _shape_cases():
    x = U(-1, 1, (2, 3, 4))
    return [
        Case("Reshape", [x], shape=(4, -1)), Case("Reshape", [x], shape=(0, -3)),
        Case("Reshape", [x], shape=(-1, 6), reverse=True), Case("Flatten", [x]),
        Case("expand_dims", [x], axis=1), Case("expand_dims", [x], axis=-1),
        Case("squeeze", [U(-1, 1, (2, 1, 3, 1))]),
        Case("squeeze", [U(-1, 1, (2, 1, 3, 1))], axis=(1,)),
        Case("transpose", [x]), Case("transpose", [x], axes=(1, 2, 0)),
        Case("transpose", [x], axes=(-1, 0, 1)), Case("SwapAxis", [x], dim1=0, dim2=2),
        Case("reverse", [x], axis=(0, 2)), Case("reverse", [x], axis=None),
        Case("broadcast_to", [U(-1, 1, (3, 1))], shape=(2, 3, 4)),
        Case("broadcast_to", [U(-1, 1, (3, 1))], shape=(0, 5)),
        Case("broadcast_axis", [U(-1, 1, (1, 3, 1))], axis=(0, 2), size=(2, 4)),
        Case("broadcast_like", [U(-1, 1, (1, 4)), x[0]], wrt=[0]),
        Case("broadcast_like", [U(-1, 1, (1, 3)), x], wrt=[0], lhs_axes=(0,), rhs_axes=(0,)),
        Case("tile", [x[0]], reps=(2, 1, 3)), Case("tile", [x], reps=(2,)),
        Case("tile", [x[0]], reps=(0, 2)),
        Case("repeat", [x], repeats=3, axis=1), Case("repeat", [x], repeats=2, axis=-1),
        Case("repeat", [x], repeats=2),
        Case("concat", [U(-1, 1, (2, 1, 3)), U(-1, 1, (2, 4, 3)), U(-1, 1, (2, 2, 3))], dim=1),
        Case("concat", [x, U(-1, 1, (2, 3, 2))], dim=-1), Case("concat", [x], dim=0),
        Case("stack", [x, U(-1, 1, x.shape), U(-1, 1, x.shape)], axis=1),
        Case("stack", [x[0], x[1]], axis=-1), Case("stack", [x], axis=0),
        Case("SliceChannel", [U(-1, 1, (2, 6))], num_outputs=3, axis=1),
        Case("SliceChannel", [x], num_outputs=3, axis=1, squeeze_axis=True),
        Case("SliceChannel", [x], num_outputs=2, axis=-1),
        Case("SliceChannel", [x], num_outputs=1, axis=0),
        Case("slice", [x], begin=(1, None), end=(2, None), step=(1, -2)),
        Case("slice", [x], begin=(0, 1, -3), end=(None, 3, None)),
        Case("slice_axis", [x], axis=1, begin=1, end=-1),
        Case("slice_axis", [x], axis=-1, begin=0, end=None),
        Case("take", [U(-1, 1, (5, 3)), _idx([[0, 4], [2, 2]])], axis=0),
        Case("take", [x, _idx([-1, 2, 5, 0])], axis=2, mode="wrap"),
        Case("take", [x, _idx([7, -2, 1])], axis=1, mode="clip"),
        Case("take", [x, np.array([0.0, 2.0, 2.0])], axis=1, wrt=[0]),
        Case("pick", [U(-1, 1, (3, 4)), _idx([0, 3, 3])], axis=1),
        Case("pick", [x, _idx([[0, 2, 1, 1], [2, 0, 0, 1]])], axis=1, keepdims=True),
        Case("pick", [x, _idx([[1] * 4] * 3)], axis=0, mode="wrap"),
    ]


@pytest.mark.parametrize("case", _shape_cases(), ids=repr)
def test_shape_op_gradients(ctx, case):
    check(case)


def test_one_hot_and_index_inputs_get_no_gradient(ctx):
    op = registry.get("one_hot")
    idx = mx.nd.array([0, 2], dtype="int32")
    assert op.grad(mx.nd, {"depth": 3}, [idx], [], [mx.nd.ones((2, 3))]) == [None]
    a = mx.nd.array(U(-1, 1, (4, 3)), dtype="float64")
    out = mx.nd.take(a, idx)
    grads = registry.get("take").grad(mx.nd, {"axis": 0, "mode": "clip"}, [a, idx], [out],
                                      [mx.nd.ones_like(out)])
    assert grads[1] is None
    np.testing.assert_array_equal(grads[0].asnumpy(), [[1] * 3, [0] * 3, [1] * 3, [0] * 3])


# -- reductions ---------------------------------------------------------------------------------
def _reduce_cases():
    x = U(-1, 1, (2, 3, 4))
    pos = U(0.5, 1.5, (2, 3, 4))
    nan = x.copy()
    nan[0, 1, 2] = nan[1, 0, 0] = np.nan
    cases = []
    for name, data in (("sum", x), ("mean", x), ("prod", pos), ("nansum", nan),
                       ("nanprod", np.where(np.isnan(nan), nan, pos)), ("max", x), ("min", x)):
        cases += [Case(name, [data]), Case(name, [data], axis=1),
                  Case(name, [data], axis=(0, 2), keepdims=True),
                  Case(name, [data], axis=(1,), exclude=True)]
    cases += [Case("sum", [np.array(0.7)]), Case("mean", [x], axis=-1, keepdims=True)]
    for ord_ in (1, 2):
        cases += [Case("norm", [x], ord=ord_), Case("norm", [x], ord=ord_, axis=1),
                  Case("norm", [x], ord=ord_, axis=(0, 2), keepdims=True)]
    for name in ("softmax", "log_softmax", "softmin"):
        cases += [Case(name, [x]), Case(name, [x], axis=0),
                  Case(name, [x], axis=1, temperature=2.0)]
    return cases


@pytest.mark.parametrize("case", _reduce_cases(), ids=repr)
def test_reduce_op_gradients(ctx, case):
    check(case)


def test_max_min_gradient_reaches_every_tie(ctx):
    # MXNet's rule: the head gradient goes to each element equal to the result
    x = mx.nd.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]], dtype="float64")
    x.attach_grad()
    head = mx.nd.array([0.5, 2.0], dtype="float64")
    for name, want in (("max", [[0, 0.5, 0.5], [2, 2, 0]]), ("min", [[0.5, 0, 0], [0, 0, 2]])):
        with mx.autograd.record():
            y = mx.nd.invoke(name, [x], {"axis": 1})
        y.backward(head)
        np.testing.assert_array_equal(x.grad.asnumpy(), want)


@pytest.mark.parametrize("name,params", [("argmax", {"axis": 1}), ("argmin", {}),
                                         ("argsort", {"axis": 0}),
                                         ("topk", {"k": 2, "ret_typ": "indices"}),
                                         ("topk", {"k": 2, "ret_typ": "mask"})])
def test_index_results_pass_zero_gradient(ctx, name, params):
    x = mx.nd.array(U(-1, 1, (3, 4)), dtype="float64")
    x.attach_grad()
    x.grad[:] = 5
    with mx.autograd.record():
        y = mx.nd.invoke(name, [x], params) * 2
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.zeros((3, 4)))


# -- ordering -----------------------------------------------------------------------------------
def _sort_cases():
    x = U(-1, 1, (3, 5))
    return [
        Case("sort", [x]), Case("sort", [x], axis=0, is_ascend=False),
        Case("sort", [x], axis=None), Case("sort", [U(-1, 1, (2, 3, 4))], axis=1),
        Case("topk", [x], k=2, ret_typ="value"),
        Case("topk", [x], k=2, ret_typ="value", is_ascend=True, axis=0),
        Case("topk", [x], k=3, ret_typ="both", axis=None),
        Case("topk", [U(-1, 1, (2, 3, 4))], k=0, ret_typ="both", axis=1, dtype="int64"),
    ]


@pytest.mark.parametrize("case", _sort_cases(), ids=repr)
def test_sort_op_gradients(ctx, case):
    check(case)


# -- the internal ops gradient rules build (their own rules allow differentiating twice) -------
def _helper_cases():
    x = U(-1, 1, (2, 3, 4))
    perm = np.argsort(U(size=(3, 5)), axis=1).astype(np.int32)
    return [
        Case("_reshape_like", [x, U(size=(4, 6))], wrt=[0]),
        Case("_backward_tile", [U(-1, 1, (2, 3, 12)), x[0]], wrt=[0], reps=(2, 1, 3)),
        Case("_backward_repeat", [U(-1, 1, (2, 9, 4)), x], wrt=[0], repeats=3, axis=1),
        Case("_backward_concat", [U(-1, 1, (2, 5, 4)), x, x[:, :2]], wrt=[0], axis=1,
             num_outputs=2),
        Case("_backward_concat", [U(-1, 1, (2, 2, 3, 4)), x, x], wrt=[0], axis=1, stack=True,
             num_outputs=2),
        Case("_backward_slice", [U(-1, 1, (1, 2, 4)), x], wrt=[0], begin=(1, None),
             end=(2, None), step=(1, -2)),
        Case("_backward_slice_axis", [U(-1, 1, (2, 1, 4)), x], wrt=[0], axis=1, begin=1,
             end=2),
        Case("_backward_take", [U(-1, 1, (2, 2, 3)), U(size=(5, 3)), _idx([[0, 4], [2, 2]])],
             wrt=[0], axis=0),
        Case("_backward_pick", [U(-1, 1, (3,)), U(size=(3, 4)), _idx([0, 3, 3])], wrt=[0],
             axis=1),
        Case("_broadcast_reduced", [U(-1, 1, (3,)), x], wrt=[0], axis=(0, 2)),
        Case("_broadcast_reduced", [U(-1, 1, (2, 1, 1)), x], wrt=[0], axis=(0,),
             keepdims=True, exclude=True, mean=True),
        Case("_backward_sort", [U(-1, 1, (3, 2)), U(size=(3, 5)), perm[:, :2]], wrt=[0]),
        Case("_take_along_axis", [U(-1, 1, (3, 5)), perm[:, 1:4]], axis=-1),
    ]


@pytest.mark.parametrize("case", _helper_cases(), ids=repr)
def test_internal_op_gradients(ctx, case):
    check(case)


def _grad_dot(name, x, params, head, v, create_graph=False):
    """<v, d<head, f(x)>/dx> and x (recorded, for a second backward when create_graph)."""
    x = mx.nd.array(x, dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.invoke(name, [x], params)
        (dx,) = mx.autograd.grad(y, [x], mx.nd.array(head, dtype="float64"),
                                 create_graph=create_graph)
        z = mx.nd.sum(dx * mx.nd.array(v, dtype="float64"))
    return z, x


@pytest.mark.parametrize("name,params,low", [
    ("softmax", {"axis": 1, "temperature": 2.0}, -1), ("log_softmax", {"axis": 0}, -1),
    ("softmin", {}, -1), ("prod", {"axis": 1}, 0.5), ("norm", {"axis": 1}, 0.5)])
def test_second_derivatives(ctx, name, params, low):
    # the rules build their gradients from differentiable registry ops, so create_graph works
    x = U(low, 1.5, (3, 4))
    head = U(0.5, 1.5, mx.nd.invoke(name, [mx.nd.array(x)], params).shape)
    v, u = U(-1, 1, x.shape), U(-1, 1, x.shape)
    z, xs = _grad_dot(name, x, params, head, v, create_graph=True)
    z.backward()
    numeric = (_grad_dot(name, x + H * u, params, head, v)[0].asscalar()
               - _grad_dot(name, x - H * u, params, head, v)[0].asscalar()) / (2 * H)
    np.testing.assert_allclose(np.sum(xs.grad.asnumpy() * u), numeric, rtol=1e-5, atol=1e-7)


def test_size_zero_gradients(ctx):
    for case in (Case("sum", [np.zeros((2, 0, 3))], axis=1),
                 Case("mean", [np.zeros((2, 0))], axis=0),
                 Case("take", [U(-1, 1, (4, 3)), np.zeros((0,), np.int32)]),
                 Case("tile", [U(-1, 1, (2, 3))], reps=(0, 1)),
                 Case("slice_axis", [U(-1, 1, (3, 2))], axis=0, begin=1, end=1)):
        grads = _autograd(case, _heads(_forward(case, case.arrays)))
        np.testing.assert_array_equal(grads[0], np.zeros(case.arrays[0].shape), str(case))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_scatter_gradients_in_other_dtypes(ctx, dtype):
    # take / pick / sort gradients add in the data's own type
    a = mx.nd.array(np.arange(12).reshape(4, 3), dtype=dtype)
    a.attach_grad()
    idx = mx.nd.array([3, 0, 3, 3], dtype="int64")
    with mx.autograd.record():
        y = mx.nd.take(a, idx, axis=0)
    y.backward(mx.nd.ones_like(y) * 2)
    assert a.grad.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(a.grad.asnumpy(), [[2] * 3, [0] * 3, [0] * 3, [6] * 3])
    with mx.autograd.record():
        y = mx.nd.pick(a, mx.nd.array([2, 0, 1, 2]), axis=1)
    y.backward(mx.nd.array([1, 2, 3, 4], dtype=dtype))
    np.testing.assert_array_equal(a.grad.asnumpy(), [[0, 0, 1], [2, 0, 0], [0, 3, 0], [0, 0, 4]])
    with mx.autograd.record():
        y = mx.nd.sort(mx.nd.reverse(a, axis=0), axis=None)
    y.backward(mx.nd.array(np.arange(12), dtype=dtype))
    np.testing.assert_array_equal(a.grad.asnumpy(), np.arange(12).reshape(4, 3))
