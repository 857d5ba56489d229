"""clnet: an MXNet 1.x-style deep learning framework whose arrays live in OpenCL buffers.

`import clnet as mx` gives the MXNet names: mx.nd, mx.cpu(), mx.gpu(), mx.Context, ...
Importing opens no OpenCL device and does not import sympy.
"""
__version__ = "0.1.0"

from . import base  # noqa: F401
from .base import MXNetError  # noqa: F401
from .context import Context, cpu, cpu_pinned, current_context, gpu  # noqa: F401
from . import context  # noqa: F401
from . import ndarray  # noqa: F401
from . import ndarray as nd  # noqa: F401
from . import random  # noqa: F401
from . import test_utils  # noqa: F401
from . import autograd  # noqa: F401
from . import name  # noqa: F401
from . import attribute  # noqa: F401
from .attribute import AttrScope  # noqa: F401
from . import symbol  # noqa: F401
from . import symbol as sym  # noqa: F401
from . import executor  # noqa: F401
from . import optimizer  # noqa: F401
from . import optimizer as opt  # noqa: F401
from .optimizer import lr_scheduler  # noqa: F401
from . import initializer  # noqa: F401
from . import initializer as init  # noqa: F401
from . import metric  # noqa: F401
from . import kvstore  # noqa: F401
from . import kvstore as kv  # noqa: F401
from . import io  # noqa: F401
from . import callback  # noqa: F401
from . import model  # noqa: F401
from . import module  # noqa: F401
from . import module as mod  # noqa: F401
