"""Shape and dtype inference over a symbol graph, from the ops' own rules.

Every node's `OpDef.infer_shape` / `infer_type` runs once all its input shapes / dtypes are
known. Unknown inputs are filled first: shapes by `OpDef.infer_args` (FullyConnected's weight
from its data), variable dtypes from the node's first known input dtype (MXNet's ElemwiseType rule).
Passes repeat until nothing changes, so a variable filled by a later node reaches earlier
users. Results are keyed by entry (node, output index); `Symbol.infer_shape` / `infer_type`
turn them into MXNet's (arg, out, aux) lists and the executor can use them directly.
"""
from __future__ import annotations

from ..base import MXNetError
from ..dtype import DTYPES, DTypeInfo, as_dtype
from .graph import Node, topo_order

__all__ = ["infer_shapes", "infer_types", "parse_shape", "parse_dtype"]

_BY_FLAG = {d.mx_flag: d for d in DTYPES.values()}


def parse_shape(text) -> tuple:
    """A shape from a `__shape__` attribute ('(2, 3)', '[2, 3]', '5') or a sequence."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.strip("()[] ").split(",")]
        return tuple(int(p.rstrip("L")) for p in parts if p)
    if isinstance(text, int):
        return (int(text),)
    return tuple(int(d) for d in text)


def parse_dtype(text) -> DTypeInfo:
    """A dtype from a `__dtype__` attribute (MXNet's type flag, '0' is float32) or a name."""
    if isinstance(text, str) and text.lstrip("-").isdigit():
        flag = int(text)
        if flag not in _BY_FLAG:
            raise MXNetError(f"__dtype__={text!r} is not a dtype flag clnet supports; use one "
                             f"of {sorted(_BY_FLAG)}")
        return _BY_FLAG[flag]
    return as_dtype(text)


def _fmt(shape) -> str:
    return "unknown" if shape is None else str(tuple(shape))


def _inputs_text(node: Node, values: list, fmt) -> str:
    names = node.input_names()
    return ", ".join(f"{names[i] if i < len(names) else i}={fmt(v)}"
                     for i, v in enumerate(values))


def _describe(node: Node) -> str:
    return f"operator {node.name} ({node.op.name})"


def _input_name(node: Node, i: int) -> str:
    names = node.input_names()
    return names[i] if i < len(names) else f"input {i}"


def infer_shapes(heads, known: dict, zero_unknown: bool = True) -> tuple[dict, dict]:
    """Shapes of every entry reachable from `heads`.

    `known` maps variable names to shapes; variables not in it use their `__shape__`
    attribute. With `zero_unknown` (MXNet's rule) a 0 dim is an unknown dim: such a shape is
    kept only as a partial shape. Returns (shapes, partial): entry -> shape for the entries
    known completely, and entry -> shape-with-zeros for the partial ones. A conflict raises
    MXNetError naming the node, the input and both shapes.
    """
    nodes = topo_order(heads)
    shapes, partial = {}, {}
    for node in nodes:
        if not node.is_variable:
            continue
        if node.name in known and known[node.name] is not None:
            text = known[node.name]
        elif "__shape__" in node.attrs:
            text = node.attrs["__shape__"]
        else:
            continue
        try:
            shape = parse_shape(text)
        except (TypeError, ValueError):
            raise MXNetError(f"infer_shape: {text!r} given for variable {node.name!r} is not "
                             "a shape") from None
        if zero_unknown and 0 in shape:
            partial[(node, 0)] = shape
        else:
            shapes[(node, 0)] = shape

    def fill(node, entries, ins):
        return node.op.infer_args is not None and _fill_args(node, entries, ins, shapes,
                                                              partial)

    def settle(node, ins):
        for i, shape in enumerate(_run_infer_shape(node, ins)):
            entry = (node, i)
            if entry in shapes and shapes[entry] != shape:
                raise MXNetError(
                    f"infer_shape: {_describe(node)} gives output {i} shape {shape}, but "
                    f"a consumer of it needs {shapes[entry]}")
            shapes[entry] = shape

    _to_fixed_point(nodes, shapes, fill, settle)
    return shapes, partial


def _to_fixed_point(nodes, table: dict, fill, settle):
    """Visit the op nodes until nothing changes. A node with unknown inputs may have them
    filled by `fill(node, entries, ins)` (True when it filled or hinted something); a node
    whose inputs are all known in `table` is settled once with `settle(node, ins)`."""
    done = set()
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.is_variable or node in done:
                continue
            entries = [tuple(e) for e in node.inputs]
            ins = [table.get(e) for e in entries]
            if None in ins and fill(node, entries, ins):
                changed = True
                ins = [table.get(e) for e in entries]
            if None in ins:
                continue
            done.add(node)
            changed = True
            settle(node, ins)


def _fill_args(node: Node, entries, ins, shapes, partial) -> bool:
    try:
        filled = node.op.infer_args(node.params, list(ins))
    except MXNetError as err:
        raise MXNetError(f"infer_shape: error in {_describe(node)} with input shapes "
                         f"{_inputs_text(node, ins, _fmt)}: {err}") from None
    changed = False
    for i, (entry, old, new) in enumerate(zip(entries, ins, filled or ())):
        if new is None:
            continue
        new = tuple(int(d) for d in new)
        if old is None:
            _check_partial(node, f"input {_input_name(node, i)!r}", entry, new, partial)
            shapes[entry] = new
            changed = True
        elif tuple(old) != new:
            raise MXNetError(
                f"infer_shape: {_describe(node)}: input {_input_name(node, i)!r} has shape "
                f"{tuple(old)}, but the operator needs {new} (shape inconsistent)")
    return changed


def _check_partial(node, what, entry, shape, partial):
    given = partial.get(entry)
    if given is None:
        return
    if len(given) != len(shape) or any(g not in (0, s) for g, s in zip(given, shape)):
        raise MXNetError(f"infer_shape: {_describe(node)}: {what} was given shape {given} "
                         f"(0 = unknown), but the operator infers {shape} (shape inconsistent)")


def _run_infer_shape(node: Node, ins: list) -> list:
    try:
        outs = [tuple(int(d) for d in s) for s in node.op.infer_shape(node.params, ins)]
    except MXNetError as err:
        raise MXNetError(f"infer_shape: error in {_describe(node)} with input shapes "
                         f"{_inputs_text(node, ins, _fmt)}: {err}") from None
    if len(outs) != node.num_outputs:
        raise MXNetError(f"infer_shape: {_describe(node)} inferred {len(outs)} output shapes "
                         f"for {node.num_outputs} outputs")
    return outs


def infer_types(heads, known: dict) -> dict:
    """dtypes (DTypeInfo) of every entry reachable from `heads`.

    `known` maps variable names to dtypes; other variables use their `__dtype__` attribute.
    As in MXNet's ElemwiseType, an op's unknown inputs take its first known input's dtype,
    and an op whose output dtype a consumer expects passes it back to its inputs when the op
    maps inputs of that dtype to it. Such guesses are final for variables and only hints for
    op outputs, which their own op decides. Returns entry -> DTypeInfo for the decided
    entries.
    """
    nodes = topo_order(heads)
    types, hints = {}, {}
    for node in nodes:
        if not node.is_variable:
            continue
        if node.name in known and known[node.name] is not None:
            types[(node, 0)] = as_dtype(known[node.name])
        elif "__dtype__" in node.attrs:
            types[(node, 0)] = parse_dtype(node.attrs["__dtype__"])

    def fill(node, entries, ins):
        guess = _guess(node, entries, ins, types, hints)
        changed = False
        for entry, d in zip(entries, ins):
            if d is not None or guess is None:
                continue
            if entry[0].is_variable:
                types[entry] = guess
                changed = True
            elif entry not in hints:
                hints[entry] = guess
                changed = True
        return changed

    def settle(node, ins):
        for i, dt in enumerate(_run_infer_type(node, ins)):
            types[(node, i)] = dt

    _to_fixed_point(nodes, types, fill, settle)
    return types


def _guess(node: Node, entries, ins, types, hints):
    """The dtype to give this node's unknown inputs: its first known (then hinted) input's,
    else its output's hint when the op maps inputs of that dtype to it."""
    for table in (types, hints):
        found = next((table[e] for e in entries if e in table), None)
        if found is not None:
            return found
    hint = hints.get((node, 0))
    if hint is None or not entries:
        return None
    try:
        outs = node.op.infer_type(node.params, [hint] * len(entries))
    except MXNetError:
        return None
    return hint if outs and as_dtype(outs[0]) is hint else None


def _run_infer_type(node: Node, ins: list) -> list:
    try:
        node.op.check_dtypes(ins)
        outs = [as_dtype(d) for d in node.op.infer_type(node.params, ins)]
    except MXNetError as err:
        raise MXNetError(f"infer_type: error in {_describe(node)} with input dtypes "
                         f"{_inputs_text(node, ins, lambda d: d.name)}: {err}") from None
    if len(outs) != node.num_outputs:
        raise MXNetError(f"infer_type: {_describe(node)} inferred {len(outs)} output dtypes "
                         f"for {node.num_outputs} outputs")
    return outs
