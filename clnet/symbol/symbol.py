"""`Symbol`: MXNet 1.x's declarative graph handle, and `create`, which makes op nodes.

A Symbol is a list of heads, (node, output index) entries over `graph.Node`s. This module
owns building op nodes (`create` makes one from a registry op, naming it with `clnet.name`
and attaching `clnet.attribute` scopes), the graph queries MXNet offers (list_arguments,
get_internals, attributes, ...), Python operators and composition. Variables and groups are
`creation`'s, inference is `infer`'s, JSON is `json_io`'s, running a graph is
`clnet.executor`'s.
"""
from __future__ import annotations

import copy
import numbers
import warnings

from ..attribute import AttrScope
from ..base import MXNetError
from ..name import NameManager
from ..ops import registry
from . import infer
from .graph import HIDDEN_KEYS, Node, hidden_key, is_dunder, param_str, parse_params, topo_order

__all__ = ["Symbol", "create", "NotImplementedForSymbol"]


class NotImplementedForSymbol(MXNetError):
    """An NDArray operation that has no meaning on a Symbol (truth value, asnumpy, ...)."""

    def __init__(self, what: str):
        super().__init__(f"{what} is not supported on a Symbol; bind it to run it")


def _listed(attrs: dict) -> dict:
    """Attributes as MXNet lists them: hidden keys appear both as `__key__` and as `key`."""
    out = dict(attrs)
    for key, value in attrs.items():
        if is_dunder(key) and key[2:-2] in HIDDEN_KEYS:
            out[key[2:-2]] = value
    return out


def _aux_nodes(nodes) -> set:
    """Variables that some op reads as an auxiliary state (OpDef.aux)."""
    aux = set()
    for node in nodes:
        if node.op is None or not node.op.aux:
            continue
        for (src, _), name in zip(node.inputs, node.input_names()):
            if name in node.op.aux and src.is_variable:
                aux.add(src)
    return aux


