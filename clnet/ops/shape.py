"""Shape ops, with their gradient rules.

Owns two groups, all dtype-agnostic:
- views sharing the input's memory: Reshape (MXNet's special values 0/-1/-2/-3/-4 and
  `reverse`), Flatten, expand_dims, squeeze;
- strided copies, each a `mapping.run("x")` from a View with permuted, zero or negative strides
  into a dense output (transpose, SwapAxis, reverse/flip, broadcast_to/axis/like, tile,
  repeat, concat, stack, SliceChannel/split, slice, slice_axis).
Gathers by an index array (take, pick, one_hot) are `gather`'s. Gradients are rules of
registry ops (the inverse view, copy or permutation) plus the internal ops they need, which
know the input's shape when they run: `_reshape_like`, `_backward_tile`, `_backward_repeat`,
`_backward_concat` (also stack's), `_backward_slice`, `_backward_slice_axis`.
Elementwise math belongs to `elemwise`; the x[...] syntax to `ndarray.indexing`, which reads
through `take` and `indexing.basic_view` (reused here by slice).
"""
from __future__ import annotations


from ..base import MXNetError, prod
from ..dtype import result_dtype
from . import mapping
from .mapping import View, contiguous_strides
from .registry import OpDef, Param, register

# -- helpers ---------------------------------------------------------------------------------


def _axis(op: str, axis: int, shape: tuple, extra: int = 0, what: str = "axis") -> int:
    """`axis` normalised into 0..ndim-1+extra (extra=1 where the axis names a new dim)."""
    n = len(shape) + extra
    if not -n <= axis < n:
        valid = f"{-n}..{n - 1}" if n else "none: the input is 0-d"
        raise MXNetError(f"{op}: {what}={axis} is out of range for input shape {shape} "
                         f"(valid: {valid})")
    return axis % n


def _axes(op: str, axes, shape: tuple, what: str = "axis") -> tuple:
    """Normalised distinct axes."""
    out = tuple(_axis(op, a, shape, what=what) for a in axes)
    if len(set(out)) != len(out):
        raise MXNetError(f"{op}: {what}={tuple(axes)} repeats an axis (input shape {shape})")
    return out


def _copy(device, out: View, src: View) -> None:
    """out[...] = src, both seen with out's shape (converting dtype when they differ)."""
    mapping.run(device, "x", "_copy", out, [src], compute_dtype=out.dtype)


def _zero(device, out: View) -> None:
    """out[...] = 0 (zeros_like's program)."""
    mapping.run(device, "C:(CT)0", "zeros_like", out, [out], compute_dtype=out.dtype)


def _dense(view: View, shape: tuple) -> View:
    """The same dense memory seen with another shape of equal size."""
    return view._replace(shape=tuple(shape), strides=contiguous_strides(shape))


def _permute(view: View, axes) -> View:
    return view._replace(shape=tuple(view.shape[a] for a in axes),
                         strides=tuple(view.strides[a] for a in axes))


def _with_dim(view: View, axis: int, size: int, offset: int = 0) -> View:
    """`view` restricted to `size` entries of `axis` from index `offset`."""
    shape = list(view.shape)
    shape[axis] = size
    return view._replace(offset=view.offset + offset * view.strides[axis], shape=tuple(shape))


def _copy_op(name: str, infer_shape, pairs, inputs=("data",), params=(), doc="",
             zero=False, **kwargs):
    """Register an op whose forward is strided copies: `pairs(params, inputs, outputs)` yields
    (destination View, source View) of equal shape; `zero` clears the output first."""
    def forward(p, ins, outs):
        device = outs[0].device
        if zero:
            _zero(device, outs[0].view_desc())
        for dst, src in pairs(p, ins, outs):
            _copy(device, dst, src)
    return register(OpDef(name, inputs=inputs, params=params, infer_shape=infer_shape,
                          forward=forward, doc=doc, **kwargs))


# -- views: Reshape, Flatten, expand_dims, squeeze ---------------------------------------------


