"""Elementwise ops: unary math, binary with broadcasting, scalar forms, comparisons, casts,
`where` and `clip`. Each op is one row: a sympy expression over x, y, z (inputs) and s, t
(scalars); `mapping.run` prints and launches it. Integer forms that sympy cannot say
(truncating division, numpy's modulo) are raw OpenCL after 'C:'.
"""
from __future__ import annotations

from ..base import MXNetError
from ..dtype import DTYPES, as_dtype, result_dtype
from . import deferred, mapping
from .registry import OpDef, Param, alias, register

FLOATS = ("float32", "float64", "float16")
ALL = tuple(DTYPES)
INTS = tuple(d for d in ALL if d not in FLOATS)


def _views_for(outputs, inputs, rows_first=False):
    out = outputs[0].view_desc()
    views = []
    for k, x in enumerate(inputs):
        v = x.view_desc()
        if rows_first and k == 0 and len(v.shape) == 1 and len(out.shape) > 1:
            # MXNet's `where` with a 1-D condition selects whole rows: align it to axis 0
            v = v._replace(shape=v.shape + (1,) * (len(out.shape) - 1),
                           strides=v.strides + (0,) * (len(out.shape) - 1))
        views.append(mapping.broadcast_view(v, out.shape))
    return out, views


def _expr_for(op: OpDef, dtype) -> str:
    int_expr = op.extra.get("int_expr")
    return int_expr if int_expr and not dtype.is_float else op.expr


def ew_forward(op: OpDef):
    """Forward of an elementwise op: one mapping launch; scalar params become s and t."""
    scalar_names = op.extra.get("scalars", ())

    def forward(params, inputs, outputs):
        scalars = [params[n] for n in scalar_names] + [0] * (2 - len(scalar_names))
        # float operands of the output's shape and dtype compute in it, with op.expr
        if deferred.hold(op.expr, op.name, outputs[0], inputs, scalars, len(scalar_names)):
            return  # waits to be fused with the ops that read it (see ops.deferred)
        out, ins = _views_for(outputs, inputs, op.name == "where")
        compute = result_dtype(*[x.dtype for x in ins]) if ins else out.dtype
        if op.extra.get("compute_in_output"):
            compute = out.dtype
        mapping.run(outputs[0].device, _expr_for(op, compute), op.name, out, ins, scalars,
                    compute_dtype=compute)
    return forward


def _broadcast_shape(params, shapes):
    return [mapping.broadcast_shapes(*shapes, what="elementwise operands")]


def _fill_operands(params, shapes):
    """An unknown operand of a binary op takes the other's shape (MXNet's elemwise rule)."""
    known = [s for s in shapes if s is not None]
    return [s if s is not None else (known[0] if known else None) for s in shapes]


def _promote(params, dts):
    return [result_dtype(*dts)]


def register_elementwise(name, expr, inputs=("data",), params=(), dtypes=None, scalars=(),
                         grad_expr=None, aliases=(), doc="", infer_shape=None, infer_type=None,
                         broadcast=False, differentiable=True, grad=None, **extra) -> OpDef:
    """Register an elementwise op from its expression: kernel from `mapping`, gradient from
    `elemwise_grad` (sympy's derivative, or `grad_expr`), unless `grad` is given."""
    from .elemwise_grad import elementwise_grad
    op = OpDef(name, inputs=inputs, params=params, expr=expr, grad_expr=grad_expr,
               dtypes=dtypes, aliases=aliases, doc=doc or f"Elementwise `{expr}`.",
               extra={"scalars": scalars, "elementwise": True, "inplace": True,
                      "broadcast": broadcast, **extra})
    if broadcast:
        op.infer_shape, op.infer_type = _broadcast_shape, _promote
        op.infer_args = _fill_operands
    if infer_shape:
        op.infer_shape = infer_shape
    if infer_type:
        op.infer_type = infer_type
    op.forward = ew_forward(op)
    op.grad = grad or (elementwise_grad(op) if differentiable else None)
    return register(op)


