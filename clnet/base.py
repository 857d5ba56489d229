"""Errors, environment flags and small helpers shared by every clnet module.

Owns: `MXNetError` (the one exception users catch, as in MXNet), the `CLNET_*` environment
variables and tiny helpers. Leaves devices to `runtime`, dtypes to `dtype`.
"""
from __future__ import annotations

import os

__all__ = ["MXNetError", "CLNetError", "env_int", "env_str", "numeric_types", "integer_types",
           "string_types", "prod"]


class MXNetError(Exception):
    """Error raised by clnet for bad input or device failures (MXNet's name, kept for users)."""


CLNetError = MXNetError

numeric_types = (float, int)
integer_types = (int,)
string_types = (str,)


def env_int(name: str, default: int = 0) -> int:
    """Integer value of environment variable `name`, `default` when unset or empty."""
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError as err:
        raise MXNetError(f"environment variable {name}={value!r} must be an integer") from err


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def prod(shape) -> int:
    """Number of elements of a shape (1 for the 0-d shape ())."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def debug_level() -> int:
    """CLNET_DEBUG: 1 prints each launch, 2 adds timings, 3 adds rendered kernel source."""
    return env_int("CLNET_DEBUG", 0)


def sync_mode() -> bool:
    """CLNET_SYNC=1 (or MXNET_ENGINE_TYPE=NaiveEngine) runs each op to completion, so an
    asynchronous device error is raised by the op that caused it."""
    return env_int("CLNET_SYNC", 0) != 0 or env_str("MXNET_ENGINE_TYPE") == "NaiveEngine"
