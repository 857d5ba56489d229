"""sympy -> OpenCL C for elementwise expressions.

Expressions use the symbols x, y, z, w (inputs) and s, t (scalar arguments). Literals are cast to
the compute type `CT` (`(CT)1`), OpenCL's overloaded builtins keep their names (`exp`, not
`expf`), `Heaviside` and `sign` print as the HEAVISIDE and SIGN macros (kernels/heaviside.cl),
relations as comparisons and `Piecewise` as a ternary. sympy is imported lazily: it costs
~0.3-0.7 s and only kernel generation needs it. Printed forms and derivatives are also kept on
disk next to the kernel binaries (`expressions-*.json`), so a process whose kernels are all
cached never imports sympy.
"""
from __future__ import annotations

import functools
import json
import os

INPUT_SYMBOLS = ("x", "y", "z", "w")
SCALAR_SYMBOLS = ("s", "t")


@functools.lru_cache(maxsize=None)
def _printer_class():
    from sympy.printing.c import C99CodePrinter

    class OpenCLPrinter(C99CodePrinter):
        """C99 printer with OpenCL's overloaded math names and typed literals."""

        _ns = ""
        _kf = {k: k for k in ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos",
                               "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
                               "floor", "ceil", "erf", "erfc", "fabs", "log1p", "expm1")}

        def __init__(self, ctype="CT"):
            super().__init__({"math_macros": {}})
            self.ctype = ctype
            self.known_functions = dict(self._kf)
            self.known_functions.update({"Abs": "fabs", "atan2": "atan2", "ceiling": "ceil"})

        def _print_Integer(self, expr):
            return f"(({self.ctype}){int(expr)})"

        def _print_Rational(self, expr):
            return f"(({self.ctype}){float(expr.p) / float(expr.q)!r})"

        def _print_Float(self, expr):
            return f"(({self.ctype}){float(expr)!r})"

        _print_Half = _print_Rational
        _print_One = _print_Integer
        _print_Zero = _print_Integer
        _print_NegativeOne = _print_Integer

        def _print_Pi(self, expr):
            return f"(({self.ctype})M_PI)"

        def _print_Exp1(self, expr):
            return f"(({self.ctype})M_E)"

        def _print_Pow(self, expr):
            base, exp = expr.as_base_exp()
            if exp == -1:
                return f"((({self.ctype})1)/({self._print(base)}))"
            if exp == 2:
                b = self._print(base)
                return f"(({b})*({b}))"
            if exp == 3:
                b = self._print(base)
                return f"(({b})*({b})*({b}))"
            if exp == 0.5 or exp == __import__("sympy").Rational(1, 2):
                return f"sqrt({self._print(base)})"
            if exp == -0.5 or exp == __import__("sympy").Rational(-1, 2):
                return f"rsqrt({self._print(base)})"
            return f"pow({self._print(base)}, {self._print(exp)})"

        def _print_DiracDelta(self, expr):
            # derivative of a step (relu', sign): zero everywhere it is defined
            return f"(({self.ctype})0)"

        def _print_Heaviside(self, expr):
            # kernels/heaviside.cl: 1 where the argument is > 0, on scalars and vectors alike
            return f"HEAVISIDE({self._print(expr.args[0])})"

        def _print_Relational(self, expr):
            op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
            return (f"(({self.ctype})({self._print(expr.lhs)} {op} "
                    f"{self._print(expr.rhs)}))")

        def _print_Piecewise(self, expr):
            out = self._print(expr.args[-1].expr)
            for e, cond in reversed(expr.args[:-1]):
                # the condition stays a C truth value: (CT)(a > b) ? .. does not build
                test = (f"({self._print(cond.lhs)} {cond.rel_op} {self._print(cond.rhs)})"
                        if hasattr(cond, "rel_op") else f"({self._print(cond)} != 0)")
                out = f"({test} ? ({self._print(e)}) : ({out}))"
            return out

        def _print_Max(self, expr):
            args = [self._print(a) for a in expr.args]
            out = args[0]
            for a in args[1:]:
                out = f"max({out}, {a})"
            return out

        def _print_Min(self, expr):
            args = [self._print(a) for a in expr.args]
            out = args[0]
            for a in args[1:]:
                out = f"min({out}, {a})"
            return out

        def _print_sign(self, expr):
            # kernels/heaviside.cl, as HEAVISIDE: the same value on scalars and vectors
            return f"SIGN({self._print(expr.args[0])})"

        def _print_Function(self, expr):
            name = type(expr).__name__
            if name in self.known_functions or name.startswith("_cl_"):
                fn = self.known_functions.get(name, name[4:])
                return f"{fn}({', '.join(self._print(a) for a in expr.args)})"
            return super()._print_Function(expr)

    return OpenCLPrinter