def infer_reshape(shape: tuple, target: tuple, reverse: bool = False) -> tuple:
    """MXNet's Reshape shape rule: 0 copies an input dim, -1 is inferred, -2 copies the rest,
    -3 merges two input dims, -4 splits one into the next two values (one may be -1);
    `reverse` applies the rule from the right."""
    shape, target = tuple(shape), tuple(target)

    def fail(why):
        rev = ", reverse=True" if reverse else ""
        raise MXNetError(f"Reshape: cannot reshape input of shape {shape} to shape={target}"
                         f"{rev}: {why}")

    src = list(shape[::-1] if reverse else shape)
    spec = list(target[::-1] if reverse else target)
    out, infer, i, k = [], None, 0, 0
    while k < len(spec):
        d = spec[k]
        if d == 0:
            if i >= len(src):
                fail(f"0 at position {k} copies input dim {i}, which does not exist")
            out.append(src[i])
            i += 1
        elif d == -1:
            if infer is not None:
                fail("more than one -1; only one dim can be inferred")
            infer = len(out)
            out.append(1)
            i += 1
        elif d == -2:
            out.extend(src[i:])
            i = len(src)
        elif d == -3:
            if i + 1 >= len(src):
                fail(f"-3 at position {k} merges input dims {i} and {i + 1}, which do not "
                     "both exist")
            out.append(src[i] * src[i + 1])
            i += 2
        elif d == -4:
            if k + 2 >= len(spec):
                fail(f"-4 at position {k} must be followed by the two dims to split into")
            if i >= len(src):
                fail(f"-4 at position {k} splits input dim {i}, which does not exist")
            d0, d1, d2 = src[i], spec[k + 1], spec[k + 2]
            i, k = i + 1, k + 2
            if d1 == -1 and d2 == -1:
                fail("-4 cannot split a dim into two -1s")
            if min(d1, d2) < -1 or 0 in (d1, d2):
                fail(f"-4 splits into ({d1}, {d2}); each must be positive or -1")
            d1 = d0 // d2 if d1 == -1 else d1
            d2 = d0 // d1 if d2 == -1 else d2
            if d1 * d2 != d0:
                fail(f"-4 splits input dim of size {d0} into ({d1}, {d2}), whose product "
                     f"is {d1 * d2}")
            out += [d1, d2]
        elif d > 0:
            out.append(d)
            i += 1
        else:
            fail(f"{d} at position {k} is not a size or one of 0, -1, -2, -3, -4")
        k += 1
    total = prod(shape)
    if infer is not None:
        known = prod(out)
        if known == 0:
            fail("the -1 dim cannot be inferred when the other dims multiply to 0")
        if total % known:
            fail(f"{total} elements do not divide into dims of product {known} for the -1")
        out[infer] = total // known
    if reverse:
        out.reverse()
    if prod(out) != total:
        fail(f"the input has {total} elements, shape {tuple(out)} has {prod(out)}")
    return tuple(out)


def _flatten_shape(params, shape):
    if not shape:
        raise MXNetError("Flatten: the input is 0-d; it needs at least one dim")
    return (shape[0], prod(shape[1:]))


def _expand_shape(params, shape):
    axis = _axis("expand_dims", params["axis"], shape, extra=1)
    return shape[:axis] + (1,) + shape[axis:]


def _squeeze_shape(params, shape):
    if params["axis"] is None:
        axes = [a for a, n in enumerate(shape) if n == 1]
    else:
        axes = _axes("squeeze", params["axis"], shape)
        for a in axes:
            if shape[a] != 1:
                raise MXNetError(f"squeeze: axis {a} has size {shape[a]}; only size-1 axes "
                                 f"can be squeezed (input shape {shape})")
    out = tuple(n for a, n in enumerate(shape) if a not in axes)
    # MXNet keeps one dim when every dim is squeezed: (1, 1) -> (1,)
    return out if out or not shape else (1,)


def _reshape_grad(F, p, ins, outs, g):
    """The head gradient seen with the input's shape (none for `_reshape_like`'s like)."""
    return [F.invoke("_reshape_like", [g[0], ins[0]], {})] + [None] * (len(ins) - 1)


def _view_op(name: str, infer, params=(), aliases=(), doc="", inputs=("data",),
             grad=_reshape_grad):
    """An op returning the input's memory with another shape (a copy only when `out=` is
    given)."""
    def infer_shape(p, shapes):
        return [infer(p, *map(tuple, shapes))]

    def view(p, inputs):
        x = inputs[0]
        return x._view(x._offset, infer(p, *(y.shape for y in inputs)))

    def forward(p, inputs, outputs):
        out = outputs[0]
        _copy(out.device, out.view_desc(), _dense(inputs[0].view_desc(), out.shape))

    return register(OpDef(name, inputs=inputs, params=params, infer_shape=infer_shape,
                          forward=forward, view=view, aliases=aliases, doc=doc, grad=grad))