_ew = register_elementwise


# -- unary math: name, expression, accepted dtypes -------------------------------------------
UNARY = [
    ("exp", "exp(x)", FLOATS), ("log", "log(x)", FLOATS), ("log2", "log(x)/log(2)", FLOATS),
    ("log10", "log(x)/log(10)", FLOATS), ("log1p", "log(1 + x)", FLOATS),
    ("expm1", "exp(x) - 1", FLOATS), ("sqrt", "sqrt(x)", FLOATS),
    ("rsqrt", "1/sqrt(x)", FLOATS), ("cbrt", "C:cbrt(x)", FLOATS),
    ("square", "x**2", ALL), ("reciprocal", "1/x", FLOATS), ("negative", "-x", ALL),
    ("abs", "Abs(x)", ALL), ("sign", "sign(x)", ALL), ("sin", "sin(x)", FLOATS),
    ("cos", "cos(x)", FLOATS), ("tan", "tan(x)", FLOATS), ("arcsin", "asin(x)", FLOATS),
    ("arccos", "acos(x)", FLOATS), ("arctan", "atan(x)", FLOATS), ("sinh", "sinh(x)", FLOATS),
    ("cosh", "cosh(x)", FLOATS), ("tanh", "tanh(x)", FLOATS), ("arcsinh", "asinh(x)", FLOATS),
    ("arccosh", "acosh(x)", FLOATS), ("arctanh", "atanh(x)", FLOATS),
    ("sigmoid", "1/(1 + exp(-x))", FLOATS), ("relu", "Max(x, 0)", ALL),
    ("softrelu", "log(1 + exp(x))", FLOATS), ("softsign", "x/(1 + Abs(x))", FLOATS),
    ("erf", "erf(x)", FLOATS), ("floor", "floor(x)", FLOATS), ("ceil", "ceiling(x)", FLOATS),
    ("round", "C:round(x)", FLOATS), ("rint", "rint(x)", FLOATS),
    ("trunc", "C:trunc(x)", FLOATS), ("fix", "C:trunc(x)", FLOATS),
    ("degrees", "x*180/pi", FLOATS), ("radians", "x*pi/180", FLOATS),
    ("logical_not", "C:(CT)(x == (CT)0)", ALL),
]
# OpenCL's fabs is float-only; integer abs is a comparison.
_UNARY_INT = {"abs": "C:(x < (CT)0 ? -x : x)"}
_ZERO_GRAD = ("sign", "floor", "ceil", "round", "rint", "trunc", "fix", "logical_not")
# Derivatives given where sympy's would overflow (exp(-x)**2 for x << 0) or cannot be printed.
UNARY_GRAD = {
    "sigmoid": "1/(1 + exp(-x))*(1 - 1/(1 + exp(-x)))",
    "softrelu": "1/(1 + exp(-x))",
    "cbrt": "C:((CT)1/((CT)3*cbrt(x)*cbrt(x)))",
    **{n: "0" for n in _ZERO_GRAD},
}
# Derivatives in terms of the op's output (x stands for it): the backward reads the forward's
# result instead of evaluating the transcendental function again.
OUTPUT_GRAD = {"tanh": "1 - x**2", "sigmoid": "x*(1 - x)", "exp": "x"}
for _name, _expr, _dtypes in UNARY:
    _ew(_name, _expr, dtypes=_dtypes, int_expr=_UNARY_INT.get(_name),
        grad_expr=UNARY_GRAD.get(_name), grad_from_output=OUTPUT_GRAD.get(_name))

# -- binary with broadcasting ----------------------------------------------------------------
_INT_DIV = "C:(y == (CT)0 ? (CT)0 : x / y)"
_INT_MOD = ("C:(y == (CT)0 ? (CT)0 : ((x % y) != (CT)0 && ((x % y) < (CT)0) != (y < (CT)0) "
            "? (x % y) + y : (x % y)))")
