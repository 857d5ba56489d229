"""Array creation: zeros, ones, full, arange and the *_like forms (filled on the device)."""
from __future__ import annotations

import numbers

import numpy as np

from ..base import MXNetError
from ..dtype import as_dtype
from ..ops import mapping
from .ndarray import NDArray, empty, invoke


def full(shape, val, ctx=None, dtype=None, out=None) -> NDArray:
    """An array of `shape` filled with `val` (float32 unless dtype says otherwise)."""
    arr = out if out is not None else empty(shape, ctx, dtype)
    mapping.run(arr.device, "s", "_fill", arr.view_desc(), [], (val, 0), compute_dtype=arr._dt)
    return arr


def zeros(shape, ctx=None, dtype=None, **kwargs) -> NDArray:
    """An array of zeros (float32 unless dtype says otherwise)."""
    return full(shape, 0, ctx, dtype, kwargs.get("out"))


def ones(shape, ctx=None, dtype=None, **kwargs) -> NDArray:
    """An array of ones (float32 unless dtype says otherwise)."""
    return full(shape, 1, ctx, dtype, kwargs.get("out"))


def _like(other, val):
    if not isinstance(other, NDArray):
        raise MXNetError(f"expected an NDArray, got {type(other).__name__}")
    return full(other.shape, val, other.context, other._dt)


def zeros_like(data, **kwargs):
    """Zeros with data's shape, dtype and context."""
    return _like(data, 0)


def ones_like(data, **kwargs):
    """Ones with data's shape, dtype and context."""
    return _like(data, 1)


def full_like(data, fill_value, **kwargs):
    """fill_value with data's shape, dtype and context."""
    return _like(data, fill_value)


def empty_like(data, **kwargs):
    """An uninitialised array with data's shape, dtype and context."""
    return empty(data.shape, data.context, data._dt)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None,
           dtype=np.float32) -> NDArray:
    """Evenly spaced values in [start, stop), each repeated `repeat` times (MXNet's arange)."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise MXNetError("arange: step must not be zero")
    n = max(0, int(np.ceil((stop - start) / step)))
    if not isinstance(repeat, numbers.Integral) or repeat < 1:
        raise MXNetError(f"arange: repeat must be a positive integer, got {repeat}")
    dt = as_dtype(dtype)
    arr = empty((n * repeat,), ctx, dt)
    # `i` is the element's linear index in the elementwise kernel
    mapping.run(arr.device, f"C:(CT)(s + t * (CT)(i / {int(repeat)}))", "_arange",
                arr.view_desc(), [], (start, step), compute_dtype=dt)
    return arr


def concatenate(arrays, axis=0, always_copy=True):
    """Join arrays along an existing axis (MXNet's mx.nd.concatenate)."""
    return invoke("concat", list(arrays), {"dim": axis})