_view_op("Reshape", lambda p, s: infer_reshape(s, p["shape"], p["reverse"]),
         params=(Param("shape", "shape", (), "target shape; 0, -1, -2, -3, -4 are special"),
                 Param("reverse", bool, False, "infer the special values from the right")),
         aliases=("reshape",), doc="The input seen with another shape (shares memory).")
_view_op("Flatten", _flatten_shape, aliases=("flatten",),
         doc="Collapse all dims but the first: (d0, d1*...*dk) (shares memory).")
_view_op("expand_dims", _expand_shape,
         params=(Param("axis", int, doc="position of the new size-1 dim"),),
         doc="Insert a size-1 dim at `axis` (shares memory).")
_view_op("squeeze", _squeeze_shape,
         params=(Param("axis", "axes", None, "size-1 axes to remove; None removes all"),),
         doc="Remove size-1 dims (shares memory).")


def _like_shape(p, shape, like):
    if prod(shape) != prod(like):
        raise MXNetError(f"_reshape_like: data of shape {shape} ({prod(shape)} elements) "
                         f"cannot take the shape {like} of like ({prod(like)} elements)")
    return like


_view_op("_reshape_like", _like_shape, inputs=("data", "like"),
         doc="data seen with like's shape (equal sizes; shares memory).")


# -- permutations: transpose, SwapAxis, reverse ------------------------------------------------


def _transpose_axes(p, shape):
    ndim = len(shape)
    if not p["axes"]:
        return tuple(range(ndim))[::-1]
    if len(p["axes"]) != ndim or not all(-ndim <= a < ndim for a in p["axes"]) or len(
            {a % ndim for a in p["axes"]}) != ndim:
        raise MXNetError(f"transpose: axes={p['axes']} is not a permutation of the {ndim} "
                         f"axes of input shape {shape}")
    return tuple(a % ndim for a in p["axes"])


def _swap_axes(p, shape):
    axes = list(range(len(shape)))
    d1 = _axis("SwapAxis", p["dim1"], shape, what="dim1")
    d2 = _axis("SwapAxis", p["dim2"], shape, what="dim2")
    axes[d1], axes[d2] = axes[d2], axes[d1]
    return tuple(axes)


def _permute_op(name, axes_of, params, aliases, doc, grad):
    _copy_op(name, lambda p, s: [tuple(s[0][a] for a in axes_of(p, s[0]))],
             lambda p, ins, outs: [(outs[0].view_desc(),
                                    _permute(ins[0].view_desc(), axes_of(p, ins[0].shape)))],
             params=params, aliases=aliases, doc=doc, grad=grad)


def _transpose_grad(F, p, ins, outs, g):
    """The inverse permutation (empty axes reverse, which is its own inverse)."""
    axes, inverse = p["axes"], [0] * len(p["axes"])
    for i, a in enumerate(axes):
        inverse[a % len(axes)] = i
    return [F.invoke("transpose", [g[0]], {"axes": tuple(inverse)})]


def _same_op_grad(name: str, *keys):
    """Gradient rule applying op `name` with the forward's params `keys` to the head gradient
    (self-adjoint maps: swapaxes, flip), None for the other inputs."""
    def grad(F, p, ins, outs, g):
        return [F.invoke(name, [g[0]], {k: p[k] for k in keys})] + [None] * (len(ins) - 1)
    return grad


_permute_op("transpose", _transpose_axes,
            (Param("axes", "shape", (), "new order of the axes; empty reverses them"),), (),
            "Permute the axes.", _transpose_grad)
_permute_op("SwapAxis", _swap_axes, (Param("dim1", int, 0, "first axis"),
                                     Param("dim2", int, 0, "second axis")),
            ("swapaxes",), "Interchange two axes.", _same_op_grad("SwapAxis", "dim1", "dim2"))


def _flip_axes(p, shape):
    axes = range(len(shape)) if p["axis"] is None else p["axis"]
    return _axes("reverse", axes, shape)


