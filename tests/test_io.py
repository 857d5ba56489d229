"""mx.io: DataDesc/DataBatch, NDArrayIter (pad, discard, roll_over, shuffle, names),
ResizeIter, PrefetchingIter, MNISTIter on IDX files written here, CSVIter."""
from __future__ import annotations

import gc
import gzip
import logging

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.io import (CSVIter, DataBatch, DataDesc, DataIter, MNISTIter, NDArrayIter,
                      PrefetchingIter, ResizeIter)


def rows(batch, i=0, what="data"):
    """The first column of data[i] (or label[i]) of a batch, as a list: which examples it holds."""
    arr = (batch.data if what == "data" else batch.label)[i].asnumpy()
    return arr.reshape(arr.shape[0], -1)[:, 0].tolist()


def epoch(it):
    return [(rows(b), rows(b, what="label") if b.label else None, b.pad) for b in it]


def examples(n=10, width=3):
    """Example i is [i, i + 0.5, ...] so every row says which example it is; label i is i."""
    data = np.arange(n, dtype=np.float32)[:, None] + np.arange(width) * 0.5
    return data, np.arange(n)


# -- DataDesc, DataBatch, DataIter -----------------------------------------------------------
def test_data_desc():
    d = DataDesc("data", [32, 3, 8, 8])
    assert d == ("data", (32, 3, 8, 8)) and d.name == "data" and d.shape == (32, 3, 8, 8)
    assert d.dtype is np.float32 and d.layout == "NCHW"
    name, shape = d
    assert (name, shape) == ("data", (32, 3, 8, 8))
    assert repr(d) == "DataDesc[data,(32, 3, 8, 8),<class 'numpy.float32'>,NCHW]"
    assert DataDesc.get_batch_axis("TNC") == 1 and DataDesc.get_batch_axis(None) == 0
    descs = DataDesc.get_list([("a", (2, 3)), ("b", (2,))], [("a", np.int32), ("b", np.float64)])
    assert [(x.name, x.shape, x.dtype) for x in descs] == [("a", (2, 3), np.int32),
                                                           ("b", (2,), np.float64)]
    assert [x.dtype for x in DataDesc.get_list([("a", (1,))], None)] == [np.float32]
    t = DataDesc("seq", (5, 2, 4), np.int32, layout="TNC")
    assert (t.dtype, t.layout, t.get_batch_axis(t.layout)) == (np.int32, "TNC", 1)


def test_data_batch():
    b = DataBatch(data=[mx.nd.ones((2, 3))])
    assert str(b) == "DataBatch: data shapes: [(2, 3)] label shapes: None"
    b = DataBatch([mx.nd.ones((2, 3)), mx.nd.ones((7, 8))], [mx.nd.ones((4, 5))], pad=1,
                  index=np.arange(2), bucket_key=3)
    assert str(b) == "DataBatch: data shapes: [(2, 3), (7, 8)] label shapes: [(4, 5)]"
    assert (b.pad, b.bucket_key, b.provide_data) == (1, 3, None)
    with pytest.raises(TypeError, match="list of NDArrays"):
        DataBatch(mx.nd.ones((2, 3)))
    with pytest.raises(TypeError, match="label must be a list"):
        DataBatch([mx.nd.ones((2, 3))], label=mx.nd.ones((2,)))


def test_data_iter_protocol():
    class Count(DataIter):
        """Three batches of one example each, written with the iter_next/get* protocol."""

        def __init__(self):
            super().__init__(batch_size=1)
            self.i = -1

        def reset(self):
            self.i = -1

        def iter_next(self):
            self.i += 1
            return self.i < 3

        def getdata(self):
            return [mx.nd.array([self.i])]

        def getlabel(self):
            return [mx.nd.array([10 * self.i])]

        def getpad(self):
            return 0

    it = Count()
    assert iter(it) is it and it.batch_size == 1 and it.provide_data is None
    assert [(rows(b), rows(b, what="label")) for b in it] == [([0], [0]), ([1], [10]),
                                                              ([2], [20])]
    with pytest.raises(StopIteration):
        next(it)
    it.reset()
    batch = next(it)
    assert batch.pad == 0 and batch.index is None and rows(batch) == [0]


