"""Normalisation and dropout: BatchNorm, LayerNorm and Dropout with MXNet 1.x's params,
defaults, inputs and outputs, and their gradient ops `_backward_BatchNorm`,
`_backward_LayerNorm` and `_backward_Dropout`.

BatchNorm and LayerNorm run `kernels/norm.cl` (one program per dtype): one work-group per
channel (BatchNorm) or row (LayerNorm) reduces its segment, then writes the normalised values.
Dropout draws uniform numbers from `random_ops`' counter-based generator (the `_random_uniform`
op, so `mx.random.seed` makes it reproducible) and masks with one `mapping.run` launch.
Training vs inference is `autograd.is_training()` when the forward runs.

State for the backward: MXNet's BatchNorm and Dropout keep hidden outputs (the mean and
inverse std used; the mask) that clnet's graphs do not have. Their forward records that state
beside the output array it wrote (`_save`, keyed by the output's buffer and offset); their
gradient ops take the forward output as an input and read the state back (`_saved`). So the
backward always matches the forward that ran -- batch or moving statistics, the same mask -- in
the executor and in autograd alike. LayerNorm's backward recomputes its row statistics.
Gradient walking is autodiff's and autograd's; the random stream is `random_ops`'.
"""
from __future__ import annotations

import functools
import weakref
from typing import NamedTuple

import numpy as np

from .. import autograd
from ..base import MXNetError, prod
from ..codegen import templates
from ..dtype import DTypeInfo, as_dtype
from . import mapping
from .registry import OpDef, Param, register

FLOATS = ("float32", "float64", "float16")
_GPU_WG = 256  # work-group size on GPUs; CPU devices use 1 (see kernels/norm.cl)
_COLS_CPU = 16  # columns per work-item of the column kernels on CPUs (COLS in norm.cl)
_TRAIN, _FIX_GAMMA, _UPDATE = 1, 2, 4  # kernel flags, as in kernels/norm.cl


# -- kernels --------------------------------------------------------------------------------
def _acc_np(dt: DTypeInfo):
    """numpy type of the kernels' accumulator-type scalar arguments."""
    return templates.compute_np(dt).type


@functools.lru_cache(maxsize=None)
def work_group(device) -> int:
    """Work-items per segment: 1 on CPU devices, where a work-group runs on one core and
    contiguous per-item loops beat interleaved work-items; else a power of two <= 256."""
    if device.kind == "cpu":
        return 1
    return min(_GPU_WG, 1 << (device.max_work_group_size.bit_length() - 1))


def _kernel(device, dt: DTypeInfo, name: str, wg: int):
    """Kernel `<name>_<suffix>` of dt's norm program for work-group size `wg`."""
    defines = {"T": dt.ctype, "AT": templates.compute_ctype(dt), "SFX": dt.suffix, "WG": wg}
    return device.kernel(templates.render("norm", defines, (dt,)), f"{name}_{dt.suffix}")


def _launch(name: str, data, groups: int, args: list):
    """Kernel `name` of data's dtype, one work-group (`work_group` items) per segment. `args`
    mixes NDArrays (passed as buffer, offset), Buffers (offset 0 in the kernel) and numpy
    scalars."""
    if groups == 0:
        return
    cl_args, buffers = [], []
    for a in args:
        if hasattr(a, "_buf"):
            cl_args += [a._buf.cl_buffer, np.int64(a._offset)]
            buffers.append(a._buf)
        elif hasattr(a, "cl_buffer"):
            cl_args.append(a.cl_buffer)
            buffers.append(a)
        else:
            cl_args.append(a)
    device = data.device
    wg = work_group(device)
    device.enqueue(_kernel(device, data._dt, name, wg), (wg, groups), (wg, 1), cl_args, buffers)


# -- state kept for the backward ----------------------------------------------------------------
_SAVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Buffer -> {offset: state}


def _save(out, state):
    """Record `state` as what the forward that wrote `out` leaves for its backward."""
    _SAVED.setdefault(out._buf, {})[out._offset] = state


def _saved(op: str, out):
    state = _SAVED.get(out._buf, {}).get(out._offset)
    if state is None:
        raise MXNetError(f"{op}: its `output` input (shape {out.shape}) was not written by "
                         f"{op[len('_backward_'):]}'s forward; run that forward first and pass "
                         "its output")
    return state


