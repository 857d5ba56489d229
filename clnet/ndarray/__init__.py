"""The imperative API, `mx.nd`: NDArray, creation functions and every registry op."""
from .ndarray import NDArray, array, empty, invoke, waitall  # noqa: F401
from .creation import (arange, full, ones, ones_like, zeros, zeros_like, full_like,  # noqa: F401
                       empty_like, concatenate)
from .serialize_api import load, save  # noqa: F401
from . import random  # noqa: F401
from . import register as _register

_register.populate(globals())
del _register


def __getattr__(name):
    # ops registered after import (the gradient ops, made on first use) resolve on demand
    from ..ops import registry as _registry
    from .register import make_function
    op = _registry.all_ops().get(name)
    if op is None:
        raise AttributeError(f"module 'clnet.ndarray' has no attribute {name!r}")
    fn = globals()[name] = make_function(name, op)
    return fn
