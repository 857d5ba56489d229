"""Render `kernels/*.cl` templates: the file's text behind a header of defines and pragmas.

Templates take their parameters as macros (see each file's opening comment); `string.Template`
substitution is used only for what a macro cannot express. Rendering is pure text: building
is the Device's job.
"""
from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from string import Template

import numpy as np

_PRAGMAS = {"cl_khr_fp64": "#pragma OPENCL EXTENSION cl_khr_fp64 : enable",
            "cl_khr_fp16": "#pragma OPENCL EXTENSION cl_khr_fp16 : enable"}


@functools.lru_cache(maxsize=None)
def load(name: str) -> str:
    """Text of kernels/<name>.cl, shipped as package data `clnet.kernels`."""
    return resources.files("clnet.kernels").joinpath(f"{name}.cl").read_text()


@functools.lru_cache(maxsize=None)
def digest() -> str:
    """A digest of every template's text: measured choices hold for the kernels they timed."""
    h = hashlib.sha256()
    files = [f for f in resources.files("clnet.kernels").iterdir() if f.name.endswith(".cl")]
    for f in sorted(files, key=lambda f: f.name):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:32]


@functools.lru_cache(maxsize=4096)
def _render(name: str, defines: tuple, extensions: tuple, subst: tuple) -> str:
    head = [_PRAGMAS[e] for e in sorted(set(extensions)) if e]
    head += [f"#define {k} {v}" for k, v in defines]
    text = load(name)
    if subst:
        text = Template(text).substitute(dict(subst))
    return "\n".join(head) + "\n" + text


def render(name: str, defines: dict, dtypes=(), subst: dict | None = None) -> str:
    """Source of template `name` with `defines`; `dtypes` (DTypeInfo) add the extension
    pragmas their types need. Cached, so the same arguments give the same string object
    (which keeps the Device's program lookup cheap)."""
    extensions = tuple(d.extension for d in dtypes if d.extension)
    return _render(name, tuple(defines.items()), extensions,
                   tuple(sorted((subst or {}).items())))


# A kernel declaration of the templates: `__kernel void KN(base)(` (the name is base plus
# the program's suffix) or `__kernel void literal_name(`.
_KERNEL_DECL = re.compile(r"__kernel void (?:KN\((\w+)\)|(\w+))\(")


@functools.lru_cache(maxsize=1024)
def single_kernel(source: str, name: str) -> str:
    """`source` without its other kernels (declaration and body), so a program holds the
    one kernel asked for; `source` itself where `name` is not one of its plain declarations
    (kernels made by macros, or with attributes, stay as they are).
    NOTE: pocl compiles every kernel of a program when its binary is stored for later
    processes (runtime.device.cache_dir): an elementwise program of four kernels took 0.51 s
    there, its one used kernel alone 0.06 s."""
    decls = []  # (score, start, end) of each plain kernel declaration with its body
    for m in _KERNEL_DECL.finditer(source):
        base, literal = m.groups()
        if literal is not None:
            score = len(literal) if literal == name else -1
        else:
            score = len(base) if name.startswith(base + "_") else -1
        brace = source.find("{", m.end())
        end = _body_end(source, brace) if brace >= 0 else None
        if end is None:
            return source  # not a definition this can cut: keep the whole program
        decls.append((score, m.start(), end))
    best = max(decls, default=(-1, 0, 0))
    if best[0] < 0:
        return source
    for _, start, end in reversed(decls):
        if start != best[1]:
            source = source[:start] + source[end:]
    return source


def _body_end(text: str, i: int):
    """Index just past the brace matching the `{` at `i` (comments skipped); None if
    unbalanced."""
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            i = text.find("*/", i + 2)
            if i < 0:
                return None
            i += 2
            continue
        if text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                return None
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def compute_ctype(dtype_info) -> str:
    """Type arithmetic runs in: float for half (loads and stores convert), else its own."""
    return "float" if dtype_info.name == "float16" else dtype_info.ctype


def compute_np(dtype_info):
    """numpy dtype of compute_ctype: of scalar kernel arguments, accumulators and packed
    panels."""
    return np.dtype(np.float32) if dtype_info.name == "float16" else dtype_info.np
