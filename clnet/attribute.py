"""Attribute scopes for symbols: `AttrScope`, MXNet's `mx.AttrScope`.

`with mx.AttrScope(ctx_group='dev1'):` attaches the given string attributes to every symbol
made inside (nested scopes merge, inner wins). How the keys are stored (`ctx_group` becomes
`__ctx_group__`) is `clnet.symbol`'s business.
"""
from __future__ import annotations

import threading

__all__ = ["AttrScope", "current"]


class _CurrentMeta(type):
    @property
    def current(cls) -> AttrScope:
        if not hasattr(AttrScope._current, "value"):
            AttrScope._current.value = AttrScope()
        return AttrScope._current.value


class AttrScope(metaclass=_CurrentMeta):
    """Attributes for the symbols created in a `with` block; values must be strings.

    Examples
    --------
    >>> with mx.AttrScope(ctx_group='dev1'):
    ...     x = mx.sym.var('x')
    >>> x.attr('ctx_group')
    'dev1'
    """

    _current = threading.local()

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise ValueError(f"AttrScope: attribute {key}={value!r} must be a string")
        self._attr = kwargs
        self._old_scope: AttrScope | None = None

    def get(self, attr: dict | None) -> dict:
        """This scope's attributes updated with `attr` (which wins), as a new dict."""
        ret = dict(self._attr)
        if attr:
            ret.update(attr)
        return ret

    def __enter__(self):
        self._old_scope = AttrScope.current
        merged = dict(self._old_scope._attr)
        merged.update(self._attr)
        self._attr = merged
        AttrScope._current.value = self
        return self

    def __exit__(self, ptype, value, trace):
        AttrScope._current.value = self._old_scope


def current() -> AttrScope:
    """The attribute scope in force on this thread."""
    return AttrScope.current
