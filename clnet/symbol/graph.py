"""Graph nodes of the Symbol API: `Node`, topological order and the attribute-key rules.

A node is an op (a registry `OpDef`) or a variable (op None) with a name, its attributes as
MXNet keeps them -- one dict of strings holding the op params as given (`num_hidden`: '10')
and the hidden `__key__` attributes (`__shape__`, `__lr_mult__`, `__ctx_group__`) -- the params
parsed from it, and its inputs as (node, output index) entries. The graph's structure is fixed
once built; attributes can be set later (MXNet's `Symbol._set_attr`). Symbols, inference and
JSON live in the sibling modules.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..base import MXNetError
from ..ops.registry import OpDef

__all__ = ["Node", "topo_order", "HIDDEN_KEYS", "hidden_key", "is_dunder",
           "param_str", "parse_params"]

# Attribute keys users may give without underscores; stored as `__key__` (MXNet's kHiddenKeys).
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage",
               "profiler_scope")


class Node:
    """One graph node. `op` is None for a variable; `attrs` maps str to str; `params` is the
    parsed form of `attrs`' non-hidden keys (op nodes only); `inputs` is a list of
    (node, output index) entries."""

    __slots__ = ("op", "name", "attrs", "params", "inputs")

    def __init__(self, op: OpDef | None, name: str, attrs: dict | None = None,
                 inputs: Iterable | None = None, params: dict | None = None):
        self.op = op
        self.name = name
        self.attrs = dict(attrs or {})
        self.params = params if params is not None else (
            parse_params(op, self.attrs) if op is not None else {})
        self.inputs = list(inputs or [])

    @property
    def is_variable(self) -> bool:
        return self.op is None

    @property
    def num_outputs(self) -> int:
        return 1 if self.op is None else self.op.n_outputs(self.params)

    def input_names(self) -> tuple:
        return () if self.op is None else self.op.input_names(self.params, len(self.inputs))

    def output_name(self, index: int) -> str:
        """MXNet's list_outputs name of output `index`: the variable's name, or
        `<name>_<suffix>` (fc1_output, split0_output1)."""
        if self.op is None:
            return self.name
        suffix = self.op.out_names(self.params)[index]
        return f"{self.name}_{suffix}" if self.name else suffix

    def set_attr(self, key: str, value: str):
        """Set one attribute (MXNet's SetAttrs): `name` renames, a param key re-parses."""
        if key == "name":
            self.name = value
            return
        attrs = dict(self.attrs, **{key: value})
        if self.op is not None and not is_dunder(key):
            self.params = parse_params(self.op, attrs)  # raises before anything changes
        self.attrs = attrs

    def __repr__(self):
        return f"<Node {self.op.name if self.op else 'null'} {self.name}>"


def topo_order(heads: Iterable[tuple]) -> list:
    """Nodes reachable from `heads`, each after its inputs, inputs visited in order (nnvm's
    DFSVisit post-order, which fixes list_arguments and the JSON node order)."""
    order, seen = [], set()
    for head, _ in heads:
        if id(head) in seen:
            continue
        seen.add(id(head))
        stack = [(head, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def is_dunder(key: str) -> bool:
    return len(key) > 4 and key.startswith("__") and key.endswith("__")


def hidden_key(key: str) -> str:
    """`lr_mult` -> `__lr_mult__`; other keys unchanged. `weight_lr_mult` style keys (MXNet's
    deprecated per-input form) are an error saying what to write instead."""
    for k in HIDDEN_KEYS:
        if key == k:
            return f"__{k}__"
        if key.endswith("_" + k) and not is_dunder(key):
            arg = key[:-len(k) - 1]
            raise MXNetError(f"setting attribute {key!r} is not supported; set it on the "
                             f"input instead: w = mx.sym.var(..., {k}=...), then pass {arg}=w")
    return key


def _plain(value):
    """Python values for numpy ones inside tuples and lists (whose str() would otherwise
    print `np.int64(2)` on numpy 2)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def param_str(op: OpDef, key: str, value) -> str:
    """A param value as MXNet writes it into a node's attributes: Python's str() of the value
    (`(2, 3)`, `True`, `0.5`), dtypes by name."""
    if isinstance(value, str):
        return value
    param = next((p for p in op.params if p.name == key), None)
    if value is not None and param is not None and param.type == "dtype":
        from ..dtype import as_dtype
        return as_dtype(value).name
    if isinstance(value, (np.dtype, type)) and key == "dtype":
        from ..dtype import as_dtype
        return as_dtype(value).name
    if isinstance(value, np.generic):
        return str(value)  # numpy's shortest form: float32 0.1 is '0.1'
    return str(_plain(value))


def parse_params(op: OpDef, attrs: dict) -> dict:
    """Parse the param keys of a node's string attributes with the op's Param schema. 'None'
    is None for params that accept it; unknown or invalid params raise, naming the op."""
    known = {p.name: p for p in op.params}
    kwargs = {}
    for key, value in attrs.items():
        if is_dunder(key):
            continue
        p = known.get(key)
        if value == "None" and p is not None and (p.default is None or p.type == "axes"):
            value = None
        kwargs[key] = value
    return op.parse_params(kwargs)