def _flipped(view: View, axes) -> View:
    offset, strides = view.offset, list(view.strides)
    for a in axes:
        if view.shape[a] > 0:
            offset += (view.shape[a] - 1) * strides[a]
            strides[a] = -strides[a]
    return view._replace(offset=offset, strides=tuple(strides))


def _flip_shape(p, shapes):
    _flip_axes(p, shapes[0])
    return [shapes[0]]


_copy_op("reverse", _flip_shape,
         lambda p, ins, outs: [(outs[0].view_desc(),
                                _flipped(ins[0].view_desc(), _flip_axes(p, ins[0].shape)))],
         params=(Param("axis", "axes", doc="axes to reverse; None reverses all"),),
         aliases=("flip",), grad=_same_op_grad("reverse", "axis"),
         doc="Reverse the order of elements along the given axes.")


# -- broadcasts, tile, repeat ----------------------------------------------------------------


def _broadcast_pairs(p, ins, outs):
    out = outs[0].view_desc()
    return [(out, mapping.broadcast_view(ins[0].view_desc(), out.shape))]


def _check_broadcast(op, shape, out):
    lead = len(out) - len(shape)
    if lead < 0 or any(n != m and n != 1 for n, m in zip(shape, out[lead:])):
        raise MXNetError(f"{op}: input of shape {shape} cannot be broadcast to {out}; each "
                         "dim must equal the target's or be 1")
    return out


def _broadcast_to_shape(p, shapes):
    shape, target = shapes[0], p["shape"]
    if any(t < 0 for t in target):
        raise MXNetError(f"broadcast_to: shape={target} has a negative size")
    if len(target) < len(shape):
        raise MXNetError(f"broadcast_to: shape={target} has fewer dims than the input's "
                         f"{shape}")
    lead = len(target) - len(shape)
    if 0 in target[:lead]:
        raise MXNetError(f"broadcast_to: shape={target} has 0 (keep the input's dim) at a "
                         f"new leading dim, which the input of shape {shape} lacks")
    out = target[:lead] + tuple(n if t == 0 else t for n, t in zip(shape, target[lead:]))
    return [_check_broadcast("broadcast_to", shape, out)]


def _broadcast_axis_shape(p, shapes):
    shape, out = shapes[0], list(shapes[0])
    if len(p["axis"]) != len(p["size"]):
        raise MXNetError(f"broadcast_axis: axis={p['axis']} and size={p['size']} must have "
                         "the same length")
    if any(n < 0 for n in p["size"]):
        raise MXNetError(f"broadcast_axis: size={p['size']} has a negative size")
    for a, n in zip(_axes("broadcast_axis", p["axis"], shape), p["size"]):
        if shape[a] != 1:
            raise MXNetError(f"broadcast_axis: axis {a} has size {shape[a]}; only size-1 "
                             f"axes can be broadcast (input shape {shape})")
        out[a] = n
    return [tuple(out)]


def _broadcast_like_shape(p, shapes):
    lhs, rhs = shapes
    if p["lhs_axes"] is None and p["rhs_axes"] is None:
        return [_check_broadcast("broadcast_like", lhs, tuple(rhs))]
    la, ra = p["lhs_axes"] or (), p["rhs_axes"] or ()
    if len(la) != len(ra):
        raise MXNetError(f"broadcast_like: lhs_axes={la} and rhs_axes={ra} must have the same "
                         "length")
    out = list(lhs)
    for a, b in zip(_axes("broadcast_like", la, lhs, "lhs_axes"),
                    _axes("broadcast_like", ra, rhs, "rhs_axes")):
        out[a] = rhs[b]
    return [_check_broadcast("broadcast_like", lhs, tuple(out))]


def _broadcast_grad(F, p, ins, outs, g):
    """Summed back over the broadcast axes."""
    return [F.invoke("_sum_to", [g[0], ins[0]], {})] + [None] * (len(ins) - 1)


_copy_op("broadcast_to", _broadcast_to_shape, _broadcast_pairs, grad=_broadcast_grad,
         params=(Param("shape", "shape", (), "target shape; 0 keeps the input's dim"),),
         doc="Broadcast size-1 dims to `shape`.")
_copy_op("broadcast_axis", _broadcast_axis_shape, _broadcast_pairs, grad=_broadcast_grad,
         params=(Param("axis", "shape", (), "size-1 axes to broadcast"),
                 Param("size", "shape", (), "their target sizes")),
         aliases=("broadcast_axes",), doc="Broadcast size-1 axes to the given sizes.")
