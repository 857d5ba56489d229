"""The dtype table: name <-> numpy dtype <-> OpenCL C type <-> kernel-name suffix <-> extension.

Owns dtype normalisation (`as_dtype`) and the per-dtype facts kernels need. Whether a device
supports a dtype is asked of the device (`runtime.Device.check_dtype`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import MXNetError

__all__ = ["DTypeInfo", "DTYPES", "as_dtype", "info", "default_dtype", "result_dtype"]


# NOTE: one instance per dtype (DTYPES), compared and hashed by identity: every imperative
# op hashes its inputs' dtypes in keys, and a field-wise dataclass hash cost ~1 us each.
@dataclass(frozen=True, eq=False)
class DTypeInfo:
    name: str
    np: np.dtype
    ctype: str
    suffix: str
    extension: str | None
    is_float: bool
    mx_flag: int  # MXNet's type_flag, used by the .params format and infer_type

    def __reduce__(self):  # copies and pickles are the one instance of the dtype
        return as_dtype, (self.name,)


def _row(name, ctype, suffix, ext, is_float, flag):
    return DTypeInfo(name, np.dtype(name), ctype, suffix, ext, is_float, flag)


DTYPES = {d.name: d for d in (
    _row("float32", "float", "f32", None, True, 0),
    _row("float64", "double", "f64", "cl_khr_fp64", True, 1),
    _row("float16", "half", "f16", "cl_khr_fp16", True, 2),
    _row("uint8", "uchar", "u8", None, False, 3),
    _row("int32", "int", "i32", None, False, 4),
    _row("int8", "char", "i8", None, False, 5),
    _row("int64", "long", "i64", None, False, 6),
)}

default_dtype = DTYPES["float32"]


def as_dtype(dtype) -> DTypeInfo:
    """Normalise a dtype given as a name, numpy dtype/type or DTypeInfo; None means float32."""
    if dtype is None:
        return default_dtype
    if isinstance(dtype, DTypeInfo):
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError as err:
        raise MXNetError(f"dtype {dtype!r} is not a dtype; use one of {sorted(DTYPES)}") from err
    if name == "bool":
        raise MXNetError("dtype bool is not supported by clnet arrays; use uint8 or int32")
    if name not in DTYPES:
        raise MXNetError(f"dtype {name} is not supported; use one of {sorted(DTYPES)}")
    return DTYPES[name]


def info(dtype) -> DTypeInfo:
    return as_dtype(dtype)


def result_dtype(*dtypes) -> DTypeInfo:
    """dtype of an op over arrays of several dtypes. MXNet rejects mixed dtypes; clnet promotes
    as PyTorch does: floats win over integers (the float's own width is kept, so float32 mixed
    with int32 stays float32 instead of numpy's float64), otherwise numpy's promotion."""
    infos = [as_dtype(d) for d in dtypes]
    if all(d is infos[0] for d in infos):
        return infos[0]
    floats = [d for d in infos if d.is_float]
    pool = floats if floats else infos
    return as_dtype(np.result_type(*[d.np for d in pool]))
