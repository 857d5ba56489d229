"""Source of fused elementwise kernels: a chain of expression ops computed per element in
one launch (`kernels/fused.cl`). Which nodes fuse is the executor's decision; this module only
writes the kernel text."""
from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from . import printer, templates

_OPERANDS = ("x", "y", "z")


class Step(NamedTuple):
    expr: str          # sympy text, or raw OpenCL after 'C:'
    operands: tuple    # ('in', k) or ('v', j) per operand
    scalars: tuple     # values of s and t


def _ref(ref) -> str:
    kind, k = ref
    return f"a{k}" if kind == "in" else f"v{k}"


def _literal(value) -> str:
    return f"((CT){float(value)!r})"


def render(steps: list, n_inputs: int, dtype) -> tuple:
    """(source, kernel name) of the chain `steps` over `n_inputs` inputs of `dtype`."""
    lines = [f"        const CT a{k} = (CT)in{k}[in{k}_off + i];" for k in range(n_inputs)]
    for j, step in enumerate(steps):
        code = step.expr[2:] if step.expr.startswith("C:") else printer.to_opencl(step.expr)
        defs = [(sym, _ref(r)) for sym, r in zip(_OPERANDS, step.operands)]
        defs += [(sym, _literal(v)) for sym, v in zip(("s", "t"), step.scalars)]
        lines += [f"#define {sym} ({val})" for sym, val in defs]
        lines.append(f"        const CT v{j} = (CT)({code});")
        lines += [f"#undef {sym}" for sym, _ in defs]
    body = "\n".join(lines)
    digest = hashlib.sha1(f"{body}|{dtype.name}".encode()).hexdigest()[:12]
    name = f"fused_{digest}_{dtype.suffix}"
    params = "".join(f", __global const T *in{k}, const long in{k}_off" for k in range(n_inputs))
    src = templates.render("fused", {"T": dtype.ctype, "CT": templates.compute_ctype(dtype),
                                     "VEC": 4}, (dtype,),
                           subst={"name": name, "params": params, "body": body,
                                  "result": f"v{len(steps) - 1}"})
    return src, name


def launcher(steps: list, inputs: list, out):
    """A callable enqueueing the chain `steps` over the NDArrays `inputs` into the NDArray
    `out` (all of out's shape and dtype, contiguous)."""
    n = out.size
    if n == 0:
        return lambda: None
    src, name = render(steps, len(inputs), out._dt)
    device = out.device
    knl = device.kernel(src, name)
    args = [np.int64(n), out._buf.cl_buffer, np.int64(out._offset)]
    for x in inputs:
        args += [x._buf.cl_buffer, np.int64(x._offset)]
    buffers = [out._buf] + [x._buf for x in inputs]
    gsize = max(64, -(-((n + 3) // 4) // 64) * 64)  # 4 elements per work-item
    return lambda: device.enqueue(knl, (gsize,), (64,), args, buffers)