_copy_op("broadcast_like", _broadcast_like_shape, _broadcast_pairs, inputs=("lhs", "rhs"),
         grad=_broadcast_grad,
         params=(Param("lhs_axes", "axes", None, "axes of lhs to broadcast (default: all)"),
                 Param("rhs_axes", "axes", None, "axes of rhs giving their sizes")),
         doc="Broadcast lhs to the shape of rhs (or of the given rhs axes).")


def _blocks_grad(backward: str):
    def grad(F, p, ins, outs, g):
        return [F.invoke(backward, [g[0], ins[0]], p)]
    return grad


def _blocks_backward_op(name: str, forward: str, out_shape, blocks, params):
    """Register `name`(head_grad, data): the adjoint of op `forward` (tile, repeat), whose
    output seen densely as `blocks(p, data.shape)[0]` holds copies of data along the axes
    `blocks(...)[1]`; the gradient sums those copies."""
    def infer_shape(p, shapes):
        g, x = map(tuple, shapes)
        want = tuple(out_shape(p, [x])[0])
        if g != want:
            raise MXNetError(f"{name}: head gradient of shape {g} does not match {forward}'s "
                             f"output shape {want} for input shape {x}")
        return [x]

    def forward_fn(p, ins, outs):
        from ..ndarray.ndarray import invoke
        g, out = ins[0], outs[0]
        dims, axes = blocks(p, ins[1].shape)
        keep = tuple(1 if a in axes else d for a, d in enumerate(dims))
        invoke("sum", [g._view(g._offset, dims)], {"axis": axes, "keepdims": True},
               out=out._view(out._offset, keep))

    register(OpDef(name, inputs=("head_grad", "data"), params=params, infer_shape=infer_shape,
                   forward=forward_fn, doc=f"Gradient of {forward}: the copies summed.",
                   grad=lambda F, p, ins, outs, g: [F.invoke(forward, [g[0]], p), None]))


def _tile_plan(reps, shape):
    if any(r < 0 for r in reps):
        raise MXNetError(f"tile: reps={reps} must not be negative")
    nd = max(len(reps), len(shape))
    return (1,) * (nd - len(reps)) + tuple(reps), (1,) * (nd - len(shape)) + tuple(shape)


def _tile_shape(p, shapes):
    reps, shape = _tile_plan(p["reps"], shapes[0])
    return [tuple(r * n for r, n in zip(reps, shape))]


def _tile_pairs(p, ins, outs):
    # out seen as (r0, n0, r1, n1, ...); the input read with stride 0 on the r dims
    x, out = ins[0].view_desc(), outs[0].view_desc()
    reps, shape = _tile_plan(p["reps"], x.shape)
    xs = (0,) * (len(shape) - len(x.strides)) + x.strides
    dims, ost, ist = [], [], []
    for r, n, c, s in zip(reps, shape, out.strides, xs):
        dims += [r, n]
        ost += [n * c, c]
        ist += [0, s]
    return [(out._replace(shape=tuple(dims), strides=tuple(ost)),
             x._replace(shape=tuple(dims), strides=tuple(ist)))]


def _tile_blocks(p, shape):
    """The head gradient seen as (r0, n0, r1, n1, ...) and the r axes to sum."""
    reps, shape = _tile_plan(p["reps"], shape)
    dims = tuple(d for r, n in zip(reps, shape) for d in (r, n))
    return dims, tuple(range(0, len(dims), 2))


_TILE_PARAMS = (Param("reps", "shape", doc="repetitions per dim (numpy.tile's rule)"),)
_copy_op("tile", _tile_shape, _tile_pairs, params=_TILE_PARAMS,
         grad=_blocks_grad("_backward_tile"), doc="Repeat the whole array along each dim.")
_blocks_backward_op("_backward_tile", "tile", _tile_shape, _tile_blocks, _TILE_PARAMS)


def _repeat_plan(p, shape):
    """(axis, input shape seen by the repeat): axis None repeats the flattened input."""
    if p["repeats"] < 0:
        raise MXNetError(f"repeat: repeats={p['repeats']} must not be negative")
    if p["axis"] is None:
        return 0, (prod(shape),)
    return _axis("repeat", p["axis"], shape), tuple(shape)


