"""Executor: a Symbol bound to arrays, planned once at bind time, on one device or several.

Bind infers every shape and dtype, appends the gradient graph (`autodiff.gradient`) when some
argument needs a gradient, places the nodes (`placement`: group2ctx), and plans the launches
once (`planner`: fusion of elementwise chains, the schedule with cross-device copies, memory
of the intermediates). `forward`/`backward` run the plans: their first run in each mode
records the launches, later runs replay them with no inference, lookup or host wait.
Gradients reach the user's arrays through one helper, `_assign`, honouring grad_req write /
add / null; 'write' gradients are computed in their arrays directly when they can be.
"""
from __future__ import annotations

import functools

import numpy as np

from . import autodiff, placement, planner
from .base import MXNetError, prod
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


def _check_unique(names):
    """Arrays and gradients are keyed by name: two variables may not share one."""
    seen = set()
    for n in names:
        if n in seen:
            raise MXNetError(f"bind: the symbol has several variables named {n!r}; create the "
                             "variable once and use that symbol everywhere, or give each its "
                             "own name")
        seen.add(n)


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
        self._group2ctx = placement.as_group2ctx(group2ctx)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.output_names = symbol.list_outputs()
        _check_unique(self.arg_names + self.aux_names)
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
        homes = {n: a.context for n, a in zip(self.arg_names + self.aux_names,
                                               self.arg_arrays + self.aux_arrays)}
        place = placement.place_nodes(nodes, all_nodes, variables, heads, self._head_grad_nodes,
                                      grad_of, self._ctx, self._group2ctx, homes, self.aux_names)
        for g, h in zip(self._head_grad_nodes, heads):
            if grad_entries:
                values[(g, 0)] = empty(shapes[h], place[id(g)], types[h])
        persistent = set(all_heads)
        groups = planner.fuse(all_nodes, shapes, types, persistent, fwd_ids, place)
        groups = planner.fuse_epilogues(groups, all_nodes, persistent, fwd_ids, place)
        items = planner.schedule(groups, fwd_ids, place)
        self._alias_gradients(wrt, grad_entries, values, place, shapes, types, heads)
        copies = {}  # (entry, context) -> NDArray: the entry's copy on another device
        self._memory = planner.allocate(items, shapes, types, values, copies, persistent, place)
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
        # default head gradients (ones) that some gradient node reads, or that are a gradient
        # themselves: a loss such as SoftmaxOutput ignores its head gradient, and filling it
        # would be one launch per step for nothing
        read = {id(e[0]) for n in all_nodes for e in n.inputs}
        read.update(id(e[0]) for e in grad_entries if e is not None)
        self._fill_head_grads = planner.Plan()
        self._fill_head_grads.steps = [functools.partial(values[(node, 0)].__setitem__,
                                                         slice(None), 1)
                                       for node in self._head_grad_nodes
                                       if grad_entries and id(node) in read]

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

    def _plan(self, items, place, values, copies, shapes, types):
        """The forward and backward launch lists from the scheduled items, with the listing
        `debug_str` prints."""
        self._fwd = planner.Plan()
        self._bwd = planner.Plan()
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
        relu_forward = planner.relu_epilogue(group)
        if len(group) == 1 or relu_forward:
            node = group[0]
            op, params = node.op, node.params
            ins = [value(e) for e in node.inputs]
            if relu_forward:  # the producer's store applies the relu: its output is the relu's
                return functools.partial(relu_forward, params, ins, [values[(group[1], 0)]])
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
    arg_ctx, aux_ctx = placement.home_contexts(symbol, ctx, placement.as_group2ctx(group2ctx))
    args = [zeros(s, c, t) for s, t, c in zip(arg_shapes, arg_types, arg_ctx)]
    reqs = grad_req if isinstance(grad_req, dict) else {n: grad_req for n in names}
    grads = {n: zeros(s, c, t) for n, s, t, c in zip(names, arg_shapes, arg_types, arg_ctx)
             if reqs.get(n, "null") != "null"}
    aux = [zeros(s, c, t) for s, t, c in zip(aux_shapes, aux_types, aux_ctx)]
    return Executor(symbol, ctx, args, grads, grad_req, aux, group2ctx)