# numpy's float modulo: fmod, moved into the divisor's sign (x - y*floor(x/y) is off by y
# when x/y rounds up to an integer)
_FLOAT_MOD = ("C:(fmod(x, y) != (CT)0 && (fmod(x, y) < (CT)0) != (y < (CT)0) "
              "? fmod(x, y) + y : fmod(x, y))")
_INT_POW = "C:(CT)rint(pow((float)x, (float)y))"
BINARY = [
    ("broadcast_add", "x + y", None, ("elemwise_add", "_plus", "_add", "add")),
    ("broadcast_sub", "x - y", None, ("elemwise_sub", "_minus", "_sub", "subtract")),
    ("broadcast_mul", "x*y", None, ("elemwise_mul", "_mul", "multiply")),
    ("broadcast_div", "x/y", _INT_DIV, ("elemwise_div", "_div", "divide")),
    ("broadcast_mod", _FLOAT_MOD, _INT_MOD, ("_mod", "modulo")),
    ("broadcast_power", "x**y", _INT_POW, ("_power", "power")),
    ("broadcast_maximum", "Max(x, y)", None, ("_maximum", "maximum")),
    ("broadcast_minimum", "Min(x, y)", None, ("_minimum", "minimum")),
    ("broadcast_hypot", "sqrt(x**2 + y**2)", None, ("_hypot", "hypot")),
    ("broadcast_equal", "C:(CT)(x == y)", None, ("_equal", "equal")),
    ("broadcast_not_equal", "C:(CT)(x != y)", None, ("_not_equal", "not_equal")),
    ("broadcast_greater", "C:(CT)(x > y)", None, ("_greater", "greater")),
    ("broadcast_greater_equal", "C:(CT)(x >= y)", None, ("_greater_equal", "greater_equal")),
    ("broadcast_lesser", "C:(CT)(x < y)", None, ("_lesser", "lesser")),
    ("broadcast_lesser_equal", "C:(CT)(x <= y)", None, ("_lesser_equal", "lesser_equal")),
    ("broadcast_logical_and", "C:(CT)(x != (CT)0 && y != (CT)0)", None, ("logical_and",)),
    ("broadcast_logical_or", "C:(CT)(x != (CT)0 || y != (CT)0)", None, ("logical_or",)),
    ("broadcast_logical_xor", "C:(CT)((x != (CT)0) != (y != (CT)0))", None, ("logical_xor",)),
]
BINARY_GRAD = {"broadcast_mod": ("1", "-floor(x/y)")}
for _name, _expr, _int, _aliases in BINARY:
    _ew(_name, _expr, inputs=("lhs", "rhs"), aliases=_aliases, int_expr=_int,
        dtypes=FLOATS if _name == "broadcast_hypot" else None, broadcast=True,
        grad_expr=BINARY_GRAD.get(_name, ("0", "0") if _expr.startswith("C:") else None))