def _state_array(old, name: str, shape: tuple, dt: DTypeInfo, ctx):
    """`old.<name>` when it has this shape and dtype (so an executor's steps reuse it), else
    a new array."""
    from ..ndarray.ndarray import empty
    arr = getattr(old, name, None)
    if arr is not None and arr.shape == shape and arr._dt is dt:
        return arr
    return empty(shape, ctx, dt)


# -- shared checks ----------------------------------------------------------------------------
def _axis_layout(op: str, shape: tuple, axis: int) -> tuple:
    """(outer, n, inner) of `shape` around `axis` (negative counts from the end)."""
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise MXNetError(f"{op}: axis {axis} is out of range for data of shape {shape} (ndim "
                         f"{ndim}); use an axis in [{-ndim}, {ndim - 1}]")
    a = axis % ndim
    return prod(shape[:a]), shape[a], prod(shape[a + 1:])


def _check_params_shape(op: str, names, shapes, want: tuple, data: tuple, axis: int):
    for name, s in zip(names, shapes):
        if tuple(s) != want:
            raise MXNetError(f"{op}: {name} has shape {tuple(s)}; it must be {want}, the "
                             f"size of axis {axis} of data {data}")


def _same_dtypes(op: str, names, dts):
    if any(d is not dts[0] for d in dts):
        got = ", ".join(f"{n}={d.name}" for n, d in zip(names, dts))
        raise MXNetError(f"{op}: inputs have dtypes {got}; they must all be {dts[0].name} "
                         "(cast gamma, beta and the statistics to data's dtype)")


def _fill_from_axis(op: str):
    """infer_args: the per-axis inputs (gamma, beta, moving stats) are (size of axis,)."""
    def infer_args(params, shapes):
        if shapes[0] is None:
            return shapes
        _, n, _ = _axis_layout(op, tuple(shapes[0]), params["axis"])
        return [shapes[0]] + [s if s is not None else (n,) for s in shapes[1:]]
    return infer_args


# -- BatchNorm ----------------------------------------------------------------------------------
_BN_INPUTS = ("data", "gamma", "beta", "moving_mean", "moving_var")
_BN_PARAMS = (
    Param("eps", float, 1e-3, "added to the variance before its square root", low=0),
    Param("momentum", float, 0.9, "moving = moving * momentum + batch * (1 - momentum)"),
    Param("fix_gamma", bool, True, "treat gamma as 1 (its gradient is 0)"),
    Param("use_global_stats", bool, False, "normalise with the moving statistics in "
          "training too (and leave them unchanged)"),
    Param("output_mean_var", bool, False, "also output the mean and the inverse standard "
          "deviation used"),
    Param("axis", int, 1, "the channel axis"),
    Param("cudnn_off", bool, False, "accepted for MXNet compatibility; no effect"),
    Param("min_calib_range", float, None, "quantisation calibration (accepted, unused)"),
    Param("max_calib_range", float, None, "quantisation calibration (accepted, unused)"),
)


class _BNState(NamedTuple):
    train: bool  # batch statistics were used
    mean: object  # NDArray (C,): the mean used
    invstd: object  # NDArray (C,): 1 / sqrt(var + eps) used


