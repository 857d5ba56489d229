"""Source and launch of fused elementwise kernels: a chain of expression ops computed per
element in one launch (`kernels/fused.cl`). Which nodes fuse is the executor's decision; this
module only writes the kernel text and enqueues it.

A chain whose expressions all work on vectors (`mapping.vectorizable`) runs as the `_vec`
kernel: one float8 (32 bytes) per work-item through cast pointers, the few elements before
the first aligned vector and after the last one done by one extra work-item, so any size is
one launch. Other chains, and operands whose offsets disagree modulo the vector width, run the
scalar kernel of the same program. Scalars are kernel arguments, so the program depends only
on the chain's expressions and dtype.
"""
from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple

import numpy as np

from ..ops import mapping
from . import printer, templates

_OPERANDS = ("x", "y", "z")
_SCALARS = ("s", "t")
_LOCAL = 64


class Step(NamedTuple):
    expr: str          # sympy text, or raw OpenCL after 'C:'
    operands: tuple    # ('in', k) or ('v', j) per operand
    scalars: tuple     # values of s and t


def _ref(ref) -> str:
    kind, k = ref
    return f"a{k}" if kind == "in" else f"v{k}"


def _vector_width(form: tuple, dtype) -> int:
    """ew_vec's vector width when every step (expr, operands, ...) can run on vectors of
    `dtype`, else 0."""
    ok = all(mapping.vectorizable(expr, dtype, (dtype,) * len(operands), dtype)
             for expr, operands, *_ in form)
    return mapping.vector_width(dtype) if ok else 0


def render(steps: list, n_inputs: int, dtype, streaming: bool = False) -> tuple:
    """(source, kernel name, vector width) of the chain `steps` over `n_inputs` inputs of
    `dtype`; the vector kernel is `<name>_vec` when the width is not 0, and stores streaming
    with `streaming` (kernels/stream.cl). Memoised on the chain's form (scalar values are
    kernel arguments): imperative chains (ops.deferred) ask for the same form at every
    launch."""
    form = tuple((st.expr, st.operands, len(st.scalars)) for st in steps)
    return _render(form, n_inputs, dtype, streaming)


@functools.lru_cache(maxsize=1024)
def _render(form: tuple, n_inputs: int, dtype, streaming: bool) -> tuple:
    lines = [f"        const V a{k} = IN({k});" for k in range(n_inputs)]
    params = "".join(f", __global const T *in{k}, const long in{k}_off" for k in range(n_inputs))
    names = "".join(f", in{k}, in{k}_off" for k in range(n_inputs))
    for j, (expr, operands, n_scalars) in enumerate(form):
        code = expr[2:] if expr.startswith("C:") else printer.to_opencl(expr)
        defs = [(sym, _ref(r)) for sym, r in zip(_OPERANDS, operands)]
        defs += [(sym, f"{sym}{j}") for sym in _SCALARS[:n_scalars]]
        params += "".join(f", const CT {sym}{j}" for sym in _SCALARS[:n_scalars])
        names += "".join(f", {sym}{j}" for sym in _SCALARS[:n_scalars])
        lines += [f"#define {sym} ({val})" for sym, val in defs]
        lines.append(f"        const V v{j} = (V)({code});")
        lines += [f"#undef {sym}" for sym, _ in defs]
    body = "\n".join(lines)
    vw = _vector_width(form, dtype)
    digest = hashlib.sha1(f"{body}|{params}|{dtype.name}|{vw}".encode()).hexdigest()[:12]
    name = f"fused_{digest}_{dtype.suffix}"
    ct = templates.compute_ctype(dtype)
    defines = {"T": dtype.ctype, "CT": ct, "VEC": 4, "STREAM": int(streaming)}
    if vw:
        defines["VW"] = vw
    subst = {"name": name, "params": params, "args": names, "body": body,
             "result": f"v{len(form) - 1}"}
    src = mapping.prelude(ct) + templates.render("fused", defines, (dtype,), subst=subst)
    return src, name, vw


def launcher(steps: list, inputs: list, out):
    """A callable enqueueing the chain `steps` over the NDArrays `inputs` into the NDArray
    `out` (all of out's shape and dtype, contiguous)."""
    n = out.size
    if n == 0:
        return lambda: None
    device = out.device
    streaming = mapping.stream(device, n * out._dt.np.itemsize * (1 + len(inputs)))
    src, name, vw = render(steps, len(inputs), out._dt, streaming)
    ct = templates.compute_np(out._dt)
    scalars = [ct.type(v) for st in steps for v in st.scalars]
    arrays = [out] + list(inputs)
    operands = []
    for x in arrays:
        operands += [x._buf.cl_buffer, np.int64(x._offset)]
    buffers = [x._buf for x in arrays]
    nvec, head = mapping.vec_split(n, [x._offset for x in arrays], vw)
    if nvec:
        knl = device.kernel(src, f"{name}_vec")
        args = [np.int64(nvec), np.int64(head), np.int64(n)] + operands + scalars
        gsize = (nvec // _LOCAL + 1) * _LOCAL  # one more work-item for the scalar rest
    else:
        knl = device.kernel(src, name)
        args = [np.int64(n)] + operands + scalars
        gsize = max(_LOCAL, -(-((n + 3) // 4) // _LOCAL) * _LOCAL)  # 4 elements per item
    return lambda: device.enqueue(knl, (gsize,), (_LOCAL,), args, buffers)
