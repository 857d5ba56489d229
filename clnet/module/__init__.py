"""`mx.mod`: Module and the training loop."""
from .base_module import BaseModule  # noqa: F401
from .module import Module  # noqa: F401
