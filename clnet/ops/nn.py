"""Core layer ops with MXNet 1.x names, params and gradients: FullyConnected, Activation,
LeakyReLU, SoftmaxActivation, the loss heads (SoftmaxOutput, Linear/Logistic/MAE
RegressionOutput, MakeLoss), softmax_cross_entropy, BlockGrad and Embedding.

Layers are compositions: matrix products go through `matrix.gemm`, elementwise work through
`mapping.run` or the registered elementwise ops (Activation runs relu, sigmoid, ... and
reuses their gradient rules), softmax and sums through `reduce`, gathers through `take`.
The only kernel of its own, in `kernels/nn.cl`, is the gradient of a softmax against class
labels (with ignore_label, label smoothing and the normalizations), shared by SoftmaxOutput
and softmax_cross_entropy. Gradient rules call internal `_backward_<Op>` ops, which know the
shapes when they run. Loss heads ignore their head gradient (MXNet's uses_head_grad = False)
and say so with `extra={"loss": True}`. Convolution, pooling, normalization layers and the
optimizers live elsewhere.
"""
from __future__ import annotations

import functools

import numpy as np

from ..base import MXNetError, prod
from ..codegen import templates
from . import mapping, reduce, registry
from .matrix import Operand, gemm
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")
_L = np.int64
_LOCAL = 64


# -- helpers ---------------------------------------------------------------------------------
def _run_op(name: str, inputs, outputs, **params) -> None:
    """Enqueue registered op `name`'s forward on arrays whose shapes the caller checked."""
    op = registry.get(name)
    op.forward(op.parse_params(params), inputs, outputs)


def _as(x, shape):
    """Dense array x seen with another shape of the same size (shares memory)."""
    return x._view(x._offset, tuple(shape))


def _empty_like(x, shape=None):
    from ..ndarray.ndarray import empty
    return empty(x.shape if shape is None else shape, x.context, x._dt)


def _copy(dst, src) -> None:
    mapping.run(dst.device, "x", "_copy", dst.view_desc(), [src])


def _sum_all(x, out) -> None:
    """out (one element) = the sum of every element of x."""
    reduce.enqueue_reduce("sum", "sum", 0, x, out, tuple(range(x.ndim)))


def _count(x, expr: str, value: float):
    """A (1,) array holding how many elements of x satisfy `expr` (over x and s = value)."""
    flags = _empty_like(x)
    mapping.run(x.device, expr, "_nn_count", flags.view_desc(), [x.view_desc()],
                scalars=(value, 0))
    count = _empty_like(x, (1,))
    _sum_all(flags, count)
    return count


def _uniform_type(op_name: str):
    """MXNet's rule for layers: every input has data's dtype, and so has the output."""
    def infer_type(params, dts):
        names = registry.get(op_name).input_names(params)
        for name, dt in zip(names[1:], dts[1:]):
            if dt is not dts[0]:
                raise MXNetError(f"{op_name}: {name} has dtype {dt.name} but data has "
                                 f"{dts[0].name}; all inputs need the same dtype (convert "
                                 "with astype)")
        return [dts[0]]
    return infer_type


def _fill(shapes, wanted):
    """infer_args' answer: the known shapes, the wanted ones where unknown."""
    return [s if s is not None else w for s, w in zip(shapes, wanted)]


def _need_ndim(op: str, shape, ndim: int, what: str):
    if len(shape) < ndim:
        raise MXNetError(f"{op}: data of shape {tuple(shape)} has {len(shape)} dims; it needs "
                         f"at least {ndim} ({what})")


# -- FullyConnected --------------------------------------------------------------------------
_FC_PARAMS = (
    Param("num_hidden", int, doc="number of hidden units (output features)", low=1),
    Param("no_bias", bool, False, "leave out the bias"),
    Param("flatten", bool, True, "flatten data to (batch, features) first; else apply the "
          "layer to the last axis"),
)


def _fc_dims(params, shape) -> tuple:
    """(rows, in_features, output shape) of FullyConnected on data of `shape`."""
    shape = tuple(shape)
    _need_ndim("FullyConnected", shape, 1, "batch, features...")
    if params["flatten"]:
        return shape[0], prod(shape[1:]), (shape[0], params["num_hidden"])
    return prod(shape[:-1]), shape[-1], shape[:-1] + (params["num_hidden"],)


def _fc_param_shapes(params, data_shape) -> list:
    _, k, _ = _fc_dims(params, data_shape)
    n = params["num_hidden"]
    return [(n, k)] + ([] if params["no_bias"] else [(n,)])


def _fc_args(params, shapes):
    if shapes[0] is None:
        return shapes
    return _fill(shapes, [shapes[0]] + _fc_param_shapes(params, shapes[0]))