def _repeat_shape(p, shapes):
    axis, shape = _repeat_plan(p, shapes[0])
    return [shape[:axis] + (shape[axis] * p["repeats"],) + shape[axis + 1:]]


def _repeat_pairs(p, ins, outs):
    # out seen with the axis split into (n, repeats); the input read with stride 0 on repeats
    axis, shape = _repeat_plan(p, ins[0].shape)
    x, out, r = _dense(ins[0].view_desc(), shape), outs[0].view_desc(), p["repeats"]
    dims = shape[:axis] + (shape[axis], r) + shape[axis + 1:]
    ost = out.strides[:axis] + (r * out.strides[axis], out.strides[axis]) + out.strides[axis + 1:]
    ist = x.strides[:axis] + (x.strides[axis], 0) + x.strides[axis + 1:]
    return [(out._replace(shape=dims, strides=ost), x._replace(shape=dims, strides=ist))]


def _repeat_blocks(p, shape):
    """The head gradient seen with the axis split into (n, repeats), and that repeats axis."""
    axis, shape = _repeat_plan(p, shape)
    return shape[:axis] + (shape[axis], p["repeats"]) + shape[axis + 1:], (axis + 1,)


_REPEAT_PARAMS = (Param("repeats", int, doc="repetitions of each element"),
                  Param("axis", int, None, "axis to repeat along; None flattens the input"))
_copy_op("repeat", _repeat_shape, _repeat_pairs, params=_REPEAT_PARAMS,
         grad=_blocks_grad("_backward_repeat"), doc="Repeat each element along an axis.")
_blocks_backward_op("_backward_repeat", "repeat", _repeat_shape, _repeat_blocks,
                    _REPEAT_PARAMS)


# -- concat, stack, split --------------------------------------------------------------------


def _need_inputs(op, p, shapes):
    if not shapes:
        raise MXNetError(f"{op}: needs at least one input array")
    if p["num_args"] is not None and p["num_args"] != len(shapes):
        raise MXNetError(f"{op}: num_args={p['num_args']} but {len(shapes)} arrays were given")


def _concat_shape(p, shapes):
    _need_inputs("concat", p, shapes)
    first = shapes[0]
    dim = _axis("concat", p["dim"], first, what="dim")
    for i, s in enumerate(shapes[1:], 1):
        if len(s) != len(first) or any(a != b for d, (a, b) in enumerate(zip(s, first))
                                       if d != dim):
            raise MXNetError(f"concat: input {i} has shape {s}, which does not match input 0's "
                             f"shape {first} outside dim {dim}")
    return [first[:dim] + (sum(s[dim] for s in shapes),) + first[dim + 1:]]


def _concat_pairs(p, ins, outs):
    out = outs[0].view_desc()
    dim, start, pairs = p["dim"] % len(out.shape), 0, []
    for x in ins:
        pairs.append((_with_dim(out, dim, x.shape[dim], start), x.view_desc()))
        start += x.shape[dim]
    return pairs


def _promote(p, dtypes):
    return [result_dtype(*dtypes)]


def _each(result, n: int) -> list:
    """The outputs of an n-output op as a list (one output comes back bare)."""
    return [result] if n == 1 else list(result)


def _join_grad(stack: bool):
    """concat's / stack's rule: each input's part of the head gradient."""
    def grad(F, p, ins, outs, g):
        params = {"axis": p["axis"] if stack else p["dim"], "stack": stack,
                  "num_outputs": len(ins)}
        return _each(F.invoke("_backward_concat", [g[0]] + list(ins), params), len(ins))
    return grad


_copy_op("concat", _concat_shape, _concat_pairs, inputs=(), variadic=True,
         infer_type=_promote, grad=_join_grad(False),
         params=(Param("dim", int, 1, "axis along which to join"),
                 Param("num_args", int, None, "number of inputs (checked when given)")),
         aliases=("Concat",), doc="Join arrays along an existing axis.")


def _stack_shape(p, shapes):
    _need_inputs("stack", p, shapes)
    first = shapes[0]
    axis = _axis("stack", p["axis"], first, extra=1)
    for i, s in enumerate(shapes[1:], 1):
        if tuple(s) != tuple(first):
            raise MXNetError(f"stack: input {i} has shape {s}, but input 0 has {first}; all "
                             "inputs must have the same shape")
    return [first[:axis] + (len(shapes),) + first[axis:]]


