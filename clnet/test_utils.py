"""Testing helpers with MXNet 1.x's names (`mxnet.test_utils`): comparisons with per-dtype
tolerances, random shapes and arrays, and the symbolic checks -- forward and backward against
expected values, gradients against central differences, one symbol on several contexts and
dtypes.

Tolerances come from one table, `TOLERANCES`. The checks bind symbols through
`Symbol.bind` / `simple_bind` and read results with `asnumpy`; they know nothing of kernels.
Sparse storage is not part of clnet: the `stype` arguments accept only 'default'.
"""
from __future__ import annotations

import numbers
import traceback
from typing import NamedTuple

import numpy as np

from .base import MXNetError
from .context import Context, current_context

__all__ = ["TOLERANCES", "default_context", "set_default_context", "default_dtype", "get_rtol",
           "get_atol", "get_tols", "assert_almost_equal", "almost_equal", "assert_allclose",
           "almost_equal_ignore_nan", "assert_almost_equal_ignore_nan", "find_max_violation",
           "same", "assert_exception", "random_arrays", "random_uniform_arrays", "rand_shape_2d",
           "rand_shape_3d", "rand_shape_nd", "rand_ndarray", "np_reduce", "simple_forward",
           "numeric_grad", "check_numeric_gradient", "check_symbolic_forward",
           "check_symbolic_backward", "check_consistency", "list_gpus"]


class Tolerance(NamedTuple):
    rtol: float  # assert_almost_equal's default relative tolerance
    atol: float  # ... and absolute tolerance
    consistency: float  # check_consistency's rtol (and atol) against the most precise run


# MXNet's values: float16 has an 11-bit mantissa, float32 24, float64 53; integers are exact.
TOLERANCES = {
    "float16": Tolerance(1e-2, 1e-1, 1e-1),
    "float32": Tolerance(1e-4, 1e-3, 1e-3),
    "float64": Tolerance(1e-5, 1e-20, 1e-5),
    **{name: Tolerance(0, 0, 0) for name in ("uint8", "int8", "int32", "int64", "bool")},
}


def default_context() -> Context:
    """The context tests run on: the current default context."""
    return current_context()


def set_default_context(ctx: Context):
    """Make `ctx` the default context of this thread (as MXNet's, it is what arrays and
    executors use when no context is given)."""
    Context._local.value = Context(ctx)


def default_dtype():
    return np.float32


def list_gpus() -> range:
    """Indices of the GPU-type devices (MXNet returns a range of GPU ids)."""
    from .context import num_gpus
    return range(num_gpus())


def _dtype_name(x) -> str:
    dt = np.dtype(getattr(x, "dtype", np.asarray(x).dtype))
    return "bool" if dt == np.bool_ else dt.name


def _tolerance(x, field: str) -> float:
    row = TOLERANCES.get(_dtype_name(x))
    return getattr(row, field) if row is not None else 0.0


def get_rtol(rtol=None, dtype=np.float64) -> float:
    return _tolerance(np.empty(0, dtype), "rtol") if rtol is None else rtol


def get_atol(atol=None, dtype=np.float64) -> float:
    return _tolerance(np.empty(0, dtype), "atol") if atol is None else atol


def get_tols(a, b, rtol=None, atol=None) -> tuple:
    """(rtol, atol) for comparing a and b: the given ones, else the looser default of the
    two dtypes."""
    rtol = max(_tolerance(a, "rtol"), _tolerance(b, "rtol")) if rtol is None else rtol
    atol = max(_tolerance(a, "atol"), _tolerance(b, "atol")) if atol is None else atol
    return rtol, atol


def _host(a) -> np.ndarray:
    if hasattr(a, "asnumpy"):
        return a.asnumpy()
    return np.asarray(a)


# -- comparisons ---------------------------------------------------------------------------
def _violation(a, b, rtol, atol):
    """|a - b| / (atol + rtol |b|), with equal values (infinities included) at 0."""
    a64, b64 = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(a, b))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(a64 == b64, 0.0, np.abs(a64 - b64))
        return np.nan_to_num(diff / (atol + rtol * np.abs(b64) + 1e-20), nan=np.inf)