def _fc_shape(params, shapes):
    data = tuple(shapes[0])
    for name, got, want in zip(("weight", "bias"), shapes[1:],
                               _fc_param_shapes(params, data)):
        if tuple(got) != want:
            raise MXNetError(f"FullyConnected: {name} has shape {tuple(got)}, but data of shape "
                             f"{data} with num_hidden={params['num_hidden']} (flatten="
                             f"{params['flatten']}) needs {want}")
    return [_fc_dims(params, data)[2]]


def _dense_operand(x, rs: int, cs: int) -> Operand:
    return Operand(x._buf, x._offset, rs, cs, 0)


def _fc_forward(params, inputs, outputs, relu=False):
    """out (rows, n) = x (rows, k) . W^T (+ b, added by the GEMM's store): one GEMM only.
    With `relu`, out = max(that, 0), also in the store (an executor's FullyConnected whose
    only reader is a relu: see planner.fuse_epilogues)."""
    x, w, out = inputs[0], inputs[1], outputs[0]
    rows, k, _ = _fc_dims(params, x.shape)
    n = params["num_hidden"]
    if out.size == 0:
        return
    bias = None if params["no_bias"] else _dense_operand(inputs[2], 0, 1)
    gemm(out.device, out._dt, rows, n, k, _dense_operand(x, k, 1), _dense_operand(w, 1, k),
         _dense_operand(out, n, 1), bias=bias, relu=relu)


def _fc_grad(F, p, ins, outs, g):
    x, w = ins[0], ins[1]
    grads = [F.invoke("_backward_FullyConnected_data", [g[0], w, x], p),
             F.invoke("_backward_FullyConnected_weight", [g[0], x, w], p)]
    if not p["no_bias"]:
        grads.append(F.invoke("sum", [g[0]], {"axis": -1, "exclude": True}))
    return grads


def _check_head(op: str, params, g, data):
    want = _fc_dims(params, data)[2]
    if tuple(g) != want:
        raise MXNetError(f"{op}: head gradient of shape {tuple(g)} does not match "
                         f"FullyConnected's output shape {want} for data shape {tuple(data)}")


def _fc_backward_data_shape(params, shapes):
    g, _, x = shapes
    _check_head("_backward_FullyConnected_data", params, g, x)
    return [tuple(x)]


def _fc_backward_data(params, inputs, outputs):
    """d data (rows, k) = g (rows, n) . W (n, k)."""
    g, w, dx = inputs[0], inputs[1], outputs[0]
    rows, k, _ = _fc_dims(params, dx.shape)
    n = params["num_hidden"]
    gemm(dx.device, dx._dt, rows, k, n, _dense_operand(g, n, 1), _dense_operand(w, k, 1),
         _dense_operand(dx, k, 1))


def _fc_backward_weight_shape(params, shapes):
    g, x, _ = shapes
    _check_head("_backward_FullyConnected_weight", params, g, x)
    return [_fc_param_shapes(params, x)[0]]


def _fc_backward_weight(params, inputs, outputs):
    """d weight (n, k) = g^T (n, rows) . x (rows, k)."""
    g, x, dw = inputs[0], inputs[1], outputs[0]
    rows, k, _ = _fc_dims(params, x.shape)
    n = params["num_hidden"]
    gemm(dw.device, dw._dt, n, k, rows, _dense_operand(g, 1, n), _dense_operand(x, k, 1),
         _dense_operand(dw, k, 1))


register(OpDef(
    "FullyConnected", params=_FC_PARAMS, dtypes=FLOATS, forward=_fc_forward, grad=_fc_grad,
    inputs=lambda p: ("data", "weight") if p["no_bias"] else ("data", "weight", "bias"),
    infer_shape=_fc_shape, infer_args=_fc_args, infer_type=_uniform_type("FullyConnected"),
    extra={"relu_forward": functools.partial(_fc_forward, relu=True)},
    doc="Fully connected layer: out = data . weight^T + bias, with weight of shape "
        "(num_hidden, in_features). With flatten, data (batch, ...) is seen as (batch, "
        "in_features); without, the layer maps the last axis."))
register(OpDef(
    "_backward_FullyConnected_data", inputs=("head_grad", "weight", "data"), params=_FC_PARAMS,
    dtypes=FLOATS, infer_shape=_fc_backward_data_shape, forward=_fc_backward_data,
    doc="Gradient of FullyConnected with respect to data: head_grad . weight."))
register(OpDef(
    "_backward_FullyConnected_weight", inputs=("head_grad", "data", "weight"),
    params=_FC_PARAMS, dtypes=FLOATS, infer_shape=_fc_backward_weight_shape,
    forward=_fc_backward_weight,
    doc="Gradient of FullyConnected with respect to weight: head_grad^T . data."))


