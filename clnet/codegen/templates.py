"""Render `kernels/*.cl` templates: the file's text behind a header of defines and pragmas.

Templates take their parameters as macros (see each file's opening comment); `string.Template`
substitution is used only for what a macro cannot express. Rendering is pure text: building
is the Device's job.
"""
from __future__ import annotations

import functools
from importlib import resources
from string import Template

import numpy as np

_PRAGMAS = {"cl_khr_fp64": "#pragma OPENCL EXTENSION cl_khr_fp64 : enable",
            "cl_khr_fp16": "#pragma OPENCL EXTENSION cl_khr_fp16 : enable"}


@functools.lru_cache(maxsize=None)
def load(name: str) -> str:
    """Text of kernels/<name>.cl, shipped as package data `clnet.kernels`."""
    return resources.files("clnet.kernels").joinpath(f"{name}.cl").read_text()


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


def compute_ctype(dtype_info) -> str:
    """Type arithmetic runs in: float for half (loads and stores convert), else its own."""
    return "float" if dtype_info.name == "float16" else dtype_info.ctype


def compute_np(dtype_info):
    """numpy dtype of compute_ctype: of scalar kernel arguments, accumulators and packed
    panels."""
    return np.dtype(np.float32) if dtype_info.name == "float16" else dtype_info.np
