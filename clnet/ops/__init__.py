"""Operators: the registry and the modules that fill it (one module per family)."""
import importlib

_FAMILIES = ("elemwise", "shape", "gather", "reduce", "matrix", "sort", "random_ops", "nn", "conv",
             "norm", "pool")
_loaded = False


def load_all():
    """Import every op family once (each registers its ops on import)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for fam in _FAMILIES:
            importlib.import_module(f"{__name__}.{fam}")
