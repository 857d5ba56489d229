"""Generate the `mx.sym.<op>` functions and Symbol's fluent methods from the op registry.

Each function is a closure with a real signature and a docstring built from the op's Params
(no source strings passed to exec). Leading positional Symbols fill the op's inputs, later
positional values its params in declaration order; inputs may also be given by name. The
node itself is built by `symbol.create`.
"""
from __future__ import annotations

import inspect

from ..base import MXNetError
from ..ops import registry
from .symbol import Symbol, create

__all__ = ["make_function", "populate"]

_SYMBOL_DOC = """
Inputs are Symbols, given positionally or by name; a missing input becomes a variable named
`<name>_<input>`. `name` names the node (default: the op name and a counter, from
`mx.name.NameManager`); `attr` adds string attributes. Returns a Symbol.
"""


def make_function(op_name: str, op: registry.OpDef):
    static_inputs = () if op.variadic or callable(op.inputs) else tuple(op.inputs)
    param_names = [p.name for p in op.params]

    def fn(*args, name=None, attr=None, **kwargs):
        inputs, rest = [], list(args)
        limit = len(static_inputs) if static_inputs else len(rest)
        while rest and len(inputs) < limit and (
                isinstance(rest[0], Symbol) or (rest[0] is None and static_inputs)):
            inputs.append(rest.pop(0))
        free = [p for p in param_names if p not in kwargs]
        if len(rest) > len(free):
            raise MXNetError(f"{op_name}: too many positional arguments; after the inputs "
                             f"{list(static_inputs) or '(Symbols)'} come the params "
                             f"{param_names}")
        kwargs.update(zip(free, rest))
        return create(op_name, inputs, kwargs, name=name, attr=attr)

    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
              for n in static_inputs]
    if not static_inputs:
        params.append(inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL))
    params += [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                 default=None if p.default is registry.REQUIRED else p.default)
               for p in op.params]
    params += [inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None),
               inspect.Parameter("attr", inspect.Parameter.KEYWORD_ONLY, default=None),
               inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    fn.__signature__ = inspect.Signature(params)
    fn.__name__ = fn.__qualname__ = op_name
    fn.__doc__ = op.signature_doc() + "\n" + _SYMBOL_DOC
    return fn


def populate(namespace: dict):
    """Add every registered op (names and aliases) to `namespace`, and the public ones that
    take an input as fluent Symbol methods (`x.sum(axis=1)`)."""
    registry.populate_namespace(namespace, Symbol, make_function)
