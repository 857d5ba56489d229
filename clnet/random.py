"""`mx.random`: the global seed of the device generators."""
from __future__ import annotations

_state = {"seed": 0, "counter": 0}


def seed(seed_state: int, ctx="all"):
    """Seed the counter-based generator: the same seed gives the same numbers on every device."""
    _state["seed"] = int(seed_state) & 0xFFFFFFFFFFFFFFFF
    _state["counter"] = 0


def next_key():
    """(seed, counter offset) for the next random op, then advance the counter."""
    key = (_state["seed"], _state["counter"])
    _state["counter"] += 1
    return key
