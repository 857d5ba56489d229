"""Executor: a Symbol bound to arrays, planned once at bind time, on one device or several.

Bind infers every shape and dtype, appends the gradient graph (`autodiff.gradient`) when some
argument needs a gradient, and plans the whole sequence once: where each node runs (`group2ctx`
placement), topological schedule, chains of elementwise nodes on one device fused into one
generated kernel (`codegen.fusion`), cross-device copies where a value is read on another
device than its own, and buffers of intermediates reused per device once their last reader has
run. `forward`/`backward` replay the prepared launch list: no inference, lookup or host wait per
call. Gradients reach the user's arrays through one helper, `_assign`, honouring grad_req
write / add / null. The copies themselves (asynchronous, ordered by OpenCL events between the
devices' queues) are `ndarray.transfer`'s.
"""
from __future__ import annotations

import functools

import numpy as np

from . import autodiff
from .base import MXNetError, debug_level, prod, sync_mode
from .context import Context
from .symbol.graph import Node, topo_order
from .symbol.infer import infer_shapes, infer_types

_REQS = ("write", "add", "null", "inplace")


def _assign(dst, req: str, src):
    """Deliver gradient `src` into `dst` as grad_req says."""
    if req == "null" or dst is None:
        return
    if req == "add":
        dst += src
    elif src is not dst:
        src.copyto(dst)


def _as_group2ctx(group2ctx) -> dict | None:
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


def _group_places(nodes, group2ctx) -> dict:
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


def _inputs_of(group) -> list:
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


def _fusable(node: Node, shapes: dict, types: dict) -> bool:
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


class _Plan:
    """The ordered launch list of one phase (forward or backward).

    The first run in each training mode records the launches (`runtime.replay`); later runs
    enqueue the recorded kernels with their arguments already set, and run through the ops
    only the steps that do more than launch kernels (random draws, transfers). Debug and sync
    modes always run the ops, so each launch is traced or waited for."""

    def __init__(self):
        self.steps = []  # callables enqueueing work, in order
        self._replays = {}  # autograd.is_training() -> recorded callables

    def run(self, key):
        """Run the steps; `key` names the mode the launches depend on (the training flag of
        the forward whose saved state a backward reads)."""
        from .runtime import replay
        if debug_level() or sync_mode():
            for step in self.steps:
                step()
            return
        recorded = self._replays.get(key)
        if recorded is None:
            self._replays[key] = replay.record(self.steps)
            return
        for item in recorded:
            item()


