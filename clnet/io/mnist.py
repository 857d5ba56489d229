"""MNISTIter: batches from MNIST's IDX files, as MXNet 1.x's C++ MNISTIter makes them.

Owns reading IDX files (plain or gzip-compressed) and the MNIST iterator's options (flat or
image shape, one seeded shuffle, sharding). Batching is MXDataIter's (files.py).
"""
from __future__ import annotations

import gzip
import logging
import os

import numpy as np

from ..base import MXNetError
from .files import MXDataIter

__all__ = ["MNISTIter", "read_idx"]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_KIND = {IMAGE_MAGIC: "an MNIST image file", LABEL_MAGIC: "an MNIST label file"}
# MXNet's MNISTIter multiplies pixels by 1/256 (src/io/iter_mnist.cc), not 1/255
PIXEL_SCALE = np.float32(1.0 / 256.0)
# MXNet iterator options that only steer its C++ prefetcher or shape checks; accepted so
# MXNet calls run unchanged, and ignored
_IGNORED_OPTIONS = frozenset({"prefetch_buffer", "ctx", "dtype", "input_shape", "data_shape",
                              "label_width", "preprocess_threads", "verbose"})


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        hint = f"; {path}.gz exists, pass that" if os.path.exists(path + ".gz") else ""
        raise MXNetError(f"MNIST file {path!r} not found{hint}") from None
    except OSError as err:
        raise MXNetError(f"MNIST file {path!r} cannot be read: {err}") from err
    if raw[:2] == b"\x1f\x8b":  # gzip's magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise MXNetError(f"MNIST file {path!r} is a damaged gzip file: {err}") from err
    return raw


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array stored in IDX file `path` (optionally gzip-compressed), checking that its
    magic number is `magic` (2051 for images, 2049 for labels) and that it is complete."""
    raw = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    if len(raw) < 4:
        raise MXNetError(f"MNIST file {path!r} is truncated: {len(raw)} bytes, not even a "
                         "magic number")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        what = _KIND.get(found, "not an MNIST IDX file")
        raise MXNetError(f"MNIST file {path!r} has magic number {found}, expected {magic} "
                         f"({_KIND[magic]}); it looks like {what}")
    if len(raw) < header:
        raise MXNetError(f"MNIST file {path!r} is truncated: its header needs {header} bytes, "
                         f"the file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 * (i + 1):4 * (i + 2)], "big") for i in range(ndim))
    need = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != need:
        state = "truncated" if len(raw) < need else "longer than its header says"
        raise MXNetError(f"MNIST file {path!r} is {state}: dimensions {shape} need {need} "
                         f"bytes, the file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _part(count: int, num_parts: int, part_index: int):
    # MXNet's GetPart: boundaries computed in double precision and truncated
    start = int(count / num_parts * part_index)
    end = int(count / num_parts * (part_index + 1))
    return start, end


class MNISTIter(MXDataIter):
    """Iterate over MNIST in IDX format (`train-images-idx3-ubyte` etc., optionally .gz).

    Pixels become float32 in [0, 1) (multiplied by 1/256, as MXNet does); labels float32 of
    shape (batch_size,). Only full batches are returned: the last `count % batch_size` images
    of each epoch are skipped, as in MXNet.

    Parameters
    ----------
    image, label : str
        Paths of the image and label IDX files (gzip-compressed ones are recognised).
    batch_size : int
    shuffle : bool
        Shuffle the images once, on construction, with `seed` (MXNet's default is True).
    flat : bool
        Batches of shape (batch_size, rows * cols) instead of (batch_size, 1, rows, cols).
    seed : int
        Seed of the shuffle.
    silent : bool
        Do not log the loaded size.
    num_parts, part_index : int
        Read only part `part_index` of `num_parts` equal parts (for distributed training).
    data_name, label_name : str
        Names in provide_data / provide_label.

    MXNet's prefetcher options (prefetch_buffer, ctx, dtype, input_shape, data_shape, ...)
    are accepted and ignored.

    Examples
    --------
    >>> train = mx.io.MNISTIter(image='train-images-idx3-ubyte',
    ...                         label='train-labels-idx1-ubyte', batch_size=100, flat=True)
    >>> train.provide_data
    [DataDesc[data,(100, 784),<class 'numpy.float32'>,NCHW]]
    """

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
                 batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
                 part_index=0, data_name="data", label_name="softmax_label", **kwargs):
        unknown = sorted(set(kwargs) - _IGNORED_OPTIONS)
        if unknown:
            raise TypeError(f"MNISTIter: unknown argument(s) {unknown}")
        super().__init__(batch_size, data_name, label_name)
        if not (isinstance(num_parts, (int, np.integer)) and num_parts >= 1):
            raise MXNetError(f"MNISTIter: num_parts must be an integer >= 1, got {num_parts!r}")
        if not (isinstance(part_index, (int, np.integer)) and 0 <= part_index < num_parts):
            raise MXNetError(f"MNISTIter: part_index must be in [0, num_parts={num_parts}), "
                             f"got {part_index!r}")
        images = read_idx(image, IMAGE_MAGIC)
        labels = read_idx(label, LABEL_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise MXNetError(f"MNISTIter: {image!r} holds {images.shape[0]} images but "
                             f"{label!r} holds {labels.shape[0]} labels")
        start, end = _part(images.shape[0], num_parts, part_index)
        images, labels = images[start:end], labels[start:end]
        ids = np.arange(start, end)
        if shuffle:
            order = np.random.RandomState(seed).permutation(images.shape[0])
            images, labels, ids = images[order], labels[order], ids[order]
        if images.shape[0] < self.batch_size:
            part = f" (part {part_index} of {num_parts})" if num_parts > 1 else ""
            raise MXNetError(f"MNISTIter: {image!r}{part} has {images.shape[0]} images, fewer "
                             f"than batch_size={self.batch_size}; no full batch can be made")
        rows, cols = images.shape[1:]
        sample = (rows * cols,) if flat else (1, rows, cols)

        def to_float(batch):
            return (batch.astype(np.float32) * PIXEL_SCALE).reshape((-1,) + sample)

        self._setup(images, labels.astype(np.float32), sample, np.float32, (), np.float32,
                    last_batch="discard", data_transform=to_float, ids=ids)
        self.shuffle, self.flat, self.seed = bool(shuffle), bool(flat), seed
        if not silent:
            logging.info("MNISTIter: load %d images, shuffle=%d, shape=%s", images.shape[0],
                         int(bool(shuffle)), self.provide_data[0].shape)
