"""Symbol <-> MXNet 1.x JSON: `tojson`/`save` and `load_json`/`load`.

The layout is nnvm's: {"nodes": [{"op", "name", "attrs", "inputs": [[id, index, 0]]}],
"arg_nodes", "node_row_ptr", "heads", "attrs": {"mxnet_version": ["int", N]}}, nodes in
topological order, attributes as the strings MXNet writes ("(2, 3)", "True", "0.5").
Loading also reads older files: "param"/"attr" instead of "attrs", two-element entries, no
node_row_ptr, plain hidden keys (`lr_mult`, `weight_lr_mult`) and, before 0.9, op inputs
left out of the file (created as `<node>_<input>` variables, as MXNet's upgrader does).
"""
from __future__ import annotations

import json
import os
import uuid

from ..base import MXNetError
from ..ops import registry
from .graph import HIDDEN_KEYS, Node, is_dunder
from .symbol import Symbol

__all__ = ["dumps", "loads", "save", "load", "load_json", "MXNET_VERSION"]

MXNET_VERSION = 10901  # the MXNet release whose format is written (1.9.1)


def dumps(sym: Symbol) -> str:
    """`sym` as MXNet 1.x JSON text."""
    nodes = sym._nodes()
    index = {node: i for i, node in enumerate(nodes)}
    row_ptr = [0]
    for node in nodes:
        row_ptr.append(row_ptr[-1] + node.num_outputs)
    lines = ["{", '  "nodes": [']
    for i, node in enumerate(nodes):
        lines += ["    {", f'      "op": {json.dumps(node.op.name if node.op else "null")},',
                  f'      "name": {json.dumps(node.name)},']
        if node.attrs:
            lines.append(f'      "attrs": {json.dumps(node.attrs, sort_keys=True)},')
        inputs = [[index[src], k, 0] for src, k in node.inputs]
        lines += [f'      "inputs": {json.dumps(inputs)}', "    }" if i == len(nodes) - 1
                  else "    },"]
    lines += ["  ],",
              f'  "arg_nodes": {json.dumps([i for i, n in enumerate(nodes) if n.is_variable])},',
              f'  "node_row_ptr": {json.dumps(row_ptr)},',
              f'  "heads": {json.dumps([[index[n], k, 0] for n, k in sym._heads])},',
              f'  "attrs": {{"mxnet_version": ["int", {MXNET_VERSION}]}}', "}"]
    return "\n".join(lines)


def save(sym: Symbol, fname):
    """Write `sym`'s JSON to `fname` through a temporary file renamed over it, so a failed
    write never leaves a truncated file."""
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"fname must be a path, got {type(fname).__name__}")
    fname = os.fspath(fname)
    tmp = f"{fname}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(dumps(sym))
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(fname) -> Symbol:
    """Load a symbol from a JSON file written by clnet or MXNet (`Symbol.save`)."""
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"fname must be a path, got {type(fname).__name__}")
    with open(fname, encoding="utf-8") as f:
        text = f.read()
    try:
        return loads(text)
    except MXNetError as err:
        raise MXNetError(f"load {os.fspath(fname)!r}: {err}") from None


def load_json(json_str: str) -> Symbol:
    """Load a symbol from a JSON string (`Symbol.tojson`)."""
    if not isinstance(json_str, str):
        raise TypeError(f"load_json expects a JSON string, got {type(json_str).__name__}")
    return loads(json_str)


def _entry(raw, nodes, where: str) -> tuple:
    if not isinstance(raw, list) or len(raw) not in (2, 3):
        raise MXNetError(f"{where}: entry {raw!r} must be [node_id, output_index(, version)]")
    nid, k = int(raw[0]), int(raw[1])
    if not 0 <= nid < len(nodes):
        raise MXNetError(f"{where}: entry {raw!r} names node {nid}, but the file has "
                         f"{len(nodes)} nodes")
    if not 0 <= k < nodes[nid].num_outputs:
        raise MXNetError(f"{where}: entry {raw!r} asks for output {k} of node "
                         f"{nodes[nid].name!r}, which has {nodes[nid].num_outputs}")
    return nodes[nid], k


def _version(data: dict) -> int:
    value = (data.get("attrs") or {}).get("mxnet_version")
    if isinstance(value, list) and len(value) == 2:
        return int(value[1])
    return 800  # files without a version are MXNet 0.8's


def _split_hidden(attrs: dict, is_op: bool):
    """Plain hidden keys -> `__key__`; an op's `<input>_<key>` -> (input, `__key__`, value)
    to set on that input variable (MXNet's UpgradeJSON_FixParsing)."""
    out, per_input = {}, []
    for key, value in attrs.items():
        if not is_dunder(key) and key in HIDDEN_KEYS:
            out[f"__{key}__"] = value
            continue
        suffix = next((k for k in HIDDEN_KEYS if key.endswith("_" + k)), None)
        if is_op and suffix and not is_dunder(key):
            per_input.append((key[:-len(suffix) - 1], f"__{suffix}__", value))
            continue
        out[key] = value
    return out, per_input


def _node(raw: dict, i: int):
    if not isinstance(raw, dict) or "op" not in raw or "name" not in raw:
        raise MXNetError(f"node {i} must be an object with 'op' and 'name', got {raw!r}")
    op_name, name = raw["op"], str(raw["name"])
    attrs = {}
    for key in ("param", "attr", "attrs"):
        attrs.update({str(k): str(v) for k, v in (raw.get(key) or {}).items()})
    op = None
    if op_name != "null":
        try:
            op = registry.get(op_name)
        except MXNetError:
            raise MXNetError(f"failed loading node {name!r}: operator {op_name!r} is not "
                             "registered in clnet") from None
    attrs, per_input = _split_hidden(attrs, op is not None)
    try:
        return Node(op, name, attrs), per_input
    except MXNetError as err:
        raise MXNetError(f"failed loading node {name!r} ({op_name}): {err}") from None


def loads(text: str) -> Symbol:
    """Parse MXNet JSON text into a Symbol; errors name the node and the problem."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise MXNetError(f"load_json: the text is not valid JSON ({err})") from None
    if not isinstance(data, dict) or "nodes" not in data or "heads" not in data:
        raise MXNetError("load_json: not a symbol file (expected an object with 'nodes' and "
                         "'heads')")
    version = _version(data)
    parsed = [_node(raw, i) for i, raw in enumerate(data["nodes"])]
    nodes = [node for node, _ in parsed]
    for node, raw in zip(nodes, data["nodes"]):
        where = f"node {node.name!r}"
        node.inputs = [_entry(e, nodes, where) for e in raw.get("inputs", [])]
        if node.op is None:
            continue
        names = node.input_names()
        if version < 900 and not node.op.variadic and len(node.inputs) < len(names):
            node.inputs += [(Node(None, f"{node.name}_{n}"), 0)
                            for n in names[len(node.inputs):]]
        if not node.op.variadic and len(node.inputs) != len(names):
            raise MXNetError(f"{where} ({node.op.name}) has {len(node.inputs)} inputs, but "
                             f"the op takes {len(names)}: {list(names)}")
    for node, (_, per_input) in zip(nodes, parsed):
        names = node.input_names()
        for input_name, key, value in per_input:
            if input_name in names:
                src = node.inputs[names.index(input_name)][0]
                if src.is_variable:
                    src.attrs[key] = value
    return Symbol([_entry(h, nodes, "heads") for h in data["heads"]])