# -- Activation ------------------------------------------------------------------------------
_ACT_TYPES = ("relu", "sigmoid", "tanh", "softrelu", "softsign")


def _act_forward(params, inputs, outputs):
    registry.get(params["act_type"]).forward({}, inputs, outputs)


def _act_grad(F, p, ins, outs, g):
    return registry.get(p["act_type"]).grad(F, {}, ins, outs, g)


register(OpDef(
    "Activation", dtypes=FLOATS, forward=_act_forward, grad=_act_grad,
    params=(Param("act_type", str, doc="activation function: " + ", ".join(_ACT_TYPES),
                  choices=_ACT_TYPES),),
    doc="Elementwise activation; the same kernels and gradients as the ops relu, sigmoid, "
        "tanh, softrelu (log(1 + exp(x))) and softsign (x / (1 + |x|))."))


# -- LeakyReLU -------------------------------------------------------------------------------
_SELU_LAMBDA = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717
# Forward over x (data), y (gamma for prelu; the random slopes for rrelu in training) and
# s (slope; for rrelu outside training the mean slope). Max/Min forms keep them vectorisable.
_LEAKY_FORWARD = {
    "leaky": "Max(x, 0) + s*Min(x, 0)",
    "prelu": "Max(x, 0) + y*Min(x, 0)",
    "rrelu": "Max(x, 0) + y*Min(x, 0)",
    "elu": "Max(x, 0) + s*expm1(Min(x, 0))",
    "selu": f"{_SELU_LAMBDA}*(Max(x, 0) + {_SELU_ALPHA}*expm1(Min(x, 0)))",
    "gelu": "x*(1 + erf(x/sqrt(2)))/2",
}
# d out / d x over x, y (gamma for prelu; the output for rrelu, whose slope is out / x) and s.
_LEAKY_DERIVATIVE = {
    "leaky": "C:(x > (CT)0 ? (CT)1 : s)",
    "prelu": "C:(x > (CT)0 ? (CT)1 : y)",
    "rrelu": "C:(x > (CT)0 ? (CT)1 : (x < (CT)0 ? y / x : s))",
    "elu": "C:(x > (CT)0 ? (CT)1 : s * exp(x))",
    "selu": f"C:(x > (CT)0 ? (CT){_SELU_LAMBDA!r} : (CT){_SELU_LAMBDA * _SELU_ALPHA!r} * exp(x))",
    "gelu": "(1 + erf(x/sqrt(2)))/2 + x*exp(-x**2/2)/sqrt(2*pi)",
}
_LEAKY_PARAMS = (
    Param("act_type", str, "leaky", "activation: leaky, prelu (learned slope gamma per "
          "channel), rrelu (random slope in training), elu, selu or gelu",
          choices=tuple(_LEAKY_FORWARD)),
    Param("slope", float, 0.25, "slope of x < 0 (leaky), scale of elu"),
    Param("lower_bound", float, 0.125, "lower bound of rrelu's random slope"),
    Param("upper_bound", float, 0.334, "upper bound of rrelu's random slope"),
)


def _slope(params) -> float:
    if params["act_type"] == "rrelu":
        return (params["lower_bound"] + params["upper_bound"]) / 2
    return params["slope"]


def _leaky_args(params, shapes):
    data = shapes[0]
    if params["act_type"] != "prelu" or data is None or len(data) < 2:
        return shapes
    return _fill(shapes, [data, (data[1],)])


def _leaky_shape(params, shapes):
    data = tuple(shapes[0])
    if params["act_type"] == "prelu":
        _need_ndim("LeakyReLU", data, 2, "batch, channels, ...; prelu's gamma has one slope "
                   "per channel")
        if tuple(shapes[1]) not in ((data[1],), (1,)):
            raise MXNetError(f"LeakyReLU: gamma has shape {tuple(shapes[1])}; for data of "
                             f"shape {data} prelu needs ({data[1]},) (one slope per channel "
                             "of axis 1) or (1,)")
    return [data]


def _gamma_view(gamma, shape) -> mapping.View:
    """gamma (C,) along axis 1 of `shape`, or (1,) everywhere, as a broadcast view."""
    v = gamma.view_desc()
    if gamma.size != 1:
        rest = len(shape) - 2
        v = v._replace(shape=(1, gamma.size) + (1,) * rest, strides=(0, 1) + (0,) * rest)
    return mapping.broadcast_view(v, tuple(shape))


