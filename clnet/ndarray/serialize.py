"""MXNet 1.x's binary NDArray list format (`mx.nd.save` / `mx.nd.load`), on numpy arrays.

Owns the byte layout of `.params` / `.nd` files and the atomic file write; the NDArray layer
converts to and from numpy around it. All integers are little-endian.

File::

    uint64  0x112            list magic (kMXAPINDArrayListMagic)
    uint64  0                reserved (ignored on read)
    uint64  N                number of arrays, then N array records
    uint64  M                number of names: 0 (a list) or N (a dict)
    M x     uint64 length + that many bytes (UTF-8 name)

Array record, V2 (magic 0xF993FAC9) and V3 (magic 0xF993FACA, numpy shape semantics)::

    uint32  magic
    int32   storage type: 0 dense (1 row_sparse / 2 csr add storage shape, aux types/shapes
            and aux data; sparse is rejected here)
    int32   ndim, then ndim x int64 dims. ndim -1 is a "none" array and the record ends here;
            so does ndim 0 in V2. In V3 ndim 0 is a scalar with one element.
    int32   dev_type (1 cpu, 2 gpu, 3 cpu_pinned, 5 cpu_shared), int32 dev_id
    int32   dtype flag: 0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64,
            7 bool (read only), 12 bfloat16 (rejected)
    bytes   prod(dims) * itemsize bytes of data, C order

V1 (magic 0xF993FAC8) has no storage type: shape (uint32 ndim, int64 dims), context, dtype
flag, data. Legacy records have no magic: the first uint32 is ndim, followed by ndim x uint32
dims, context, dtype flag, data. In both, ndim 0 is "none".

Sources: apache/mxnet src/ndarray/ndarray.cc (NDArray::Save/Load/LegacyLoad, list Save/Load),
include/mxnet/tuple.h (Tuple::Save: int ndim + int64 dims), include/mxnet/base.h (Context::Save),
dmlc-core serializer.h (vectors and strings: uint64 count then items).

Writing: every record is V2 with context cpu(0), as MXNet 1.x writes dense arrays, except that
a list holding a 0-d array is written entirely as V3 (V2 cannot express 0-d; MXNet loads V3
files under np-shape semantics, e.g. after `npx.set_np()`). A "none" record loads as an empty
float32 array of shape (0,).
"""
from __future__ import annotations

import os
import secrets
import struct
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

from ..base import MXNetError

__all__ = ["save_arrays", "load_arrays", "save_bytes", "load_bytes"]

LIST_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
_MAX_NDIM = 32  # numpy 1.x limit; a larger ndim means the bytes are not an array record

# flag -> little-endian numpy dtype; explicit '<' so big-endian hosts read and write correctly
_FLAG_TO_DTYPE = {0: np.dtype("<f4"), 1: np.dtype("<f8"), 2: np.dtype("<f2"), 3: np.dtype("u1"),
                  4: np.dtype("<i4"), 5: np.dtype("i1"), 6: np.dtype("<i8"), 7: np.dtype("?")}
_WRITABLE = {dt.str.lstrip("<|"): flag for flag, dt in _FLAG_TO_DTYPE.items() if flag != 7}
_STYPE_NAMES = {1: "row_sparse", 2: "csr"}

ArrayData = Union[Dict[str, np.ndarray], Sequence[np.ndarray], np.ndarray]
Loaded = Union[Dict[str, np.ndarray], List[np.ndarray]]


def _normalize(data: ArrayData) -> Tuple[List[str], List[np.ndarray]]:
    """Split `data` into (names, arrays), validating key and value types."""
    if isinstance(data, np.ndarray):
        data = [data]
    if isinstance(data, dict):
        names, values = list(data.keys()), list(data.values())
        for key in names:
            if not isinstance(key, str):
                raise TypeError(f"save: keys must be str, got key {key!r} of type "
                                f"{type(key).__name__}")
        labels = [repr(k) for k in names]
    elif isinstance(data, (list, tuple)):
        names, values = [], list(data)
        labels = [f"index {i}" for i in range(len(values))]
    else:
        raise TypeError("save: data must be a dict of str -> numpy array, a list/tuple of numpy "
                        f"arrays or one numpy array, got {type(data).__name__}")
    for label, value in zip(labels, values):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"save: value at {label} must be a numpy array, got "
                            f"{type(value).__name__}")
        if value.dtype.str[1:] not in _WRITABLE:
            raise MXNetError(f"save: value at {label} has unsupported dtype {value.dtype}; "
                             "use float32, float64, float16, uint8, int8, int32 or int64")
    return names, values


def _encode(data: ArrayData) -> List[bytes]:
    """The file as a list of byte chunks (headers and each array's data kept separate)."""
    names, arrays = _normalize(data)
    magic = V3_MAGIC if any(a.ndim == 0 for a in arrays) else V2_MAGIC
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for arr in arrays:
        key = arr.dtype.str[1:]
        le = np.dtype("<" + key) if arr.dtype.itemsize > 1 else np.dtype(key)
        parts.append(struct.pack(f"<Iii{arr.ndim}q", magic, 0, arr.ndim, *arr.shape)
                     + struct.pack("<iii", 1, 0, _WRITABLE[key]))
        parts.append(arr.astype(le, copy=False).tobytes(order="C"))
    parts.append(struct.pack("<Q", len(names)))
    for name in names:
        raw = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return parts


def save_bytes(data: ArrayData) -> bytes:
    """`data` (dict str -> array, list/tuple of arrays, or one array) in MXNet's file format."""
    return b"".join(_encode(data))


