"""Automatic names for symbols: `NameManager` and `Prefix`, MXNet's `mx.name`.

Owns the per-thread current manager and its `with` scoping. A symbol made without `name=`
is called `<hint><counter>` (`fullyconnected0`, `_plus1`); the hint is chosen by the caller
(`clnet.symbol`), which also names auto-created inputs from the node name (`fc1_weight`).
"""
from __future__ import annotations

from .scope import ThreadScope

__all__ = ["NameManager", "Prefix", "current"]


class NameManager(ThreadScope, root=True):
    """Hands out unique names: `get(None, 'conv')` gives conv0, conv1, ...; an explicit name is
    returned unchanged. `with NameManager():` starts fresh counters for the enclosed code.

    Examples
    --------
    >>> with mx.name.NameManager():
    ...     mx.sym.relu(mx.sym.var('x')).name
    'relu0'
    """

    def __init__(self):
        self._counter: dict[str, int] = {}

    def get(self, name: str | None, hint: str) -> str:
        """`name` when given, else `hint` followed by how often this manager used `hint`."""
        if name:
            return name
        count = self._counter.get(hint, 0)
        self._counter[hint] = count + 1
        return f"{hint}{count}"


class Prefix(NameManager):
    """Puts `prefix` in front of every name made inside it, given or automatic.

    Examples
    --------
    >>> with mx.name.Prefix('net_'):
    ...     mx.sym.FullyConnected(mx.sym.var('x'), num_hidden=2, name='fc').name
    'net_fc'
    """

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix

    def get(self, name: str | None, hint: str) -> str:
        return self._prefix + super().get(name, hint)


def current() -> NameManager:
    """The name manager in force on this thread."""
    return NameManager.current
