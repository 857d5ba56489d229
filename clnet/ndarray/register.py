"""Generate the `mx.nd` functions and NDArray's fluent methods from the op registry.

Each function is a closure with a real signature and a docstring built from the op's Params
(no source strings passed to exec). Positional arguments fill the op's inputs, then its params
in declaration order, as MXNet's generated functions do.
"""
from __future__ import annotations

import inspect

from ..base import MXNetError
from ..ops import registry
from .ndarray import NDArray, invoke


def make_function(name: str, op: registry.OpDef):
    param_names = [p.name for p in op.params]

    def _input_names(kwargs):
        """Input names; for ops whose inputs depend on params (no_bias), parsed from the
        param keywords given."""
        if not callable(op.inputs):
            return op.inputs
        return op.input_names(op.parse_params({k: v for k, v in kwargs.items()
                                               if k in param_names}))

    def fn(*args, out=None, **kwargs):
        if op.variadic:
            inputs = [a for a in args if isinstance(a, NDArray)]
            extra = list(args[len(inputs):])
        else:
            inputs, extra = [], list(args)
            while extra and isinstance(extra[0], NDArray):
                inputs.append(extra.pop(0))
            for nm in _input_names(kwargs)[len(inputs):]:
                if nm in kwargs:
                    inputs.append(kwargs.pop(nm))
        for pname, value in zip([p for p in param_names if p not in kwargs], extra):
            kwargs[pname] = value
        if len(extra) > len(param_names):
            raise MXNetError(f"{name}: too many positional arguments")
        if op.variadic:
            kwargs.pop("num_args", None)
        return invoke(op, inputs, kwargs, out=out)

    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
              for n in (() if op.variadic or callable(op.inputs) else op.inputs)]
    if op.variadic or callable(op.inputs):
        params.append(inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL))
    params += [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                 default=None if p.default is registry.REQUIRED else p.default)
               for p in op.params]
    params.append(inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None))
    fn.__signature__ = inspect.Signature(params)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = op.signature_doc()
    return fn


def populate(namespace: dict):
    """Add every registered op (names and aliases) to `namespace`, and the public ones that
    take an input as fluent NDArray methods."""
    registry.populate_namespace(namespace, NDArray, make_function)