class _Reader:
    """Cursor over a buffer whose errors name the source and the byte offset."""

    def __init__(self, buf: bytes, source: str) -> None:
        self.buf, self.pos, self.source = memoryview(buf), 0, source

    def fail(self, what: str) -> MXNetError:
        return MXNetError(f"cannot load NDArray file {self.source}: {what}")

    def take(self, nbytes: int, what: str) -> memoryview:
        left = len(self.buf) - self.pos
        if nbytes > left:
            raise self.fail(f"truncated at byte offset {self.pos} while reading {what} "
                            f"(need {nbytes} bytes, {left} left)")
        self.pos += nbytes
        return self.buf[self.pos - nbytes:self.pos]

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _read_array(rd: _Reader, idx: int) -> np.ndarray:
    what = f"array {idx}"
    start = rd.pos
    (magic,) = rd.unpack("I", f"{what} magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        (stype,) = rd.unpack("i", f"{what} storage type")
        if stype in _STYPE_NAMES:
            raise rd.fail(f"{what}: sparse storage ({_STYPE_NAMES[stype]}) not supported")
        if stype != 0:
            raise rd.fail(f"{what}: unknown storage type {stype}")
    if magic in (V1_MAGIC, V2_MAGIC, V3_MAGIC):
        (ndim,) = rd.unpack("i", f"{what} ndim")
        if ndim < -1 or ndim > _MAX_NDIM or (ndim == -1 and magic == V1_MAGIC):
            raise rd.fail(f"{what}: invalid ndim {ndim}")
        shape = rd.unpack(f"{max(ndim, 0)}q", f"{what} shape")
        # V3 keeps ndim 0 for scalars; MXNet >= 1.6 writes a V2 "none" array with ndim -1
        is_none = ndim == -1 or (ndim == 0 and magic != V3_MAGIC)
    else:  # legacy record: the word just read is ndim, dims are uint32
        if magic > _MAX_NDIM:
            raise rd.fail(f"bad NDArray magic number 0x{magic:08X} at byte offset {start} "
                          "(expected 0xF993FAC8/9/A or a legacy ndim)")
        shape = rd.unpack(f"{magic}I", f"{what} shape")
        is_none = magic == 0
    if is_none:  # MXNet stores nothing after the shape of a "none" array
        return np.empty((0,), dtype=np.float32)
    if any(d < 0 for d in shape):
        raise rd.fail(f"{what}: invalid shape {tuple(shape)}")
    rd.unpack("ii", f"{what} context")
    (flag,) = rd.unpack("i", f"{what} dtype flag")
    if flag == 12:
        raise rd.fail(f"{what}: unsupported dtype flag 12 (bfloat16)")
    if flag not in _FLAG_TO_DTYPE:
        raise rd.fail(f"{what}: unsupported dtype flag {flag}")
    dtype = _FLAG_TO_DTYPE[flag]
    count = 1
    for d in shape:
        count *= d
    raw = rd.take(count * dtype.itemsize, f"{what} data ({count} x {dtype.name})")
    if count == 0:
        try:  # numpy refuses a size-0 shape whose other dims overflow its index type
            return np.zeros(shape, dtype=dtype.newbyteorder("="))
        except ValueError as err:
            raise rd.fail(f"{what}: invalid shape {tuple(shape)}") from err
    if flag == 7:  # MXNet bools are bytes; any nonzero byte is True
        return np.frombuffer(raw, dtype=np.uint8).astype(np.bool_).reshape(shape)
    # astype copies into a native-order, writable array that does not pin the file buffer
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def load_bytes(buf: bytes, name_for_errors: str = "<bytes>") -> Loaded:
    """Parse MXNet's NDArray list format: a dict if the file holds names, else a list."""
    rd = _Reader(buf, name_for_errors)
    (magic,) = rd.unpack("Q", "list header magic")
    if magic != LIST_MAGIC:
        raise rd.fail(f"bad magic number 0x{magic:016X} at byte offset 0 (expected 0x112); "
                      "not an MXNet NDArray list file")
    rd.unpack("Q", "list header reserved word")
    (count,) = rd.unpack("Q", "array count")
    arrays = [_read_array(rd, i) for i in range(count)]
    (nnames,) = rd.unpack("Q", "name count")
    if nnames not in (0, count):
        raise rd.fail(f"name count {nnames} does not match array count {count}")
    names = []
    for i in range(nnames):
        (length,) = rd.unpack("Q", f"name {i} length")
        raw = bytes(rd.take(length, f"name {i}"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise rd.fail(f"name {i} is not valid UTF-8: {raw!r}") from err
    return dict(zip(names, arrays)) if names else arrays


def load_arrays(fname: str) -> Loaded:
    """Load an MXNet `.params` / `.nd` file: dict if it holds names, else list of arrays."""
    with open(fname, "rb") as f:
        buf = f.read()
    return load_bytes(buf, repr(os.fspath(fname)))


def _write_parts(fobj, parts: List[bytes]) -> None:
    for part in parts:
        fobj.write(part)


def save_arrays(fname: str, data: ArrayData) -> None:
    """Save `data` to `fname` atomically: a failed save leaves no file and no temp file behind,
    and an existing `fname` untouched."""
    parts = _encode(data)  # validation errors surface before any file is created
    target = os.fspath(fname)
    folder, base = os.path.split(os.path.abspath(target))
    while True:
        # a short prefix of the name keeps the temp name under the file system's name limit
        tmp = os.path.join(folder, f".{base[:100]}.{secrets.token_hex(6)}.tmp")
        try:
            # 0o666 lets the umask decide permissions, as a plain open() would
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fobj:
            _write_parts(fobj, parts)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
