"""The op registry: every operator declared once, with its params, inference, kernel and gradient.

`mx.nd.<op>` (and later `mx.sym.<op>`) are generated from this table. An OpDef says:
- `inputs`: input names, or a function of the params (FullyConnected without bias);
- `params`: typed `Param`s with defaults and docs (converted and checked on every call);
- `infer_shape(params, in_shapes) -> out_shapes`, `infer_type(params, in_dtypes) -> out_dtypes`;
- `forward(params, inputs, outputs)`: enqueue the kernels that fill `outputs`;
- `expr` for elementwise ops: a sympy expression over x, y, z (inputs) and s, t (scalars),
  printed to OpenCL by `codegen.printer`, and differentiated for the gradient;
- `grad` (or `grad_expr`) for the gradient rule used by autodiff.
Running an op (allocation, device checks) is `ndarray`'s job; kernels are the ops modules'.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..base import MXNetError

__all__ = ["REQUIRED", "Param", "OpDef", "register", "get", "all_ops", "alias"]


class _Required:
    def __repr__(self):
        return "<required>"


REQUIRED = _Required()


def _parse_tuple(value, elem=int):
    if isinstance(value, str):
        value = value.strip("()[] ").split(",")
        value = [v for v in (x.strip() for x in value) if v and v != "None"]
    if isinstance(value, (int, float)):
        value = (value,)
    return tuple(elem(v) for v in value)


def _parse_bool(value):
    if isinstance(value, str):
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise ValueError(value)
    return bool(value)


@dataclass(frozen=True)
class Param:
    """A typed op argument. `type` is int, float, bool, str, 'shape' (tuple of ints),
    'axes' (None, an int or a tuple of ints) or 'dtype'."""

    name: str
    type: Any
    default: Any = REQUIRED
    doc: str = ""
    low: float | None = None
    choices: tuple | None = None

    def convert(self, op: str, value):
        if value is None and self.default is None:
            return None
        try:
            if self.type == "shape":
                value = _parse_tuple(value)
            elif self.type == "axes":
                value = None if value is None or value == "None" or value == () else (
                    _parse_tuple(value))
            elif self.type == "dtype":
                from ..dtype import as_dtype
                value = as_dtype(value).name
            elif self.type is bool:
                value = _parse_bool(value)
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif self.type is float:
                value = float(value)
            elif self.type is str:
                value = str(value)
        except (TypeError, ValueError) as err:
            raise MXNetError(f"{op}: argument {self.name}={value!r} is not a valid "
                             f"{getattr(self.type, '__name__', self.type)}") from err
        if self.low is not None and value is not None and value < self.low:
            raise MXNetError(f"{op}: argument {self.name}={value} must be >= {self.low}")
        if self.choices is not None and value not in self.choices:
            raise MXNetError(f"{op}: argument {self.name}={value!r} must be one of "
                             f"{list(self.choices)}")
        return value


def _same_shape(params, in_shapes):
    return [in_shapes[0]]


def _same_type(params, in_dtypes):
    return [in_dtypes[0]]


@dataclass
class OpDef:
    name: str
    inputs: tuple | Callable = ("data",)
    params: tuple = ()
    infer_shape: Callable = _same_shape
    infer_type: Callable = _same_type
    forward: Callable | None = None
    expr: str | None = None
    grad_expr: str | tuple | None = None
    grad: Callable | None = None
    dtypes: tuple | None = None  # accepted input dtype names; None accepts all
    num_outputs: int | Callable = 1
    variadic: bool = False  # inputs are *args (concat, stack, add_n)
    view: Callable | None = None  # imperative: returns an output sharing the input's memory
    # symbolic inference: fill unknown (None) input shapes from the known ones and the params
    # (FullyConnected's weight from data); called before infer_shape, which sees known shapes
    infer_args: Callable | None = None
    aux: tuple = ()  # names of inputs that are auxiliary states (BatchNorm's moving stats)
    output_names: tuple | Callable = ("output",)  # list_outputs suffixes, or f(params)
    doc: str = ""
    aliases: tuple = ()
    extra: dict = field(default_factory=dict)

    def input_names(self, params: dict, n_given: int | None = None) -> tuple:
        if self.variadic:
            return tuple(f"arg{i}" for i in range(n_given or 0))
        return self.inputs(params) if callable(self.inputs) else self.inputs

    def out_names(self, params: dict) -> tuple:
        """Output suffixes as MXNet lists them: 'output' for one output, else the op's names
        (output0, output1, ... by default)."""
        n = self.n_outputs(params)
        names = self.output_names(params) if callable(self.output_names) else self.output_names
        if len(names) != n:
            names = ("output",) if n == 1 else tuple(f"output{i}" for i in range(n))
        return tuple(names)

    def n_outputs(self, params: dict) -> int:
        return self.num_outputs(params) if callable(self.num_outputs) else self.num_outputs

    def parse_params(self, kwargs: dict) -> dict:
        """Convert and check keyword arguments; unknown names and missing required ones are
        errors naming the op and its accepted arguments."""
        known = {p.name: p for p in self.params}
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            raise MXNetError(f"{self.name}: unknown argument(s) {unknown}; accepted: "
                             f"{list(known) or 'none'}")
        out = {}
        for p in self.params:
            if p.name in kwargs:
                out[p.name] = p.convert(self.name, kwargs[p.name])
            elif p.default is REQUIRED:
                raise MXNetError(f"{self.name}: required argument {p.name!r} is missing")
            else:
                out[p.name] = p.default
        return out

    def check_dtypes(self, dtypes):
        if self.dtypes is None:
            return
        for i, dt in enumerate(dtypes):
            if dt.name not in self.dtypes:
                raise MXNetError(f"{self.name}: input {i} has dtype {dt.name}, which this op "
                                 f"does not accept; accepted: {list(self.dtypes)}")

    def signature_doc(self) -> str:
        lines = [self.doc.strip(), "", "Parameters", "----------"]
        for p in self.params:
            default = "required" if p.default is REQUIRED else f"default {p.default!r}"
            lines.append(f"{p.name} : {getattr(p.type, '__name__', p.type)}, {default}")
            if p.doc:
                lines.append(f"    {p.doc}")
        return "\n".join(lines)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    for name in (op.name,) + tuple(op.aliases):
        if name in _REGISTRY:
            raise MXNetError(f"op {name!r} is registered twice")
        _REGISTRY[name] = op
    return op


def alias(name: str, *aliases: str):
    op = _REGISTRY[name]
    op.aliases = tuple(op.aliases) + aliases
    for a in aliases:
        _REGISTRY[a] = op


def get(name: str) -> OpDef:
    op = _REGISTRY.get(name)
    if op is None:  # its family may not be imported yet
        from . import load_all
        load_all()
        op = _REGISTRY.get(name)
        if op is None:
            raise MXNetError(f"operator {name!r} is not registered")
    return op


def all_ops() -> dict:
    """Name (and alias) -> OpDef, for every registered op."""
    from . import load_all
    load_all()
    return dict(_REGISTRY)


def populate_namespace(namespace: dict, cls, make_function):
    """Fill a frontend namespace (mx.nd, mx.sym) with `make_function(name, op)` for every op
    and alias, and give `cls` a fluent method for each public op taking an input
    (`x.sum(axis=1)`). Both frontends generate themselves through this one loop."""
    for name, op in all_ops().items():
        fn = make_function(name, op)
        namespace.setdefault(name, fn)
        if not name.startswith("_") and not hasattr(cls, name) and (
                op.variadic or callable(op.inputs) or op.inputs):
            setattr(cls, name, _fluent(fn))


def _fluent(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method