def _stack_pairs(p, ins, outs):
    out = outs[0].view_desc()
    axis = p["axis"] % len(out.shape)
    drop = tuple(a for a in range(len(out.shape)) if a != axis)
    return [(_permute(_with_dim(out, axis, 1, i), drop), x.view_desc())
            for i, x in enumerate(ins)]


_copy_op("stack", _stack_shape, _stack_pairs, inputs=(), variadic=True, infer_type=_promote,
         grad=_join_grad(True),
         params=(Param("axis", int, 0, "position of the new axis"),
                 Param("num_args", int, None, "number of inputs (checked when given)")),
         doc="Join arrays of one shape along a new axis.")


def _join_params(p):
    """concat's or stack's params for `_backward_concat`'s."""
    return {"dim" if not p["stack"] else "axis": p["axis"], "num_args": None}


def _unjoin_shape(p, shapes):
    g, parts = tuple(shapes[0]), [tuple(s) for s in shapes[1:]]
    if len(parts) != p["num_outputs"]:
        raise MXNetError(f"_backward_concat: num_outputs={p['num_outputs']} but "
                         f"{len(parts)} input arrays follow the head gradient")
    joined = (_stack_shape if p["stack"] else _concat_shape)(_join_params(p), parts)[0]
    if g != joined:
        raise MXNetError(f"_backward_concat: head gradient of shape {g} does not match the "
                         f"joined shape {joined} of inputs {parts}")
    return parts


def _unjoin_grad(F, p, ins, outs, g):
    name = "stack" if p["stack"] else "concat"
    return [F.invoke(name, list(g), _join_params(p))] + [None] * (len(ins) - 1)


# the join's copies reversed: each input's part of the head gradient, in that input's dtype
_copy_op("_backward_concat", _unjoin_shape,
         lambda p, ins, outs: [(dst, src) for src, dst in (
             _stack_pairs if p["stack"] else _concat_pairs)(_join_params(p), outs, ins[:1])],
         inputs=(), variadic=True, num_outputs=lambda p: p["num_outputs"],
         infer_type=lambda p, dts: list(dts[1:]), grad=_unjoin_grad,
         params=(Param("axis", int, doc="concat's dim or stack's axis"),
                 Param("stack", bool, False, "undo a stack (else a concat)"),
                 Param("num_outputs", int, low=1, doc="number of joined inputs")),
         doc="Gradient of concat and stack: the head gradient split into the inputs' parts.")


def _split_plan(p, shape):
    axis = _axis("split", p["axis"], shape)
    n = p["num_outputs"]
    if shape[axis] % n:
        raise MXNetError(f"split: cannot split axis {axis} of input shape {shape} into "
                         f"num_outputs={n} equal parts ({shape[axis]} is not divisible by {n})")
    chunk = shape[axis] // n
    if p["squeeze_axis"] and chunk != 1:
        raise MXNetError(f"split: squeeze_axis=True needs each part to have size 1 on axis "
                         f"{axis}, but input shape {shape} with num_outputs={n} gives {chunk}")
    return axis, chunk


def _split_shape(p, shapes):
    shape = tuple(shapes[0])
    axis, chunk = _split_plan(p, shape)
    one = shape[:axis] + (() if p["squeeze_axis"] else (chunk,)) + shape[axis + 1:]
    return [one] * p["num_outputs"]


def _split_pairs(p, ins, outs):
    x = ins[0].view_desc()
    axis, chunk = _split_plan(p, x.shape)
    keep = [a for a in range(len(x.shape)) if a != axis or not p["squeeze_axis"]]
    return [(o.view_desc(), _permute(_with_dim(x, axis, chunk, i * chunk), keep))
            for i, o in enumerate(outs)]


_copy_op("SliceChannel", _split_shape, _split_pairs,
         num_outputs=lambda p: p["num_outputs"],
         infer_type=lambda p, dts: [dts[0]] * p["num_outputs"],
         params=(Param("num_outputs", int, low=1, doc="number of equal parts"),
                 Param("axis", int, 1, "axis to split"),
                 Param("squeeze_axis", bool, False, "drop the split axis (parts of size 1)")),
         grad=lambda F, p, ins, outs, g: [
             F.invoke("stack", list(g), {"axis": p["axis"]}) if p["squeeze_axis"]
             else F.invoke("concat", list(g), {"dim": p["axis"]})],
         aliases=("split",), doc="Split an array into equal parts along an axis.")