class Symbol:
    """A symbolic graph: the outputs (heads) of a set of op and variable nodes.

    Build one from `mx.sym.var` and the `mx.sym.<op>` functions, combine with Python
    operators, inspect with list_arguments / list_outputs / infer_shape, save with
    `save`/`tojson`, run with `bind`/`simple_bind`.

    Examples
    --------
    >>> data = mx.sym.var('data')
    >>> fc = mx.sym.FullyConnected(data, num_hidden=10, name='fc1')
    >>> fc.list_arguments()
    ['data', 'fc1_weight', 'fc1_bias']
    """

    __slots__ = ("_heads",)
    # numpy scalars on the left defer to Symbol's reflected operators
    __array_priority__ = 1000.0

    def __init__(self, heads):
        self._heads = [tuple(h) for h in heads]

    # -- structure ----------------------------------------------------------------------------
    def _nodes(self) -> list:
        """Every node reachable from the heads, each after its inputs."""
        return topo_order(self._heads)

    def _head_node(self):
        """The node of the heads when they all come from one node, else None."""
        nodes = {id(n): n for n, _ in self._heads}
        return next(iter(nodes.values())) if len(nodes) == 1 else None

    def __repr__(self):
        name = self.name
        if name is None:
            return f"<Symbol group [{', '.join(str(s.name) for s in self)}]>"
        return f"<Symbol {name}>"

    def __len__(self):
        return len(self._heads)

    def __iter__(self):
        return (Symbol([h]) for h in self._heads)

    def __getitem__(self, index):
        """The index-th output (an int, or a name from list_outputs); a slice gives a Group."""
        if isinstance(index, slice):
            return Symbol(self._heads[index])
        if isinstance(index, str):
            names = self.list_outputs()
            hits = [i for i, n in enumerate(names) if n == index]
            if not hits:
                raise ValueError(f"cannot find output {index!r}; outputs: {names}")
            if len(hits) > 1:
                raise ValueError(f"there are several outputs named {index!r}")
            index = hits[0]
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"Symbol index must be an int or an output name, not "
                            f"{type(index).__name__}")
        if not -len(self._heads) <= index < len(self._heads):
            raise IndexError(f"output index {index} is out of range for {len(self)} outputs")
        return Symbol([self._heads[index]])

    @property
    def name(self):
        """The node's name; None for a group of several nodes."""
        node = self._head_node()
        return None if node is None else node.name

    def get_internals(self) -> Symbol:
        """A group of every output of every node, inputs before their users."""
        return Symbol([(n, i) for n in self._nodes() for i in range(n.num_outputs)])

    def get_children(self):
        """A group of the inputs of the head nodes, or None when they have none."""
        heads, seen = [], set()
        for node, _ in self._heads:
            if id(node) not in seen:
                seen.add(id(node))
                heads.extend(node.inputs)
        return Symbol(heads) if heads else None

    def list_arguments(self) -> list:
        """Names of the variables that are not auxiliary states, in order of first use."""
        nodes = self._nodes()
        aux = _aux_nodes(nodes)
        return [n.name for n in nodes if n.is_variable and n not in aux]

    def list_outputs(self) -> list:
        """Output names: `<node>_<output>` (`fc1_output`), a variable's own name."""
        return [node.output_name(i) for node, i in self._heads]

    def list_auxiliary_states(self) -> list:
        """Names of the variables ops read as auxiliary states (BatchNorm's moving stats)."""
        nodes = self._nodes()
        aux = _aux_nodes(nodes)
        return [n.name for n in nodes if n in aux]

    def list_inputs(self) -> list:
        """Names of all variables: arguments and auxiliary states, in order of first use."""
        return [n.name for n in self._nodes() if n.is_variable]

    # -- attributes ---------------------------------------------------------------------------
    def attr(self, key: str):
        """The attribute `key` of this (single-node) symbol as a string, or None."""
        node = self._head_node()
        if node is None:
            return None
        if key == "name":
            return node.name
        if key in node.attrs:
            return node.attrs[key]
        if key in HIDDEN_KEYS:
            return node.attrs.get(f"__{key}__")
        return None

    def list_attr(self, recursive: bool = False) -> dict:
        """The attributes of the head node (op params as given, and `__key__` attributes)."""
        if recursive:
            raise DeprecationWarning("Symbol.list_attr(recursive=True) is deprecated; use "
                                     "attr_dict()")
        return _listed(self._heads[0][0].attrs)

    def attr_dict(self) -> dict:
        """{node name: its attributes} for every node that has attributes."""
        out = {}
        for node in self._nodes():
            if node.attrs:
                out.setdefault(node.name, {}).update(_listed(node.attrs))
        return out

    def _set_attr(self, **kwargs):
        """Set string attributes on this (single-node) symbol; `lr_mult` is `__lr_mult__`."""
        node = self._head_node()
        if node is None:
            raise MXNetError("_set_attr only works on a symbol of one node, not a group")
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise ValueError(f"attribute {key}={value!r}: values must be strings")
            node.set_attr(hidden_key(key), value)

    # -- inference ----------------------------------------------------------------------------
    def _known(self, what: str, args, kwargs) -> dict:
        if args and kwargs:
            raise ValueError(f"{what}: give known values either positionally or by keyword, "
                             "not both")
        if args:
            names = self.list_arguments()
            if len(args) > len(names):
                raise MXNetError(f"{what}: {len(args)} values for {len(names)} arguments "
                                 f"{names}")
            return {n: v for n, v in zip(names, args) if v is not None}
        inputs = set(self.list_inputs())
        unknown = [k for k in kwargs if k not in inputs]
        if unknown:
            raise MXNetError(f"{what}: {unknown} are not inputs of this symbol; candidates: "
                             f"{self.list_inputs()}")
        return dict(kwargs)

    def _split_vars(self):
        nodes = self._nodes()
        aux = _aux_nodes(nodes)
        args = [n for n in nodes if n.is_variable and n not in aux]
        return args, [n for n in nodes if n in aux]

    def _infer_shape_impl(self, partial: bool, args, kwargs):
        known = self._known("infer_shape", args, kwargs)
        for key, shape in known.items():
            if not isinstance(shape, (tuple, list)):
                raise TypeError(f"infer_shape: shape of {key!r} must be a tuple, got "
                                f"{type(shape).__name__}")
        shapes, part = infer.infer_shapes(self._heads, known)
        arg_nodes, aux_nodes = self._split_vars()
        groups = ([(n, 0) for n in arg_nodes], self._heads, [(n, 0) for n in aux_nodes])
        if all(e in shapes for g in groups for e in g):
            return tuple([shapes[e] for e in g] for g in groups)
        if not partial:
            return None
        return tuple([shapes.get(e, part.get(e, ())) for e in g] for g in groups)

    def infer_shape(self, *args, **kwargs):
        """Infer all shapes from the known argument shapes (positional in list_arguments order,
        or by name; a 0 dim is unknown).

        Returns
        -------
        (arg_shapes, out_shapes, aux_shapes) in list_arguments / list_outputs /
        list_auxiliary_states order, or (None, None, None) with a warning when the given
        shapes do not decide them all. A conflict raises MXNetError naming the node.
        """
        res = self._infer_shape_impl(False, args, kwargs)
        if res is not None:
            return res
        arg_shapes, _, _ = self._infer_shape_impl(True, args, kwargs)
        unknown = [f"{n}: {s}" for n, s in zip(self.list_arguments(), arg_shapes)
                   if not s or 0 in s]
        warnings.warn("Cannot decide shape for the following arguments (0s in shape means "
                      "unknown dimensions). Consider providing them as input:\n\t"
                      + "\n\t".join(unknown[:10] + (["..."] if len(unknown) > 10 else [])),
                      stacklevel=2)
        return None, None, None

    def infer_shape_partial(self, *args, **kwargs):
        """Like infer_shape, but returns what can be inferred: unknown shapes are ()."""
        return self._infer_shape_impl(True, args, kwargs)

    def _infer_type_impl(self, partial: bool, args, kwargs):
        known = self._known("infer_type", args, kwargs)
        types = infer.infer_types(self._heads, known)
        arg_nodes, aux_nodes = self._split_vars()
        groups = ([(n, 0) for n in arg_nodes], self._heads, [(n, 0) for n in aux_nodes])
        if not partial and not all(e in types for g in groups for e in g):
            return None
        return tuple([types[e].np.type if e in types else None for e in g] for g in groups)

    def infer_type(self, *args, **kwargs):
        """Infer all dtypes from the known argument dtypes (numpy types or names).

        Returns (arg_types, out_types, aux_types) as numpy types, or (None, None, None) with
        a warning when the given dtypes do not decide them all.
        """
        res = self._infer_type_impl(False, args, kwargs)
        if res is not None:
            return res
        arg_types, _, _ = self._infer_type_impl(True, args, kwargs)
        unknown = [n for n, t in zip(self.list_arguments(), arg_types) if t is None]
        warnings.warn("Cannot decide type for the following arguments. Consider providing "
                      "them as input:\n\t" + "\n\t".join(f"{n}: None" for n in unknown[:10]),
                      stacklevel=2)
        return None, None, None

    def infer_type_partial(self, *args, **kwargs):
        """Like infer_type, but returns what can be inferred: unknown dtypes are None."""
        return self._infer_type_impl(True, args, kwargs)

    # -- serialisation ------------------------------------------------------------------------
    def tojson(self, remove_amp_cast: bool = True) -> str:
        """The graph in MXNet 1.x's JSON format (see `mx.sym.load_json`)."""
        from .json_io import dumps
        return dumps(self)

    def save(self, fname: str, remove_amp_cast: bool = True):
        """Write the graph to `fname` as MXNet 1.x JSON (atomically: temp file, then rename)."""
        from .json_io import save
        save(self, fname)

    def __getstate__(self):
        return {"json": self.tojson()}

    def __setstate__(self, state):
        from .json_io import loads
        self._heads = loads(state["json"])._heads

    def __copy__(self):
        return self.__deepcopy__(None)

    def __deepcopy__(self, memo):
        """A copy with its own nodes: attributes set on it do not reach the original."""
        return Symbol(_copy_graph(self._heads, {}))

    def debug_str(self) -> str:
        """A readable listing of outputs, variables and ops with their inputs and params."""
        lines = ["Symbol Outputs:"]
        lines += [f"\toutput[{i}]={n.name}({k})" for i, (n, k) in enumerate(self._heads)]
        for node in self._nodes():
            if node.is_variable:
                lines.append(f"Variable:{node.name}")
                continue
            lines += ["--------------------", f"Op:{node.op.name}, Name={node.name}", "Inputs:"]
            lines += [f"\targ[{i}]={src.name}({k})" for i, (src, k) in enumerate(node.inputs)]
            if node.attrs:
                lines.append("Attrs:")
                lines += [f"\t{k}={v}" for k, v in sorted(node.attrs.items())]
        return "\n".join(lines) + "\n"

    # -- composition and execution ------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """A copy with variables replaced: positionally in list_inputs order, or by name;
        `name=` renames the head node."""
        out = copy.copy(self)
        out._compose(*args, **kwargs)
        return out

    def _compose(self, *args, name=None, **kwargs):
        if args and kwargs:
            raise TypeError("compose takes input symbols positionally or by name, not both")
        given = list(args) + list(kwargs.values())
        if any(not isinstance(s, Symbol) or len(s) != 1 for s in given):
            raise TypeError("compose expects single-output Symbols as inputs")
        variables = [n for n in self._nodes() if n.is_variable]
        if len(args) > len(variables):
            raise MXNetError(f"compose: {len(args)} inputs for {len(variables)} variables")
        if args:
            replace = {n: s._heads[0] for n, s in zip(variables, args)}
        else:
            unknown = set(kwargs) - {n.name for n in variables}
            if unknown:
                raise MXNetError(f"compose: {sorted(unknown)} are not inputs; inputs: "
                                 f"{[n.name for n in variables]}")
            replace = {n: kwargs[n.name]._heads[0] for n in variables if n.name in kwargs}
        self._heads = _copy_graph(self._heads, replace)
        if name:
            given_nodes = {id(node) for node, _ in replace.values()}
            for node, _ in self._heads:
                if id(node) not in given_nodes:
                    node.name = name

    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        """An Executor of this graph over the given arrays (see `clnet.executor.bind`)."""
        from ..executor import bind
        return bind(self, ctx, args, args_grad=args_grad, grad_req=grad_req,
                    aux_states=aux_states, group2ctx=group2ctx, shared_exec=shared_exec)

    def simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        """An Executor allocating every array from the given input shapes
        (see `clnet.executor.simple_bind`)."""
        from ..executor import simple_bind
        return simple_bind(self, ctx, grad_req=grad_req, type_dict=type_dict,
                           stype_dict=stype_dict, group2ctx=group2ctx,
                           shared_arg_names=shared_arg_names, shared_exec=shared_exec,
                           shared_buffer=shared_buffer, **kwargs)

    def gradient(self, wrt):
        """The gradient graph of this (loss) symbol with respect to the variables named in
        `wrt`, as a Group with one output per name (head gradients are ones). MXNet declared
        this API but never implemented it."""
        from ..autodiff import SymbolicF, gradient
        from .graph import topo_order
        names = [wrt] if isinstance(wrt, str) else list(wrt)
        variables = {n.name: n for n in topo_order(self._heads) if n.is_variable}
        missing = [n for n in names if n not in variables]
        if missing:
            raise MXNetError(f"gradient: {missing} are not variables of this symbol; its "
                             f"arguments are {self.list_arguments()}")
        ones = [SymbolicF.ones_like(Symbol([h]))._heads[0] for h in self._heads]
        entries = gradient([tuple(h) for h in self._heads], [variables[n] for n in names],
                           ones)
        outs = []
        for name, entry in zip(names, entries):
            outs.append(Symbol([entry]) if entry is not None else
                        SymbolicF.zeros_like(Symbol([(variables[name], 0)])))
        return Symbol([s._heads[0] for s in outs])

    def eval(self, ctx=None, **kwargs):
        """Bind to the given NDArrays, run forward once and return the outputs."""
        if ctx is None:
            from ..context import current_context
            ctx = current_context()
        return self.bind(ctx, kwargs).forward()

    def astype(self, dtype):
        return create("Cast", [self], {"dtype": dtype}, hint="cast")

    def __bool__(self):
        raise NotImplementedForSymbol("truth value (bool)")

    # -- operators (the registry ops NDArray uses; node names as MXNet's) -------------------------
    def _binary(self, other, op, scalar_op, scalar_hint):
        if isinstance(other, Symbol):
            return create(op, [self, other], {})
        if isinstance(other, numbers.Number):
            return create(scalar_op, [self], {"scalar": other}, hint=scalar_hint)
        return NotImplemented

    def _rscalar(self, other, scalar_op, scalar_hint):
        if isinstance(other, numbers.Number):
            return create(scalar_op, [self], {"scalar": other}, hint=scalar_hint)
        return NotImplemented

    def __add__(self, o): return self._binary(o, "_plus", "_plus_scalar", "_plusscalar")
    def __sub__(self, o): return self._binary(o, "_minus", "_minus_scalar", "_minusscalar")
    def __mul__(self, o): return self._binary(o, "_mul", "_mul_scalar", "_mulscalar")
    def __truediv__(self, o): return self._binary(o, "_div", "_div_scalar", "_divscalar")
    def __mod__(self, o): return self._binary(o, "_mod", "_mod_scalar", "_modscalar")
    def __pow__(self, o): return self._binary(o, "_power", "_power_scalar", "_powerscalar")
    def __eq__(self, o): return self._binary(o, "_equal", "_equal_scalar", "_equal_scalar")
    def __ne__(self, o):
        return self._binary(o, "_not_equal", "_not_equal_scalar", "_not_equal_scalar")
    def __gt__(self, o): return self._binary(o, "_greater", "_greater_scalar", "_greater_scalar")
    def __ge__(self, o):
        return self._binary(o, "_greater_equal", "_greater_equal_scalar",
                            "_greater_equal_scalar")
    def __lt__(self, o): return self._binary(o, "_lesser", "_lesser_scalar", "_lesser_scalar")
    def __le__(self, o):
        return self._binary(o, "_lesser_equal", "_lesser_equal_scalar", "_lesser_equal_scalar")

    def __radd__(self, o): return self._rscalar(o, "_plus_scalar", "_plusscalar")
    def __rsub__(self, o): return self._rscalar(o, "_rminus_scalar", "_rminusscalar")
    def __rmul__(self, o): return self._rscalar(o, "_mul_scalar", "_mulscalar")
    def __rtruediv__(self, o): return self._rscalar(o, "_rdiv_scalar", "_rdivscalar")
    def __rmod__(self, o): return self._rscalar(o, "_rmod_scalar", "_rmodscalar")
    def __rpow__(self, o): return self._rscalar(o, "_rpower_scalar", "_rpower_scalar")

    __div__ = __truediv__
    __rdiv__ = __rtruediv__
    # comparisons build symbols, so a Symbol cannot be a dict key (as in MXNet)
    __hash__ = None

    def __neg__(self): return create("negative", [self], {})
    def __pos__(self): return self
    def __abs__(self): return create("abs", [self], {})


def _copy_graph(heads, replace: dict) -> list:
    """New nodes for the graph under `heads`; variables in `replace` become the given
    entries."""
    new = {}

    def entry(e):
        node, i = e
        return replace[node] if node in replace else (new[node], i)

    for node in topo_order(heads):
        if node in replace:
            continue
        new[node] = Node(node.op, node.name, node.attrs, [entry(e) for e in node.inputs],
                         params=dict(node.params))
    return [entry(h) for h in heads]


def _single(sym, op: str, input_name: str):
    if not isinstance(sym, Symbol):
        raise TypeError(f"{op}: input {input_name} must be a Symbol, got "
                        f"{type(sym).__name__}")
    if len(sym._heads) != 1:
        raise MXNetError(f"{op}: input {input_name} is a group of {len(sym)} outputs "
                         f"{sym.list_outputs()}; select one with sym[i]")
    return sym._heads[0]


def create(op_name, inputs: list, kwargs: dict, name: str | None = None,
           attr: dict | None = None, hint: str | None = None) -> Symbol:
    """A Symbol of one new node of registry op `op_name`.

    `op_name` is a registry name (or an OpDef); `inputs` are Symbols (or None) for the op's
    inputs in order; `kwargs` holds inputs by name (Symbol values), params and `__key__`
    attributes. Missing inputs become variables named `<node>_<input>`. The node is called
    `name`, else `<hint><n>` from the current NameManager (hint: the lowercased op name).
    """
    op = registry.get(op_name) if isinstance(op_name, str) else op_name
    op_name = op_name if isinstance(op_name, str) else op.name
    param_names = {p.name for p in op.params}
    by_name = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    # None for a non-param is an input left out (the signatures default inputs to None)
    other = {k: v for k, v in kwargs.items()
             if not isinstance(v, Symbol) and (v is not None or k in param_names)}
    other.update(AttrScope.current.get(attr))
    attrs = {}
    for key, value in other.items():
        key = hidden_key(key)
        attrs[key] = str(value) if is_dunder(key) else param_str(op, key, value)
    if op.variadic:
        if by_name:
            raise MXNetError(f"{op_name}: takes its inputs positionally, got "
                             f"{sorted(by_name)} by name")
        if any(s is None for s in inputs):
            raise MXNetError(f"{op_name}: every input must be a Symbol, got None")
        if "num_args" in param_names and "num_args" not in attrs:
            attrs["num_args"] = str(len(inputs))
    params = parse_params(op, attrs)
    names = op.input_names(params, len(inputs))
    if len(inputs) > len(names):
        raise MXNetError(f"{op_name}: takes {len(names)} inputs {list(names)}, got "
                         f"{len(inputs)}")
    unknown = sorted(set(by_name) - set(names))
    if unknown:
        raise MXNetError(f"{op_name}: {unknown} are not inputs of this op; inputs: "
                         f"{list(names)}")
    name = NameManager.current.get(name, hint or op_name.lower())
    entries = []
    for i, input_name in enumerate(names):
        sym = inputs[i] if i < len(inputs) else None
        if sym is not None and input_name in by_name:
            raise MXNetError(f"{op_name}: input {input_name} given twice")
        sym = sym if sym is not None else by_name.get(input_name)
        if sym is None:
            # MXNet gives an auto-created input a copy of its node's attributes
            entries.append((Node(None, f"{name}_{input_name}", attrs), 0))
        else:
            entries.append(_single(sym, op_name, input_name))
    node = Node(op, name, attrs, entries, params)
    return Symbol([(node, i) for i in range(node.num_outputs)])