def _leaky_forward(params, inputs, outputs):
    from .. import autograd
    act, x, out = params["act_type"], inputs[0], outputs[0]
    views = [x.view_desc()]
    expr = _LEAKY_FORWARD[act]
    if act == "prelu":
        views.append(_gamma_view(inputs[1], x.shape))
    elif act == "rrelu" and autograd.is_training():
        slopes = _empty_like(x)
        _run_op("_random_uniform_like", [x], [slopes], low=params["lower_bound"],
                high=params["upper_bound"])
        views.append(slopes.view_desc())
    elif act == "rrelu":
        expr = _LEAKY_FORWARD["leaky"]
    mapping.run(out.device, expr, f"LeakyReLU_{act}", out.view_desc(), views,
                scalars=(_slope(params), 0))


def _leaky_grad(F, p, ins, outs, g):
    act = p["act_type"]
    aux = [ins[1]] if act == "prelu" else [outs[0]] if act == "rrelu" else []
    grads = [F.invoke("_backward_LeakyReLU", [ins[0]] + aux + [g[0]], p)]
    if act == "prelu":
        grads.append(F.invoke("_backward_LeakyReLU_gamma", [ins[0], ins[1], g[0]], p))
    return grads


def _leaky_backward(params, inputs, outputs):
    act, x, dx = params["act_type"], inputs[0], outputs[0]
    views = [x.view_desc()]
    if act == "prelu":
        views.append(_gamma_view(inputs[1], x.shape))
    elif act == "rrelu":
        views.append(inputs[1].view_desc())
    views.append(inputs[-1].view_desc())
    head = "yz"[len(views) - 2]
    deriv = _LEAKY_DERIVATIVE[act]
    expr = f"C:(({deriv[2:]}) * {head})" if deriv.startswith("C:") else f"({deriv})*{head}"
    mapping.run(dx.device, expr, f"_backward_LeakyReLU_{act}", dx.view_desc(), views,
                scalars=(_slope(params), 0))


def _leaky_backward_gamma(params, inputs, outputs):
    """d gamma = sum of min(x, 0) * g over every axis but 1 (all axes for a (1,) gamma)."""
    x, gamma, g, dgamma = inputs[0], inputs[1], inputs[2], outputs[0]
    terms = _empty_like(x)
    mapping.run(x.device, "Min(x, 0)*y", "_backward_LeakyReLU_gamma", terms.view_desc(),
                [x.view_desc(), g.view_desc()])
    axes = tuple(a for a in range(x.ndim) if a != 1 or gamma.size == 1)
    reduce.enqueue_reduce("sum", "sum", 0, terms, dgamma, axes)


def _same_as_data(op: str, n_head: int = -1):
    """infer_shape of a backward op: the data's shape (input 0), checked against the head
    gradient (input n_head)."""
    def infer_shape(params, shapes):
        if tuple(shapes[n_head]) != tuple(shapes[0]):
            raise MXNetError(f"{op}: head gradient of shape {tuple(shapes[n_head])} does not "
                             f"match data shape {tuple(shapes[0])}")
        return [tuple(shapes[0])]
    return infer_shape


register(OpDef(
    "LeakyReLU", params=_LEAKY_PARAMS, dtypes=FLOATS, forward=_leaky_forward,
    grad=_leaky_grad, inputs=lambda p: ("data", "gamma") if p["act_type"] == "prelu" else (
        "data",), infer_shape=_leaky_shape, infer_args=_leaky_args,
    infer_type=_uniform_type("LeakyReLU"),
    doc="Leaky rectifiers and relatives: leaky (x > 0 ? x : slope * x), prelu (the slope is "
        "the learned input gamma, one per channel of axis 1), rrelu (a random slope in "
        "[lower_bound, upper_bound] per element in training, their mean otherwise), elu "
        "(slope * (exp(x) - 1) for x <= 0), selu (scaled elu with fixed constants) and gelu "
        "(x * Phi(x), with the exact erf)."))
register(OpDef(
    "_backward_LeakyReLU", params=_LEAKY_PARAMS, dtypes=FLOATS, forward=_leaky_backward,
    inputs=lambda p: {"prelu": ("data", "gamma", "head_grad"),
                      "rrelu": ("data", "output", "head_grad")}.get(
                          p["act_type"], ("data", "head_grad")),
    infer_shape=_same_as_data("_backward_LeakyReLU"),
    doc="Gradient of LeakyReLU with respect to data."))
register(OpDef(
    "_backward_LeakyReLU_gamma", inputs=("data", "gamma", "head_grad"), params=_LEAKY_PARAMS,
    dtypes=FLOATS, forward=_leaky_backward_gamma, infer_shape=lambda p, s: [tuple(s[1])],
    doc="Gradient of prelu with respect to gamma."))


