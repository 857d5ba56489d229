"""Where the nodes of a bound graph run: MXNet's group2ctx placement.

Nodes made under `mx.AttrScope(ctx_group=g)` run on `group2ctx[g]`, other forward nodes on the
executor's context, each gradient node beside the forward node it differentiates, and
`simple_bind` allocates each array where it is read. Planning the launches over the placed
graph is `planner`'s; binding is `executor`'s.
"""
from __future__ import annotations

from .base import MXNetError
from .context import Context
from .symbol.graph import topo_order


def as_group2ctx(group2ctx) -> dict | None:
    """`group2ctx` checked: {group name: Context}, or None when it places nothing."""
    if not group2ctx:
        return None
    if not isinstance(group2ctx, dict):
        raise MXNetError(f"bind: group2ctx must be a dict of group name -> Context, got "
                         f"{type(group2ctx).__name__}")
    for group, ctx in group2ctx.items():
        if not isinstance(ctx, Context):
            raise MXNetError(f"bind: group2ctx[{group!r}] must be a Context such as "
                             f"mx.cpu(1), got {ctx!r}")
    return dict(group2ctx)


def group_places(nodes, group2ctx) -> dict:
    """id(node) -> its group's context, for every node carrying `__ctx_group__` (MXNet's
    `mx.AttrScope(ctx_group=...)`); a group that group2ctx does not map is an error."""
    if not group2ctx:
        return {}
    places = {}
    for node in nodes:
        group = node.attrs.get("__ctx_group__")
        if group is None:
            continue
        if group not in group2ctx:
            kind = "variable" if node.is_variable else "node"
            raise MXNetError(f"bind: {kind} {node.name!r} is in ctx_group {group!r}, which "
                             f"group2ctx does not map (it maps {sorted(group2ctx)}); add "
                             f"{group!r}: <context> to group2ctx")
        places[id(node)] = group2ctx[group]
    return places


def place_nodes(nodes, all_nodes, variables, heads, head_grad_nodes, grad_of, ctx: Context,
                group2ctx, homes: dict, aux_names) -> dict:
    """id(node) -> the Context it runs on (a variable: where its array lives).

    Forward ops run on their group's context, or the executor's without a group. A
    gradient node runs where the forward node whose rule made it runs: that node is the
    producer or a consumer of every forward value the gradient node reads, so of those
    candidates the last in topological order is taken. A node reading no forward value
    runs with the last reader of the argument whose gradient it is (a bias gradient
    summing the head gradient), else with its first input (a rule's later step).
    `grad_of` maps id(node) -> the argument whose gradient the node's output is."""
    head_grads = [(g, h[0]) for g, h in zip(head_grad_nodes, heads)]
    if group2ctx is None:
        return {id(n): ctx for n in [*nodes, *all_nodes, *head_grad_nodes]}
    place = group_places(nodes, group2ctx)
    for node in nodes:
        if not node.is_variable:
            place.setdefault(id(node), ctx)
    for name, home in homes.items():
        place[id(variables[name])] = home
    check_aux_places(nodes, place, aux_names)
    for g, head in head_grads:
        place[id(g)] = place[id(head)]
    order = {id(n): i for i, n in enumerate(nodes)}
    makers: dict = {}  # id(forward node) -> ids of the nodes whose rules may read it
    for node in nodes:
        if not node.is_variable:
            makers.setdefault(id(node), set()).add(id(node))
        for e in node.inputs:
            makers.setdefault(id(e[0]), set()).add(id(node))
    for node in all_nodes:
        if id(node) in order:
            continue
        candidates = None
        for e in node.inputs:
            if id(e[0]) in order:
                found = makers.get(id(e[0]), set())
                candidates = found if candidates is None else candidates & found
        if not candidates and id(node) in grad_of:
            candidates = makers.get(id(grad_of[id(node)]))
        if candidates:
            place[id(node)] = place[max(candidates, key=order.__getitem__)]
        else:
            place[id(node)] = place[id(node.inputs[0][0])] if node.inputs else ctx
    return place


def check_aux_places(nodes, place, aux_names):
    """Auxiliary states are updated in place by the node reading them: no copy may stand
    between them (MXNet forbids a mutable input across devices too)."""
    aux = set(aux_names)
    for node in nodes:
        for e in node.inputs:
            var = e[0]
            if var.is_variable and var.name in aux and place[id(var)] != place[id(node)]:
                raise MXNetError(f"bind: auxiliary state {var.name!r} is on "
                                 f"{place[id(var)]}, but node {node.name!r}, which updates "
                                 f"it in place, runs on {place[id(node)]}; put the array "
                                 f"on {place[id(node)]}")


def home_contexts(symbol, ctx: Context, group2ctx) -> tuple:
    """Where simple_bind allocates each argument and auxiliary state (lists in
    list_arguments / list_auxiliary_states order)."""
    arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
    if group2ctx is None:
        return [ctx] * len(arg_names), [ctx] * len(aux_names)
    nodes = topo_order([tuple(h) for h in symbol._heads])
    places = group_places(nodes, group2ctx)
    home = {n.name: places.get(id(n), ctx) for n in nodes if n.is_variable}
    aux = set(aux_names)
    for node in reversed(nodes):  # the first reader wins
        for e in node.inputs:
            if e[0].is_variable and e[0].name in aux:
                home[e[0].name] = places.get(id(node), ctx)
    return [home[n] for n in arg_names], [home[n] for n in aux_names]
