"""Gradient rules of the elementwise ops, derived from their forward expressions.

For input k of an op with expression e(x, y, z; s, t), sympy gives de/dk (or the op's
`grad_expr[k]` where sympy cannot: raw 'C:' forms); the backward of input k is then itself an
elementwise op `_backward_<op>_<k>` over (inputs..., head gradient), expression `de/dk * g`,
registered on first use and run by the same kernel family. Broadcast inputs get their gradient
summed back to their shape by `_sum_to`.

Rules take a namespace `F` (`mx.nd` or `mx.sym`) and build the gradient with `F.invoke`, so the
imperative and symbolic frontends share them.
"""
from __future__ import annotations

import functools

from . import registry
from .registry import OpDef

_GRAD_SYMBOLS = ("x", "y", "z", "w")  # operands; a backward op's head gradient is the last
ZERO = "0"  # marks an input whose gradient is zero everywhere it is defined


def _derivative_text(op: OpDef, k: int) -> str:
    given = op.grad_expr
    if given is not None:
        return given[k] if isinstance(given, (tuple, list)) else given
    if op.expr.startswith("C:"):
        raise registry.MXNetError(f"{op.name}: a 'C:' expression needs grad_expr")
    from ..codegen import printer
    return printer.derivative(op.expr, _GRAD_SYMBOLS[k])


@functools.lru_cache(maxsize=None)
def backward_op(op_name: str, k: int) -> OpDef | None:
    """The elementwise op computing d(op)/d(input k) * g over (inputs..., g); None when that
    derivative is zero."""
    from .elemwise import register_elementwise
    op = registry.get(op_name)
    text = _derivative_text(op, k).strip()
    if text == ZERO:
        return None
    n_in = len(op.input_names({}))
    g = _GRAD_SYMBOLS[n_in]
    if text.startswith("C:"):
        expr = f"C:(({text[2:]}) * {g})"
    else:
        expr = f"({text})*{g}"
    name = f"_backward_{op.name}_{k}"
    existing = registry.all_ops().get(name)
    if existing is not None:
        return existing
    names = tuple(op.input_names({}))
    # a backward op differentiated again already has a head_grad input: number the new one
    head = next(h for h in ("head_grad", *(f"head_grad{i}" for i in range(2, 9)))
                if h not in names)
    inputs = names + (head,)
    return register_elementwise(name, expr, inputs=inputs, params=op.params,
                                scalars=op.extra.get("scalars", ()), dtypes=None,
                                broadcast=len(inputs) > 2,
                                # sympy differentiates the derivative again (second order);
                                # a raw 'C:' derivative has no rule
                                differentiable=not text.startswith("C:") and n_in < 3,
                                doc=f"Gradient of {op.name} with respect to input {k}.")


@functools.lru_cache(maxsize=None)
def backward_from_output_op(op_name: str) -> OpDef:
    """The elementwise op computing d(op)/dx * g over (output, g) for a unary op whose
    derivative its output gives (`grad_from_output`, x standing for the output)."""
    from .elemwise import register_elementwise
    op = registry.get(op_name)
    name = f"_backward_{op.name}_out"
    existing = registry.all_ops().get(name)
    if existing is not None:
        return existing
    return register_elementwise(
        name, f"({op.extra['grad_from_output']})*y", inputs=("output", "head_grad"),
        dtypes=None, doc=f"Gradient of {op.name} from its output: "
                         f"({op.extra['grad_from_output']}) * head_grad, x the output.")


def elementwise_grad(op: OpDef):
    """The gradient rule of elementwise op `op`, for inputs of float dtypes."""
    broadcast = op.extra.get("broadcast", False)
    if op.extra.get("grad_from_output"):
        def grad_from_output(F, params, inputs, outputs, out_grads):
            return [F.invoke(backward_from_output_op(op.name), [outputs[0], out_grads[0]], {})]
        return grad_from_output

    def grad(F, params, inputs, outputs, out_grads):
        g = out_grads[0]
        grads = []
        for k, x in enumerate(inputs):
            bop = backward_op(op.name, k)
            if bop is None:
                grads.append(F.zeros_like(x))
                continue
            gk = F.invoke(bop, list(inputs) + [g], dict(params))
            grads.append(F.invoke("_sum_to", [gk, x], {}) if broadcast else gk)
        return grads
    return grad