def find_max_violation(a, b, rtol=None, atol=None):
    """(index, ratio) of the element where |a - b| most exceeds atol + rtol |b|."""
    a, b = _host(a), _host(b)
    rtol, atol = get_tols(a, b, rtol, atol)
    v = _violation(a, b, rtol, atol)
    if v.size == 0:
        return (), 0.0
    loc = tuple(int(i) for i in np.unravel_index(int(np.argmax(v)), v.shape))
    return loc, float(v[loc])


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True) -> bool:
    """Whether a and b (NDArrays or numpy) are elementwise close."""
    a, b = _host(a), _host(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    rtol, atol = get_tols(a, b, rtol, atol)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Assert a and b (NDArrays or numpy) are elementwise close: |a - b| <= atol + rtol |b|.

    Tolerances left as None come from `TOLERANCES` (the looser of the two dtypes). The error
    names the arrays, the largest violations with their locations and values, and how many
    elements mismatch. With `use_broadcast=False` the shapes must be equal.
    """
    a, b = _host(a), _host(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError(f"{names[0]}.shape = {a.shape} and {names[1]}.shape = {b.shape} "
                             "are not equal")
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        np.testing.assert_equal(a, b, err_msg=f"{names[0]} vs {names[1]}")
        return
    rtol, atol = get_tols(a, b, rtol, atol)
    try:
        close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except ValueError as err:
        raise AssertionError(f"{names[0]} of shape {a.shape} and {names[1]} of shape "
                             f"{b.shape} cannot be compared: {err}") from None
    if close.all():
        return
    v = np.where(close, 0.0, _violation(a, b, rtol, atol))
    ab, bb = np.broadcast_arrays(a, b)
    order = np.argsort(-v, axis=None, kind="stable")[:max(1, mismatches[0])]
    lines = []
    for rank, flat in enumerate(order, 1):
        idx = tuple(int(i) for i in np.unravel_index(int(flat), v.shape))
        if close[idx]:
            break
        lines.append(f"{rank:3d}: error {v[idx]:.6g} at {idx}, {names[0]}={ab[idx].item()!r}, "
                     f"{names[1]}={bb[idx].item()!r}")
    bad = int((~close).sum())
    raise AssertionError(
        f"{names[0]} vs {names[1]}: error {v.max():.6g} exceeds tolerance rtol={rtol:.3e}, "
        f"atol={atol:.3e} (mismatch {100.0 * bad / close.size:.4g}%: {bad} of {close.size} "
        f"elements, shapes {a.shape} and {b.shape}).\nLargest violations:\n"
        + "\n".join(lines))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _without_nan(a, b):
    a, b = np.array(_host(a), dtype=np.float64), np.array(_host(b), dtype=np.float64)
    mask = np.isnan(a) | np.isnan(b)
    a[mask] = 0
    b[mask] = 0
    return a, b


def almost_equal_ignore_nan(a, b, rtol=None, atol=None) -> bool:
    """almost_equal where a NaN in either array counts as equal."""
    return almost_equal(*_without_nan(a, b), rtol=rtol, atol=atol)


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    assert_almost_equal(*_without_nan(a, b), rtol=rtol, atol=atol, names=names)


def same(a, b) -> bool:
    """Whether a and b hold exactly the same values and shape."""
    return bool(np.array_equal(_host(a), _host(b)))


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that f(*args, **kwargs) raises exception_type."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise "
                         f"{exception_type.__name__}")


# -- random data ---------------------------------------------------------------------------
def random_arrays(*shapes):
    """Standard-normal float32 numpy arrays of the given shapes (one array for one shape)."""
    arrays = [np.asarray(np.random.randn(*s), dtype=default_dtype()) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def random_uniform_arrays(*shapes, low=0.0, high=1.0, dtype=None):
    return [np.random.uniform(low, high, size=s).astype(dtype or default_dtype())
            for s in shapes]


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False) -> tuple:
    low = 0 if allow_zero_size else 1
    return int(np.random.randint(low, dim0 + 1)), int(np.random.randint(low, dim1 + 1))


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False) -> tuple:
    low = 0 if allow_zero_size else 1
    return tuple(int(np.random.randint(low, d + 1)) for d in (dim0, dim1, dim2))


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False) -> tuple:
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in np.random.randint(low, dim + 1, size=num_dim))


def _dense_only(stype, what):
    if stype not in (None, "default"):
        raise MXNetError(f"{what}: stype {stype!r} is not supported; clnet arrays are dense "
                         "(stype 'default')")


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A standard-normal NDArray of `shape` (float32 unless `dtype`); only dense storage."""
    from .ndarray import array
    _dense_only(stype, "rand_ndarray")
    host = random_arrays(tuple(shape))
    if modifier_func is not None:
        host = np.vectorize(modifier_func)(host)
    return array(host, ctx=ctx or default_context(), dtype=dtype or default_dtype())


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """numpy_reduce_func over several axes (an int, a tuple or None for all)."""
    axes = (axis,) if isinstance(axis, int) else (
        tuple(axis) if axis is not None else tuple(range(dat.ndim)))
    out = dat
    for i in sorted(axes, reverse=True):
        out = numpy_reduce_func(out, axis=i)
    if keepdims:
        out = np.asarray(out).reshape([1 if i in axes else n for i, n in enumerate(dat.shape)])
    return out


# -- symbolic checks -----------------------------------------------------------------------
def _to_nd(value, ctx, dtype):
    """An NDArray from a numpy array or number: of `dtype` for floats (MXNet casts every
    location to the checked dtype), integers keep theirs (index inputs); NDArrays as given."""
    from .ndarray import NDArray, array
    if isinstance(value, NDArray):
        return value
    host = np.asarray(value)
    keep = (isinstance(dtype, str) and dtype == "asnumpy") or host.dtype.kind in "iu"
    return array(host, ctx=ctx, dtype=host.dtype if keep else dtype)


def _parse_location(sym, location, ctx, dtype) -> dict:
    names = sym.list_arguments()
    if isinstance(location, dict):
        if set(location) != set(names):
            raise ValueError(f"Symbol arguments and keys of the given location do not match: "
                             f"symbol arguments {names}, location keys {sorted(location)}")
    else:
        location = list(location)
        if len(location) != len(names):
            raise ValueError(f"location has {len(location)} arrays, the symbol has "
                             f"{len(names)} arguments {names}")
        location = dict(zip(names, location))
    return {k: _to_nd(location[k], ctx, dtype) for k in names}


def _parse_aux_states(sym, aux_states, ctx, dtype):
    if aux_states is None:
        return None
    names = sym.list_auxiliary_states()
    if isinstance(aux_states, dict):
        if set(aux_states) != set(names):
            raise ValueError(f"Symbol aux_states names and given aux_states do not match: "
                             f"{names} vs {sorted(aux_states)}")
    else:
        aux_states = dict(zip(names, aux_states))
    return {k: _to_nd(aux_states[k], ctx, dtype) for k in names}


def _check_dtype(dtype, allow_asnumpy=False):
    if allow_asnumpy and isinstance(dtype, str) and dtype == "asnumpy":
        return
    if np.dtype(dtype).name not in ("float16", "float32", "float64"):
        raise ValueError(f"dtype must be float16, float32 or float64"
                         f"{' (or asnumpy)' if allow_asnumpy else ''}; got {dtype!r}")


def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """Bind sym to numpy `inputs`, run forward, return the output(s) as numpy."""
    from .ndarray import array
    ctx = ctx or default_context()
    exe = sym.bind(ctx, args={k: array(v, ctx=ctx) for k, v in inputs.items()})
    outputs = [x.asnumpy() for x in exe.forward(is_train=is_train)]
    return outputs[0] if len(outputs) == 1 else outputs


def _objective(outputs, head_grads) -> float:
    """sum_i <head_grads[i], outputs[i]> in float64."""
    return float(sum(np.sum(np.asarray(h, np.float64) * o.asnumpy().astype(np.float64))
                     for o, h in zip(outputs, head_grads)))


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 dtype=np.float32, head_grads=None):
    """Central differences of a bound executor: for each float argument in `location` (name ->
    numpy array) and each element, (f(x + eps/2) - f(x - eps/2)) / eps, where f is the sum of
    the first output (MXNet's), or sum_i <head_grads[i], outputs[i]> when `head_grads` (numpy
    arrays, one per output) is given. Arguments are restored afterwards."""
    if head_grads is None:
        head_grads = [np.ones(executor.outputs[0].shape)]
    approx = {k: np.zeros(np.shape(v), dtype=np.float64) for k, v in location.items()}

    def evaluate():
        if aux_states is not None:
            for key, val in aux_states.items():
                executor.aux_dict[key][:] = val
        return _objective(executor.forward(is_train=use_forward_train), head_grads)

    for k, v in location.items():
        v = np.array(v, order="C")
        if v.dtype.kind != "f":
            continue
        arr = executor.arg_dict[k]
        flat = v.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            # the points as the argument's dtype stores them, so the step is the real one
            plus, minus = (float(np.asarray(old + d).astype(arr.dtype)) for d in
                           (eps / 2.0, -eps / 2.0))
            flat[i] = plus
            arr[:] = v
            f_plus = evaluate()
            flat[i] = minus
            arr[:] = v
            f_minus = evaluate()
            flat[i] = old
            step = plus - minus
            step = step if np.isfinite(step) and step != 0 else eps  # NaN / inf stay put
            approx[k].reshape(-1)[i] = (f_plus - f_minus) / step
        arr[:] = v
    return {k: g.astype(dtype) for k, g in approx.items()}


