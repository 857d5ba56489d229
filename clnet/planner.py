"""Planning a bound graph's launches: which elementwise nodes fuse into one kernel, which
relus a FullyConnected stores itself (forward-only graphs), the forward and backward schedule
with the copies between devices, the memory of every value (intermediates sharing buffers
once their last reader has run), and `Plan`, the launch list of one phase, recorded on its
first run and replayed after (`runtime.replay`).

Placement is `placement`'s; the fused kernels' source is `codegen.fusion`'s; binding arrays and
running the plans is `executor`'s.
"""
from __future__ import annotations

from .base import plain_mode, prod
from .symbol.graph import Node


def inputs_of(group) -> list:
    """The entries a group of nodes reads from outside itself, each once, in order."""
    members = {id(n) for n in group}
    seen, out = set(), []
    for node in group:
        for e in node.inputs:
            e = tuple(e)
            if id(e[0]) not in members and e not in seen:
                seen.add(e)
                out.append(e)
    return out


def fusable(node: Node, shapes: dict, types: dict) -> bool:
    """An expression op whose operands all have its output's shape and dtype: it can be one
    statement of a fused kernel."""
    op = node.op
    if op is None or not op.extra.get("elementwise") or op.expr is None or op.n_outputs(
            node.params) != 1:
        return False
    out = (node, 0)
    if op.extra.get("compute_in_output") or op.name == "where":
        return False
    dt = types[out]
    if not dt.is_float:
        return False  # integer forms differ per dtype (int_expr); keep them unfused
    return all(shapes[tuple(e)] == shapes[out] and types[tuple(e)] is dt for e in node.inputs)


def fuse(nodes, shapes, types, persistent, fwd_ids, place) -> list:
    """Groups of nodes, one launch each, in schedule order. A fusable node joins its only
    consumer's group when that consumer is fusable too, on the same device, in the same
    phase, and the node's output is needed nowhere else."""
    consumers: dict = {}
    for node in nodes:
        for e in node.inputs:
            consumers.setdefault(tuple(e), []).append(node)
    group_of = {}
    for node in reversed(nodes):
        if id(node) in group_of:
            continue
        group_of[id(node)] = group = [node]
        if not fusable(node, shapes, types):
            continue
        frontier = [node]
        while frontier:
            current = frontier.pop()
            for e in current.inputs:
                producer = e[0]
                e = tuple(e)
                if (producer.is_variable or id(producer) in group_of or e in persistent
                        or len(consumers.get(e, ())) != 1
                        or (id(producer) in fwd_ids) != (id(node) in fwd_ids)
                        or place[id(producer)] != place[id(node)]
                        or not fusable(producer, shapes, types)):
                    continue
                group_of[id(producer)] = group
                group.append(producer)
                frontier.append(producer)
    order = {id(n): i for i, n in enumerate(nodes)}
    groups, seen = [], set()
    for node in nodes:
        group = group_of[id(node)]
        if id(group) not in seen:
            seen.add(id(group))
            group.sort(key=lambda n: order[id(n)])
            groups.append(group)
    groups.sort(key=lambda g: order[id(g[-1])])
    return groups


def is_relu(node: Node) -> bool:
    op = node.op
    return op is not None and (op.name == "relu" or (
        op.name == "Activation" and node.params.get("act_type") == "relu"))


def fuse_epilogues(groups, nodes, persistent, fwd_ids, place) -> list:
    """`groups` with each relu that is a group of its own joined to its producer's group when
    the producer can store the relu itself (an op with `relu_forward`: FullyConnected, whose
    GEMM clamps in its store) and the relu is the only reader of that output: nothing else
    needs the value before the relu (a training graph's relu gradient reads it, so only
    forward-only graphs fuse). The joined group [producer, relu] is one launch
    (`relu_epilogue`)."""
    readers: dict = {}
    for node in nodes:
        for e in node.inputs:
            readers.setdefault(tuple(e), []).append(node)
    alone = {id(g[0]): g for g in groups if len(g) == 1}
    joined = {}  # id of the producer's group -> the relu's group
    for group in groups:
        relu = group[0]
        if len(group) != 1 or not is_relu(relu):
            continue
        e = tuple(relu.inputs[0])
        producer = e[0]
        if (id(producer) in alone and "relu_forward" in producer.op.extra and e[1] == 0
                and e not in persistent and readers.get(e) == [relu]
                and (id(producer) in fwd_ids) == (id(relu) in fwd_ids)
                and place[id(producer)] == place[id(relu)]):
            joined[id(alone[id(producer)])] = group
    if not joined:
        return groups
    dropped = {id(g) for g in joined.values()}
    out = []
    for group in groups:
        if id(group) in joined:
            continue  # runs where its relu ran: every input of the producer is ready by then
        if id(group) in dropped:
            producer = group[0].inputs[0][0]
            out.append([producer, group[0]])
        else:
            out.append(group)
    return out