def _bn_kernel(name: str, x, c: int, inner: int) -> tuple:
    """(kernel, work-groups): a channel per group, or on CPUs for (outer, C) data the _cols
    variant, neighbouring channels per work-item (rows read a cache line at a time)."""
    if inner == 1 and work_group(x.device) == 1:
        return f"{name}_cols", -(-c // _COLS_CPU)
    return name, c


def _bn_n_outputs(params) -> int:
    return 3 if params["output_mean_var"] else 1


def _bn_infer_shape(params, shapes):
    data = tuple(shapes[0])
    _, c, _ = _axis_layout("BatchNorm", data, params["axis"])
    _check_params_shape("BatchNorm", _BN_INPUTS[1:], shapes[1:], (c,), data, params["axis"])
    return [data, (c,), (c,)][:_bn_n_outputs(params)]


def _bn_infer_type(params, dts):
    _same_dtypes("BatchNorm", _BN_INPUTS, dts)
    return [dts[0]] * _bn_n_outputs(params)


def _bn_forward(params, inputs, outputs):
    x, gamma, beta, mmean, mvar = inputs
    y = outputs[0]
    outer, c, inner = _axis_layout("BatchNorm", x.shape, params["axis"])
    train = autograd.is_training() and not params["use_global_stats"]
    old = _SAVED.get(y._buf, {}).get(y._offset)
    state = _BNState(train, _state_array(old, "mean", (c,), x._dt, x.context),
                     _state_array(old, "invstd", (c,), x._dt, x.context))
    _save(y, state)
    out_mean, out_invstd = outputs[1:] if params["output_mean_var"] else (state.mean,
                                                                          state.invstd)
    flags = (_TRAIN | _UPDATE) * train | _FIX_GAMMA * params["fix_gamma"]
    at = _acc_np(x._dt)
    name, groups = _bn_kernel("bn_forward", x, c, inner)
    _launch(name, x, groups,
            [x, y, gamma, beta, mmean, mvar, state.mean._buf, state.invstd._buf, out_mean,
             out_invstd, np.int64(outer), np.int64(c), np.int64(inner), at(params["eps"]),
             at(params["momentum"]), np.int32(flags)])


def _bn_grad(F, params, inputs, outputs, out_grads):
    # MXNet's rule too: only the head gradient of `output` flows back (not mean's or var's)
    dx, dgamma, dbeta = F.invoke("_backward_BatchNorm",
                                 [out_grads[0], inputs[0], inputs[1], outputs[0]], params)
    return [dx, dgamma, dbeta, None, None]


register(OpDef(
    "BatchNorm", inputs=_BN_INPUTS, params=_BN_PARAMS, aux=("moving_mean", "moving_var"),
    infer_shape=_bn_infer_shape, infer_type=_bn_infer_type, forward=_bn_forward,
    infer_args=_fill_from_axis("BatchNorm"), grad=_bn_grad, dtypes=FLOATS,
    num_outputs=_bn_n_outputs, output_names=("output", "mean", "var"),
    doc="Batch normalisation over every axis but `axis`: in training (autograd.is_training) "
        "with the batch mean and biased variance, updating moving_mean and moving_var in "
        "place (moving * momentum + batch * (1 - momentum)); otherwise, or with "
        "use_global_stats, with the moving statistics. out = (data - mean) / sqrt(var + eps) "
        "* gamma + beta. With output_mean_var the outputs are (out, mean, inverse std), as "
        "MXNet's. All inputs share data's dtype. The moving statistics are updated by the "
        "forward (MXNet's CPU operator updates them in its backward)."))


def _bn_backward_shape(params, shapes):
    dy, x, _, y = map(tuple, shapes)
    if dy != x or y != x:
        raise MXNetError(f"_backward_BatchNorm: head_grad {dy} and output {y} must have data's "
                         f"shape {x}")
    _, c, _ = _axis_layout("_backward_BatchNorm", x, params["axis"])
    return [x, (c,), (c,)]


def _bn_backward_forward(params, inputs, outputs):
    dy, x, gamma, y = inputs
    dx, dgamma, dbeta = outputs
    state = _saved("_backward_BatchNorm", y)
    outer, c, inner = _axis_layout("_backward_BatchNorm", x.shape, params["axis"])
    flags = _TRAIN * state.train | _FIX_GAMMA * params["fix_gamma"]
    name, groups = _bn_kernel("bn_backward", x, c, inner)
    _launch(name, x, groups,
            [dy, x, gamma, state.mean._buf, state.invstd._buf, dx, dgamma, dbeta,
             np.int64(outer), np.int64(c), np.int64(inner), np.int32(flags)])


register(OpDef(
    "_backward_BatchNorm", inputs=("head_grad", "data", "gamma", "output"), params=_BN_PARAMS,
    infer_shape=_bn_backward_shape, infer_type=lambda p, dts: [dts[1]] * 3,
    forward=_bn_backward_forward, num_outputs=3, dtypes=FLOATS,
    output_names=("data_grad", "gamma_grad", "beta_grad"),
    doc="Gradients of BatchNorm (data, gamma, beta) for the forward that wrote `output`: the "
        "batch-statistics formula after a training forward, the affine one otherwise."))


# -- LayerNorm ----------------------------------------------------------------------------------
_LN_INPUTS = ("data", "gamma", "beta")
_LN_PARAMS = (
    Param("axis", int, -1, "the axis to normalise over"),
    Param("eps", float, 1e-5, "added to the variance before its square root", low=0),
    Param("output_mean_var", bool, False, "also output the mean and the standard deviation"),
)


def _ln_n_outputs(params) -> int:
    return 3 if params["output_mean_var"] else 1


def _ln_stat_shape(shape: tuple, axis: int) -> tuple:
    a = axis % len(shape)
    return shape[:a] + (1,) + shape[a + 1:]


def _ln_infer_shape(params, shapes):
    data = tuple(shapes[0])
    _, n, _ = _axis_layout("LayerNorm", data, params["axis"])
    _check_params_shape("LayerNorm", _LN_INPUTS[1:], shapes[1:], (n,), data, params["axis"])
    stat = _ln_stat_shape(data, params["axis"])
    return [data, stat, stat][:_ln_n_outputs(params)]


def _ln_infer_type(params, dts):
    _same_dtypes("LayerNorm", _LN_INPUTS, dts)
    return [dts[0]] * _ln_n_outputs(params)


def _ln_forward(params, inputs, outputs):
    from ..ndarray.ndarray import empty
    x, gamma, beta = inputs
    outer, n, inner = _axis_layout("LayerNorm", x.shape, params["axis"])
    if params["output_mean_var"]:
        mean, std = outputs[1:]
    else:
        stat = _ln_stat_shape(x.shape, params["axis"])
        mean, std = empty(stat, x.context, x._dt), empty(stat, x.context, x._dt)
    _launch("ln_forward", x, outer * inner,
            [x, outputs[0], gamma, beta, mean, std, np.int64(outer), np.int64(n),
             np.int64(inner), _acc_np(x._dt)(params["eps"])])


def _ln_grad(F, params, inputs, outputs, out_grads):
    dx, dgamma, dbeta = F.invoke("_backward_LayerNorm",
                                 [out_grads[0], inputs[0], inputs[1]], params)
    return [dx, dgamma, dbeta]


register(OpDef(
    "LayerNorm", inputs=_LN_INPUTS, params=_LN_PARAMS, infer_shape=_ln_infer_shape,
    infer_type=_ln_infer_type, forward=_ln_forward, infer_args=_fill_from_axis("LayerNorm"),
    grad=_ln_grad, dtypes=FLOATS, num_outputs=_ln_n_outputs,
    output_names=("output", "mean", "std"),
    doc="Layer normalisation along `axis`: out = (data - mean) / sqrt(var + eps) * gamma + "
        "beta, with each row's mean and biased variance. With output_mean_var the outputs are "
        "(out, mean, std), mean and std keeping `axis` with size 1."))


def _ln_backward_shape(params, shapes):
    dy, x, _ = map(tuple, shapes)
    if dy != x:
        raise MXNetError(f"_backward_LayerNorm: head_grad {dy} must have data's shape {x}")
    _, n, _ = _axis_layout("_backward_LayerNorm", x, params["axis"])
    return [x, (n,), (n,)]


def _ln_backward_forward(params, inputs, outputs):
    from ..runtime import Buffer
    dy, x, gamma = inputs
    dx, dgamma, dbeta = outputs
    outer, n, inner = _axis_layout("_backward_LayerNorm", x.shape, params["axis"])
    rows = outer * inner
    itemsize = np.dtype(_acc_np(x._dt)).itemsize
    row_mean, row_invstd = (Buffer(x.device, max(rows, 1) * itemsize) for _ in range(2))
    _launch("ln_backward", x, rows,
            [dy, x, gamma, dx, row_mean, row_invstd, np.int64(outer), np.int64(n),
             np.int64(inner), _acc_np(x._dt)(params["eps"])])
    cols = _COLS_CPU if work_group(x.device) == 1 else 1
    _launch("ln_param_grad", x, -(-n // cols),
            [dy, x, row_mean, row_invstd, dgamma, dbeta, np.int64(outer), np.int64(n),
             np.int64(inner)])


register(OpDef(
    "_backward_LayerNorm", inputs=("head_grad", "data", "gamma"), params=_LN_PARAMS,
    infer_shape=_ln_backward_shape, infer_type=lambda p, dts: [dts[1]] * 3,
    forward=_ln_backward_forward, num_outputs=3, dtypes=FLOATS,
    output_names=("data_grad", "gamma_grad", "beta_grad"),
    doc="Gradients of LayerNorm with respect to data, gamma and beta."))


# -- Dropout ------------------------------------------------------------------------------------
_DROPOUT_PARAMS = (
    Param("p", float, 0.5, "fraction of the input dropped (set to zero) in training", low=0),
    Param("mode", str, "training", "'training': drop only in training; 'always': also in "
          "inference", choices=("training", "always")),
    Param("axes", "shape", (), "axes along which one mask value is shared (variational "
          "dropout)"),
    Param("cudnn_off", bool, False, "accepted for MXNet compatibility; no effect"),
)
# keep where the uniform draw u (operand y) is below s = 1 - p, scaled by t = 1 / (1 - p)
_MASK_EXPR = "C:(y < s ? x * t : (CT)0)"


class _DropoutState(NamedTuple):
    draw: object  # NDArray of uniform numbers (the mask's shape), or None: identity
    keep: float
    scale: float


def _dropout_axes(shape: tuple, axes) -> tuple:
    ndim = len(shape)
    for a in axes:
        if not -ndim <= a < ndim:
            raise MXNetError(f"Dropout: axis {a} in axes={tuple(axes)} is out of range for "
                             f"data of shape {shape} (ndim {ndim})")
    return tuple(sorted({a % ndim for a in axes}))


def _dropout_shape(params, shapes):
    if params["p"] > 1:
        raise MXNetError(f"Dropout: p={params['p']} must be in [0, 1] (the fraction dropped)")
    _dropout_axes(tuple(shapes[0]), params["axes"])
    return [tuple(shapes[0])]


def _masked(state: _DropoutState, src, out):
    """out = src where the draw keeps, scaled; zero elsewhere (or a copy for the identity)."""
    if state.draw is None:
        mapping.run(out.device, "x", "_copy", out.view_desc(), [src.view_desc()])
        return
    draw = mapping.broadcast_view(state.draw.view_desc(), out.shape)
    mapping.run(out.device, _MASK_EXPR, "Dropout", out.view_desc(), [src.view_desc(), draw],
                (state.keep, state.scale), compute_dtype=src._dt)


def _dropout_forward(params, inputs, outputs):
    from ..ndarray.ndarray import invoke
    x, y = inputs[0], outputs[0]
    p = params["p"]
    if p == 0 or not (params["mode"] == "always" or autograd.is_training()):
        state = _DropoutState(None, 1.0, 1.0)
    else:
        axes = _dropout_axes(x.shape, params["axes"])
        mask_shape = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
        draw_dt = as_dtype("float32") if x._dt.name == "float16" else x._dt
        old = _SAVED.get(y._buf, {}).get(y._offset)
        draw = _state_array(old, "draw", mask_shape, draw_dt, x.context)
        invoke("_random_uniform", [], {"low": 0.0, "high": 1.0, "shape": mask_shape,
                                       "dtype": draw_dt.name}, out=draw)
        state = _DropoutState(draw, 1.0 - p, 1.0 / (1.0 - p) if p < 1 else 0.0)
    _save(y, state)
    _masked(state, x, y)


def _dropout_grad(F, params, inputs, outputs, out_grads):
    return [F.invoke("_backward_Dropout", [out_grads[0], outputs[0]], params)]


register(OpDef(
    "Dropout", params=_DROPOUT_PARAMS, infer_shape=_dropout_shape, forward=_dropout_forward,
    grad=_dropout_grad, dtypes=FLOATS, extra={"inplace": True},
    doc="Randomly zero a fraction p of the elements and scale the rest by 1 / (1 - p), in "
        "training (autograd.is_training) or always with mode='always'; otherwise a copy. The "
        "mask comes from mx.random's generator (reproducible with mx.random.seed) and is "
        "shared along `axes`; the gradient uses the same mask."))


def _dropout_backward_shape(params, shapes):
    dy, y = map(tuple, shapes)
    if dy != y:
        raise MXNetError(f"_backward_Dropout: head_grad {dy} must have output's shape {y}")
    return [dy]


def _dropout_backward_forward(params, inputs, outputs):
    _masked(_saved("_backward_Dropout", inputs[1]), inputs[0], outputs[0])


register(OpDef(
    "_backward_Dropout", inputs=("head_grad", "output"), params=_DROPOUT_PARAMS,
    infer_shape=_dropout_backward_shape, forward=_dropout_backward_forward, dtypes=FLOATS,
    extra={"inplace": True},
    grad=lambda F, p, ins, outs, g: [F.invoke("_backward_Dropout", [g[0], ins[1]], p), None],
    doc="Gradient of Dropout: head_grad masked and scaled as the forward that wrote `output` "
        "did."))
