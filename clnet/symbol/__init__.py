"""The declarative API, `mx.sym`: Symbol, var/Variable, Group, load/load_json and every
registry op as a function building a graph node (generated at import; ops registered later,
such as generated backward ops, are made on first access)."""
from .symbol import NotImplementedForSymbol, Symbol  # noqa: F401
from .creation import Group, Variable, maximum, minimum, pow, power, var  # noqa: F401
from .json_io import load, load_json  # noqa: F401
from . import random  # noqa: F401
from . import register as _register

_register.populate(globals())


def __getattr__(name: str):
    from ..ops import registry
    op = registry.all_ops().get(name)
    if op is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    fn = globals()[name] = _register.make_function(name, op)
    return fn
