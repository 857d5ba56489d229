"""Test helpers with MXNet's names: tolerances per dtype, assert_almost_equal, same,
rand_ndarray, rand_shape_nd, default_context."""
from __future__ import annotations

import numpy as np

from .context import Context, current_context
from .dtype import as_dtype

_default_ctx = None

# (rtol, atol) per dtype: float16 has an 11-bit mantissa, float32 24, float64 53.
TOLERANCES = {"float16": (1e-2, 1e-2), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-9)}


def default_context() -> Context:
    return _default_ctx or current_context()


def set_default_context(ctx: Context):
    global _default_ctx
    _default_ctx = ctx


def tolerance(dtype):
    return TOLERANCES.get(as_dtype(dtype).name, (0, 0))


def _host(a):
    return a.asnumpy() if hasattr(a, "asnumpy") else np.asarray(a)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False):
    """Assert a and b (NDArrays or numpy) are elementwise close; tolerances default to the
    dtype's row in TOLERANCES."""
    a, b = _host(a), _host(b)
    drt, dat = tolerance(a.dtype) if a.dtype.kind == "f" else (0, 0)
    np.testing.assert_allclose(a, b, rtol=drt if rtol is None else rtol,
                               atol=dat if atol is None else atol, equal_nan=equal_nan,
                               err_msg=f"{names[0]} vs {names[1]}")


def same(a, b) -> bool:
    return np.array_equal(_host(a), _host(b))


def rand_shape_nd(num_dim, dim=10):
    return tuple(np.random.randint(1, dim + 1, size=num_dim).tolist())


def rand_ndarray(shape, stype="default", density=None, dtype=None, ctx=None):
    from .ndarray import array
    return array(np.random.uniform(-1, 1, size=shape), ctx=ctx or default_context(),
                 dtype=dtype or np.float32)
