"""Reference cases for the elementwise ops: input domain and numpy reference per op.

One row per op; tests/test_elemwise.py runs every row on every device and dtype the op
accepts, and fails for a registered elementwise op that has no row here.
"""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _trunc_div(x, y):
    safe = np.where(y == 0, 1, y)
    q = np.trunc(x.astype(np.float64) / safe)
    return np.where(y == 0, 0, q).astype(x.dtype)


def _int_mod(x, y):
    safe = np.where(y == 0, 1, y)
    return np.where(y == 0, 0, np.mod(x, safe)).astype(x.dtype)


def _pow(x, y):
    if np.issubdtype(x.dtype, np.integer):
        return np.rint(np.power(x.astype(np.float64), y.astype(np.float64))).astype(x.dtype)
    return np.power(x, y)


# name -> (low, high) of the inputs for float dtypes, reference
UNARY_CASES = {
    "exp": ((-3, 3), np.exp), "log": ((0.1, 5), np.log), "log2": ((0.1, 5), np.log2),
    "log10": ((0.1, 5), np.log10), "log1p": ((-0.5, 3), np.log1p),
    "expm1": ((-2, 2), np.expm1), "sqrt": ((0, 5), np.sqrt),
    "rsqrt": ((0.2, 5), lambda x: 1 / np.sqrt(x)), "cbrt": ((-5, 5), np.cbrt),
    "square": ((-3, 3), np.square), "reciprocal": ((0.5, 3), np.reciprocal),
    "negative": ((-3, 3), np.negative), "abs": ((-3, 3), np.abs), "sign": ((-3, 3), np.sign),
    "sin": ((-3, 3), np.sin), "cos": ((-3, 3), np.cos), "tan": ((-1.2, 1.2), np.tan),
    "arcsin": ((-0.95, 0.95), np.arcsin), "arccos": ((-0.95, 0.95), np.arccos),
    "arctan": ((-3, 3), np.arctan), "sinh": ((-3, 3), np.sinh), "cosh": ((-3, 3), np.cosh),
    "tanh": ((-3, 3), np.tanh), "arcsinh": ((-3, 3), np.arcsinh),
    "arccosh": ((1.1, 4), np.arccosh), "arctanh": ((-0.9, 0.9), np.arctanh),
    "sigmoid": ((-5, 5), lambda x: 1 / (1 + np.exp(-x))),
    "relu": ((-3, 3), lambda x: np.maximum(x, 0)),
    "softrelu": ((-5, 5), lambda x: np.log1p(np.exp(x))),
    "softsign": ((-3, 3), lambda x: x / (1 + np.abs(x))), "erf": ((-2, 2), _erf),
    "floor": ((-3, 3), np.floor), "ceil": ((-3, 3), np.ceil),
    "round": ((-3, 3), _round_half_away), "rint": ((-3, 3), np.rint),
    "trunc": ((-3, 3), np.trunc), "fix": ((-3, 3), np.trunc),
    "degrees": ((-3, 3), np.degrees), "radians": ((-90, 90), np.radians),
    "logical_not": ((-1, 1), lambda x: (x == 0)),
}

# name -> (domain of lhs, domain of rhs) for floats, reference(x, y), reference for ints or None
BINARY_CASES = {
    "broadcast_add": (((-3, 3), (-3, 3)), np.add, None),
    "broadcast_sub": (((-3, 3), (-3, 3)), np.subtract, None),
    "broadcast_mul": (((-3, 3), (-3, 3)), np.multiply, None),
    "broadcast_div": (((-3, 3), (0.5, 3)), np.divide, _trunc_div),
    "broadcast_mod": (((-5, 5), (0.5, 3)), np.mod, _int_mod),
    "broadcast_power": (((0.1, 3), (-2, 2)), _pow, _pow),
    "broadcast_maximum": (((-3, 3), (-3, 3)), np.maximum, None),
    "broadcast_minimum": (((-3, 3), (-3, 3)), np.minimum, None),
    "broadcast_hypot": (((-3, 3), (-3, 3)), np.hypot, None),
    "broadcast_equal": (((0, 3), (0, 3)), np.equal, None),
    "broadcast_not_equal": (((0, 3), (0, 3)), np.not_equal, None),
    "broadcast_greater": (((0, 3), (0, 3)), np.greater, None),
    "broadcast_greater_equal": (((0, 3), (0, 3)), np.greater_equal, None),
    "broadcast_lesser": (((0, 3), (0, 3)), np.less, None),
    "broadcast_lesser_equal": (((0, 3), (0, 3)), np.less_equal, None),
    "broadcast_logical_and": (((0, 2), (0, 2)), np.logical_and, None),
    "broadcast_logical_or": (((0, 2), (0, 2)), np.logical_or, None),
    "broadcast_logical_xor": (((0, 2), (0, 2)), np.logical_xor, None),
}

# name -> reference(x, s); inputs in (0.5, 4) so every form is defined
SCALAR_CASES = {
    "_plus_scalar": lambda x, s: x + s, "_minus_scalar": lambda x, s: x - s,
    "_rminus_scalar": lambda x, s: s - x, "_mul_scalar": lambda x, s: x * s,
    "_div_scalar": lambda x, s: x / s, "_rdiv_scalar": lambda x, s: s / x,
    "_mod_scalar": lambda x, s: np.mod(x, s), "_rmod_scalar": lambda x, s: np.mod(s, x),
    "_power_scalar": lambda x, s: np.power(x, s), "_rpower_scalar": lambda x, s: np.power(s, x),
    "_maximum_scalar": lambda x, s: np.maximum(x, s),
    "_minimum_scalar": lambda x, s: np.minimum(x, s),
    "_equal_scalar": lambda x, s: x == s, "_not_equal_scalar": lambda x, s: x != s,
    "_greater_scalar": lambda x, s: x > s, "_greater_equal_scalar": lambda x, s: x >= s,
    "_lesser_scalar": lambda x, s: x < s, "_lesser_equal_scalar": lambda x, s: x <= s,
}
INT_SCALAR_REF = {
    "_div_scalar": lambda x, s: _trunc_div(x, np.full_like(x, s)),
    "_rdiv_scalar": lambda x, s: _trunc_div(np.full_like(x, s), x),
    "_mod_scalar": lambda x, s: _int_mod(x, np.full_like(x, s)),
    "_rmod_scalar": lambda x, s: _int_mod(np.full_like(x, s), x),
    "_power_scalar": lambda x, s: _pow(x, np.full_like(x, s)),
    "_rpower_scalar": lambda x, s: _pow(np.full_like(x, s), x),
}


def uniform(low, high, shape, dtype):
    """Random input in [low, high) of dtype (integers: the integer range, away from 0 for
    divisors, and within the dtype's limits)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.random.uniform(low, high, size=shape).astype(dt)
    lo, hi = int(math.floor(low)), int(math.ceil(high))
    if dt.kind == "u":
        lo = max(lo, 0)
    return np.random.randint(lo, max(hi, lo + 1) + 1, size=shape).astype(dt)