# -- scalar forms: x op s and s op x -----------------------------------------------------------
_SCALAR = (Param("scalar", float, 1.0, "the scalar operand"),)
SCALAR_OPS = [
    ("_plus_scalar", "x + s", None), ("_minus_scalar", "x - s", None),
    ("_rminus_scalar", "s - x", None), ("_mul_scalar", "x*s", None),
    ("_div_scalar", "x/s", _INT_DIV.replace("y", "s")),
    ("_rdiv_scalar", "s/x", _INT_DIV.replace("x / y", "s / x").replace("y ==", "x ==")),
    ("_mod_scalar", _FLOAT_MOD.replace("y", "s"), _INT_MOD.replace("y", "s")),
    ("_rmod_scalar", _FLOAT_MOD.replace("x", "#").replace("y", "x").replace("#", "s"),
     _INT_MOD.replace("x", "#").replace("y", "x").replace("#", "s")),
    ("_power_scalar", "x**s", _INT_POW.replace("y", "s")),
    ("_rpower_scalar", "s**x", _INT_POW.replace("(float)x, (float)y", "(float)s, (float)x")),
    ("_maximum_scalar", "Max(x, s)", None), ("_minimum_scalar", "Min(x, s)", None),
    ("_equal_scalar", "C:(CT)(x == s)", None), ("_not_equal_scalar", "C:(CT)(x != s)", None),
    ("_greater_scalar", "C:(CT)(x > s)", None),
    ("_greater_equal_scalar", "C:(CT)(x >= s)", None),
    ("_lesser_scalar", "C:(CT)(x < s)", None), ("_lesser_equal_scalar", "C:(CT)(x <= s)", None),
]
# Op names of MXNet's older JSON files.
LEGACY_NAMES = {
    "broadcast_add": ("_Plus",), "broadcast_sub": ("_Minus",), "broadcast_mul": ("_Mul",),
    "broadcast_div": ("_Div",), "broadcast_power": ("_Power",),
    "broadcast_maximum": ("_Maximum",), "broadcast_minimum": ("_Minimum",),
    "_plus_scalar": ("_PlusScalar", "_plusscalar"), "_minus_scalar": ("_MinusScalar",),
    "_rminus_scalar": ("_RMinusScalar",), "_mul_scalar": ("_MulScalar",),
    "_div_scalar": ("_DivScalar",), "_rdiv_scalar": ("_RDivScalar",),
    "_power_scalar": ("_PowerScalar",), "_rpower_scalar": ("_RPowerScalar",),
    "_maximum_scalar": ("_MaximumScalar",), "_minimum_scalar": ("_MinimumScalar",),
}
SCALAR_GRAD = {"_mod_scalar": "1", "_rmod_scalar": "-floor(s/x)"}
for _name, _expr, _int in SCALAR_OPS:
    _ew(_name, _expr, params=_SCALAR, scalars=("scalar",), int_expr=_int,
        grad_expr=SCALAR_GRAD.get(_name, "0" if _expr.startswith("C:") else None))


for _name, _legacy in LEGACY_NAMES.items():
    alias(_name, *_legacy)


def _clip_check(params):
    if params["a_min"] > params["a_max"]:
        raise MXNetError(f"clip: a_min={params['a_min']} is greater than a_max={params['a_max']}")


def _clip_shape(params, shapes):
    _clip_check(params)
    return [shapes[0]]


_ew("clip", "Min(Max(x, s), t)", params=(Param("a_min", float, doc="lower bound"),
                                          Param("a_max", float, doc="upper bound")),
    scalars=("a_min", "a_max"), infer_shape=_clip_shape,
    doc="Clip each element to [a_min, a_max].")

def _cast_grad(F, params, inputs, outputs, out_grads):
    return [F.invoke("_cast_like", [out_grads[0], inputs[0]], {})]


def _where_grad(F, params, inputs, outputs, out_grads):
    cond, g = inputs[0], out_grads[0]
    zeros = F.zeros_like(g)
    return [None, F.invoke("where", [cond, g, zeros], {}), F.invoke("where", [cond, zeros, g], {})]


_ew("Cast", "x", params=(Param("dtype", "dtype", doc="target dtype"),),
    infer_type=lambda p, dts: [as_dtype(p["dtype"])], aliases=("cast",),
    compute_in_output=True, grad=_cast_grad, doc="Convert to another dtype.")
_ew("_copy", "x", aliases=("identity",), grad_expr="1", doc="Copy of the input.")
_ew("where", "C:(x != (CT)0 ? y : z)", inputs=("condition", "x", "y"),
    infer_shape=lambda p, s: [_where_shape(s)], infer_type=lambda p, dts: [dts[1]],
    grad=_where_grad, doc="Elements of x where condition is non-zero, else of y.")


_ew("zeros_like", "C:(CT)0", grad_expr="0", compute_in_output=True,
    doc="An array of zeros with the input's shape and dtype.")