# -- SoftmaxActivation -----------------------------------------------------------------------
def _softmax_act_shape(params, shapes):
    data = tuple(shapes[0])
    if params["mode"] == "channel":
        _need_ndim("SoftmaxActivation", data, 3, "mode='channel' normalises axis 1 of (batch, "
                   "channels, positions...); use mode='instance' for (batch, classes)")
    else:
        _need_ndim("SoftmaxActivation", data, 1, "batch, ...")
    return [data]


def _softmax_act_forward(params, inputs, outputs):
    x, out = inputs[0], outputs[0]
    if params["mode"] == "channel":
        _run_op("softmax", [x], [out], axis=1)
        return
    shape = (x.shape[0], prod(x.shape[1:]))
    _run_op("softmax", [_as(x, shape)], [_as(out, shape)], axis=1)


def _softmax_act_grad(F, p, ins, outs, g):
    """d x = y * (g - sum(g * y)) over the normalised axes."""
    y, g = outs[0], g[0]
    axes = {"axis": 1} if p["mode"] == "channel" else {"axis": 0, "exclude": True}
    dot = F.invoke("sum", [g * y], dict(axes, keepdims=True))
    return [y * F.invoke("broadcast_sub", [g, dot], {})]


register(OpDef(
    "SoftmaxActivation", dtypes=FLOATS, forward=_softmax_act_forward, grad=_softmax_act_grad,
    infer_shape=_softmax_act_shape,
    params=(Param("mode", str, "instance", "instance: softmax over all features of each "
                  "instance; channel: over axis 1 at each position", choices=("instance",
                                                                              "channel")),),
    doc="Softmax of each instance (over its flattened features) or across channels (axis "
        "1, at every position of (batch, channels, ...) data)."))


