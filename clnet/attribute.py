"""Attribute scopes for symbols: `AttrScope`, MXNet's `mx.AttrScope`.

`with mx.AttrScope(ctx_group='dev1'):` attaches the given string attributes to every symbol
made inside (nested scopes merge, inner wins). How the keys are stored (`ctx_group` becomes
`__ctx_group__`) is `clnet.symbol`'s business.
"""
from __future__ import annotations

from .scope import ThreadScope

__all__ = ["AttrScope", "current"]


class AttrScope(ThreadScope, root=True):
    """Attributes for the symbols created in a `with` block; values must be strings.

    Examples
    --------
    >>> with mx.AttrScope(ctx_group='dev1'):
    ...     x = mx.sym.var('x')
    >>> x.attr('ctx_group')
    'dev1'
    """

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise ValueError(f"AttrScope: attribute {key}={value!r} must be a string")
        self._attr = kwargs

    def get(self, attr: dict | None) -> dict:
        """This scope's attributes updated with `attr` (which wins), as a new dict."""
        ret = dict(self._attr)
        if attr:
            ret.update(attr)
        return ret

    def _entered(self, outer):
        merged = dict(outer._attr)  # nested scopes merge, the inner one wins
        merged.update(self._attr)
        self._attr = merged


def current() -> AttrScope:
    """The attribute scope in force on this thread."""
    return AttrScope.current
