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


# NOTE: os.environ.get costs ~2 us (it encodes the key and decodes the value), and every
# elementwise op reads a few flags. On POSIX the mapping's own dict of bytes, which its
# setters update (so a flag set at run time is still seen), is read directly in ~0.1 us.
_ENV_DATA = getattr(os.environ, "_data", None) if os.name == "posix" else None
_ENV_KEYS: dict = {}


def _env_key(name: str) -> bytes:
    key = _ENV_KEYS.get(name)
    if key is None:
        key = _ENV_KEYS[name] = os.fsencode(name)
    return key


def _env_get(name: str, default: str) -> str:
    if not isinstance(_ENV_DATA, dict):
        return os.environ.get(name, default)
    value = _ENV_DATA.get(_env_key(name))
    return default if value is None else os.fsdecode(value)


def env_unset(names) -> bool:
    """Whether none of the environment variables `names` is set: the fast test for flags
    read on every op, which are almost always unset."""
    if not isinstance(_ENV_DATA, dict):
        return not any(n in os.environ for n in names)
    for name in names:  # a loop: a generator costs as much as the lookups
        if _env_key(name) in _ENV_DATA:
            return False
    return True


def env_int(name: str, default: int = 0) -> int:
    """Integer value of environment variable `name`, `default` when unset or empty."""
    value = _env_get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError as err:
        raise MXNetError(f"environment variable {name}={value!r} must be an integer") from err


def env_str(name: str, default: str = "") -> str:
    return _env_get(name, default)


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


_MODE_FLAGS = ("CLNET_DEBUG", "CLNET_SYNC", "MXNET_ENGINE_TYPE")


def plain_mode() -> bool:
    """Neither debug nor sync mode (read at every launch: mostly a test that the flags are
    unset)."""
    return env_unset(_MODE_FLAGS) or (not debug_level() and not sync_mode())
