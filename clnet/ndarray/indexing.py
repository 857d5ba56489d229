"""NDArray indexing: basic (ints, slices, steps, None, Ellipsis) and advanced (integer arrays,
boolean masks) reads, and assignment with broadcasting.

A basic index becomes a strided View of the array; a view that is dense is returned sharing
memory (MXNet's behaviour for x[i] and x[a:b]); otherwise it is copied by the mapping kernel.
Advanced reads gather through `take`. Assignment maps the value onto the strided target view.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..base import MXNetError
from ..ops import mapping


def _expand_key(key, ndim):
    if not isinstance(key, tuple):
        key = (key,)
    n_ell = sum(k is Ellipsis for k in key)
    if n_ell > 1:
        raise MXNetError("an index can only have a single ellipsis ('...')")
    used = sum(k is not None and k is not Ellipsis for k in key)
    if used > ndim:
        raise MXNetError(f"too many indices ({used}) for an array with {ndim} dimension(s)")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - used))
        else:
            out.append(k)
    if not n_ell:
        out.extend([slice(None)] * (ndim - used))
    return out


def _is_basic(k):
    return k is None or isinstance(k, (slice, numbers.Integral, np.integer))


def basic_view(arr, key) -> mapping.View:
    """The strided view `arr[key]` for a basic key, with range checks naming the axis."""
    base = arr.view_desc()
    offset, shape, strides, axis = base.offset, [], [], 0
    for k in _expand_key(key, arr.ndim):
        if k is None:
            shape.append(1)
            strides.append(0)
            continue
        n, st = base.shape[axis], base.strides[axis]
        if isinstance(k, slice):
            if k.step == 0:
                raise MXNetError(f"slice step cannot be zero (axis {axis})")
            start, stop, step = k.indices(n)
            length = max(0, (stop - start + (step - (1 if step > 0 else -1))) // step)
            offset += start * st if length else 0
            shape.append(length)
            strides.append(st * step)
        else:
            i = int(k)
            if not -n <= i < n:
                raise MXNetError(f"index {i} is out of bounds for axis {axis} with size {n} "
                                 f"(array shape {arr.shape})")
            offset += (i % n) * st
        axis += 1
    return base._replace(offset=offset, shape=tuple(shape), strides=tuple(strides))


def _is_dense(view) -> bool:
    expect = mapping.contiguous_strides(view.shape)
    return all(s == e for n, s, e in zip(view.shape, view.strides, expect) if n != 1)


def _materialize(arr, view):
    from .ndarray import NDArray, empty
    if _is_dense(view):
        return NDArray(arr._buf, view.offset, view.shape, arr._dt, arr.context)
    out = empty(view.shape, arr.context, arr._dt)
    mapping.run(arr.device, "x", "_copy", out.view_desc(), [view])
    return out


def _advanced_to_array(k, arr, axis):
    from .ndarray import NDArray, array
    if isinstance(k, NDArray):
        return k
    host = np.asarray(k)
    if host.dtype == np.bool_:
        return host
    if host.size == 0:  # [] reads as float64
        host = host.astype(np.int64)
    if not np.issubdtype(host.dtype, np.integer):
        raise MXNetError(f"index arrays must be integers or booleans, got dtype {host.dtype}")
    return array(host, ctx=arr.context, dtype=np.int64)


def getitem(arr, key):
    keys = key if isinstance(key, tuple) else (key,)
    if all(_is_basic(k) or k is Ellipsis for k in keys):
        view = basic_view(arr, key)
        if not view.shape and arr.ndim:
            # MXNet 1.x has no 0-d results: x[i] of a 1-D array has shape (1,)
            view = view._replace(shape=(1,), strides=(1,))
        return _materialize(arr, view)
    return _advanced_getitem(arr, keys)


def _advanced_getitem(arr, keys):
    """Integer-array and boolean-mask reads. A single boolean mask over the leading axes, or
    one index array (on any axis, others basic) are supported, as numpy does them."""
    from .ndarray import array, invoke
    if len(keys) == 1:
        k = keys[0]
        mask = np.asarray(k) if isinstance(k, (list, np.ndarray)) else None
        if mask is not None and mask.dtype == np.bool_:
            if mask.shape != arr.shape[:mask.ndim]:
                raise MXNetError(f"boolean index of shape {mask.shape} does not match the "
                                 f"array's leading dims {arr.shape[:mask.ndim]}")
            idx = np.flatnonzero(mask.reshape(-1))
            flat = arr.reshape((mask.size,) + arr.shape[mask.ndim:]) if mask.ndim else arr
            return invoke("take", [flat, array(idx, ctx=arr.context, dtype=np.int64)],
                          {"axis": 0, "mode": "raise"})
    ell = [i for i, k in enumerate(keys) if k is Ellipsis]
    if len(ell) > 1:
        raise MXNetError("an index can only have a single ellipsis ('...')")
    if ell:  # spell the Ellipsis out as full slices; each remaining key takes one axis
        used = sum(k is not None for k in keys) - 1
        keys = keys[:ell[0]] + (slice(None),) * max(0, arr.ndim - used) + keys[ell[0] + 1:]
    positions = [i for i, k in enumerate(keys) if not _is_basic(k)]
    if len(positions) != 1:
        raise MXNetError("indexing with more than one index array is not supported; index "
                         "one axis at a time")
    pos = positions[0]
    if any(k is None for k in keys[:pos]):
        raise MXNetError("None before an index array is not supported")
    idx = _advanced_to_array(keys[pos], arr, pos)
    if isinstance(idx, np.ndarray):  # boolean mask on one axis
        if idx.ndim != 1 or idx.shape[0] != arr.shape[pos]:
            raise MXNetError(f"boolean index of shape {idx.shape} does not match axis {pos} "
                             f"of size {arr.shape[pos]}")
        idx = array(np.flatnonzero(idx), ctx=arr.context, dtype=np.int64)
    pre = getitem(arr, tuple(keys[:pos]) + (slice(None),) * (arr.ndim - pos)) if pos else arr
    lead = sum(1 for k in keys[:pos] if not isinstance(k, (numbers.Integral, np.integer)))
    taken = invoke("take", [pre, idx], {"axis": lead, "mode": "raise"})
    rest = keys[pos + 1:]
    if rest:
        taken = getitem(taken, (slice(None),) * (lead + idx.ndim) + tuple(rest))
    return taken


def setitem(arr, key, value):
    """arr[key] = value, value a scalar, numpy array or NDArray broadcast to the target."""
    from .ndarray import NDArray, array
    keys = key if isinstance(key, tuple) else (key,)
    if not all(_is_basic(k) or k is Ellipsis for k in keys):
        _advanced_setitem(arr, keys, value)
        return
    target = basic_view(arr, key)
    if isinstance(value, NDArray):
        if value.context != arr.context:
            value = value.as_in_context(arr.context)
        src = value.view_desc()
    elif isinstance(value, (numbers.Number, np.generic)):
        mapping.run(arr.device, "s", "_fill", target, [], (value, 0), compute_dtype=arr._dt)
        return
    else:
        value = array(np.asarray(value), ctx=arr.context, dtype=arr._dt)
        src = value.view_desc()
    try:
        shape = mapping.broadcast_shapes(src.shape, target.shape, what="setitem")
    except MXNetError:
        shape = None
    if shape != tuple(target.shape):
        raise MXNetError(f"setitem: value of shape {src.shape} cannot be broadcast to the "
                         f"indexed region of shape {target.shape}")
    if value._buf is arr._buf:
        value = value.copy()
        src = value.view_desc()
    mapping.run(arr.device, "x", "_copy", target, [mapping.broadcast_view(src, target.shape)],
                compute_dtype=arr._dt)


def _advanced_setitem(arr, keys, value):
    """Assignment through an index array or mask: done on the host for the indexed rows.
    NOTE: correct but not fast; a scatter kernel can replace it when someone needs speed."""
    from .ndarray import NDArray
    host = arr.asnumpy()
    norm = tuple(k.asnumpy() if isinstance(k, NDArray) else k for k in keys)
    val = value.asnumpy() if isinstance(value, NDArray) else value
    try:
        host[norm] = val
    except (IndexError, ValueError) as err:
        raise MXNetError(f"setitem: {err} (array shape {arr.shape})") from err
    arr.device.write(arr._buf, np.array(host, order="C"), arr._offset * arr._dt.np.itemsize)
