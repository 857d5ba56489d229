"""Data iterators (`mx.io`): DataDesc, DataBatch, DataIter, NDArrayIter, ResizeIter,
PrefetchingIter, MXDataIter (base of the file iterators), MNISTIter, CSVIter."""
from .io import DataBatch, DataDesc, DataIter, NDArrayIter, ResizeIter  # noqa: F401
from .prefetch import PrefetchingIter  # noqa: F401
from .files import MXDataIter  # noqa: F401
from .mnist import MNISTIter  # noqa: F401
from .csv import CSVIter  # noqa: F401

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter", "PrefetchingIter",
           "MXDataIter", "MNISTIter", "CSVIter"]