# -- the class-label softmax gradient (kernels/nn.cl) ------------------------------------------
def _label_grad(grad, prob, label, dims, scale: float, alpha: float = 0.0,
                use_ignore: bool = False, ignore: float = -1.0, norm=None, norm_mode: int = 0):
    """grad = (prob - smoothed one_hot(label)) * scale over prob seen as dims = (rows,
    nclass, inner); see kernels/nn.cl. `norm` is a one-element array read on the device."""
    rows, nclass, inner = dims
    n = rows * inner
    if n == 0 or nclass == 0:
        return
    dev, dt = grad.device, grad._dt
    src = templates.render("nn", {"T": dt.ctype, "CT": templates.compute_ctype(dt),
                                  "SUFFIX": dt.suffix}, (dt,))
    ct = np.float64 if dt.name == "float64" else np.float32
    norm = grad if norm is None else norm
    args = [grad._buf.cl_buffer, _L(grad._offset), prob._buf.cl_buffer, _L(prob._offset),
            label._buf.cl_buffer, _L(label._offset), _L(rows), _L(nclass), _L(inner),
            ct(scale), ct(alpha), np.int32(use_ignore), _L(int(ignore)), norm._buf.cl_buffer,
            _L(norm._offset), np.int32(norm_mode)]
    dev.enqueue(dev.kernel(src, f"softmax_label_grad_{dt.suffix}"),
                (-(-n // _LOCAL) * _LOCAL,), (_LOCAL,), args,
                [grad._buf, prob._buf, label._buf, norm._buf])


# -- SoftmaxOutput ---------------------------------------------------------------------------
_SOFTMAX_OUTPUT_PARAMS = (
    Param("grad_scale", float, 1.0, "scale the gradient by this factor"),
    Param("ignore_label", float, -1.0, "the label whose positions get no gradient when "
          "use_ignore is set (and which normalization='valid' does not count)"),
    Param("multi_output", bool, False, "softmax over axis 1 of (n, c, d1, ...) data, with "
          "one label per position: label (n, d1*...), (n, d1, ...) or (n, 1, d1, ...)"),
    Param("use_ignore", bool, False, "give positions labelled ignore_label no gradient"),
    Param("preserve_shape", bool, False, "softmax over the last axis, labels of shape "
          "data.shape[:-1]"),
    Param("normalization", str, "null", "divide the gradient by: null, nothing (by the "
          "positions per instance with multi_output); batch, the batch size (the number of "
          "labels without multi_output); valid, the number of labels not ignore_label",
          choices=("null", "batch", "valid")),
    Param("out_grad", bool, False, "multiply the gradient by the head gradient"),
    Param("smooth_alpha", float, 0.0, "label smoothing: the target is 1 - alpha at the label "
          "and alpha / (classes - 1) elsewhere"),
)


def _softmax_dims(params, shape) -> tuple:
    """(rows, classes, inner): the data as softmax normalises it (axis 1)."""
    if params["multi_output"]:
        return shape[0], shape[1], prod(shape[2:])
    if params["preserve_shape"]:
        return prod(shape[:-1]), shape[-1], 1
    return shape[0], prod(shape[1:]), 1


def _softmax_label_shapes(params, shape) -> list:
    """The label shapes SoftmaxOutput accepts for data of `shape` (besides shape itself, for
    probability labels); the first is the one it infers."""
    if params["multi_output"]:
        rest = tuple(shape[2:])
        return [(shape[0], prod(rest)), (shape[0],) + rest, (shape[0], 1) + rest]
    return [tuple(shape[:-1])]


def _softmax_output_args(params, shapes):
    data = shapes[0]
    if data is None or len(data) < 2:
        return shapes
    return _fill(shapes, [data, _softmax_label_shapes(params, data)[0]])


def _softmax_output_shape(params, shapes):
    data, label = tuple(shapes[0]), tuple(shapes[1])
    _need_ndim("SoftmaxOutput", data, 2, "batch, classes, ...")
    accepted = _softmax_label_shapes(params, data)
    if label != data and label not in accepted:
        raise MXNetError(f"SoftmaxOutput: label has shape {label}; for data of shape {data} "
                         f"(multi_output={params['multi_output']}, preserve_shape="
                         f"{params['preserve_shape']}) it must be "
                         f"{' or '.join(map(str, dict.fromkeys(accepted)))}, or {data} for "
                         "probabilities")
    return [data]


def _softmax_output_forward(params, inputs, outputs):
    x, out = inputs[0], outputs[0]
    if out.size == 0:
        return
    dims = _softmax_dims(params, x.shape)
    _run_op("softmax", [_as(x, dims)], [_as(out, dims)], axis=1)


def _softmax_output_grad(F, p, ins, outs, g):
    grad = F.invoke("_backward_SoftmaxOutput", [outs[0], ins[1]], p)
    return [grad * g[0] if p["out_grad"] else grad, None]


def _softmax_output_backward(params, inputs, outputs):
    prob, label, grad = inputs[0], inputs[1], outputs[0]
    if grad.size == 0:
        return
    scale = params["grad_scale"]
    if label.shape == prob.shape:  # probabilities as labels: no normalization, as MXNet
        mapping.run(grad.device, "(x - y)*s", "_backward_SoftmaxOutput", grad.view_desc(),
                    [prob.view_desc(), label.view_desc()], scalars=(scale, 0))
        return
    dims = _softmax_dims(params, prob.shape)
    norm, mode = None, 0
    if params["normalization"] == "valid":
        norm, mode = _count(label, "C:(CT)((long)x != (long)s)", params["ignore_label"]), 2
    elif params["multi_output"]:
        scale /= dims[2] * (dims[0] if params["normalization"] == "batch" else 1)
    elif params["normalization"] == "batch":
        scale /= label.size
    _label_grad(grad, prob, label, dims, scale, params["smooth_alpha"], params["use_ignore"],
                params["ignore_label"], norm, mode)


register(OpDef(
    "SoftmaxOutput", inputs=("data", "label"), params=_SOFTMAX_OUTPUT_PARAMS, dtypes=FLOATS,
    forward=_softmax_output_forward, grad=_softmax_output_grad, aliases=("Softmax",),
    infer_shape=_softmax_output_shape, infer_args=_softmax_output_args,
    infer_type=_uniform_type("SoftmaxOutput"), extra={"loss": True},
    doc="Softmax with a cross-entropy gradient: the output is softmax(data) (over the "
        "flattened features of each instance; axis 1 with multi_output; the last axis with "
        "preserve_shape) and the gradient of data is (output - one_hot(label)) * grad_scale "
        "/ normalizer, whatever the head gradient (unless out_grad). Labels are class "
        "indices (or, with data's shape, probabilities); label gets no gradient."))
register(OpDef(
    "_backward_SoftmaxOutput", inputs=("output", "label"), params=_SOFTMAX_OUTPUT_PARAMS,
    dtypes=FLOATS, forward=_softmax_output_backward,
    doc="Gradient of SoftmaxOutput with respect to data, from its output and label."))


# -- softmax_cross_entropy -------------------------------------------------------------------
def _cross_entropy_shape(params, shapes):
    data, label = tuple(shapes[0]), tuple(shapes[1])
    if len(data) != 2 or label != data[:1]:
        raise MXNetError(f"softmax_cross_entropy: data of shape {data} and label of shape "
                         f"{label}; it needs 2-D data (batch, classes) and 1-D labels "
                         "(batch,)")
    return [(1,)]


def _cross_entropy_forward(params, inputs, outputs):
    """-sum_i log softmax(data_i)[label_i]: log_softmax, pick, sum, negate."""
    x, label, out = inputs[0], inputs[1], outputs[0]
    logp = _empty_like(x)
    _run_op("log_softmax", [x], [logp], axis=-1)
    picked = _empty_like(x, x.shape[:1])
    _run_op("pick", [logp, label], [picked], axis=-1)
    _sum_all(picked, out)
    mapping.run(out.device, "-x", "negative", out.view_desc(), [out.view_desc()])


def _cross_entropy_backward(params, inputs, outputs):
    """(softmax(data) - one_hot(label)) * head_grad (a (1,) array, read on the device)."""
    x, label, g, grad = inputs[0], inputs[1], inputs[2], outputs[0]
    if grad.size == 0:
        return
    _run_op("softmax", [x], [grad], axis=-1)
    _label_grad(grad, grad, label, (x.shape[0], x.shape[1], 1), 1.0, norm=g, norm_mode=1)


register(OpDef(
    "softmax_cross_entropy", inputs=("data", "label"), dtypes=FLOATS,
    forward=_cross_entropy_forward, infer_shape=_cross_entropy_shape,
    infer_type=_uniform_type("softmax_cross_entropy"),
    grad=lambda F, p, ins, outs, g: [
        F.invoke("_backward_softmax_cross_entropy", [ins[0], ins[1], g[0]], {}), None],
    doc="Cross entropy of softmax(data) against class labels, summed over the batch: "
        "-sum_i log softmax(data)[i, label[i]], shape (1,)."))
register(OpDef(
    "_backward_softmax_cross_entropy", inputs=("data", "label", "head_grad"), dtypes=FLOATS,
    forward=_cross_entropy_backward,
    doc="Gradient of softmax_cross_entropy with respect to data."))


# -- regression outputs ----------------------------------------------------------------------
# name -> (elementwise op of the forward or None for identity, gradient over output x,
# label y and s = grad_scale / outputs per sample)
_REGRESSIONS = {
    "LinearRegressionOutput": (None, "(x - y)*s", "identity; gradient (out - label)"),
    "LogisticRegressionOutput": ("sigmoid", "(x - y)*s",
                                 "sigmoid; gradient (out - label), the cross entropy's"),
    "MAERegressionOutput": (None, "C:((x - y) > (CT)0 ? s : -s)",
                            "identity; gradient sign(out - label)"),
}
_GRAD_SCALE = (Param("grad_scale", float, 1.0, "scale the gradient by this factor"),)


def _regression_label(shape) -> tuple:
    return (shape[0],) if len(shape) == 2 and shape[1] == 1 else tuple(shape)


def _regression_shape(name: str):
    def infer_shape(params, shapes):
        data, label = tuple(shapes[0]), tuple(shapes[1])
        _need_ndim(name, data, 1, "batch, ...")
        if prod(label) != prod(data) or (label[:1] or (1,)) != data[:1]:
            raise MXNetError(f"{name}: label has shape {label}; for data of shape {data} it "
                             f"must have as many elements with the same first dim, e.g. "
                             f"{_regression_label(data)}")
        return [data]
    return infer_shape


def _regression_args(params, shapes):
    data = shapes[0]
    if data is None or not data:
        return shapes
    return _fill(shapes, [data, _regression_label(data)])


def _regression_forward(fn):
    def forward(params, inputs, outputs):
        if fn is None:
            _copy(outputs[0], inputs[0].view_desc())
        else:
            registry.get(fn).forward({}, inputs[:1], outputs)
    return forward


def _regression_backward(name: str, expr: str):
    def forward(params, inputs, outputs):
        out, label, grad = inputs[0], inputs[1], outputs[0]
        if grad.size == 0:
            return
        per_sample = label.size // label.shape[0] if label.ndim else 1
        mapping.run(grad.device, expr, f"_backward_{name}", grad.view_desc(),
                    [out.view_desc(), _as(label, out.shape).view_desc()],
                    scalars=(params["grad_scale"] / per_sample, 0))
    return forward


def _regression_grad(name: str):
    def grad(F, p, ins, outs, g):
        return [F.invoke(f"_backward_{name}", [outs[0], ins[1]], p), None]
    return grad


for _name, (_fn, _expr, _what) in _REGRESSIONS.items():
    register(OpDef(
        _name, inputs=("data", "label"), params=_GRAD_SCALE, dtypes=FLOATS,
        forward=_regression_forward(_fn), grad=_regression_grad(_name),
        infer_shape=_regression_shape(_name), infer_args=_regression_args,
        infer_type=_uniform_type(_name), extra={"loss": True},
        doc=f"Regression loss head: forward {_what} * grad_scale / (outputs per sample), "
            "whatever the head gradient. A (batch, 1) output takes (batch,) labels."))
    register(OpDef(
        f"_backward_{_name}", inputs=("output", "label"), params=_GRAD_SCALE, dtypes=FLOATS,
        forward=_regression_backward(_name, _expr),
        doc=f"Gradient of {_name} with respect to data, from its output and label."))


# -- MakeLoss, BlockGrad ---------------------------------------------------------------------
_MAKE_LOSS_PARAMS = (
    Param("grad_scale", float, 1.0, "the gradient of every element"),
    Param("valid_thresh", float, 0.0, "with normalization='valid', elements greater than "
          "this are the valid ones"),
    Param("normalization", str, "null", "divide the gradient by: null, nothing; batch, the "
          "batch size (first dim); valid, the number of valid elements (at least 1)",
          choices=("null", "batch", "valid")),
)


def _make_loss_backward(params, inputs, outputs):
    x, grad = inputs[0], outputs[0]
    if grad.size == 0:
        return
    scale = params["grad_scale"]
    if params["normalization"] == "valid":
        count = _count(x, "C:(CT)(x > s)", params["valid_thresh"])
        mapping.run(grad.device, "s/Max(x, 1)", "_backward_MakeLoss", grad.view_desc(),
                    [mapping.broadcast_view(count.view_desc(), grad.shape)],
                    scalars=(scale, 0))
        return
    if params["normalization"] == "batch":
        scale /= x.shape[0] if x.ndim else 1
    mapping.run(grad.device, "s", "_full", grad.view_desc(), [], scalars=(scale, 0))


def _identity_forward(params, inputs, outputs):
    _copy(outputs[0], inputs[0].view_desc())


register(OpDef(
    "MakeLoss", params=_MAKE_LOSS_PARAMS, forward=_identity_forward, aliases=("make_loss",),
    grad=lambda F, p, ins, outs, g: [F.invoke("_backward_MakeLoss", [ins[0]], p)],
    extra={"loss": True},
    doc="Mark data as a loss: the output is data, and the gradient of data is grad_scale "
        "(divided as normalization says), whatever the head gradient."))
register(OpDef(
    "_backward_MakeLoss", params=_MAKE_LOSS_PARAMS, forward=_make_loss_backward,
    doc="Gradient of MakeLoss: grad_scale / normalizer everywhere."))
register(OpDef(
    "BlockGrad", forward=_identity_forward, aliases=("stop_gradient",),
    grad=lambda F, p, ins, outs, g: [F.zeros_like(ins[0])],
    doc="The input unchanged; no gradient flows back through it (zero)."))


# -- Embedding -------------------------------------------------------------------------------
_EMBEDDING_PARAMS = (
    Param("input_dim", int, doc="vocabulary size: the rows of weight", low=1),
    Param("output_dim", int, doc="embedding size: the columns of weight", low=1),
    Param("dtype", "dtype", "float32", "dtype of weight and output"),
    Param("sparse_grad", bool, False, "MXNet's row_sparse gradient; clnet stores it dense"),
)


def _embedding_args(params, shapes):
    return _fill(shapes, [None, (params["input_dim"], params["output_dim"])])


def _embedding_shape(params, shapes):
    data, weight = tuple(shapes[0]), tuple(shapes[1])
    want = (params["input_dim"], params["output_dim"])
    if weight != want:
        raise MXNetError(f"Embedding: weight has shape {weight}, but input_dim="
                         f"{params['input_dim']} and output_dim={params['output_dim']} need "
                         f"{want}")
    return [data + (params["output_dim"],)]


def _embedding_type(params, dts):
    weight = dts[1]
    if weight.name != params["dtype"]:
        raise MXNetError(f"Embedding: weight has dtype {weight.name} but dtype="
                         f"'{params['dtype']}'; pass dtype='{weight.name}' or convert weight")
    if not weight.is_float:
        raise MXNetError(f"Embedding: dtype {weight.name} is not a float type; use float32 "
                         "or float64")
    return [weight]


def _embedding_forward(params, inputs, outputs):
    _run_op("take", [inputs[1], inputs[0]], outputs, axis=0, mode="clip")


def _embedding_grad(F, p, ins, outs, g):
    """The rows of the head gradient summed into weight's rows (take's adjoint)."""
    return [None, F.invoke("_backward_take", [g[0], ins[1], ins[0]], {"axis": 0,
                                                                     "mode": "clip"})]


register(OpDef(
    "Embedding", inputs=("data", "weight"), params=_EMBEDDING_PARAMS,
    forward=_embedding_forward, grad=_embedding_grad, infer_shape=_embedding_shape,
    infer_args=_embedding_args, infer_type=_embedding_type,
    doc="Rows of weight (input_dim, output_dim) at the indices in data (clipped to "
        "[0, input_dim)): output shape data.shape + (output_dim,). The indices get no "
        "gradient; weight's is the head gradient summed into the rows used."))