def _grad_nodes(grad_nodes, names, location):
    if grad_nodes is None:
        nodes = [k for k in names if location[k].dtype.kind == "f"]
        return nodes, {k: "write" for k in nodes}
    if isinstance(grad_nodes, dict):
        return list(grad_nodes), dict(grad_nodes)
    if isinstance(grad_nodes, (list, tuple)):
        return list(grad_nodes), {k: "write" for k in grad_nodes}
    raise ValueError(f"grad_nodes must be None, a list or a dict, got {type(grad_nodes)}")


def _compare_grad(name, req, got, computed, orig, rtol, atol, what, equal_nan=False):
    """Check one gradient array as its grad_req says: write -> computed, add -> orig +
    computed, null -> unchanged orig."""
    names = (f"{what}_{name}", f"BACKWARD_{name}")
    if req == "write":
        assert_almost_equal(computed, got, rtol, atol, names, equal_nan=equal_nan)
    elif req == "add":
        assert_almost_equal(computed, got - orig, rtol, atol, names, equal_nan=equal_nan)
    elif req == "null":
        assert_almost_equal(orig, got, rtol, atol, names, equal_nan=equal_nan)
    else:
        raise ValueError(f"Invalid grad_req {req!r} for argument {name!r}")


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=1e-3, rtol=1e-2,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=np.float32):
    """Check the backward pass of `sym` against central differences.

    The outputs are projected to a scalar with random weights in [0.1, 1.1) (MXNet's random
    projection; one weight array per output, integer outputs weighted 0), the executor's
    backward runs with those weights as head gradients, and each float argument's gradient is
    compared with (f(x + eps/2) - f(x - eps/2)) / eps per element. Use dtype=np.float64 where
    the device has it. Gradient arrays start as noise, so grad_req 'add' (grad_nodes as a
    dict) is checked as an increment and 'null' as untouched.

    location : list (in list_arguments order) or dict of numpy arrays or NDArrays; float
        arrays are cast to `dtype`, integer arrays (indices) keep their dtype and are not
        differentiated unless named in grad_nodes.
    grad_nodes : None (every float argument), list of names, or dict name -> grad_req.
    """
    _check_dtype(dtype)
    if np.dtype(dtype).itemsize < 8 and numeric_eps < 1e-5:
        raise ValueError(f"numeric_eps={numeric_eps} is too small for {np.dtype(dtype).name}; "
                         "finite differences need eps >= 1e-5 without float64")
    ctx = ctx or default_context()
    if grad_stype_dict:
        for v in grad_stype_dict.values():
            _dense_only(v, "check_numeric_gradient")
    location = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    location_npy = {k: v.asnumpy() for k, v in location.items()}
    aux_npy = None if aux is None else {k: v.asnumpy() for k, v in aux.items()}
    nodes, grad_req = _grad_nodes(grad_nodes, sym.list_arguments(), location_npy)

    from .ndarray import array
    args_grad_npy = {k: np.random.normal(0, 0.01, size=location[k].shape) for k in nodes}
    args_grad = {k: array(v, ctx=ctx, dtype=location[k].dtype) for k, v in
                 args_grad_npy.items()}
    executor = sym.bind(ctx, args=location, args_grad=args_grad, grad_req=grad_req,
                        aux_states=aux)
    outputs = executor.forward(is_train=True)
    proj = [np.random.rand(*o.shape) + 0.1 if np.dtype(o.dtype).kind == "f"
            else np.zeros(o.shape) for o in outputs]
    executor.backward([array(p, ctx=ctx, dtype=o.dtype) for p, o in zip(proj, outputs)])
    symbolic = {k: executor.grad_dict[k].asnumpy() for k in nodes}

    numeric = numeric_grad(executor, {k: location_npy[k] for k in nodes}, aux_npy,
                           eps=numeric_eps, use_forward_train=use_forward_train,
                           dtype=np.float64, head_grads=proj)
    for name in nodes:
        _compare_grad(name, grad_req[name], symbolic[name], numeric[name],
                      args_grad_npy[name], rtol, atol, "NUMERICAL")