# -- slice, slice_axis -----------------------------------------------------------------------


def _opt_ints(op: str, name: str, value) -> tuple:
    """A tuple of ints or None (MXNet's Tuple<optional<int>>), from a tuple, list, scalar or
    its string form."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
    if not isinstance(value, (tuple, list)):
        value = (value,)
    try:
        return tuple(None if v is None or v == "None" else int(v) for v in value)
    except (TypeError, ValueError) as err:
        raise MXNetError(f"{op}: {name}={value!r} must be a tuple of ints or None") from err


def _slice_key(p, shape) -> tuple:
    begin = _opt_ints("slice", "begin", p["begin"])
    end = _opt_ints("slice", "end", p["end"])
    step = _opt_ints("slice", "step", p["step"])
    if not shape:
        raise MXNetError("slice: the input is 0-d; it needs at least one dim")
    if len(begin) != len(end) or len(begin) > len(shape) or (step and len(step) != len(begin)):
        raise MXNetError(f"slice: begin={begin}, end={end}, step={step} must have the same "
                         f"length, at most the input's {len(shape)} dims (shape {shape})")
    step = step or (None,) * len(begin)
    for i, s in enumerate(step):
        if s == 0:
            raise MXNetError(f"slice: step[{i}] is 0 (input shape {shape})")
    return tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))


def _sliced_shape(shape, key) -> tuple:
    dims = [len(range(*k.indices(n))) for k, n in zip(key, shape)]
    return tuple(dims) + tuple(shape[len(key):])


def _slice_axis_key(p, shape) -> tuple:
    axis = _axis("slice_axis", p["axis"], shape)
    n = shape[axis]
    begin = p["begin"] + n if p["begin"] < 0 else p["begin"]
    end = n if p["end"] is None else (p["end"] + n if p["end"] < 0 else p["end"])
    if not 0 <= begin <= end <= n:
        raise MXNetError(f"slice_axis: begin={p['begin']}, end={p['end']} do not give a range "
                         f"within axis {axis} of size {n} (input shape {shape})")
    return (slice(None),) * axis + (slice(begin, end),)


def _key_op(name, key_of, params, doc):
    """Register slicing op `name` and its adjoint `_backward_<name>`(head_grad, data): the
    head gradient written into zeros of data's shape at the slice."""
    from ..ndarray.indexing import basic_view
    backward = f"_backward_{name}"

    def pairs(p, ins, outs):
        x = ins[0]
        return [(outs[0].view_desc(), basic_view(x, key_of(p, x.shape)))]

    def backward_shape(p, shapes):
        g, x = map(tuple, shapes)
        want = _sliced_shape(x, key_of(p, x))
        if g != want:
            raise MXNetError(f"{backward}: head gradient of shape {g} does not match {name}'s "
                             f"output shape {want} for input shape {x}")
        return [x]

    def backward_pairs(p, ins, outs):
        out = outs[0]
        return [(basic_view(out, key_of(p, out.shape)), ins[0].view_desc())]

    _copy_op(name, lambda p, s: [_sliced_shape(s[0], key_of(p, s[0]))], pairs, params=params,
             doc=doc, grad=lambda F, p, ins, outs, g: [F.invoke(backward, [g[0], ins[0]], p)])
    _copy_op(backward, backward_shape, backward_pairs, inputs=("head_grad", "data"),
             params=params, zero=True, doc=f"Gradient of {name}: zeros outside the slice.",
             grad=lambda F, p, ins, outs, g: [F.invoke(name, [g[0]], p), None])


_key_op("slice", _slice_key,
        (Param("begin", "opt_shape", doc="start per axis (None: from the edge)"),
         Param("end", "opt_shape", doc="stop per axis, exclusive (None: to the edge)"),
         Param("step", "opt_shape", (), "step per axis (None: 1); may be negative")),
        "Slice of the leading axes with begin/end/step (Python slice rules per axis).")
_key_op("slice_axis", _slice_axis_key,
        (Param("axis", int, doc="axis to slice"),
         Param("begin", int, doc="start; negative counts from the end"),
         Param("end", int, None, "stop, exclusive; None is the end")),
        "Slice [begin, end) of one axis.")
