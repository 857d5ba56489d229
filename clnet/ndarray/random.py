"""`mx.nd.random`: MXNet's sampling functions over the ops of `ops.random_ops`.

Number parameters draw `shape` samples of one distribution (`_random_<dist>`); NDArray
parameters draw `shape` samples per parameter element (`_sample_<dist>`, output shape
params.shape + shape), as MXNet does. With `out=`, shape, dtype and context default to out's.
The generator and kernels are `ops.random_ops`'; the seed is `clnet.random`'s.
"""
from __future__ import annotations

import numbers

from ..base import MXNetError
from .ndarray import NDArray, invoke

__all__ = ["uniform", "normal", "randn", "exponential", "randint", "shuffle"]


def _kind(fn: str, params) -> str:
    """'array' when every parameter is an NDArray, 'number' when every one is a real number."""
    if all(isinstance(p, NDArray) for p in params):
        return "array"
    if all(isinstance(p, numbers.Real) for p in params):
        return "number"
    kinds = ", ".join(type(p).__name__ for p in params)
    raise MXNetError(f"random.{fn}: distribution parameters must be all numbers or all "
                     f"NDArrays, got {kinds}")


def _sample(fn: str, dist: str, names, params, shape, dtype, ctx, out, kwargs):
    kw = dict(kwargs)
    if _kind(fn, params) == "array":
        if shape is None and out is not None:
            shape = out.shape[len(params[0].shape):]
        kw.update(shape=() if shape is None else shape)
        if dtype is not None or out is not None:
            kw["dtype"] = dtype if dtype is not None else out.dtype
        return invoke(f"_sample_{dist}", list(params), kw, out=out)
    kw.update(zip(names, params))
    if out is not None:
        shape = out.shape if shape is None else shape
        dtype = out.dtype if dtype is None else dtype
        ctx = out.context if ctx is None else ctx
    for key, value in (("shape", shape), ("dtype", dtype), ("ctx", ctx)):
        if value is not None:
            kw[key] = value
    return invoke(f"_random_{dist}", [], kw, out=out)


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the uniform distribution over [low, high) (high is never returned).

    Parameters
    ----------
    low, high : float or NDArray
        Bounds. NDArrays (of one shape) give `shape` samples per element.
    shape : int or tuple of ints, optional
        Samples to draw (per parameter element for NDArray bounds); default (1,) for numbers.
    dtype : {'float32', 'float64', 'float16'}, optional
        Default float32 (or out's dtype).
    ctx : Context, optional
        Device of the result for number bounds; default the current context (or out's).
    out : NDArray, optional
        Where to store the samples.

    Examples
    --------
    >>> mx.random.seed(1)
    >>> mx.nd.random.uniform(-1, 1, shape=(2, 3)).shape
    (2, 3)
    """
    return _sample("uniform", "uniform", ("low", "high"), (low, high), shape, dtype, ctx, out,
                   kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the normal distribution with mean `loc` and standard deviation `scale`
    (numbers or NDArrays; other arguments as in `uniform`)."""
    return _sample("normal", "normal", ("loc", "scale"), (loc, scale), shape, dtype, ctx, out,
                   kwargs)


def randn(*shape, **kwargs):
    """Normal samples of the given dimensions: `randn(2, 3, loc=0, scale=1, dtype=None,
    ctx=None, out=None)`."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    loc, scale = kwargs.pop("loc", 0), kwargs.pop("scale", 1)
    dtype, ctx, out = kwargs.pop("dtype", None), kwargs.pop("ctx", None), kwargs.pop("out", None)
    return normal(loc, scale, shape or None, dtype, ctx, out, **kwargs)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from the exponential distribution with mean `scale` (rate 1 / scale; a number
    or an NDArray; other arguments as in `uniform`)."""
    if _kind("exponential", (scale,)) == "array":
        lam = 1.0 / (scale if scale._dt.is_float else scale.astype("float32"))
    elif scale > 0:
        lam = 1.0 / scale
    else:
        raise MXNetError(f"random.exponential: scale={scale} must be > 0 (it is the mean)")
    return _sample("exponential", "exponential", ("lam",), (lam,), shape, dtype, ctx, out,
                   kwargs)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from [low, high) (numbers; dtype int32 by default, or
    int64, int8, uint8; other arguments as in `uniform`)."""
    if _kind("randint", (low, high)) == "array":
        raise MXNetError("random.randint: low and high must be integers, not NDArrays")
    return _sample("randint", "randint", ("low", "high"), (low, high), shape, dtype, ctx, out,
                   kwargs)


def shuffle(data, **kwargs):
    """A copy of `data` with its elements shuffled along the first axis."""
    out = kwargs.pop("out", None)
    return invoke("_shuffle", [data], kwargs, out=out)