def check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=np.float32):
    """Bind `sym` at `location`, run forward (is_train=False) and compare each output with
    `expected` (a list in output order, or a dict by list_outputs name). Tolerances left
    None come from TOLERANCES. Returns the executor's outputs."""
    _check_dtype(dtype, allow_asnumpy=True)
    ctx = ctx or default_context()
    location = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    executor = sym.bind(ctx, args=location, aux_states=aux)
    outputs = executor.forward(is_train=False)
    if len(expected) != len(outputs):
        raise AssertionError(f"{len(expected)} expected arrays for {len(outputs)} outputs "
                             f"{sym.list_outputs()}")
    for name, expect, out in zip(sym.list_outputs(), expected, outputs):
        assert_almost_equal(expect, out.asnumpy(), rtol, atol,
                            (f"EXPECTED_{name}", f"FORWARD_{name}"), equal_nan=equal_nan)
    return outputs


def check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=np.float32):
    """Bind `sym` at `location`, run forward (is_train=True) and backward with `out_grads`
    (a list in output order, a dict by output name, or None for ones), and compare the
    gradients with `expected` (a list in list_arguments order or a dict by name; arguments
    left out get no gradient array). Gradient arrays start as noise, so 'add' is checked as an
    increment and 'null' as untouched. Returns the gradient arrays (name -> NDArray)."""
    from .ndarray import array
    _check_dtype(dtype, allow_asnumpy=True)
    ctx = ctx or default_context()
    for v in (grad_stypes or {}).values():
        _dense_only(v, "check_symbolic_backward")
    names = sym.list_arguments()
    location = _parse_location(sym, location, ctx, dtype)
    aux = _parse_aux_states(sym, aux_states, ctx, dtype)
    if not isinstance(expected, dict):
        expected = dict(zip(names, expected))
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in names}
    elif isinstance(grad_req, (list, tuple)):
        grad_req = dict(zip(names, grad_req))
    grad_npy = {k: np.random.normal(size=np.shape(expected[k])) for k in sorted(expected)}
    grads = {k: array(v, ctx=ctx, dtype=location[k].dtype) for k, v in grad_npy.items()}
    executor = sym.bind(ctx, args=location, args_grad=grads, aux_states=aux,
                        grad_req={k: grad_req.get(k, "null") for k in names})
    outputs = executor.forward(is_train=True)
    if isinstance(out_grads, dict):
        out_grads = [out_grads[k] for k in sym.list_outputs()]
    if out_grads is not None:
        out_grads = [_to_nd(g, ctx, o.dtype if isinstance(dtype, str) and dtype == "asnumpy"
                            else dtype)
                     for g, o in zip(out_grads, outputs)]
    if any(grad_req.get(k, "null") != "null" for k in expected):
        executor.backward(out_grads)
    for name in expected:
        _compare_grad(name, grad_req.get(name, "null"), grads[name].asnumpy(),
                      _host(expected[name]), grad_npy[name], rtol, atol, "EXPECTED",
                      equal_nan)
    return grads


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, tol=None, raise_on_err=True, ground_truth=None,
                      equal_nan=False, use_uniform=False, rand_type=np.float64):
    """Run one symbol (or one symbol per entry) on several contexts / dtypes and compare
    outputs and gradients with the most precise run (the highest output dtype).

    ctx_list : list of dicts, each holding `ctx`, the input shapes by name and optionally
        `type_dict` (name -> dtype), `atol` or `atol_mult` (atol = atol_mult * rtol; default
        atol = rtol), e.g. [{'ctx': mx.cpu(0), 'x': (2, 3), 'type_dict': {'x': np.float64}},
        {'ctx': mx.cpu(0), 'x': (2, 3), 'type_dict': {'x': np.float32}}].
    tol : None (TOLERANCES' consistency column), a number, or a dict dtype -> rtol.
    Inputs are normal(0, scale) (uniform(-0.92, 0.92) with use_uniform) cast to rand_type,
    unless given in arg_params. Forward runs with is_train=False, then forward and backward
    (head gradients = the outputs) with is_train=True. Returns the ground truth dict.
    """
    from .symbol import Symbol
    if len(ctx_list) < 2:
        raise ValueError("check_consistency needs at least two entries in ctx_list")
    syms = [sym] * len(ctx_list) if isinstance(sym, Symbol) else list(sym)
    if len(syms) != len(ctx_list):
        raise ValueError(f"{len(syms)} symbols for {len(ctx_list)} contexts")
    output_names, arg_names = syms[0].list_outputs(), syms[0].list_arguments()
    exe_list = []
    for s, spec in zip(syms, ctx_list):
        if s.list_arguments() != arg_names or s.list_outputs() != output_names:
            raise ValueError("check_consistency: the symbols differ in arguments or outputs")
        spec = {k: v for k, v in spec.items() if k not in ("atol", "atol_mult")}
        spec.setdefault("ctx", default_context())
        exe_list.append(s.simple_bind(grad_req=grad_req, **spec))

    arg_params = {} if arg_params is None else arg_params
    aux_params = {} if aux_params is None else aux_params
    for name, arr in exe_list[0].arg_dict.items():
        if name not in arg_params:
            draw = (np.random.uniform(-0.92, 0.92, size=arr.shape) if use_uniform
                    else np.random.normal(0, scale, size=arr.shape))
            arg_params[name] = np.asarray(draw).astype(rand_type)
    for name in exe_list[0].aux_dict:
        aux_params.setdefault(name, 0)
    for exe in exe_list:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        for arr in exe.grad_arrays:
            if arr is not None:
                arr[:] = 0

    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exe_list]
    ref = int(np.argmax([d.itemsize if d.kind == "f" else 0 for d in dtypes]))

    def rtol_of(dt):
        if isinstance(tol, numbers.Number):
            return tol
        if isinstance(tol, dict) and np.dtype(dt) in {np.dtype(k) for k in tol}:
            return next(v for k, v in tol.items() if np.dtype(k) == np.dtype(dt))
        return _tolerance(np.empty(0, dt), "consistency")

    def atol_of(rtol, spec):
        if "atol" in spec:
            return spec["atol"]
        return spec.get("atol_mult", 1.0) * rtol

    def compare(i, pairs, what):
        rtol = rtol_of(dtypes[i])
        atol = atol_of(rtol, ctx_list[i])
        for name, arr in pairs:
            if gt.get(name) is None:
                if arr is not None:
                    raise AssertionError(f"{what}: {name} has a gradient in run {i} but not "
                                         f"in the reference run {ref}")
                continue
            try:
                assert_almost_equal(arr.asnumpy(), _host(gt[name]).astype(arr.dtype), rtol,
                                    atol, (f"{name}@run{i}", f"{name}@run{ref}"),
                                    equal_nan=equal_nan)
            except AssertionError:
                print(f"{what} error: run {i} ({ctx_list[i]}) vs run {ref} at {name}")
                traceback.print_exc()
                if raise_on_err:
                    raise

    for exe in exe_list:
        exe.forward(is_train=False)
    gt = ground_truth
    if gt is None:
        gt = {k: v.asnumpy() for k, v in exe_list[ref].output_dict.items()}
    for i, exe in enumerate(exe_list):
        if i != ref:
            compare(i, zip(output_names, exe.outputs), "Predict")
    if grad_req == "null":
        return gt
    for exe in exe_list:
        exe.forward(is_train=True)
        exe.backward(exe.outputs)
    if ground_truth is None:
        gt.update({k: v.asnumpy() for k, v in exe_list[ref].grad_dict.items()})
    for i, exe in enumerate(exe_list):
        if i != ref:
            compare(i, list(zip(output_names, exe.outputs))
                    + list(zip(arg_names, exe.grad_arrays)), "Train")
    return gt
