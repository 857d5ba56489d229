"""`mx.sym.random`: MXNet's sampling functions as graph nodes over `ops.random_ops`.

Number parameters make a `_random_<dist>` node drawing `shape` samples; Symbol parameters a
`_sample_<dist>` node drawing `shape` samples per parameter element, as `mx.nd.random`
does imperatively. The generator is the ops'; seeding is `clnet.random`'s.
"""
from __future__ import annotations

import numbers

from ..base import MXNetError
from .symbol import Symbol, create

__all__ = ["uniform", "normal", "exponential", "randint", "shuffle"]


def _sample(fn: str, dist: str, names, params, shape, dtype, kwargs) -> Symbol:
    kw = dict(kwargs)
    if dtype is not None:
        kw["dtype"] = dtype
    if all(isinstance(p, Symbol) for p in params):
        kw["shape"] = () if shape is None else shape
        return create(f"_sample_{dist}", list(params), kw)
    if not all(isinstance(p, numbers.Real) for p in params):
        kinds = ", ".join(type(p).__name__ for p in params)
        raise MXNetError(f"random.{fn}: distribution parameters must be all numbers or all "
                         f"Symbols, got {kinds}")
    if shape is not None:
        kw["shape"] = shape
    kw.update(zip(names, params))
    return create(f"_random_{dist}", [], kw)


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs) -> Symbol:
    """Samples from the uniform distribution over [low, high) (numbers or Symbols)."""
    return _sample("uniform", "uniform", ("low", "high"), (low, high), shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs) -> Symbol:
    """Samples from the normal distribution N(loc, scale**2) (numbers or Symbols)."""
    return _sample("normal", "normal", ("loc", "scale"), (loc, scale), shape, dtype, kwargs)


def exponential(scale=1, shape=None, dtype=None, **kwargs) -> Symbol:
    """Samples from the exponential distribution with mean `scale` (a number or a Symbol)."""
    if isinstance(scale, numbers.Real) and scale <= 0:
        raise MXNetError(f"random.exponential: scale={scale} must be > 0 (it is the mean)")
    return _sample("exponential", "exponential", ("lam",), (1.0 / scale,), shape, dtype,
                   kwargs)


def randint(low, high, shape=None, dtype=None, **kwargs) -> Symbol:
    """Integers drawn uniformly from [low, high) (numbers; int32 by default)."""
    if isinstance(low, Symbol) or isinstance(high, Symbol):
        raise MXNetError("random.randint: low and high must be integers, not Symbols")
    return _sample("randint", "randint", ("low", "high"), (low, high), shape, dtype, kwargs)


def shuffle(data, **kwargs) -> Symbol:
    """`data` with its elements shuffled along the first axis."""
    return create("_shuffle", [data], kwargs)