def relu_epilogue(group):
    """The forward of a [producer, relu] group of fuse_epilogues (the producer's
    `relu_forward`, writing the relu's output), or None for other groups."""
    if len(group) == 2 and is_relu(group[1]) and "relu_forward" in group[0].op.extra and (
            group[1].inputs[0][0] is group[0]):
        return group[0].op.extra["relu_forward"]
    return None


def schedule(groups, fwd_ids, place) -> list:
    """The launch list: (phase, item) pairs, phase 0 forward and 1 backward, an item
    ("run", group) or ("copy", entry, context). A value read on another device than its
    own is copied there once, right after its producer when its first reader there runs
    in the same phase (the copy overlaps the producer's later work), else at the start of
    that reader's phase (arguments, head gradients, forward values the backward pass
    reads)."""
    def phase(group):
        return 0 if id(group[-1]) in fwd_ids else 1
    produced = {id(g[-1]): phase(g) for g in groups}
    needed: dict = {}  # (entry, context) -> phase of its first reader there
    for group in groups:
        ctx = place[id(group[-1])]
        for e in inputs_of(group):
            if place[id(e[0])] != ctx:
                needed.setdefault((e, ctx), phase(group))
    after: dict = {}
    first = ([], [])
    for (e, ctx), p in needed.items():
        if produced.get(id(e[0])) == p:
            after.setdefault(id(e[0]), []).append(("copy", e, ctx))
        else:
            first[p].append(("copy", e, ctx))
    items = []
    for p in (0, 1):
        items += [(p, c) for c in first[p]]
        for group in groups:
            if phase(group) == p:
                items.append((p, ("run", group)))
                items += [(p, c) for c in after.get(id(group[-1]), ())]
    return items


def allocate(items, shapes, types, values, copies, persistent, place) -> dict:
    """Arrays for every group output and copy: persistent ones of their own,
    intermediates in shared slots of their device, a slot reused once its value's last
    reader has run (best fit by size). Returns the byte statistics."""
    from .ndarray.ndarray import NDArray, empty
    from .runtime import Buffer, get_device

    def reads(item):
        if item[0] == "copy":
            return [(item[1], place[id(item[1][0])])]
        ctx = place[id(item[1][-1])]
        return [(e, ctx) for e in inputs_of(item[1])]

    def writes(item):
        if item[0] == "copy":
            return [(item[1], item[2])]
        out = item[1][-1]
        return [((out, k), place[id(out)]) for k in range(out.num_outputs)]

    last_use = {}
    for i, (_, item) in enumerate(items):
        for key in reads(item):
            last_use[key] = i
    slots: dict = {}  # context -> slot sizes in bytes
    free: dict = {}  # context -> free slot indices
    assign = {}
    naive = 0
    for i, (_, item) in enumerate(items):
        for key in writes(item):
            e, ctx = key
            if place[id(e[0])] == ctx and (e in persistent or e in values):
                continue
            nbytes = prod(shapes[e]) * types[e].np.itemsize
            naive += nbytes
            sizes, avail = slots.setdefault(ctx, []), free.setdefault(ctx, [])
            fits = [s for s in avail if sizes[s] >= nbytes]
            if fits:
                s = min(fits, key=sizes.__getitem__)
                avail.remove(s)
            else:
                s = len(sizes)
                sizes.append(nbytes)
            assign[key] = s
        for key in reads(item):
            if last_use.get(key) == i and key in assign:
                free[key[1]].append(assign[key])
    buffers = {ctx: [Buffer(get_device(ctx), max(n, 1)) for n in sizes]
               for ctx, sizes in slots.items()}
    for _, item in items:
        for key in writes(item):
            e, ctx = key
            home = place[id(e[0])] == ctx
            if home and e in values:
                continue
            if key in assign:
                array = NDArray(buffers[ctx][assign[key]], 0, shapes[e], types[e], ctx)
            else:
                array = empty(shapes[e], ctx, types[e])
            if home:
                values[e] = array
            else:
                copies[key] = array
    return {"planned_bytes": sum(sum(s) for s in slots.values()), "naive_bytes": naive,
            "devices": {str(ctx): sum(sizes) for ctx, sizes in slots.items()}}


class Plan:
    """The ordered launch list of one phase (forward or backward).

    The first run in each training mode records the launches (`runtime.replay`); later runs
    enqueue the recorded kernels with their arguments already set, and run through the ops
    only the steps that do more than launch kernels (random draws, transfers). Debug and sync
    modes always run the ops, so each launch is traced or waited for."""

    def __init__(self):
        self.steps = []  # callables enqueueing work, in order
        self._replays = {}  # run key -> recorded callables

    def run(self, key):
        """Run the steps; `key` names the mode the launches depend on (the training flag of
        the forward whose saved state a backward reads)."""
        from .runtime import replay
        if not plain_mode():
            for step in self.steps:
                step()
            return
        recorded = self._replays.get(key)
        if recorded is None:
            self._replays[key] = replay.record(self.steps)
            return
        for item in recorded:
            item()
