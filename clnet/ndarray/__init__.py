"""The imperative API, `mx.nd`: NDArray, creation functions and every registry op."""
from .ndarray import NDArray, array, empty, invoke, waitall  # noqa: F401
from .creation import (arange, full, ones, ones_like, zeros, zeros_like, full_like,  # noqa: F401
                       empty_like, concatenate)
from .serialize_api import load, save  # noqa: F401
from . import random  # noqa: F401
from . import register as _register

_register.populate(globals())
del _register
