"""Tests for clnet.ndarray.serialize: MXNet 1.x NDArray list files (.params / .nd)."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from clnet.base import MXNetError
from clnet.ndarray import serialize

DTYPES = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"]
SHAPES = [(), (1,), (5,), (2, 3), (2, 1, 3, 2), (0,), (3, 0), (2, 0, 4)]


def _sample(dtype: str, shape: tuple) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    values = np.arange(n, dtype=np.int64) * 7 - 11
    if np.dtype(dtype).kind == "u":
        values = values % 251
    elif np.dtype(dtype).kind == "f":
        values = values / 4.0
    else:
        values = np.clip(values, -128, 127) if dtype == "int8" else values
    return values.astype(dtype).reshape(shape)


def _assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _record(magic, stype, shape, flag, data, dims_fmt="q"):
    """One array record as MXNet writes it (see the module docstring)."""
    head = struct.pack("<I", magic)
    if stype is not None:
        head += struct.pack("<i", stype)
    head += struct.pack(f"<i{len(shape)}{dims_fmt}", len(shape), *shape)
    return head + struct.pack("<iii", 1, 0, flag) + data


def _file(records, names=()):
    out = struct.pack("<QQQ", 0x112, 0, len(records)) + b"".join(records)
    out += struct.pack("<Q", len(names))
    for name in names:
        out += struct.pack("<Q", len(name.encode())) + name.encode()
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_every_dtype_and_shape(dtype, shape):
    arr = _sample(dtype, shape)
    out = serialize.load_bytes(serialize.save_bytes({"x": arr}))
    assert list(out) == ["x"]
    _assert_same(out["x"], arr)


def test_round_trip_values_are_exact():
    arr = np.array([[1.5, -2.25], [3.0, np.inf]], dtype=np.float32)
    out = serialize.load_bytes(serialize.save_bytes([arr]))
    assert out[0].tolist() == [[1.5, -2.25], [3.0, float("inf")]]
    big = np.array([2**62 + 1, -(2**62) - 3], dtype=np.int64)
    assert serialize.load_bytes(serialize.save_bytes([big]))[0].tolist() == big.tolist()


def test_list_and_dict_forms(tmp_path):
    a, b = _sample("float32", (2, 3)), _sample("int32", (4,))
    path = str(tmp_path / "list.nd")
    serialize.save_arrays(path, [a, b])
    out = serialize.load_arrays(path)
    assert isinstance(out, list) and len(out) == 2
    _assert_same(out[0], a)
    _assert_same(out[1], b)

    serialize.save_arrays(path, (b,))
    assert [x.tolist() for x in serialize.load_arrays(path)] == [b.tolist()]

    serialize.save_arrays(path, a)  # a single array is a one-element list
    only = serialize.load_arrays(path)
    assert isinstance(only, list) and len(only) == 1
    _assert_same(only[0], a)

    params = {"arg:w": a, "aux:mean": b, "名前": _sample("float16", (3,))}
    serialize.save_arrays(path, params)
    out = serialize.load_arrays(path)
    assert isinstance(out, dict) and list(out) == list(params)
    for key in params:
        _assert_same(out[key], params[key])


def test_empty_list_loads_as_empty_list():
    assert serialize.load_bytes(serialize.save_bytes([])) == []
    assert serialize.save_bytes({}) == struct.pack("<QQQQ", 0x112, 0, 0, 0)


def test_golden_bytes_match_mxnet_layout():
    w = np.array([[1, 2], [3, 4]], dtype=np.float32)
    expected = (
        struct.pack("<QQ", 0x112, 0)           # list magic, reserved
        + struct.pack("<Q", 1)                 # one array
        + struct.pack("<I", 0xF993FAC9)        # NDARRAY_V2_MAGIC
        + struct.pack("<i", 0)                 # dense storage
        + struct.pack("<iqq", 2, 2, 2)         # ndim 2, dims 2 x 2
        + struct.pack("<ii", 1, 0)             # cpu(0)
        + struct.pack("<i", 0)                 # float32
        + struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
        + struct.pack("<Q", 1)                 # one name
        + struct.pack("<Q", 5) + b"arg:w"
    )
    assert len(expected) == 16 + 8 + 4 + 4 + 20 + 8 + 4 + 16 + 8 + 13
    assert serialize.save_bytes({"arg:w": w}) == expected
    out = serialize.load_bytes(expected)
    assert list(out) == ["arg:w"]
    assert out["arg:w"].dtype == np.float32 and out["arg:w"].tolist() == [[1, 2], [3, 4]]


def test_zero_d_writes_v3_and_round_trips():
    buf = serialize.save_bytes([np.array(2.5), np.ones(2, np.int8)])
    # every record of a list holding a 0-d array is V3 (np-shape semantics)
    assert struct.unpack_from("<Ii", buf, 24) == (0xF993FACA, 0)
    assert struct.unpack_from("<i", buf, 32) == (0,)
    second = 24 + 4 + 4 + 4 + 8 + 4 + 8
    assert struct.unpack_from("<I", buf, second) == (0xF993FACA,)
    out = serialize.load_bytes(buf)
    assert out[0].shape == () and out[0].dtype == np.float64 and float(out[0]) == 2.5
    assert out[1].tolist() == [1, 1]


def test_reads_v1_and_legacy_records():
    data = struct.pack("<3i", 7, -8, 9)
    v1 = _record(0xF993FAC8, None, (3,), 4, data)
    legacy = struct.pack("<I2I", 2, 1, 3) + struct.pack("<iii", 1, 0, 4) + data
    out = serialize.load_bytes(_file([v1, legacy], ["a", "b"]))
    assert out["a"].tolist() == [7, -8, 9]
    assert out["b"].shape == (1, 3) and out["b"].tolist() == [[7, -8, 9]]


def test_reads_v3_record_and_bool():
    v3 = _record(0xF993FACA, 0, (), 1, struct.pack("<d", -0.5))
    flags = _record(0xF993FAC9, 0, (4,), 7, bytes([0, 1, 2, 0]))
    out = serialize.load_bytes(_file([v3, flags]))
    assert out[0].shape == () and float(out[0]) == -0.5
    assert out[1].dtype == np.bool_ and out[1].tolist() == [False, True, True, False]


def test_none_arrays_have_no_data():
    v2_none = struct.pack("<Iii", 0xF993FAC9, 0, 0)
    v3_none = struct.pack("<Iii", 0xF993FACA, 0, -1)
    legacy_none = struct.pack("<I", 0)
    tail = _record(0xF993FAC9, 0, (1,), 0, struct.pack("<f", 6.0))
    out = serialize.load_bytes(_file([v2_none, v3_none, legacy_none, tail]))
    assert [a.shape for a in out[:3]] == [(0,)] * 3
    assert out[3].tolist() == [6.0]


def test_writes_little_endian_from_big_endian_input():
    be = np.array([1.0, 2.0], dtype=">f4")
    buf = serialize.save_bytes([be])
    assert buf == serialize.save_bytes([be.astype("<f4")])
    out = serialize.load_bytes(buf)[0]
    assert out.dtype == np.float32 and out.tolist() == [1.0, 2.0]


def test_non_contiguous_input_is_saved_in_c_order():
    arr = np.arange(6, dtype=np.int32).reshape(2, 3).T
    out = serialize.load_bytes(serialize.save_bytes([arr]))[0]
    assert out.tolist() == [[0, 3], [1, 4], [2, 5]]


def test_every_truncated_prefix_raises_mxnet_error():
    buf = serialize.save_bytes({"w": np.arange(3, dtype=np.float32),
                                "b": np.arange(2, dtype=np.int64)})
    for n in range(len(buf)):
        with pytest.raises(MXNetError) as err:
            serialize.load_bytes(buf[:n], "tiny.params")
        assert "tiny.params" in str(err.value)
        assert "truncated at byte offset" in str(err.value)


def test_truncation_message_names_offset_and_field():
    buf = serialize.save_bytes([np.arange(4, dtype=np.float32)])
    with pytest.raises(MXNetError, match=r"truncated at byte offset 56 while reading array 0 data"):
        serialize.load_bytes(buf[:60])


def test_foreign_file_reports_bad_magic(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40)
    with pytest.raises(MXNetError) as err:
        serialize.load_arrays(str(path))
    msg = str(err.value)
    assert "magic" in msg and "0x0000001404034B50" in msg and "model.zip" in msg


def test_bad_record_magic_and_counts():
    garbage = _file([struct.pack("<I", 0xDEADBEEF) + b"\x00" * 32])
    with pytest.raises(MXNetError, match="bad NDArray magic number 0xDEADBEEF"):
        serialize.load_bytes(garbage)
    rec = _record(0xF993FAC9, 0, (1,), 0, struct.pack("<f", 1.0))
    mismatched = _file([rec, rec], ["only_one"])
    with pytest.raises(MXNetError, match="name count 1 does not match array count 2"):
        serialize.load_bytes(mismatched)


@pytest.mark.parametrize("flag, text", [(12, "unsupported dtype flag 12"),
                                        (9, "unsupported dtype flag 9")])
def test_unsupported_dtype_flags(flag, text):
    with pytest.raises(MXNetError, match=text):
        serialize.load_bytes(_file([_record(0xF993FAC9, 0, (1,), flag, b"\x00" * 8)]))


@pytest.mark.parametrize("stype, name", [(1, "row_sparse"), (2, "csr")])
def test_sparse_storage_rejected(stype, name):
    with pytest.raises(MXNetError, match=f"sparse storage \\({name}\\) not supported"):
        serialize.load_bytes(_file([_record(0xF993FAC9, stype, (1,), 0, b"\x00" * 4)]))


def test_validation_errors_name_the_problem():
    with pytest.raises(TypeError, match="got key 3 of type int"):
        serialize.save_bytes({3: np.zeros(1)})
    with pytest.raises(TypeError, match="value at 'w' must be a numpy array, got list"):
        serialize.save_bytes({"w": [1, 2]})
    with pytest.raises(TypeError, match="value at index 1 must be a numpy array"):
        serialize.save_bytes([np.zeros(1), 5.0])
    with pytest.raises(MXNetError, match="value at 'm' has unsupported dtype bool"):
        serialize.save_bytes({"m": np.zeros(2, dtype=bool)})
    with pytest.raises(MXNetError, match="index 0 has unsupported dtype complex64"):
        serialize.save_bytes([np.zeros(2, dtype=np.complex64)])
    with pytest.raises(TypeError, match="got str"):
        serialize.save_bytes("weights")


def _listing(folder) -> list:
    return sorted(os.listdir(folder))


def test_failed_validation_leaves_no_file(tmp_path):
    target = tmp_path / "model.params"
    with pytest.raises(TypeError):
        serialize.save_arrays(str(target), [np.zeros(3, np.float32), "not an array"])
    assert _listing(tmp_path) == []


def test_failure_midway_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "model.params"

    def half_then_fail(fobj, parts):
        fobj.write(parts[0])
        raise OSError("disk full")

    monkeypatch.setattr(serialize, "_write_parts", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        serialize.save_arrays(str(target), {"w": np.ones(4, np.float32)})
    assert _listing(tmp_path) == []


def test_failed_save_leaves_existing_target_untouched(tmp_path, monkeypatch):
    target = tmp_path / "model.params"
    serialize.save_arrays(str(target), {"w": np.full(3, 7, np.int32)})
    before = target.read_bytes()

    def fail_replace(src, dst):
        raise OSError("replace failed")

    monkeypatch.setattr(serialize.os, "replace", fail_replace)
    with pytest.raises(OSError, match="replace failed"):
        serialize.save_arrays(str(target), {"w": np.zeros(100, np.float64)})
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert _listing(tmp_path) == ["model.params"]
    assert serialize.load_arrays(str(target))["w"].tolist() == [7, 7, 7]


def test_save_overwrites_and_accepts_pathlike(tmp_path):
    target = tmp_path / "a.nd"
    serialize.save_arrays(target, [np.zeros(2, np.uint8)])
    serialize.save_arrays(target, [np.ones(3, np.uint8)])
    assert serialize.load_arrays(target)[0].tolist() == [1, 1, 1]
    assert _listing(tmp_path) == ["a.nd"]


def test_absurd_ndim_is_rejected_not_allocated():
    rec = struct.pack("<Iii", 0xF993FAC9, 0, 2**31 - 1) + b"\x00" * 16
    with pytest.raises(MXNetError, match="invalid ndim 2147483647"):
        serialize.load_bytes(_file([rec]))
    huge = _record(0xF993FAC9, 0, (2**40, 2**20), 0, b"")
    with pytest.raises(MXNetError, match="truncated at byte offset 64 while reading array 0 data"):
        serialize.load_bytes(_file([huge]))


def test_size_zero_shape_with_overflowing_dims_is_an_mxnet_error():
    rec = _record(0xF993FAC9, 0, (0, 2**62, 2**62), 0, b"")
    with pytest.raises(MXNetError, match="invalid shape"):
        serialize.load_bytes(_file([rec]))
