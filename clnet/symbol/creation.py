"""Symbol constructors that are not registry ops: `var`/`Variable`, `Group`, and MXNet's
`pow`/`power`/`maximum`/`minimum`, which also accept numbers on either side.

Op nodes are made by `symbol.create`; this module only adds variables and groupings.
"""
from __future__ import annotations

import numbers

from ..attribute import AttrScope
from ..base import MXNetError
from .graph import Node, is_dunder
from .symbol import Symbol, create

__all__ = ["var", "Variable", "Group", "pow", "power", "maximum", "minimum"]

_STORAGE_TYPES = {"default": 0, "row_sparse": 1, "csr": 2}


def var(name: str, attr: dict | None = None, shape=None, lr_mult=None, wd_mult=None,
        dtype=None, init=None, stype=None, **kwargs) -> Symbol:
    """A variable: an input of the graph (data, label, weight).

    Parameters
    ----------
    name : str
    attr : dict of str to str, optional
        Extra attributes.
    shape : tuple, optional
        Used by shape inference when the shape is not given there (stored as `__shape__`).
    lr_mult, wd_mult : float, optional
        Learning-rate and weight-decay multipliers (`__lr_mult__`, `__wd_mult__`).
    dtype : str or numpy dtype, optional
        Used by type inference (`__dtype__`, MXNet's type flag).
    init : Initializer or str, optional
        Initializer overriding the default one for this variable (`__init__`).
    stype : str, optional
        Storage type; clnet stores it ('default', 'row_sparse', 'csr').
    **kwargs
        More attributes, named `__key__`.

    Examples
    --------
    >>> w = mx.sym.var('w', shape=(2, 3), lr_mult=2)
    >>> w.attr('__shape__'), w.attr('lr_mult')
    ('(2, 3)', '2')
    """
    if not isinstance(name, str):
        raise TypeError(f"variable name must be a string, got {type(name).__name__}")
    attrs = AttrScope.current.get(attr)
    if shape is not None:
        attrs["__shape__"] = str(tuple(shape) if isinstance(shape, list) else shape)
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        from ..dtype import as_dtype
        attrs["__dtype__"] = str(as_dtype(dtype).mx_flag)
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        if stype not in _STORAGE_TYPES:
            raise MXNetError(f"variable {name}: stype {stype!r} is unknown; use one of "
                             f"{list(_STORAGE_TYPES)}")
        attrs["__storage_type__"] = str(_STORAGE_TYPES[stype])
    for key, value in kwargs.items():
        if not is_dunder(key):
            raise ValueError(f"variable {name}: attribute {key!r} is not supported; extra "
                             "attributes must start and end with double underscores "
                             "(__yourattr__)")
        attrs[key] = str(value)
    sym = Symbol([(Node(None, name), 0)])
    sym._set_attr(**attrs)
    return sym


Variable = var


def Group(symbols) -> Symbol:  # noqa: N802 (MXNet's name)
    """One symbol whose outputs are the outputs of all `symbols`, in order."""
    symbols = list(symbols)
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Group expects a non-empty list of Symbols")
    return Symbol([h for s in symbols for h in s._heads])


def _pair(fn, left, right, op, scalar_op, scalar_hint, reverse_op=None):
    if isinstance(left, Symbol) and isinstance(right, Symbol):
        return create(op, [left, right], {})
    if isinstance(left, Symbol) and isinstance(right, numbers.Number):
        return create(scalar_op, [left], {"scalar": right}, hint=scalar_hint)
    if isinstance(left, numbers.Number) and isinstance(right, Symbol):
        rop, rhint = reverse_op or (scalar_op, scalar_hint)
        return create(rop, [right], {"scalar": left}, hint=rhint)
    raise TypeError(f"{fn}: types ({type(left).__name__}, {type(right).__name__}) are not "
                    "supported")


def pow(base, exp):  # noqa: A001 (MXNet's name)
    """base ** exp elementwise; either may be a number."""
    if isinstance(base, numbers.Number) and isinstance(exp, numbers.Number):
        return base ** exp
    return _pair("pow", base, exp, "_power", "_power_scalar", "_powerscalar",
                 ("_rpower_scalar", "_rpower_scalar"))


def power(base, exp):
    """base ** exp elementwise; either may be a number."""
    return pow(base, exp)


def maximum(left, right):
    """Elementwise maximum; either side may be a number."""
    if isinstance(left, numbers.Number) and isinstance(right, numbers.Number):
        return left if left > right else right
    return _pair("maximum", left, right, "_maximum", "_maximum_scalar", "_maximumscalar")


def minimum(left, right):
    """Elementwise minimum; either side may be a number."""
    if isinstance(left, numbers.Number) and isinstance(right, numbers.Number):
        return left if left < right else right
    return _pair("minimum", left, right, "_minimum", "_minimum_scalar", "_minimumscalar")
