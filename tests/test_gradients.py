"""Every registered op's gradient rule, through the symbolic executor, against central
differences in float64 -- and the same gradients through `autograd.record()` for a
representative subset.

`CASES` holds one or more cases per op (inputs with their domains, params, which inputs to
differentiate). `EXCLUDED` lists, with reasons, the ops that are not checked; every other
registered op (helper `_backward_*` ops aside) must have a gradient rule and a case here, so an
op added without either fails this file. Forward values are the op tests' business.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, NamedTuple

import numpy as np
import pytest

import clnet as mx
from clnet import autograd
from clnet.ops import registry
from clnet.runtime import get_device
from clnet.test_utils import assert_almost_equal, check_numeric_gradient
from op_cases import BINARY_CASES, UNARY_CASES

# Central differences in float64: truncation ~eps^2 f''' / 24, rounding ~1e-16 |f| / eps.
NUMERIC_EPS = 1e-4
RTOL, ATOL = 1e-5, 1e-8

# Ops not checked here, and why. Every one of them may lack a gradient rule.
EXCLUDED = {
    # outputs are indices (piecewise constant in the input): no gradient by nature
    "argmax": "index output", "argmin": "index output", "argsort": "index output",
    # the only input is an index array: nothing to differentiate
    "one_hot": "integer input only",
    # random draws: the output does not depend smoothly (or at all) on the inputs
    "_random_uniform": "random", "_random_normal": "random", "_random_exponential": "random",
    "_random_randint": "random", "_random_uniform_like": "random",
    "_random_normal_like": "random", "_random_exponential_like": "random",
    "_sample_uniform": "random", "_sample_normal": "random",
    "_sample_exponential": "random", "_shuffle": "random",
    # a fresh random mask each training forward: central differences cannot hold it fixed
    "Dropout": "random mask",
    # zero gradient by definition, whatever the derivative of its (identity) output
    "BlockGrad": "stops the gradient by design",
    # loss heads: backward is MXNet's loss gradient (prediction - label) * grad_scale, which
    # ignores the head gradient, not the derivative of the op's output
    "SoftmaxOutput": "loss head", "LinearRegressionOutput": "loss head",
    "LogisticRegressionOutput": "loss head", "MAERegressionOutput": "loss head",
    "MakeLoss": "loss head",
}


class Case(NamedTuple):
    inputs: tuple  # one generator per input, auxiliary states included: () -> numpy array
    params: dict = {}
    wrt: tuple | None = None  # indices of the inputs to differentiate (default: float ones)


# -- input generators (called inside the test, after the seed fixture) -------------------------
def uniform(shape, low=-1.0, high=1.0) -> Callable:
    return lambda: np.random.uniform(low, high, shape)


def away(shape, low, high, kinks=(0.0,), margin=0.05) -> Callable:
    """Uniform in [low, high), nudged at least `margin` away from the kinks."""
    def gen():
        x = np.random.uniform(low, high, shape)
        for k in kinks:
            near = np.abs(x - k) < margin
            x = np.where(near, k + np.where(x >= k, margin, -margin) * 2, x)
        return x
    return gen


def off_integer(shape, low=-3, high=3, frac=0.3) -> Callable:
    """Integers plus `frac`: far from the jumps of floor, round, sign, mod..."""
    return lambda: np.round(np.random.uniform(low, high, shape)) + frac


def distinct(shape, low=-2.0, high=2.0) -> Callable:
    """Values at least (high - low) / (2 n) apart (no ties for max, sort, ...)."""
    def gen():
        n = int(np.prod(shape))
        grid = (np.random.permutation(n) + np.random.uniform(0.25, 0.75, n)) / n
        return (low + (high - low) * grid).reshape(shape)
    return gen


def with_nan(shape, low=0.5, high=1.5) -> Callable:
    def gen():
        x = np.random.uniform(low, high, shape)
        x.reshape(-1)[1] = np.nan
        return x
    return gen


def ints(values, dtype="int32") -> Callable:
    return lambda: np.array(values, dtype=dtype)


def apart(shape_a, shape_b, low=-1.0, high=1.0, margin=0.05):
    """Generators for two broadcast operands that nowhere come within `margin` (no ties for
    maximum / comparisons). Both draw from one pair, made on the first call."""
    state = {}

    def pair():
        a = np.random.uniform(low, high, shape_a)
        b = np.random.uniform(low, high, shape_b)
        gap = a - b
        a = np.where(np.abs(gap) < margin, a + np.where(gap >= 0, 2, -2) * margin, a)
        return a, b

    def first():
        state["pair"] = pair()
        return state["pair"][0]
    return first, lambda: state.pop("pair")[1]


# -- the table --------------------------------------------------------------------------------
S = (3, 4)
CASES: dict = {}

_STEP = ("floor", "ceil", "round", "rint", "trunc", "fix", "sign", "logical_not")
for _name, ((_lo, _hi), _ref) in UNARY_CASES.items():
    if _name in _STEP:
        CASES[_name] = Case((off_integer(S),))
    elif _name in ("relu", "abs"):
        CASES[_name] = Case((away(S, _lo, _hi),))
    elif _name == "cbrt":
        CASES[_name] = Case((away(S, _lo, _hi, margin=0.2),))
    else:
        CASES[_name] = Case((uniform(S, _lo, _hi),))

for _name, ((_da, _db), _ref, _iref) in BINARY_CASES.items():
    if _name == "broadcast_mod":
        CASES[_name] = Case((off_integer(S, -5, 5, 0.37), lambda: np.full((1, 4), 1.7)))
    elif _name in ("broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
                   "broadcast_power", "broadcast_hypot", "broadcast_logical_and",
                   "broadcast_logical_or", "broadcast_logical_xor"):
        CASES[_name] = Case((uniform(S, *_da), uniform((1, 4), *_db)))
    else:  # maximum, minimum and the comparisons: kinks or jumps where the operands tie
        CASES[_name] = Case(apart(S, (1, 4), *_da))
# the scalar forms at scalar 2.25, inputs 0.37 off the integers (away from ties and jumps)
for _name in ("_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar", "_div_scalar",
              "_rdiv_scalar", "_mod_scalar", "_rmod_scalar", "_power_scalar", "_rpower_scalar",
              "_maximum_scalar", "_minimum_scalar", "_equal_scalar", "_not_equal_scalar",
              "_greater_scalar", "_greater_equal_scalar", "_lesser_scalar",
              "_lesser_equal_scalar"):
    CASES[_name] = Case((off_integer(S, 0, 4, 0.37),), {"scalar": 2.25})

CASES.update({
    "clip": Case((away(S, -3, 3, (-1.0, 1.5)),), {"a_min": -1.0, "a_max": 1.5}),
    "Cast": Case((uniform(S),), {"dtype": "float64"}),
    "_copy": Case((uniform(S),)),
    "zeros_like": Case((uniform(S),)),
    "ones_like": Case((uniform(S),)),
    "where": Case((lambda: np.random.randint(0, 2, S).astype(np.int32), uniform(S),
                   uniform(S))),
    "where:rows": Case((ints([1, 0, 1]), uniform(S), uniform(S))),
    "add_n": Case((uniform(S), uniform(S), uniform(S))),
    "_cast_like": Case((uniform(S), uniform(S)), wrt=(0,)),
    "_sum_to": Case((uniform((2, 3, 4)), uniform((3, 1))), wrt=(0,)),
    "_reshape_like": Case((uniform(S), uniform((2, 6))), wrt=(0,)),
    # shape ops
    "Reshape": Case((uniform((2, 3, 2)),), {"shape": (-1, 4)}),
    "Flatten": Case((uniform((2, 3, 2)),)),
    "expand_dims": Case((uniform(S),), {"axis": 1}),
    "squeeze": Case((uniform((3, 1, 4)),)),
    "transpose": Case((uniform((2, 3, 4)),), {"axes": (2, 0, 1)}),
    "SwapAxis": Case((uniform((2, 3, 4)),), {"dim1": 0, "dim2": 2}),
    "reverse": Case((uniform(S),), {"axis": 1}),
    "broadcast_to": Case((uniform((1, 4)),), {"shape": (3, 4)}),
    "broadcast_axis": Case((uniform((3, 1)),), {"axis": 1, "size": 4}),
    "broadcast_like": Case((uniform((1, 4)), uniform(S)), wrt=(0,)),
    "tile": Case((uniform((2, 3)),), {"reps": (2, 2)}),
    "repeat": Case((uniform((2, 3)),), {"repeats": 2, "axis": 0}),
    "concat": Case((uniform((2, 3)), uniform((2, 2))), {"dim": 1}),
    "stack": Case((uniform((2, 3)), uniform((2, 3))), {"axis": 1}),
    "SliceChannel": Case((uniform((2, 4, 3)),), {"num_outputs": 2, "axis": 1}),
    "slice": Case((uniform((3, 5)),), {"begin": (0, 4), "end": (2, None), "step": (1, -2)}),
    "slice_axis": Case((uniform((3, 5)),), {"axis": 1, "begin": 1, "end": 4}),
    "take": Case((uniform((4, 3)), ints([0, 2, 2, 3])), {"axis": 0}),
    "pick": Case((uniform(S), ints([0, 3, 3])), {"axis": 1}),
    "_take_along_axis": Case((uniform(S), ints([[0, 3], [1, 1], [2, 0]])), {"axis": 1}),
    # reductions
    "sum": Case((uniform((2, 3, 4)),), {"axis": 1}),
    "sum:exclude": Case((uniform((2, 3, 4)),), {"axis": 1, "exclude": True}),
    "mean": Case((uniform((2, 3, 4)),), {"axis": (0, 2), "keepdims": True}),
    "max": Case((distinct((2, 3, 4)),), {"axis": 1}),
    "min": Case((distinct(S),), {"axis": 0, "keepdims": True}),
    "prod": Case((uniform(S, 0.5, 1.5),), {"axis": 1}),
    "nansum": Case((with_nan(S),), {"axis": 1}),
    "nanprod": Case((with_nan(S),), {"axis": 1}),
    "norm": Case((uniform(S),), {"axis": 1}),
    "norm:ord1": Case((away(S, -1, 1),), {"ord": 1}),
    "_broadcast_reduced": Case((uniform((3,)), uniform(S)), {"axis": 1}, wrt=(0,)),
    "_broadcast_reduced:mean": Case((uniform((1, 4)), uniform(S)),
                                    {"axis": 0, "keepdims": True, "mean": True}, wrt=(0,)),
    "softmax": Case((uniform(S, -2, 2),), {"axis": -1}),
    "softmax:temperature": Case((uniform(S, -2, 2),), {"axis": 0, "temperature": 2.0}),
    "log_softmax": Case((uniform(S, -2, 2),), {"axis": 1}),
    "softmin": Case((uniform(S, -2, 2),), {"axis": -1, "temperature": 0.5}),
    # sorting
    "sort": Case((distinct(S),), {"axis": -1}),
    "sort:descending": Case((distinct(S),), {"axis": 0, "is_ascend": False}),
    "topk": Case((distinct(S),), {"axis": 1, "k": 2, "ret_typ": "value"}),
    "topk:both": Case((distinct(S),), {"axis": 0, "k": 2, "ret_typ": "both",
                                       "is_ascend": True}),
    # matrix products
    "dot": Case((uniform((3, 4)), uniform((4, 2)))),
    "dot:transpose_a": Case((uniform((4, 3)), uniform((4, 2))), {"transpose_a": True}),
    "dot:transpose_b": Case((uniform((3, 4)), uniform((2, 4))), {"transpose_b": True}),
    "dot:vector": Case((uniform((4,)), uniform((4, 3)))),
    "batch_dot": Case((uniform((2, 3, 4)), uniform((2, 4, 2)))),
    "batch_dot:transpose_ab": Case((uniform((2, 4, 3)), uniform((2, 2, 4))),
                                   {"transpose_a": True, "transpose_b": True}),
    # layers
    "FullyConnected": Case((uniform((3, 2, 2)), uniform((2, 4)), uniform((2,))),
                           {"num_hidden": 2}),
    "FullyConnected:no_bias_no_flatten": Case((uniform((2, 3, 4)), uniform((5, 4))),
                                              {"num_hidden": 5, "no_bias": True,
                                               "flatten": False}),
    "Embedding": Case((ints([[0, 2], [2, 3]]), uniform((4, 3))),
                      {"input_dim": 4, "output_dim": 3, "dtype": "float64"}),
    "Activation": Case((away(S, -2, 2),), {"act_type": "relu"}),
    "Activation:sigmoid": Case((uniform(S, -2, 2),), {"act_type": "sigmoid"}),
    "Activation:tanh": Case((uniform(S, -2, 2),), {"act_type": "tanh"}),
    "Activation:softrelu": Case((uniform(S, -2, 2),), {"act_type": "softrelu"}),
    "Activation:softsign": Case((uniform(S, -2, 2),), {"act_type": "softsign"}),
    "LeakyReLU": Case((away(S, -2, 2),), {"slope": 0.1}),
    "LeakyReLU:prelu": Case((away((2, 3, 2), -2, 2), uniform((3,), 0.1, 0.5)),
                            {"act_type": "prelu"}),
    "LeakyReLU:elu": Case((away(S, -2, 2),), {"act_type": "elu", "slope": 0.7}),
    "LeakyReLU:selu": Case((away(S, -2, 2),), {"act_type": "selu"}),
    "LeakyReLU:gelu": Case((uniform(S, -2, 2),), {"act_type": "gelu"}),
    "SoftmaxActivation": Case((uniform(S, -2, 2),)),
    "SoftmaxActivation:channel": Case((uniform((2, 3, 2), -2, 2),), {"mode": "channel"}),
    "softmax_cross_entropy": Case((uniform(S, -2, 2), lambda: np.array([3.0, 0.0, 1.0])),
                                  wrt=(0,)),
    "BatchNorm": Case((uniform((3, 2, 2)), uniform((2,), 0.5, 1.5), uniform((2,)),
                       uniform((2,)), uniform((2,), 0.5, 1.5)), {"fix_gamma": False}),
    "BatchNorm:fix_gamma_axis": Case((uniform((3, 2, 4)), uniform((4,), 0.5, 1.5),
                                      uniform((4,)), uniform((4,)), uniform((4,), 0.5, 1.5)),
                                     {"axis": -1}),
    "LayerNorm": Case((uniform(S), uniform((4,), 0.5, 1.5), uniform((4,)))),
    "LayerNorm:axis0": Case((uniform(S), uniform((3,), 0.5, 1.5), uniform((3,))),
                            {"axis": 0}),
    "Convolution": Case((uniform((2, 2, 5, 5)), uniform((3, 2, 3, 3)), uniform((3,))),
                        {"kernel": (3, 3), "num_filter": 3}),
    "Convolution:stride_pad_group": Case((uniform((1, 4, 5, 5)), uniform((2, 2, 3, 3))),
                                         {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2),
                                          "pad": (1, 1), "num_group": 2, "no_bias": True}),
    "Convolution:1d": Case((uniform((2, 2, 7)), uniform((3, 2, 3)), uniform((3,))),
                           {"kernel": (3,), "num_filter": 3, "dilate": (2,)}),
    "Deconvolution": Case((uniform((1, 2, 3, 3)), uniform((2, 3, 3, 3))),
                          {"kernel": (3, 3), "num_filter": 3}),
    "Deconvolution:stride_bias": Case((uniform((1, 2, 3, 3)), uniform((2, 2, 2, 2)),
                                       uniform((2,))),
                                      {"kernel": (2, 2), "num_filter": 2, "stride": (2, 2),
                                       "no_bias": False}),
    "Pooling": Case((distinct((1, 2, 4, 4)),), {"kernel": (2, 2), "stride": (2, 2)}),
    "Pooling:avg_pad": Case((uniform((1, 2, 4, 4)),), {"kernel": (3, 3), "pad": (1, 1),
                                                       "pool_type": "avg"}),
    "Pooling:sum_global": Case((uniform((2, 2, 3, 3)),), {"pool_type": "sum",
                                                          "global_pool": True}),
    "UpSampling": Case((uniform((1, 2, 2, 3)),), {"scale": 2, "sample_type": "nearest"}),
})


def _op_of(key: str) -> str:
    return key.split(":")[0]


def _registered_ops() -> dict:
    """Canonical name -> OpDef for every op that clnet/ops/ registers (every module of the
    package imported, so the walk does not depend on what other tests imported), but the
    `_backward_*` helpers."""
    from clnet import ops
    for module in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{module.name}")
    return {op.name: op for op in registry.all_ops().values()
            if not op.name.startswith("_backward_")}


def _fp64(ctx):
    if not get_device(ctx).has_fp64:
        pytest.skip(f"{ctx} has no float64: gradients are checked in float64")


def _symbol(key: str, n_inputs: int):
    variables = [mx.sym.var(f"in{i}") for i in range(n_inputs)]
    return getattr(mx.sym, _op_of(key))(*variables, **CASES[key].params)


def _inputs(key: str, sym) -> tuple:
    """(arguments, auxiliary states): name -> numpy array, drawn from the case."""
    values = {f"in{i}": gen() for i, gen in enumerate(CASES[key].inputs)}
    aux = {n: values.pop(n) for n in sym.list_auxiliary_states()}
    return values, aux or None


def _wrt(key: str, args: dict) -> list:
    case = CASES[key]
    if case.wrt is not None:
        return [f"in{i}" for i in case.wrt]
    return [n for n, a in args.items() if a.dtype.kind == "f"]


# -- the registry walk ------------------------------------------------------------------------
def test_every_op_has_a_gradient_rule():
    missing = sorted(n for n, op in _registered_ops().items()
                     if op.grad is None and n not in EXCLUDED)
    assert not missing, f"ops without a gradient rule (give them one or list them in " \
                        f"EXCLUDED with the reason): {missing}"


def test_every_op_has_a_gradient_case():
    covered = {_op_of(k) for k in CASES}
    missing = sorted(set(_registered_ops()) - covered - set(EXCLUDED))
    assert not missing, f"ops without a case in tests/test_gradients.py CASES: {missing}"
    stale = sorted((covered | set(EXCLUDED)) - set(_registered_ops()))
    assert not stale, f"CASES / EXCLUDED name ops that are not registered: {stale}"


@pytest.mark.parametrize("key", sorted(CASES))
def test_numeric_gradient(ctx, key):
    _fp64(ctx)
    if _op_of(key) not in _registered_ops():
        pytest.fail(f"{_op_of(key)} is not registered")
    sym = _symbol(key, len(CASES[key].inputs))
    args, aux = _inputs(key, sym)
    check_numeric_gradient(sym, args, aux_states=aux, numeric_eps=NUMERIC_EPS, rtol=RTOL,
                           atol=ATOL, grad_nodes=_wrt(key, args), ctx=ctx, dtype=np.float64)


# -- autograd against the executor ------------------------------------------------------------
AUTOGRAD_SUBSET = (
    # elementwise: unary, binary with broadcasting, comparison, scalar forms, clip/where/Cast
    "tanh", "log", "sigmoid", "abs", "erf", "broadcast_add", "broadcast_mul", "broadcast_div",
    "broadcast_power", "broadcast_maximum", "broadcast_greater", "_rdiv_scalar",
    "_power_scalar", "_mod_scalar", "clip", "where", "Cast", "add_n",
    # reductions, shape ops, products, sorting, layers
    "sum:exclude", "mean", "max", "softmax", "transpose", "slice", "concat", "take",
    "SliceChannel", "dot:transpose_b", "batch_dot", "sort", "FullyConnected", "Convolution",
    "Pooling", "LayerNorm",
)


def _executor_grads(ctx, sym, args, heads, wrt):
    arrays = {n: mx.nd.array(a, ctx=ctx, dtype=a.dtype) for n, a in args.items()}
    grads = {n: mx.nd.zeros(arrays[n].shape, ctx=ctx, dtype=arrays[n].dtype) for n in wrt}
    ex = sym.bind(ctx, arrays, args_grad=grads)
    ex.forward(is_train=True)
    ex.backward([mx.nd.array(h, ctx=ctx, dtype=h.dtype) for h in heads])
    return [o.asnumpy() for o in ex.outputs], {n: g.asnumpy() for n, g in grads.items()}


def _autograd_grads(ctx, key, args, heads, wrt):
    arrays = {n: mx.nd.array(a, ctx=ctx, dtype=a.dtype) for n, a in args.items()}
    for n in wrt:
        arrays[n].attach_grad()
    with autograd.record():
        outs = getattr(mx.nd, _op_of(key))(*arrays.values(), **CASES[key].params)
    outs = outs if isinstance(outs, list) else [outs]
    autograd.backward(outs, [mx.nd.array(h, ctx=ctx, dtype=h.dtype) for h in heads])
    return [o.asnumpy() for o in outs], {n: arrays[n].grad.asnumpy() for n in wrt}


@pytest.mark.parametrize("key", AUTOGRAD_SUBSET)
def test_autograd_matches_executor(ctx, key):
    _fp64(ctx)
    assert _op_of(key) in _registered_ops()
    sym = _symbol(key, len(CASES[key].inputs))
    args, aux = _inputs(key, sym)
    assert aux is None
    wrt = _wrt(key, args)
    shapes = sym.infer_shape(**{n: a.shape for n, a in args.items()})[1]
    heads = [np.random.uniform(0.5, 1.5, s) for s in shapes]
    ex_outs, ex_grads = _executor_grads(ctx, sym, args, heads, wrt)
    ag_outs, ag_grads = _autograd_grads(ctx, key, args, heads, wrt)
    for a, b in zip(ag_outs, ex_outs):
        assert_almost_equal(a, b, 1e-12, 1e-14, names=("autograd out", "executor out"))
    for name in wrt:
        assert_almost_equal(ag_grads[name], ex_grads[name], 1e-12, 1e-14,
                            names=(f"autograd d{name}", f"executor d{name}"))
