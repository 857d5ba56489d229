"""The one gradient walker: forward graph -> gradient graph, from the registry's rules.

`gradient(heads, wrt, head_grads)` walks the nodes under `heads` in reverse topological order,
calls each op's `grad(F, params, inputs, outputs, out_grads)` with F the symbolic namespace,
sums fan-in with `add_n`, and returns one gradient entry per `wrt` variable. The rules build
ordinary nodes of registry ops, so the gradient graph is planned, fused and run like any other.
`autograd` uses the same rules with F = mx.nd.
"""
from __future__ import annotations

from .base import MXNetError
from .symbol.graph import topo_order


class SymbolicF:
    """The namespace a gradient rule builds with, over Symbols."""

    @staticmethod
    def invoke(op, inputs, params):
        from .symbol.symbol import create
        name = op if isinstance(op, str) else op.name
        return create(name, list(inputs), dict(params))

    @classmethod
    def zeros_like(cls, x):
        return cls.invoke("zeros_like", [x], {})

    @classmethod
    def ones_like(cls, x):
        return cls.invoke("ones_like", [x], {})


def _sym(entry):
    from .symbol.symbol import Symbol
    return Symbol([entry])


def sum_entries(entries: list):
    """One entry holding the sum of `entries` (add_n), or the entry itself."""
    if len(entries) == 1:
        return entries[0]
    return SymbolicF.invoke("add_n", [_sym(e) for e in entries], {})._heads[0]


def _depends(nodes, wrt_ids) -> set:
    """ids of nodes whose value depends on a `wrt` variable."""
    dep = set()
    for node in nodes:
        if id(node) in wrt_ids or any(id(e[0]) in dep for e in node.inputs):
            dep.add(id(node))
    return dep


def gradient(heads: list, wrt: list, head_grads: list) -> list:
    """Gradient entries of sum_i <head_i, head_grad_i> with respect to each `wrt` variable
    node (None where a variable does not influence the heads)."""
    from .name import NameManager
    # gradient nodes are named by a counter of their own, not the user's
    with NameManager():
        return _gradient(heads, wrt, head_grads)


def _gradient(heads, wrt, head_grads):
    nodes = topo_order(heads)
    dep = _depends(nodes, {id(w) for w in wrt})
    grads: dict = {}
    for head, hg in zip(heads, head_grads):
        grads.setdefault(tuple(head), []).append(hg)
    for node in reversed(nodes):
        if node.is_variable or id(node) not in dep:
            continue
        outs = [(node, i) for i in range(node.num_outputs)]
        if not any(o in grads for o in outs):
            continue
        if node.op.grad is None:
            raise MXNetError(f"operator {node.op.name} (node {node.name!r}) has no gradient "
                             "rule; stop the gradient before it with BlockGrad or grad_req "
                             "'null'")
        out_grads = [_sym(sum_entries(grads[o])) if o in grads else SymbolicF.zeros_like(
            _sym(o)) for o in outs]
        in_grads = node.op.grad(SymbolicF, node.params, [_sym(e) for e in node.inputs],
                                [_sym(o) for o in outs], out_grads)
        for entry, g in zip(node.inputs, in_grads):
            if g is not None and id(entry[0]) in dep:
                grads.setdefault(tuple(entry), []).append(g._heads[0])
    return [sum_entries(grads[(w, 0)]) if (w, 0) in grads else None for w in wrt]
