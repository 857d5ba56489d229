"""NDArray: an OpenCL buffer plus offset, shape, dtype and context.

Owns the array object, host <-> device conversion, Python operators and running registry ops
imperatively (`invoke`). Arrays are dense (C order) from an element offset into a Buffer, so
reshape and slices along the first axis are views, as in MXNet; other layouts are read through
strided `mapping.View`s and copied. Kernels belong to the ops modules.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import autograd
from ..base import MXNetError, prod
from ..context import Context, current_context
from ..dtype import as_dtype, result_dtype
from ..ops import mapping, registry
from ..runtime import Buffer, get_device

__all__ = ["NDArray", "invoke", "empty", "array", "from_numpy_host", "waitall"]


class NDArray:
    """An n-dimensional array on an OpenCL device. Operations enqueue work and return at once;
    reading (`asnumpy`, `asscalar`, printing) waits for the result."""

    __slots__ = ("_buf", "_offset", "_shape", "_dt", "_ctx", "_grad", "_grad_req", "_node",
                 "__weakref__")
    __array_priority__ = 1000.0  # numpy defers `np_array + nd_array` to NDArray.__radd__

    def __init__(self, buf: Buffer, offset: int, shape: tuple, dt, ctx: Context):
        self._buf = buf
        self._offset = int(offset)
        self._shape = tuple(int(d) for d in shape)
        self._dt = dt
        self._ctx = ctx
        self._grad = None
        self._grad_req = "null"
        self._node = None

    # -- attributes ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._shape

    @property
    def dtype(self):
        return self._dt.type if hasattr(self._dt, "type") else self._dt.np.type

    @property
    def context(self) -> Context:
        return self._ctx

    ctx = context

    @property
    def size(self) -> int:
        return prod(self._shape)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def stype(self) -> str:
        return "default"

    @property
    def T(self):
        return self.transpose()

    @property
    def device(self):
        return get_device(self._ctx)

    def view_desc(self) -> mapping.View:
        """This array as a strided view (dense, C order)."""
        return mapping.View(self._buf, self._offset, self._shape,
                            mapping.contiguous_strides(self._shape), self._dt)

    # -- host conversion ---------------------------------------------------------------------
    def asnumpy(self) -> np.ndarray:
        """A numpy copy of the array (waits for the work that writes it)."""
        host = np.empty(self._shape, dtype=self._dt.np)
        self.device.read(self._buf, host, self._offset * self._dt.np.itemsize)
        return host

    def asscalar(self):
        if self.size != 1:
            raise MXNetError(f"asscalar: the array has shape {self._shape}; only arrays with "
                             "exactly one element convert to a scalar")
        return self.asnumpy().reshape(-1)[0]

    def item(self):
        return self.asscalar().item()

    def wait_to_read(self):
        self.device.sync("wait_to_read")

    def astype(self, dtype, copy: bool = True):
        dt = as_dtype(dtype)
        if dt is self._dt and not copy:
            return self
        return invoke("Cast", [self], {"dtype": dt.name})

    def copy(self):
        return self.copyto(self._ctx)

    def copyto(self, other):
        """Copy into `other` (an NDArray of the same shape, or a Context for a new array)."""
        if isinstance(other, Context):
            dst = empty(self._shape, ctx=other, dtype=self._dt)
        elif isinstance(other, NDArray):
            if other is self:
                return self
            if other.shape != self.shape:
                raise MXNetError(f"copyto: source shape {self.shape} != target shape "
                                 f"{other.shape}")
            dst = other
        else:
            raise MXNetError(f"copyto: target must be an NDArray or a Context, got "
                             f"{type(other).__name__}")
        from . import transfer
        transfer.copy(self, dst)
        return dst

    def as_in_context(self, context: Context):
        return self if context == self._ctx else self.copyto(context)

    as_in_ctx = as_in_context

    def tolist(self):
        return self.asnumpy().tolist()

    def __array__(self, dtype=None, copy=None):
        host = self.asnumpy()
        return host if dtype is None else host.astype(dtype)

    def __repr__(self):
        shape = "x".join(str(d) for d in self._shape) or "1"
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self._ctx}>"

    def __len__(self):
        if not self._shape:
            raise MXNetError("len() of a 0-d array")
        return self._shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.size != 1:
            raise MXNetError(f"the truth value of an array with shape {self._shape} is "
                             "ambiguous; use .asnumpy().any() or .all()")
        return bool(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __float__(self):
        return float(self.asscalar())

    def __index__(self):
        if self._dt.is_float:
            raise MXNetError("only integer arrays can be used as an index")
        return int(self.asscalar())

    __hash__ = object.__hash__

    def __getstate__(self):
        return {"data": self.asnumpy(), "ctx": str(self._ctx)}

    def __setstate__(self, state):
        arr = array(state["data"], dtype=state["data"].dtype)
        for slot in ("_buf", "_offset", "_shape", "_dt", "_ctx"):
            object.__setattr__(self, slot, getattr(arr, slot))
        self._grad, self._grad_req, self._node = None, "null", None

    # -- shape views --------------------------------------------------------------------------
    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if shape:
            kwargs["shape"] = shape
        return invoke("Reshape", [self], kwargs)

    # -- autograd -----------------------------------------------------------------------------
    def attach_grad(self, grad_req: str = "write", stype=None):
        """Allocate a zero gradient buffer (`x.grad`) that backward() fills."""
        from .creation import zeros
        self._grad = zeros(self._shape, self._ctx, self._dt)
        self._grad_req = grad_req
        self._node = None

    @property
    def grad(self):
        return self._grad

    def detach(self):
        """The same data, cut from the recorded graph."""
        return NDArray(self._buf, self._offset, self._shape, self._dt, self._ctx)

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        autograd.backward([self], None if out_grad is None else [out_grad],
                          retain_graph=retain_graph, train_mode=train_mode)

    def _view(self, offset: int, shape: tuple):
        return NDArray(self._buf, offset, shape, self._dt, self._ctx)

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key):
        from . import indexing
        return indexing.getitem(self, key)

    def __setitem__(self, key, value):
        from . import indexing
        indexing.setitem(self, key, value)

    # -- operators ----------------------------------------------------------------------------
    def _binary(self, other, op, scalar_op, out=None):
        if isinstance(other, NDArray):
            return invoke(op, [self, other], {}, out=out)
        if isinstance(other, (numbers.Number, np.generic)):
            return invoke(scalar_op, [self], {"scalar": other}, out=out)
        if isinstance(other, np.ndarray):
            return invoke(op, [self, array(other, ctx=self._ctx, dtype=self._dt)], {}, out=out)
        return NotImplemented

    def _rbinary(self, other, scalar_op, op=None):
        if isinstance(other, (numbers.Number, np.generic)):
            return invoke(scalar_op, [self], {"scalar": other})
        if isinstance(other, np.ndarray) and op is not None:
            return invoke(op, [array(other, ctx=self._ctx, dtype=self._dt), self], {})
        return NotImplemented

    def __add__(self, o): return self._binary(o, "broadcast_add", "_plus_scalar")
    def __sub__(self, o): return self._binary(o, "broadcast_sub", "_minus_scalar")
    def __mul__(self, o): return self._binary(o, "broadcast_mul", "_mul_scalar")
    def __truediv__(self, o): return self._binary(o, "broadcast_div", "_div_scalar")
    def __mod__(self, o): return self._binary(o, "broadcast_mod", "_mod_scalar")
    def __pow__(self, o): return self._binary(o, "broadcast_power", "_power_scalar")
    def __eq__(self, o): return self._binary(o, "broadcast_equal", "_equal_scalar")
    def __ne__(self, o): return self._binary(o, "broadcast_not_equal", "_not_equal_scalar")
    def __lt__(self, o): return self._binary(o, "broadcast_lesser", "_lesser_scalar")
    def __le__(self, o): return self._binary(o, "broadcast_lesser_equal", "_lesser_equal_scalar")
    def __gt__(self, o): return self._binary(o, "broadcast_greater", "_greater_scalar")
    def __ge__(self, o):
        return self._binary(o, "broadcast_greater_equal", "_greater_equal_scalar")

    __div__ = __truediv__

    def __radd__(self, o): return self._rbinary(o, "_plus_scalar", "broadcast_add")
    def __rsub__(self, o): return self._rbinary(o, "_rminus_scalar", "broadcast_sub")
    def __rmul__(self, o): return self._rbinary(o, "_mul_scalar", "broadcast_mul")
    def __rtruediv__(self, o): return self._rbinary(o, "_rdiv_scalar", "broadcast_div")
    def __rmod__(self, o): return self._rbinary(o, "_rmod_scalar", "broadcast_mod")
    def __rpow__(self, o): return self._rbinary(o, "_rpower_scalar", "broadcast_power")

    __rdiv__ = __rtruediv__

    def __iadd__(self, o): return self._binary(o, "broadcast_add", "_plus_scalar", out=self)
    def __isub__(self, o): return self._binary(o, "broadcast_sub", "_minus_scalar", out=self)
    def __imul__(self, o): return self._binary(o, "broadcast_mul", "_mul_scalar", out=self)
    def __itruediv__(self, o):
        return self._binary(o, "broadcast_div", "_div_scalar", out=self)
    def __imod__(self, o): return self._binary(o, "broadcast_mod", "_mod_scalar", out=self)
    def __ipow__(self, o): return self._binary(o, "broadcast_power", "_power_scalar", out=self)

    __idiv__ = __itruediv__

    def __neg__(self): return invoke("negative", [self], {})
    def __pos__(self): return self
    def __abs__(self): return invoke("abs", [self], {})


def empty(shape, ctx: Context | None = None, dtype=None) -> NDArray:
    """An uninitialised array (MXNet's `mx.nd.empty`)."""
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise MXNetError(f"empty: shape {shape} has a negative dimension")
    ctx = ctx or current_context()
    dt = as_dtype(dtype)
    device = get_device(ctx)
    device.check_dtype(dt)
    return _new(shape, dt, ctx, device)


def _new(shape: tuple, dt, ctx: Context, device) -> NDArray:
    """An uninitialised array of a checked shape (a tuple of ints), dtype and device."""
    return NDArray(Buffer(device, prod(shape) * dt.np.itemsize), 0, shape, dt, ctx)


def array(source, ctx: Context | None = None, dtype=None) -> NDArray:
    """An NDArray copied from `source` (an NDArray, a numpy array, a list or a scalar).
    dtype defaults to source's for an NDArray and to float32 otherwise (numpy arrays
    included), as in MXNet 1.x."""
    if isinstance(source, NDArray):
        out = source.as_in_context(ctx or source.context)
        out = out.copy() if out is source else out
        return out if dtype is None else out.astype(dtype, copy=False)
    dt = as_dtype(np.float32 if dtype is None else dtype)
    host = np.array(source, dtype=dt.np, order="C", copy=True)
    out = empty(host.shape, ctx, dt)
    out.device.write(out._buf, host)
    return out


from_numpy_host = array


def waitall():
    """Wait for all queued work on every opened device (MXNet's `mx.nd.waitall`)."""
    from ..runtime import waitall as _waitall
    _waitall()


def _check_inputs(op, inputs, names):
    ctx = None
    for i, x in enumerate(inputs):
        if not isinstance(x, NDArray):
            name = names[i] if i < len(names) else f"input {i}"
            raise MXNetError(f"{op.name}: argument {name} must be an NDArray, got "
                             f"{type(x).__name__}")
        if ctx is None:
            ctx = x.context
        elif x.context != ctx:
            desc = ", ".join(f"{names[j] if j < len(names) else j}@{y.context}"
                             for j, y in enumerate(inputs))
            raise MXNetError(f"{op.name}: inputs are on different contexts ({desc}); move them "
                             "to one context with as_in_context()")
    return ctx


def _check_out(op, outs, shapes, dts, ctx):
    for o, s, d in zip(outs, shapes, dts):
        if not isinstance(o, NDArray):
            raise MXNetError(f"{op.name}: out must be an NDArray, got {type(o).__name__}")
        if o.shape != tuple(s) or o._dt is not d or o.context != ctx:
            raise MXNetError(f"{op.name}: out has shape {o.shape}, dtype {o._dt.name} on "
                             f"{o.context}; the result has shape {tuple(s)}, dtype {d.name} "
                             f"on {ctx}")


def _parse_ctx(ctx) -> Context:
    """A Context from a Context or MXNet's string form 'cpu(1)' / 'gpu'."""
    if isinstance(ctx, Context):
        return ctx
    text = str(ctx).strip()
    kind, _, rest = text.partition("(")
    try:
        return Context(kind, int(rest.rstrip(")")) if rest else 0)
    except ValueError as err:
        raise MXNetError(f"ctx {ctx!r} is not a context; use mx.cpu(i), mx.gpu(i) or "
                         "'cpu(i)'") from err


# What invoke worked out for a call, by the call's form (_call_key): a loop calling the same
# ops on arrays of the same shapes skips the parsing, checks and inference after the first
# call. NOTE: pocl, 2 cores: after a kernel over 48 MB the interpreter runs cold, and this
# part cost ~45 us of an op's ~150 us of host time (`mx.nd.sum` of 16M float32).
_CALLS: dict = {}
_MAX_CALLS = 4096


def _call_key(op, inputs, kwargs):
    """The op, its keyword arguments (with their types: 1 and 1.0 parse apart) and the
    inputs' shapes, dtypes and contexts; None where inputs are missing or not all plain
    NDArrays, or a context is given."""
    if not inputs or "ctx" in kwargs:
        return None
    for x in inputs:
        if type(x) is not NDArray:
            return None
    for v in kwargs.values():
        if not (_keyable(v) or type(v) is tuple and all(_keyable(e) for e in v)):
            return None  # an array or a list: never kept alive or compared by a key
    return (op.name, tuple((k, type(v), v) for k, v in kwargs.items()),
            tuple((x._shape, x._dt, x._ctx) for x in inputs))


def _keyable(v) -> bool:
    return v is None or type(v) in _KEY_TYPES or isinstance(v, (np.generic, type))


_KEY_TYPES = frozenset((bool, int, float, str))


def invoke(name, inputs, kwargs, out=None):
    """Run registry op `name` imperatively: check inputs, infer, allocate, enqueue.
    A failing check raises before any work is queued, so inputs are never half-updated."""
    op = registry.get(name) if isinstance(name, str) else name
    key = _call_key(op, inputs, kwargs) if out is None else None
    call = _CALLS.get(key) if key is not None else None
    if call is None or call[0] is not op:  # (OpDefs compare by value: the key has the name)
        call = (op,) + _prepare(op, inputs, kwargs, out)
        if key is not None:
            if len(_CALLS) >= _MAX_CALLS:
                _CALLS.clear()
            _CALLS[key] = call
    _, params, shapes, out_dts, ctx, device = call
    recording = autograd.needs_record(inputs)
    if out is None and op.view is not None:
        result = op.view(params, inputs)
        if recording:
            autograd.record_op(op, params, inputs,
                               result if isinstance(result, list) else [result])
        return result
    if out is not None:
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        _check_out(op, outs, shapes, out_dts, ctx)
    else:
        outs = [_new(s, d, ctx, device) for s, d in zip(shapes, out_dts)]
    aliased = out is not None and not op.extra.get("inplace") and any(
        o._buf is x._buf for o in outs for x in inputs)
    targets = [_new(s, d, ctx, device) for s, d in zip(shapes, out_dts)] if aliased else outs
    op.forward(params, inputs, targets)
    if aliased:
        for t, o in zip(targets, outs):
            t.copyto(o)
    if recording:
        autograd.record_op(op, params, inputs, outs)
    if out is not None:
        return out
    return outs[0] if len(outs) == 1 else outs


def _prepare(op, inputs, kwargs, out):
    """(params, output shapes, output dtypes, context, device) of a call, every argument
    checked."""
    kwargs = dict(kwargs)
    ctx_arg = kwargs.pop("ctx", None)
    kwargs.pop("name", None)
    params = op.parse_params(kwargs)
    names = op.input_names(params, len(inputs))
    if not op.variadic and len(inputs) != len(names):
        raise MXNetError(f"{op.name}: expects {len(names)} input(s) {list(names)}, "
                         f"got {len(inputs)}")
    ctx = _check_inputs(op, inputs, names) if inputs else None
    if ctx is None:
        first_out = out[0] if isinstance(out, (list, tuple)) else out
        ctx = (_parse_ctx(ctx_arg) if ctx_arg is not None else
               first_out.context if isinstance(first_out, NDArray) else current_context())
    dts = [x._dt for x in inputs]
    op.check_dtypes(dts)
    shapes = [tuple(s) for s in op.infer_shape(params, [x.shape for x in inputs])]
    out_dts = [as_dtype(d) for d in op.infer_type(params, dts)]
    device = get_device(ctx)
    for d in out_dts:
        device.check_dtype(d, op.name)
    return params, shapes, out_dts, ctx, device


def result_of(*arrays):
    return result_dtype(*[a._dt for a in arrays])