# -- NDArrayIter -------------------------------------------------------------------------------
def test_ndarrayiter_pad_two_epochs():
    x, y = examples(10)
    it = NDArrayIter(x, y, batch_size=4)
    expect = [([0, 1, 2, 3], [0, 1, 2, 3], 0), ([4, 5, 6, 7], [4, 5, 6, 7], 0),
              ([8, 9, 0, 1], [8, 9, 0, 1], 2)]
    assert epoch(it) == expect
    with pytest.raises(StopIteration):
        it.next()
    it.reset()
    assert epoch(it) == expect
    it.reset()
    batch = it.next()
    np.testing.assert_array_equal(batch.data[0].asnumpy(), x[:4])
    assert batch.data[0].dtype == np.float32 and batch.data[0].context == mx.cpu(0)
    assert batch.label[0].shape == (4,) and batch.index is None


def test_ndarrayiter_pad_batch_larger_than_data():
    x, y = examples(3)
    it = NDArrayIter(x, y, batch_size=7)
    assert epoch(it) == [([0, 1, 2, 0, 1, 2, 0], [0, 1, 2, 0, 1, 2, 0], 4)]
    it = NDArrayIter(x, y, batch_size=6)
    assert epoch(it) == [([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], 3)]


def test_ndarrayiter_discard_two_epochs():
    x, y = examples(10)
    it = NDArrayIter(x, y, batch_size=4, last_batch_handle="discard")
    expect = [([0, 1, 2, 3], [0, 1, 2, 3], 0), ([4, 5, 6, 7], [4, 5, 6, 7], 0)]
    assert epoch(it) == expect
    it.reset()
    assert epoch(it) == expect
    exact = NDArrayIter(x, y, batch_size=5, last_batch_handle="discard")
    assert [b[0] for b in epoch(exact)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_ndarrayiter_roll_over_three_epochs():
    x, y = examples(10)
    it = NDArrayIter(x, y, batch_size=4, last_batch_handle="roll_over")
    assert epoch(it) == [([0, 1, 2, 3], [0, 1, 2, 3], 0), ([4, 5, 6, 7], [4, 5, 6, 7], 0)]
    it.reset()
    # the leftover 8, 9 open the next epoch (pad reports them, as MXNet does); 6..9 then fill
    # the last batch exactly, so nothing rolls over into the third epoch
    assert epoch(it) == [([8, 9, 0, 1], [8, 9, 0, 1], 2), ([2, 3, 4, 5], [2, 3, 4, 5], 0),
                         ([6, 7, 8, 9], [6, 7, 8, 9], 0)]
    it.reset()
    assert epoch(it) == [([0, 1, 2, 3], [0, 1, 2, 3], 0), ([4, 5, 6, 7], [4, 5, 6, 7], 0)]
    it.reset()
    assert epoch(it)[0] == ([8, 9, 0, 1], [8, 9, 0, 1], 2)
    it.hard_reset()
    assert epoch(it)[0] == ([0, 1, 2, 3], [0, 1, 2, 3], 0)


def test_ndarrayiter_roll_over_matches_pad_batch():
    # MXNet's check: the first roll_over batch of epoch 2 equals pad's last batch
    x, y = examples(1000, 2)
    pad = epoch(NDArrayIter(x, y, 128))
    it = NDArrayIter(x, y, 128, last_batch_handle="roll_over")
    assert len(pad) == 8 and len(epoch(it)) == 7
    it.reset()
    assert rows(it.next()) == pad[-1][0]


def test_ndarrayiter_no_label():
    x, _ = examples(5)
    for label in (None, []):
        it = NDArrayIter(x, label, batch_size=2)
        batches = list(it)
        assert [b.label for b in batches] == [[], [], []] and it.provide_label == []
        assert [rows(b) for b in batches] == [[0, 1], [2, 3], [4, 0]]


def test_ndarrayiter_shuffle_reproducible():
    x, y = examples(10)
    np.random.seed(7)
    order = np.arange(10)
    np.random.shuffle(order)  # what the construction-time shuffle draws
    np.random.seed(7)
    it = NDArrayIter(x, y, batch_size=5, shuffle=True)
    first = epoch(it)
    assert [r for b in first for r in b[0]] == order.tolist()
    assert all(b[0] == b[1] for b in first)  # data and labels stay paired
    np.testing.assert_array_equal(it.idx, order)
    it.reset()
    second = epoch(it)
    assert sorted(r for b in second for r in b[0]) == list(range(10))
    assert all(b[0] == b[1] for b in second)
    np.random.seed(7)
    again = NDArrayIter(x, y, batch_size=5, shuffle=True)
    assert epoch(again) == first
    again.reset()
    assert epoch(again) == second


def test_ndarrayiter_shuffle_keeps_ndarray_dtype():
    x = mx.nd.array(np.arange(12).reshape(6, 2), dtype=np.int32)
    it = NDArrayIter(x, batch_size=3, shuffle=True)
    batch = it.next()
    assert batch.data[0].dtype == np.int32 and it.provide_data[0].dtype == np.int32
    assert sorted(rows(batch) + rows(it.next())) == [0, 2, 4, 6, 8, 10]


def test_ndarrayiter_names_and_descs():
    a, b = np.zeros((6, 2, 3)), np.ones((6, 4))
    it = NDArrayIter({"zeta": a, "alpha": b}, {"lab2": np.zeros(6), "lab1": np.ones((6, 1))},
                     batch_size=4)
    assert it.provide_data == [("alpha", (4, 4)), ("zeta", (4, 2, 3))]
    assert [d.dtype for d in it.provide_data] == [np.float32, np.float32]
    assert it.provide_label == [("lab1", (4, 1)), ("lab2", (4,))]
    batch = it.next()
    assert [d.shape for d in batch.data] == [(4, 4), (4, 2, 3)]
    assert batch.data[0].asnumpy().sum() == 16 and batch.data[1].asnumpy().sum() == 0
    assert [lab.shape for lab in batch.label] == [(4, 1), (4,)]
    # lists are named _<i>_<name> and sorted by name as MXNet does (_10_ before _2_)
    lists = NDArrayIter([np.zeros((3, 1))] * 11, [np.zeros(3)], batch_size=1, label_name="lab")
    names = [d.name for d in lists.provide_data]
    assert names[:3] == ["_0_data", "_10_data", "_1_data"] and len(names) == 11
    assert [d.name for d in lists.provide_label] == ["lab"]
    named = NDArrayIter(np.zeros((3, 2)), np.zeros(3), data_name="x", label_name="y")
    assert named.provide_data == [("x", (1, 2))] and named.provide_label == [("y", (1,))]
    assert named.num_source == 2 and len(named.data_list) == 2


def test_ndarrayiter_ndarray_input_is_not_copied():
    x = mx.nd.array(np.arange(8).reshape(4, 2))
    it = NDArrayIter(x, batch_size=2)
    batch = it.next()
    assert batch.data[0]._buf is x._buf  # a first-axis slice is a view
    np.testing.assert_array_equal(batch.data[0].asnumpy(), [[0, 1], [2, 3]])
    lists = NDArrayIter([[1, 2], [3, 4]], batch_size=1)  # a list of two sources, as MXNet
    assert [d.name for d in lists.provide_data] == ["_0_data", "_1_data"]


def test_ndarrayiter_errors():
    x, y = examples(6)
    with pytest.raises(MXNetError, match="last_batch_handle='wrap'"):
        NDArrayIter(x, y, 2, last_batch_handle="wrap")
    with pytest.raises(MXNetError, match="batch_size must be a positive integer, got 0"):
        NDArrayIter(x, y, 0)
    with pytest.raises(MXNetError, match="softmax_label has 5 examples but data has 6"):
        NDArrayIter(x, y[:5], 2)
    with pytest.raises(MXNetError, match="no data arrays given"):
        NDArrayIter([], y, 2)
    with pytest.raises(TypeError, match="must be an NDArray, a numpy array"):
        NDArrayIter("abc", y, 2)
    with pytest.raises(TypeError, match="cannot become an NDArray"):
        NDArrayIter({"data": object()}, None, 2)
    with pytest.raises(MXNetError, match="0-d"):
        NDArrayIter(np.array(3.0), None, 1)
    it = NDArrayIter(x, y, 2)
    with pytest.raises(MXNetError, match="call iter_next"):
        it.getdata()
    list(it)
    with pytest.raises(MXNetError, match="call reset"):
        it.getdata()


# -- ResizeIter --------------------------------------------------------------------------------
def test_resize_iter():
    x, y = examples(10)
    inner = NDArrayIter(x, y, batch_size=4)
    it = ResizeIter(inner, 5)
    assert it.provide_data == inner.provide_data and it.batch_size == 4
    got = epoch(it)
    assert [b[0][0] for b in got] == [0, 4, 8, 0, 4] and [b[2] for b in got] == [0, 0, 2, 0, 0]
    it.reset()
    assert [b[0][0] for b in epoch(it)] == [0, 4, 8, 0, 4]
    short = ResizeIter(NDArrayIter(x, y, batch_size=4), 2, reset_internal=False)
    assert [b[0][0] for b in epoch(short)] == [0, 4]
    short.reset()
    assert [b[0][0] for b in epoch(short)] == [8, 0]


# -- PrefetchingIter ---------------------------------------------------------------------------
def test_prefetching_iter_same_batches():
    x, y = examples(10)
    plain = NDArrayIter(x, y, batch_size=4)
    expect = epoch(plain)
    with PrefetchingIter(NDArrayIter(x, y, batch_size=4)) as it:
        assert it.batch_size == 4 and it.provide_data == [("data", (4, 3))]
        assert it.provide_label == [("softmax_label", (4,))]
        for _ in range(2):
            got = []
            for batch in it:
                got.append((rows(batch), rows(batch, what="label"), batch.pad))
                assert batch.provide_data == it.provide_data
            assert got == expect
            it.reset()
        batch = it.next()
        assert it.getdata() is batch.data and it.getpad() == 0 and it.getindex() is None
        it.reset()  # mid-epoch: waits for the batch being loaded, then starts over
        assert rows(it.next()) == [0, 1, 2, 3]


def test_prefetching_iter_joins_and_renames():
    x, y = examples(8)
    it = PrefetchingIter([NDArrayIter(x, y, 4), NDArrayIter(x * 10, y, 4)],
                         rename_data=[{"data": "d1"}, {"data": "d2"}],
                         rename_label=[{"softmax_label": "l1"}, {}])
    assert [d.name for d in it.provide_data] == ["d1", "d2"]
    assert [d.name for d in it.provide_label] == ["l1", "softmax_label"]
    batches = list(it)
    assert len(batches) == 2 and [len(b.data) for b in batches] == [2, 2]
    assert rows(batches[1], 1) == [40, 50, 60, 70] and rows(batches[1], 0) == [4, 5, 6, 7]
    assert batches[1].label is not None and len(batches[1].label) == 2
    it.close()
    with pytest.raises(MXNetError, match="one dict per iterator"):
        PrefetchingIter([NDArrayIter(x, y, 4)], rename_data=[{}, {}])
    uneven = PrefetchingIter([NDArrayIter(x, y, 4), NDArrayIter(x[:4], y[:4], 4)])
    uneven.next()
    with pytest.raises(MXNetError, match="different numbers of batches"):
        uneven.next()
    uneven.close()


class Failing(DataIter):
    """Yields `good` batches, then raises ValueError."""

    def __init__(self, good):
        super().__init__(2)
        self.good, self.count = good, 0
        self.provide_data = [DataDesc("data", (2, 1))]
        self.provide_label = []

    def reset(self):
        self.count = 0

    def next(self):
        self.count += 1
        if self.count > self.good:
            raise ValueError(f"bad record {self.count}")
        return DataBatch([mx.nd.array([[self.count], [self.count]])], [], pad=0)


def test_prefetching_iter_reraises_and_closes():
    it = PrefetchingIter(Failing(good=1))
    assert rows(it.next()) == [1, 1]
    with pytest.raises(ValueError, match="bad record 2"):
        it.next()
    it.reset()  # still usable after an error
    assert rows(it.next()) == [1, 1]
    threads = [w.thread for w in it._workers]
    assert all(t.is_alive() and t.daemon for t in threads)
    it.close()
    it.close()
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(MXNetError, match="closed"):
        it.next()


def test_prefetching_iter_stops_threads_when_dropped():
    it = PrefetchingIter(NDArrayIter(np.zeros((4, 1)), batch_size=2))
    thread = it._workers[0].thread
    assert thread.is_alive()
    del it
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


# -- MNISTIter ---------------------------------------------------------------------------------
def write_idx(path, arr, magic, compress=False):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return str(path)


@pytest.fixture
def mnist_files(tmp_path):
    """10 images of 4x3 pixels: image i holds pixels 20*i + 0..11; label i is 9 - i."""
    images = (20 * np.arange(10)[:, None, None] + np.arange(12).reshape(1, 4, 3)).astype(np.uint8)
    labels = (9 - np.arange(10)).astype(np.uint8)

    def make(compress=False, n=10):
        suffix = ".gz" if compress else ""
        return (write_idx(tmp_path / f"img{n}{suffix}", images[:n], 2051, compress),
                write_idx(tmp_path / f"lab{n}{suffix}", labels[:n], 2049, compress))
    make.images, make.labels = images, labels
    return make


def mnist_ids(it):
    """(image ids, labels) of each batch: pixel [0] of image i is 20 * i."""
    out = []
    for batch in it:
        first = batch.data[0].asnumpy().reshape(batch.data[0].shape[0], -1)[:, 0]
        out.append(([int(round(v * 256)) // 20 for v in first],
                    batch.label[0].asnumpy().astype(int).tolist()))
    return out


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_iter_shapes_and_values(mnist_files, compress):
    image, label = mnist_files(compress)
    it = MNISTIter(image=image, label=label, batch_size=4, shuffle=False, silent=True)
    assert it.provide_data == [("data", (4, 1, 4, 3))] and it.provide_label == [
        ("softmax_label", (4,))]
    batch = it.next()
    assert batch.data[0].shape == (4, 1, 4, 3) and batch.data[0].dtype == np.float32
    assert batch.data[0].context == mx.cpu(0) and batch.pad == 0
    np.testing.assert_array_equal(batch.data[0].asnumpy(),
                                  mnist_files.images[:4, None].astype(np.float32) / 256)
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [9, 8, 7, 6])
    assert it.getdata() is batch.data[0] and it.getindex().tolist() == [0, 1, 2, 3]
    it.reset()
    # 10 images, batches of 4: the last 2 are skipped every epoch, as MXNet does
    for _ in range(2):
        assert mnist_ids(it) == [([0, 1, 2, 3], [9, 8, 7, 6]), ([4, 5, 6, 7], [5, 4, 3, 2])]
        it.reset()
    flat = MNISTIter(image=image, label=label, batch_size=5, shuffle=False, flat=True,
                     silent=True, data_shape=(12,), prefetch_buffer=2)
    batch = flat.next()
    assert flat.provide_data == [("data", (5, 12))] and batch.data[0].shape == (5, 12)
    np.testing.assert_array_equal(batch.data[0].asnumpy(),
                                  mnist_files.images[:5].reshape(5, 12) / np.float32(256))


def test_mnist_iter_shuffle_and_shards(mnist_files, caplog):
    image, label = mnist_files()
    with caplog.at_level(logging.INFO):
        a = MNISTIter(image=image, label=label, batch_size=2, seed=3)  # shuffle is the default
    assert "MNISTIter: load 10 images, shuffle=1, shape=(2, 1, 4, 3)" in caplog.text
    first = mnist_ids(a)
    ids = [i for ids, _ in first for i in ids]
    assert sorted(ids) == list(range(10)) and ids != list(range(10))
    assert all(lab == [9 - i for i in ids] for ids, lab in first)  # images keep their labels
    a.reset()
    assert mnist_ids(a) == first  # shuffled once, on construction, as MXNet
    b = MNISTIter(image=image, label=label, batch_size=2, seed=3, silent=True)
    assert mnist_ids(b) == first
    b.reset()
    b.next()
    assert b.getindex().tolist() == first[0][0]  # file rows of the shuffled examples
    other = mnist_ids(MNISTIter(image=image, label=label, batch_size=2, seed=4, silent=True))
    assert other != first
    # MXNet's split of 10 into 3 parts: [0, 3), [3, 6), [6, 10)
    parts = [mnist_ids(MNISTIter(image=image, label=label, batch_size=1, shuffle=False,
                                 num_parts=3, part_index=p, silent=True)) for p in range(3)]
    assert [[b[0][0] for b in part] for part in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    shard = MNISTIter(image=image, label=label, batch_size=2, num_parts=2, part_index=1,
                      seed=1, silent=True)
    used = [i for ids, _ in mnist_ids(shard) for i in ids]  # 4 of the part's 5 images
    assert len(set(used)) == 4 and set(used) <= {5, 6, 7, 8, 9}


def test_mnist_iter_errors(mnist_files, tmp_path):
    image, label = mnist_files()
    with pytest.raises(MXNetError, match=r"lab10.*magic number 2049, expected 2051.*label file"):
        MNISTIter(image=label, label=label, silent=True)
    with pytest.raises(MXNetError, match=r"img10.*magic number 2051, expected 2049"):
        MNISTIter(image=image, label=image, silent=True)
    raw = (tmp_path / "img10").read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(raw[:-5])
    with pytest.raises(MXNetError, match=r"'.*cut' is truncated: dimensions \(10, 4, 3\) need "
                                         r"136 bytes, the file has 131"):
        MNISTIter(image=str(cut), label=label, silent=True)
    cut.write_bytes(raw[:10])
    with pytest.raises(MXNetError, match="cut' is truncated: its header needs 16 bytes"):
        MNISTIter(image=str(cut), label=label, silent=True)
    cut.write_bytes(raw[:2])
    with pytest.raises(MXNetError, match="truncated: 2 bytes"):
        MNISTIter(image=str(cut), label=label, silent=True)
    bad_gz = tmp_path / "bad.gz"
    bad_gz.write_bytes(gzip.compress(raw)[:30])
    with pytest.raises(MXNetError, match="bad.gz' is a damaged gzip file"):
        MNISTIter(image=str(bad_gz), label=label, silent=True)
    with pytest.raises(MXNetError, match="missing' not found"):
        MNISTIter(image=str(tmp_path / "missing"), label=label, silent=True)
    gz_image, _ = mnist_files(compress=True, n=9)
    with pytest.raises(MXNetError, match=r"not found; .*img9\.gz exists"):
        MNISTIter(image=gz_image[:-3], label=label, silent=True)
    _, label8 = mnist_files(n=8)
    with pytest.raises(MXNetError, match="holds 10 images but .*lab8' holds 8 labels"):
        MNISTIter(image=image, label=label8, silent=True)
    with pytest.raises(MXNetError, match="part_index must be in"):
        MNISTIter(image=image, label=label, num_parts=2, part_index=2, silent=True)
    with pytest.raises(MXNetError, match=r"\(part 1 of 3\) has 3 images, fewer than "
                                         "batch_size=4"):
        MNISTIter(image=image, label=label, batch_size=4, num_parts=3, part_index=1,
                  silent=True)
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['shufle'\]"):
        MNISTIter(image=image, label=label, shufle=False)
    it = MNISTIter(image=image, label=label, batch_size=2, silent=True)
    with pytest.raises(MXNetError, match="no current batch"):
        it.getdata()


# -- CSVIter -----------------------------------------------------------------------------------
@pytest.fixture
def csv_files(tmp_path):
    """5 rows of 6 values; row i is 10 * i + 0..5; label row i is [i, -i]."""
    data = 10 * np.arange(5)[:, None] + np.arange(6)
    data_path = tmp_path / "data.csv"
    data_path.write_text("\n".join(",".join(str(v) for v in row) for row in data) + "\n")
    label_path = tmp_path / "label.csv"
    label_path.write_text("".join(f"{i}\n" for i in range(5)))
    label2_path = tmp_path / "label2.csv"
    label2_path.write_text("".join(f"{i},{-i}\n" for i in range(5)))
    return str(data_path), str(label_path), str(label2_path), data


def csv_ids(it):
    return [([int(v) // 10 for v in b.data[0].asnumpy().reshape(b.data[0].shape[0], -1)[:, 0]],
             b.label[0].asnumpy().tolist(), b.pad) for b in it]


def test_csv_iter_round_batch(csv_files):
    data_csv, label_csv, _, data = csv_files
    it = CSVIter(data_csv=data_csv, data_shape=(2, 3), label_csv=label_csv, batch_size=2)
    assert it.provide_data == [("data", (2, 2, 3))] and it.provide_label == [
        ("softmax_label", (2,))]
    batch = it.next()
    np.testing.assert_array_equal(batch.data[0].asnumpy(), data[:2].reshape(2, 2, 3))
    assert batch.data[0].dtype == np.float32 and batch.label[0].shape == (2,)
    it.reset()
    assert csv_ids(it) == [([0, 1], [0, 1], 0), ([2, 3], [2, 3], 0), ([4, 0], [4, 0], 1)]
    it.reset()  # round_batch: row 0 was used to fill the last batch, this epoch starts after it
    assert csv_ids(it) == [([1, 2], [1, 2], 0), ([3, 4], [3, 4], 0)]
    it.reset()
    assert csv_ids(it)[0] == ([0, 1], [0, 1], 0)
    no_round = CSVIter(data_csv=data_csv, data_shape=(6,), label_csv=label_csv, batch_size=2,
                       round_batch=False)
    for _ in range(2):
        assert csv_ids(no_round) == [([0, 1], [0, 1], 0), ([2, 3], [2, 3], 0),
                                     ([4, 0], [4, 0], 1)]
        no_round.reset()


def test_csv_iter_labels_and_dtypes(csv_files, tmp_path):
    data_csv, _, label2_csv, data = csv_files
    unlabeled = CSVIter(data_csv=data_csv, data_shape=(6,), batch_size=5)
    batch = unlabeled.next()
    assert batch.label[0].shape == (5,) and batch.label[0].asnumpy().tolist() == [0] * 5
    wide = CSVIter(data_csv=data_csv, data_shape=(6,), label_csv=label2_csv, label_shape=(2,),
                   batch_size=5, label_name="target")
    assert wide.provide_label == [("target", (5, 2))]
    np.testing.assert_array_equal(wide.next().label[0].asnumpy(),
                                  np.stack([np.arange(5), -np.arange(5)], axis=1))
    big = tmp_path / "big.csv"
    big.write_text("2147483648,1\n-3,200000001\n")
    for dtype in ("int32", "int64", "float32"):
        path = big if dtype == "int64" else data_csv
        shape = (2,) if dtype == "int64" else (6,)
        it = CSVIter(data_csv=str(path), data_shape=shape, batch_size=2, dtype=dtype)
        got = it.next().data[0]
        assert got.dtype == np.dtype(dtype) and it.provide_data[0].dtype == np.dtype(dtype)
        expect = [[2147483648, 1], [-3, 200000001]] if dtype == "int64" else data[:2]
        np.testing.assert_array_equal(got.asnumpy(), expect)


def test_csv_iter_errors(csv_files, tmp_path):
    data_csv, label_csv, _, _ = csv_files
    with pytest.raises(MXNetError, match=r"rows of '.*data.csv' have 6 values, but the shape "
                                         r"\(4,\) needs 4"):
        CSVIter(data_csv=data_csv, data_shape=(4,), batch_size=2)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3\n4,5\n")
    with pytest.raises(MXNetError, match="ragged.csv' is not a CSV file of float32 numbers"):
        CSVIter(data_csv=str(ragged), data_shape=(3,), batch_size=1)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(MXNetError, match="empty.csv' has no rows"):
        CSVIter(data_csv=str(empty), data_shape=(3,), batch_size=1)
    short = tmp_path / "short.csv"
    short.write_text("1\n2\n")
    with pytest.raises(MXNetError, match="short.csv' has 2 rows, fewer than the 5 rows"):
        CSVIter(data_csv=data_csv, data_shape=(6,), label_csv=str(short), batch_size=2)
    with pytest.raises(MXNetError, match="batch_size is required"):
        CSVIter(data_csv=data_csv, data_shape=(6,))
    with pytest.raises(MXNetError, match="dtype float64 is not supported"):
        CSVIter(data_csv=data_csv, data_shape=(6,), batch_size=2, dtype="float64")
    with pytest.raises(MXNetError, match="cannot read '.*nope.csv'"):
        CSVIter(data_csv=str(tmp_path / "nope.csv"), data_shape=(6,), batch_size=2)
    with pytest.raises(MXNetError, match="data_shape must be a non-empty tuple"):
        CSVIter(data_csv=data_csv, data_shape=(), batch_size=2)
