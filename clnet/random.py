"""`mx.random`: the global seed of the device generators."""
from __future__ import annotations

_state = {"seed": 0, "counter": 0}


def seed(seed_state: int, ctx="all"):
    """Seed the counter-based generator: the same seed gives the same numbers on every device."""
    _state["seed"] = int(seed_state) & 0xFFFFFFFFFFFFFFFF
    _state["counter"] = 0


def next_key():
    """(seed, counter offset) for the next random op, then advance the counter."""
    from .runtime import replay
    replay.taint("random draw")  # a replay would repeat the same numbers
    key = (_state["seed"], _state["counter"])
    _state["counter"] += 1
    return key


_SAMPLERS = ("uniform", "normal", "randn", "randint", "exponential", "shuffle")


def __getattr__(name):
    # mx.random.uniform & co. are mx.nd.random's (imported lazily: ndarray imports this module)
    if name in _SAMPLERS:
        from .ndarray import random as nd_random
        return getattr(nd_random, name)
    raise AttributeError(f"module 'clnet.random' has no attribute {name!r}")