_ew("ones_like", "C:(CT)1", grad_expr="0", compute_in_output=True,
    doc="An array of ones with the input's shape and dtype.")


def _add_n_forward(params, inputs, outputs):
    """Sum of the inputs: the first pair through the add kernel, then accumulated in place."""
    out = outputs[0]
    dev = out.device
    if len(inputs) == 1:
        mapping.run(dev, "x", "_copy", out.view_desc(), [inputs[0].view_desc()])
        return
    mapping.run(dev, "x + y", "_add_n", out.view_desc(),
                [inputs[0].view_desc(), inputs[1].view_desc()])
    for x in inputs[2:]:
        mapping.run(dev, "x + y", "_add_n", out.view_desc(), [out.view_desc(), x.view_desc()])


def _add_n_shape(params, shapes):
    for i, s in enumerate(shapes[1:], 1):
        if tuple(s) != tuple(shapes[0]):
            raise MXNetError(f"add_n: input {i} has shape {s}, input 0 has {shapes[0]}")
    return [shapes[0]]


register(OpDef("add_n", variadic=True, params=(Param("num_args", int, 0, "number of inputs"),),
               infer_shape=_add_n_shape, infer_type=_promote, forward=_add_n_forward,
               aliases=("ElementWiseSum", "_add_n_"), extra={"inplace": True},
               grad=lambda F, p, ins, outs, g: [g[0] for _ in ins],
               doc="Sum of all inputs (same shapes)."))


def _cast_like_forward(params, inputs, outputs):
    mapping.run(outputs[0].device, "x", "Cast", outputs[0].view_desc(),
                [inputs[0].view_desc()], compute_dtype=outputs[0]._dt)


register(OpDef("_cast_like", inputs=("data", "like"), forward=_cast_like_forward,
               infer_shape=lambda p, s: [s[0]], infer_type=lambda p, dts: [dts[1]],
               grad=lambda F, p, ins, outs, g: [F.invoke("_cast_like", [g[0], ins[0]], {}), None],
               doc="data converted to like's dtype."))


def _sum_to_forward(params, inputs, outputs):
    """Sum `data` over the axes it was broadcast along, to `like`'s shape."""
    from ..ndarray.ndarray import invoke
    data, like = inputs
    out = outputs[0]
    lead = data.ndim - like.ndim
    axes = tuple(range(lead)) + tuple(
        lead + i for i, (d, n) in enumerate(zip(like.shape, data.shape[lead:])) if d == 1 != n)
    if not axes:
        mapping.run(out.device, "x", "_copy", out.view_desc(), [data.view_desc()])
        return
    summed = invoke("sum", [data], {"axis": axes, "keepdims": True})
    mapping.run(out.device, "x", "_copy", out.view_desc(),
                [summed.view_desc()._replace(shape=out.shape,
                                             strides=mapping.contiguous_strides(out.shape))])


def _sum_to_shape(params, shapes):
    data, like = shapes
    if mapping.broadcast_shapes(data, like, what="_sum_to") != tuple(data):
        raise MXNetError(f"_sum_to: {like} does not broadcast to {data}")
    return [like]


register(OpDef("_sum_to", inputs=("data", "like"), infer_shape=_sum_to_shape,
               forward=_sum_to_forward, doc="Sum data over broadcast axes to like's shape.",
               grad=lambda F, p, ins, outs, g: [F.invoke("broadcast_like", [g[0], ins[0]], {}),
                                                None]))


def _where_shape(shapes):
    cond, x, y = shapes
    if x != y:
        raise MXNetError(f"where: x shape {x} and y shape {y} must be equal")
    if cond != x and (len(cond) != 1 or cond[0] != x[0]):
        raise MXNetError(f"where: condition shape {cond} must equal x's {x} or be 1-D of "
                         f"length {x[0] if x else 0}")
    return x