class Executor:
    """A bound symbol. Create it with `Symbol.bind` or `Symbol.simple_bind`.

    With `group2ctx`, nodes made under `mx.AttrScope(ctx_group=g)` run on `group2ctx[g]`,
    nodes without a group on `ctx`, and each gradient node on the context of the forward node
    it differentiates; arguments may live on any context and are copied where they are read.
    """

    def __init__(self, symbol, ctx: Context, args, args_grad=None, grad_req="write",
                 aux_states=None, group2ctx=None):
        self._symbol = symbol
        self._ctx = ctx
        self._group2ctx = _as_group2ctx(group2ctx)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.output_names = symbol.list_outputs()
        self.arg_arrays = self._arrays(args, self.arg_names, "args", required=True)
        self.aux_arrays = self._arrays(aux_states, self.aux_names, "aux_states",
                                       required=bool(self.aux_names))
        self.grad_arrays = self._arrays(args_grad, self.arg_names, "args_grad", required=False)
        self._grad_req = self._reqs(grad_req)
        for i, name in enumerate(self.arg_names):
            if self.grad_arrays[i] is None:
                self._grad_req[name] = "null"
        self._build()

    # -- arguments ----------------------------------------------------------------------------
    def _arrays(self, given, names, what, required):
        from .ndarray.ndarray import NDArray
        if given is None:
            if required and names:
                raise MXNetError(f"bind: {what} is missing; it must give {names}")
            return [None] * len(names)
        if isinstance(given, dict):
            unknown = sorted(set(given) - set(names))
            if unknown and what != "args_grad":
                raise MXNetError(f"bind: {what} has names {unknown} that the symbol does not "
                                 f"use; it uses {names}")
            missing = [n for n in names if n not in given]
            if required and missing:
                raise MXNetError(f"bind: {what} lacks {missing}")
            arrays = [given.get(n) for n in names]
        else:
            arrays = list(given)
            if len(arrays) != len(names):
                raise MXNetError(f"bind: {what} has {len(arrays)} arrays, the symbol needs "
                                 f"{len(names)}: {names}")
        for n, a in zip(names, arrays):
            if a is not None and not isinstance(a, NDArray):
                raise MXNetError(f"bind: {what}[{n!r}] must be an NDArray, got "
                                 f"{type(a).__name__}")
            # without group2ctx everything runs on ctx (as MXNet); with it, arrays may live
            # anywhere and are copied to the devices that read them
            if a is not None and self._group2ctx is None and a.context != self._ctx:
                raise MXNetError(f"bind: {what}[{n!r}] is on {a.context}, the executor on "
                                 f"{self._ctx}; move it with as_in_context(), or bind with "
                                 "group2ctx for a graph over several devices")
        return arrays

    def _reqs(self, grad_req) -> dict:
        if isinstance(grad_req, str):
            reqs = {n: grad_req for n in self.arg_names}
        elif isinstance(grad_req, dict):
            reqs = {n: grad_req.get(n, "null") for n in self.arg_names}
        else:
            reqs = dict(zip(self.arg_names, grad_req))
        for n, r in reqs.items():
            if r not in _REQS:
                raise MXNetError(f"bind: grad_req {r!r} for {n!r} is not one of {_REQS[:3]}")
        return {n: ("write" if r == "inplace" else r) for n, r in reqs.items()}

    # -- planning -----------------------------------------------------------------------------
    def _build(self):
        from .ndarray.ndarray import empty
        heads = [tuple(h) for h in self._symbol._heads]
        nodes = topo_order(heads)
        variables = {n.name: n for n in nodes if n.is_variable}
        values = {}  # entry -> NDArray on the entry's own context
        for names, arrays in ((self.arg_names, self.arg_arrays),
                              (self.aux_names, self.aux_arrays)):
            for n, a in zip(names, arrays):
                if a is not None:
                    values[(variables[n], 0)] = a
        wrt = [variables[n] for n in self.arg_names if self._grad_req[n] != "null"]
        self._head_grad_nodes = [Node(None, f"__head_grad_{i}") for i in range(len(heads))]
        grad_entries = autodiff.gradient(heads, wrt, [(g, 0) for g in self._head_grad_nodes]
                                         ) if wrt else []
        all_heads = heads + [e for e in grad_entries if e is not None]
        known_shapes = {n: a.shape for n, a in zip(self.arg_names + self.aux_names,
                                                    self.arg_arrays + self.aux_arrays)}
        known_types = {n: a.dtype for n, a in zip(self.arg_names + self.aux_names,
                                                   self.arg_arrays + self.aux_arrays)}
        fwd_shapes, _ = infer_shapes(heads, known_shapes, zero_unknown=False)
        fwd_types = infer_types(heads, known_types)
        for i, (g, h) in enumerate(zip(self._head_grad_nodes, heads)):
            known_shapes[g.name] = fwd_shapes[h]
            known_types[g.name] = fwd_types[h]
        shapes, _ = infer_shapes(all_heads, known_shapes, zero_unknown=False)
        types = infer_types(all_heads, known_types)
        self._check_bound_shapes(variables, shapes)

        fwd_ids = {id(n) for n in nodes}
        all_nodes = [n for n in topo_order(all_heads) if not n.is_variable]
        grad_of = {id(e[0]): w for w, e in zip(wrt, grad_entries) if e is not None}
        place = self._place(nodes, all_nodes, variables, heads, grad_of)
        for g, h in zip(self._head_grad_nodes, heads):
            if grad_entries:
                values[(g, 0)] = empty(shapes[h], place[id(g)], types[h])
        persistent = set(all_heads)
        groups = self._fuse(all_nodes, shapes, types, persistent, fwd_ids, place)
        items = self._schedule(groups, fwd_ids, place)
        self._alias_gradients(wrt, grad_entries, values, place, shapes, types, heads)
        copies = {}  # (entry, context) -> NDArray: the entry's copy on another device
        self._memory = self._allocate(items, shapes, types, values, copies, persistent, place)
        self._plan(items, place, values, copies, shapes, types)
        self.outputs = [values[h] for h in heads]
        self._grad_values = [values[e] if e is not None else None for e in grad_entries]
        self._wrt_names = [w.name for w in wrt]
        # a gradient computed on another device than its array: 'add' needs it there first
        self._staging = {}
        for name, g in zip(self._wrt_names, self._grad_values):
            dst = self.grad_arrays[self.arg_names.index(name)]
            if g is not None and g.context != dst.context and self._grad_req[name] == "add":
                self._staging[name] = empty(g.shape, dst.context, g.dtype)
        self._values = values
        self._trained = None  # is_train of the last forward
        self._bwd.steps += [functools.partial(self._deliver, name, g)
                            for name, g in zip(self._wrt_names, self._grad_values)]
        self._fill_head_grads = _Plan()
        self._fill_head_grads.steps = [functools.partial(values[(node, 0)].__setitem__,
                                                         slice(None), 1)
                                       for node in self._head_grad_nodes if grad_entries]

    def _alias_gradients(self, wrt, grad_entries, values, place, shapes, types, heads):
        """Gradients with grad_req 'write' are computed straight into their grad arrays when
        the array matches the gradient's device, shape and dtype: no copy per backward."""
        for w, e in zip(wrt, grad_entries):
            if e is None:
                continue
            e = tuple(e)
            dst = self.grad_arrays[self.arg_names.index(w.name)]
            if (self._grad_req[w.name] == "write" and not e[0].is_variable and e not in values
                    and e not in heads and place[id(e[0])] == dst.context
                    and tuple(shapes[e]) == dst.shape and types[e] is dst._dt):
                values[e] = dst

    def _place(self, nodes, all_nodes, variables, heads, grad_of) -> dict:
        """id(node) -> the Context it runs on (a variable: where its array lives).

        Forward ops run on their group's context, or the executor's without a group. A
        gradient node runs where the forward node whose rule made it runs: that node is the
        producer or a consumer of every forward value the gradient node reads, so of those
        candidates the last in topological order is taken. A node reading no forward value
        runs with the last reader of the argument whose gradient it is (a bias gradient
        summing the head gradient), else with its first input (a rule's later step).
        `grad_of` maps id(node) -> the argument whose gradient the node's output is."""
        head_grads = [(g, h[0]) for g, h in zip(self._head_grad_nodes, heads)]
        if self._group2ctx is None:
            return {id(n): self._ctx for n in [*nodes, *all_nodes, *self._head_grad_nodes]}
        place = _group_places(nodes, self._group2ctx)
        for node in nodes:
            if not node.is_variable:
                place.setdefault(id(node), self._ctx)
        for names, arrays in ((self.arg_names, self.arg_arrays),
                              (self.aux_names, self.aux_arrays)):
            for n, a in zip(names, arrays):
                place[id(variables[n])] = a.context
        self._check_aux_places(nodes, place)
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
                place[id(node)] = place[id(node.inputs[0][0])] if node.inputs else self._ctx
        return place

    def _check_aux_places(self, nodes, place):
        """Auxiliary states are updated in place by the node reading them: no copy may stand
        between them (MXNet forbids a mutable input across devices too)."""
        aux = set(self.aux_names)
        for node in nodes:
            for e in node.inputs:
                var = e[0]
                if var.is_variable and var.name in aux and place[id(var)] != place[id(node)]:
                    raise MXNetError(f"bind: auxiliary state {var.name!r} is on "
                                     f"{place[id(var)]}, but node {node.name!r}, which updates "
                                     f"it in place, runs on {place[id(node)]}; put the array "
                                     f"on {place[id(node)]}")

    def _check_bound_shapes(self, variables, shapes):
        for names, arrays, what in ((self.arg_names, self.arg_arrays, "argument"),
                                    (self.aux_names, self.aux_arrays, "auxiliary state")):
            for n, a in zip(names, arrays):
                want = shapes.get((variables[n], 0))
                if want is not None and tuple(want) != a.shape:
                    raise MXNetError(f"bind: {what} {n!r} has shape {a.shape}, the graph needs "
                                     f"{tuple(want)}")
        for i, (n, g) in enumerate(zip(self.arg_names, self.grad_arrays)):
            if g is not None and g.shape != self.arg_arrays[i].shape:
                raise MXNetError(f"bind: args_grad[{n!r}] has shape {g.shape}, the argument "
                                 f"{self.arg_arrays[i].shape}")

    @staticmethod
    def _fuse(nodes, shapes, types, persistent, fwd_ids, place) -> list:
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
            if not _fusable(node, shapes, types):
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
                            or not _fusable(producer, shapes, types)):
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

    @staticmethod
    def _schedule(groups, fwd_ids, place) -> list:
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
            for e in _inputs_of(group):
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

    def _allocate(self, items, shapes, types, values, copies, persistent, place) -> dict:
        """Arrays for every group output and copy: persistent ones of their own,
        intermediates in shared slots of their device, a slot reused once its value's last
        reader has run (best fit by size). Returns the byte statistics."""
        from .ndarray.ndarray import NDArray, empty
        from .runtime import Buffer, get_device

        def reads(item):
            if item[0] == "copy":
                return [(item[1], place[id(item[1][0])])]
            ctx = place[id(item[1][-1])]
            return [(e, ctx) for e in _inputs_of(item[1])]

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

    def _plan(self, items, place, values, copies, shapes, types):
        """The forward and backward launch lists from the scheduled items, with the listing
        `debug_str` prints."""
        self._fwd = _Plan()
        self._bwd = _Plan()
        self.fused_kernels = 0
        self.cross_device_copies = 0
        self._listing = []
        for phase, item in items:
            plan = self._fwd if phase == 0 else self._bwd
            what = ("forward", "backward")[phase]
            if item[0] == "copy":
                _, e, ctx = item
                plan.steps.append(functools.partial(values[e].copyto, copies[(e, ctx)]))
                self.cross_device_copies += 1
                self._listing.append(f"{what:9}copy {e[0].output_name(e[1])} from "
                                     f"{place[id(e[0])]} to {ctx}")
                continue
            group = item[1]
            ctx = place[id(group[-1])]
            self._listing.append(f"{what:9}{ctx}: " + " + ".join(
                f"{n.name} ({n.op.name})" for n in group))

            def value(e, ctx=ctx):
                e = tuple(e)
                return values[e] if place[id(e[0])] == ctx else copies[(e, ctx)]
            plan.steps.append(self._step(group, value, values, shapes, types))
            self.fused_kernels += len(group) > 1

    def _step(self, group, value, values, shapes, types):
        """A closure enqueueing one group: the op's forward, or one fused kernel. `value(e)`
        is entry e on the group's device (the value itself or its copy there)."""
        if len(group) == 1:
            node = group[0]
            op, params = node.op, node.params
            ins = [value(e) for e in node.inputs]
            outs = [values[(node, k)] for k in range(node.num_outputs)]
            return lambda: op.forward(params, ins, outs)
        return self._fused_step(group, value, values, types)

    def _fused_step(self, group, value, values, types):
        from .codegen import fusion
        from .ops.elemwise import _expr_for
        members = {id(n): j for j, n in enumerate(group)}
        inputs, index = [], {}
        steps = []
        for node in group:
            operands = []
            for e in node.inputs:
                e = tuple(e)
                if id(e[0]) in members:
                    operands.append(("v", members[id(e[0])]))
                else:
                    if e not in index:
                        index[e] = len(inputs)
                        inputs.append(value(e))
                    operands.append(("in", index[e]))
            scalars = tuple(node.params[n] for n in node.op.extra.get("scalars", ()))
            steps.append(fusion.Step(_expr_for(node.op, types[(node, 0)]), tuple(operands),
                                     scalars))
        return fusion.launcher(steps, inputs, values[(group[-1], 0)])

    # -- running ------------------------------------------------------------------------------
    def forward(self, is_train: bool = False, **kwargs):
        """Run the forward graph; keyword arrays replace the named arguments' values first."""
        from . import autograd
        for name, value in kwargs.items():
            if name not in self.arg_names:
                raise MXNetError(f"forward: {name!r} is not an argument; arguments: "
                                 f"{self.arg_names}")
            dst = self.arg_arrays[self.arg_names.index(name)]
            self._load(dst, value, name)
        with autograd.train_mode() if is_train else autograd.predict_mode():
            self._fwd.run(is_train)
        self._trained = is_train
        return self.outputs

    @staticmethod
    def _load(dst, value, name):
        from .ndarray.ndarray import NDArray, array
        if not isinstance(value, NDArray):
            value = array(np.asarray(value), ctx=dst.context, dtype=dst.dtype)
        if value.shape != dst.shape:
            raise MXNetError(f"forward: {name!r} has shape {value.shape}, the executor was "
                             f"bound with {dst.shape}; use reshape() for new shapes")
        value.copyto(dst)

    def backward(self, out_grads=None, is_train: bool = True):
        """Run the gradient graph (head gradients default to ones; `out_grads` is a list in
        output order, one NDArray, or a dict by output name) and deliver the gradients to the
        bound gradient arrays. With no gradient to compute (every grad_req 'null') it does
        nothing, as MXNet."""
        if not self._wrt_names:
            return
        from .ndarray.ndarray import NDArray
        if out_grads is None:
            out_grads = [None] * len(self._head_grad_nodes)
        elif isinstance(out_grads, NDArray):
            out_grads = [out_grads]
        elif isinstance(out_grads, dict):
            unknown = sorted(set(out_grads) - set(self.output_names))
            if unknown:
                raise MXNetError(f"backward: out_grads names {unknown} are not outputs; "
                                 f"outputs: {self.output_names}")
            out_grads = [out_grads.get(n) for n in self.output_names]
        if len(out_grads) != len(self._head_grad_nodes):
            raise MXNetError(f"backward: {len(out_grads)} out_grads for "
                             f"{len(self._head_grad_nodes)} outputs")
        if all(g is None for g in out_grads):
            self._fill_head_grads.run(None)
        else:
            for node, g in zip(self._head_grad_nodes, out_grads):
                dst = self._values[(node, 0)]
                if g is None:
                    dst[:] = 1
                else:
                    self._load(dst, g, "out_grads")
        self._bwd.run(self._trained)

    def _deliver(self, name, g):
        """Bring the gradient `g` of argument `name` into its grad array (a backward step)."""
        i = self.arg_names.index(name)
        if g is None:
            # no gradient reaches this argument: it is zero (MXNet writes zeros)
            if self._grad_req[name] == "write":
                self.grad_arrays[i][:] = 0
            return
        if name in self._staging:
            g = g.copyto(self._staging[name])
        _assign(self.grad_arrays[i], self._grad_req[name], g)

    # -- views ----------------------------------------------------------------------------------
    @property
    def arg_dict(self) -> dict:
        return dict(zip(self.arg_names, self.arg_arrays))

    @property
    def grad_dict(self) -> dict:
        return {n: g for n, g in zip(self.arg_names, self.grad_arrays) if g is not None}

    @property
    def aux_dict(self) -> dict:
        return dict(zip(self.aux_names, self.aux_arrays))

    @property
    def output_dict(self) -> dict:
        return dict(zip(self.output_names, self.outputs))

    def debug_str(self) -> str:
        """The launch list, one line per launch or cross-device copy in order (phase, device,
        node names and ops; a fused group joins its nodes with '+'), then the planned bytes
        of intermediates per device."""
        memory = ", ".join(f"{c} {b} bytes" for c, b in self._memory["devices"].items())
        return "\n".join(self._listing + [f"intermediates: {memory or 'none'}"])

    @property
    def memory_plan(self) -> dict:
        """Bytes of intermediates: planned (with buffer reuse), naive (one per entry), and
        planned per device (`devices`, by context name)."""
        return dict(self._memory)

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        for name, value in (arg_params or {}).items():
            if name in self.arg_names:
                value.copyto(self.arg_arrays[self.arg_names.index(name)])
            elif not allow_extra_params:
                raise MXNetError(f"copy_params_from: {name!r} is not an argument; pass "
                                 "allow_extra_params=True to ignore it")
        for name, value in (aux_params or {}).items():
            if name in self.aux_names:
                value.copyto(self.aux_arrays[self.aux_names.index(name)])
            elif not allow_extra_params:
                raise MXNetError(f"copy_params_from: {name!r} is not an auxiliary state")

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes, sharing the arrays whose shapes stay. An
        array may only grow with allow_up_sizing=True (as MXNet: binding the largest shapes
        first and reshaping down is the cheaper order)."""
        shapes = {n: a.shape for n, a in zip(self.arg_names, self.arg_arrays)}
        for name, shape in kwargs.items():
            old = shapes.get(name)
            if old is not None and prod(shape) > prod(old) and not allow_up_sizing:
                raise MXNetError(f"reshape: new shape {tuple(shape)} of {name!r} is larger "
                                 f"than the original {old}; pass allow_up_sizing=True to "
                                 "allow it")
        shapes.update({k: tuple(v) for k, v in kwargs.items()})
        new = simple_bind(self._symbol, self._ctx, grad_req=self._grad_req,
                          type_dict={n: a.dtype for n, a in zip(self.arg_names,
                                                                 self.arg_arrays)},
                          group2ctx=self._group2ctx, **shapes)
        for old, fresh in ((self.arg_arrays, new.arg_arrays), (self.aux_arrays, new.aux_arrays),
                           (self.grad_arrays, new.grad_arrays)):
            for i, (a, b) in enumerate(zip(old, fresh)):
                if a is not None and b is not None and a.shape == b.shape:
                    fresh[i] = a
        return Executor(self._symbol, self._ctx, new.arg_arrays, new.grad_arrays,
                        self._grad_req, new.aux_arrays, self._group2ctx)



def bind(symbol, ctx, args, args_grad=None, grad_req="write", aux_states=None,
         group2ctx=None, shared_exec=None):
    """`Symbol.bind`: an Executor over the given arrays; with `group2ctx` ({ctx_group name:
    Context}) the arrays may live on any context."""
    return Executor(symbol, Context(ctx), args, args_grad, grad_req, aux_states, group2ctx)


def simple_bind(symbol, ctx, grad_req="write", type_dict=None, stype_dict=None,
                group2ctx=None, shared_arg_names=None, shared_exec=None, shared_buffer=None,
                **kwargs):
    """`Symbol.simple_bind`: allocate arguments (and gradients, auxiliary states) from the
    given input shapes, then bind. With `group2ctx`, an argument is allocated on its
    variable's group context (`ctx` without a group), its gradient beside it, and an
    auxiliary state on the context of the node that updates it."""
    from .ndarray.creation import zeros
    ctx = Context(ctx)
    arg_shapes, _, aux_shapes = symbol.infer_shape(**kwargs)
    if arg_shapes is None:
        raise MXNetError(f"simple_bind: cannot infer every shape from {kwargs}")
    names = symbol.list_arguments()
    attrs = symbol.attr_dict()
    # MXNet: without type_dict, arguments lacking __dtype__ are float32; with one, the rest
    # is inferred from it (float32 only where inference leaves an argument open)
    defaults = {n: np.float32 for n in names if "__dtype__" not in attrs.get(n, {})}
    types = dict(type_dict) if type_dict else defaults
    arg_types, _, aux_types = symbol.infer_type(**types)
    if arg_types is None and type_dict:
        arg_types, _, aux_types = symbol.infer_type(**{**defaults, **types})
    if arg_types is None:
        raise MXNetError(f"simple_bind: cannot infer every dtype from {types}")
    arg_ctx, aux_ctx = _home_contexts(symbol, ctx, _as_group2ctx(group2ctx))
    args = [zeros(s, c, t) for s, t, c in zip(arg_shapes, arg_types, arg_ctx)]
    reqs = grad_req if isinstance(grad_req, dict) else {n: grad_req for n in names}
    grads = {n: zeros(s, c, t) for n, s, t, c in zip(names, arg_shapes, arg_types, arg_ctx)
             if reqs.get(n, "null") != "null"}
    aux = [zeros(s, c, t) for s, t, c in zip(aux_shapes, aux_types, aux_ctx)]
    return Executor(symbol, ctx, args, grads, grad_req, aux, group2ctx)


def _home_contexts(symbol, ctx: Context, group2ctx) -> tuple:
    """Where simple_bind allocates each argument and auxiliary state (lists in
    list_arguments / list_auxiliary_states order)."""
    arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
    if group2ctx is None:
        return [ctx] * len(arg_names), [ctx] * len(aux_names)
    nodes = topo_order([tuple(h) for h in symbol._heads])
    places = _group_places(nodes, group2ctx)
    home = {n.name: places.get(id(n), ctx) for n in nodes if n.is_variable}
    aux = set(aux_names)
    for node in reversed(nodes):  # the first reader wins
        for e in node.inputs:
            if e[0].is_variable and e[0].name in aux:
                home[e[0].name] = places.get(id(node), ctx)
    return [home[n] for n in arg_names], [home[n] for n in aux_names]