@functools.lru_cache(maxsize=None)
def symbols():
    import sympy
    return {n: sympy.Symbol(n, real=True) for n in INPUT_SYMBOLS + SCALAR_SYMBOLS}


def cl_function(name: str):
    """A sympy function printed as the OpenCL builtin `name` (for builtins sympy lacks,
    e.g. `rint`); it has no derivative, so ops using it must give `grad_expr`."""
    import sympy
    return sympy.Function("_cl_" + name)


@functools.lru_cache(maxsize=None)
def parse(text: str):
    """Parse an expression string over x, y, z, s, t (cached: parsing costs ~1 ms)."""
    import sympy
    names = dict(symbols())
    names.update({"erf": sympy.erf, "sign": sympy.sign, "Max": sympy.Max, "Min": sympy.Min,
                  "Heaviside": sympy.Heaviside, "Piecewise": sympy.Piecewise,
                  "rint": cl_function("rint"), "fmod": cl_function("fmod"),
                  "floor": sympy.floor, "ceiling": sympy.ceiling})
    return sympy.sympify(text, locals=names)


@functools.lru_cache(maxsize=None)
def to_opencl(text: str, ctype: str = "CT") -> str:
    """The OpenCL C expression of `text`, common subexpressions inlined."""
    return _remembered(f"opencl|{ctype}|{text}",
                       lambda: _printer_class()(ctype).doprint(parse(text)))


@functools.lru_cache(maxsize=None)
def derivative(text: str, wrt: str) -> str:
    """d(text)/d(wrt) as an expression string (for gradient rules of the next layer)."""
    def derive():
        import sympy
        return str(sympy.diff(parse(text), symbols()[wrt]))
    return _remembered(f"d/d{wrt}|{text}", derive)


_memo: dict = {}


def _memo_path() -> str:
    """The memo file of this printer's code (its hash in the name: a changed printer starts
    a new memo)."""
    import hashlib

    from ..runtime.device import cache_dir
    with open(__file__, "rb") as f:
        version = hashlib.sha256(f.read()).hexdigest()[:12]
    return os.path.join(os.path.dirname(cache_dir()), f"expressions-{version}.json")


def _remembered(key: str, compute) -> str:
    """`compute()`'s result for `key`, from the on-disk memo when a process stored it; a new
    result is added to the file (CLNET_DISK_CACHE=0: not stored)."""
    if not _memo:
        _memo["loaded"] = True
        try:
            with open(_memo_path(), encoding="utf-8") as f:
                _memo.update(json.load(f))
        except (OSError, ValueError):
            pass  # none yet, or unreadable: recomputed and rewritten below
    value = _memo.get(key)
    if not isinstance(value, str):
        value = _memo[key] = compute()
        _store()
    return value


def _store():
    from ..base import env_str
    if env_str("CLNET_DISK_CACHE", "1") == "0":
        return
    path = _memo_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in _memo.items() if k != "loaded"}, f, indent=0)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new
    except OSError:
        pass  # an unwritable cache only costs sympy next time
