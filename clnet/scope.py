"""`ThreadScope`: the base of MXNet's `with`-scoped settings (`mx.AttrScope`,
`mx.name.NameManager`): one instance is current per thread, `with scope:` makes it current and
restores the outer one afterwards. What a scope holds is its subclass's business.
"""
from __future__ import annotations

import threading


class _ScopeMeta(type):
    """Gives scope classes a read-only `current` property: the instance in force on this
    thread, a default one of the root class until a `with` block says otherwise."""

    @property
    def current(cls):
        local = cls._local
        if not hasattr(local, "value"):
            local.value = cls._root()
        return local.value


class ThreadScope(metaclass=_ScopeMeta):
    """Subclass with `root=True` for a family of scopes sharing one current instance (its
    subclasses, such as `Prefix` of `NameManager`, enter the same slot)."""

    def __init_subclass__(cls, root: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if root:
            cls._local = threading.local()
            cls._root = cls

    def _entered(self, outer) -> None:
        """Called on entering a `with` block, `outer` being the scope it replaces."""

    def __enter__(self):
        self._outer = type(self).current
        self._entered(self._outer)
        type(self)._local.value = self
        return self

    def __exit__(self, ptype, value, trace):
        type(self)._local.value = self._outer
