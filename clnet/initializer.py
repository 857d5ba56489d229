"""Weight initializers (`mx.init`, `mx.initializer`), as MXNet 1.x: the `Initializer` base with
its name-based dispatch (`init(InitDesc(name, attrs), arr)`: ``*weight`` gets the initializer's
own draw, ``*bias`` / ``*beta`` / ``*moving_mean`` zeros, ``*gamma`` / ``*moving_var`` ones, a
variable's ``__init__`` attribute overrides), the registry (`register`, `alias`, `create`,
`dumps` as JSON), Uniform, Normal, Xavier, MSRAPrelu, Orthogonal, Constant, Zero, One,
Bilinear, LSTMBias, Mixed and Load.

Random draws run on the array's device through `mx.nd.random` (seeded by `mx.random.seed`);
Orthogonal's SVD and Bilinear's kernel are computed on the host. `make_registry` is the
name -> class table that `metric` shares.
"""
from __future__ import annotations

import json
import logging
import re
import warnings

import numpy as np

from .base import MXNetError
from .ndarray import NDArray, load
from .ndarray import random as _random

__all__ = ["InitDesc", "Initializer", "register", "alias", "create", "Load", "Mixed", "Zero",
           "One", "Constant", "Uniform", "Normal", "Orthogonal", "Xavier", "MSRAPrelu",
           "Bilinear", "LSTMBias", "make_registry"]


def make_registry(base_class, nickname: str):
    """(register, alias, create) over one name -> class table (MXNet's mxnet.registry).

    `register(klass)` files a subclass of `base_class` under its lowercase class name,
    `alias(*names)` is a decorator adding more names, and `create(x, *args, **kwargs)`
    returns `x` when it is already an instance, else builds the class named by `x`: a name,
    a JSON list '["name", {kwargs}]', a JSON object or a dict with the name under `nickname`.
    """
    table: dict = {}

    def register(klass, name=None):
        if not (isinstance(klass, type) and issubclass(klass, base_class)):
            raise MXNetError(f"can only register subclasses of {base_class.__name__} as "
                             f"{nickname}, got {klass!r}")
        key = (name or klass.__name__).lower()
        old = table.get(key)
        if old is not None and old is not klass:
            warnings.warn(f"New {nickname} {klass.__module__}.{klass.__name__} registered with "
                          f"name {key} is overriding existing {nickname} "
                          f"{old.__module__}.{old.__name__}", UserWarning, stacklevel=2)
        table[key] = klass
        return klass

    def alias(*aliases):
        def reg(klass):
            for name in aliases:
                register(klass, name)
            return klass
        return reg

    def create(*args, **kwargs):
        if args:
            name, args = args[0], args[1:]
        elif nickname in kwargs:
            name = kwargs.pop(nickname)
        else:
            raise MXNetError(f"create: give the {nickname} to create")
        if isinstance(name, base_class):
            if args or kwargs:
                raise MXNetError(f"{nickname} {name!r} is already an instance; extra arguments "
                                 "are invalid")
            return name
        if isinstance(name, dict):
            return create(**name)
        if not isinstance(name, str):
            raise MXNetError(f"{nickname} must be a name (str), an instance or a dict, got "
                             f"{type(name).__name__}")
        if name.startswith("["):
            name, kwargs = json.loads(name)
            return create(name, **kwargs)
        if name.startswith("{"):
            return create(**json.loads(name))
        klass = table.get(name.lower())
        if klass is None:
            raise MXNetError(f"{nickname} {name!r} is not registered; known: {sorted(table)}. "
                             f"Register it with {nickname}.register first")
        return klass(*args, **kwargs)

    return register, alias, create


class InitDesc(str):
    """The name of the array to initialize, with its variable's attributes (from
    `Symbol.attr_dict()`) and the global initializer to fall back to."""

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


# Name endings and what they get without an `__init__` attribute (MXNet's patterns; the
# auxiliary states are listed here because clnet's variables carry no per-op init attribute).
_SUFFIX_RULES = (("weight", "_init_weight"), ("bias", "_init_bias"), ("gamma", "_init_gamma"),
                 ("beta", "_init_beta"), ("moving_mean", "_init_zero"),
                 ("moving_var", "_init_one"), ("moving_inv_var", "_init_zero"),
                 ("moving_avg", "_init_zero"), ("min", "_init_zero"), ("max", "_init_one"))


class Initializer:
    """The base class of initializers: ``init(desc, arr)`` fills NDArray `arr` by the name
    `desc` (an InitDesc, or a plain name)."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized array with `print_func(arr)` (default: its RMS value)."""
        self._verbose = verbose
        if print_func is None:
            def print_func(x):
                host = x.asnumpy().astype(np.float64)
                return str(np.sqrt(np.mean(host * host)) if host.size else 0.0)
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            logging.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self):
        """The initializer as MXNet's JSON: '["name", {kwargs}]'.

        Examples
        --------
        >>> mx.init.Normal(0.5).dumps()
        '["normal", {"sigma": 0.5}]'
        """
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Initialize NDArray `arr` according to `desc` (InitDesc or name)."""
        if not isinstance(arr, NDArray):
            raise MXNetError(f"initializer {type(self).__name__}: arr must be an NDArray, got "
                             f"{type(arr).__name__}")
        if not isinstance(desc, InitDesc):
            if not isinstance(desc, str):
                raise MXNetError(f"initializer {type(self).__name__}: the name must be a str "
                                 f"or InitDesc, got {type(desc).__name__}")
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in _SUFFIX_RULES:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        """Dispatch on a plain name, with MXNet's extra legacy patterns (upsampling layers
        get bilinear kernels, spatial-transformer localisation layers an identity)."""
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
        else:
            self(InitDesc(name), arr)

    def _init_bilinear(self, _, arr):
        shape = arr.shape
        if len(shape) != 4:
            raise MXNetError(f"bilinear initialization needs a 4-d weight, got shape {shape}")
        f = np.ceil(shape[3] / 2.)
        c = (2 * f - 1 - f % 2) / (2. * f)
        x = np.arange(shape[3])
        y = np.arange(shape[2])
        kernel = np.outer(1 - abs(y / f - c), 1 - abs(x / f - c))
        arr[:] = np.broadcast_to(kernel, shape).astype(np.float32)

    def _init_loc_bias(self, _, arr):
        if arr.shape != (6,):
            raise MXNetError(f"stn_loc bias must have shape (6,), got {arr.shape}")
        arr[:] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _, arr):
        arr[:] = 0.0

    def _init_one(self, _, arr):
        arr[:] = 1.0

    def _init_bias(self, _, arr):
        arr[:] = 0.0

    def _init_gamma(self, _, arr):
        arr[:] = 1.0

    def _init_beta(self, _, arr):
        arr[:] = 0.0

    def _init_weight(self, name, arr):
        raise NotImplementedError("Must override it")

    def _init_default(self, name, _):
        raise MXNetError(
            f"Unknown initialization pattern for {name}. Default initialization is limited to "
            "names ending in weight, bias, gamma (1.0), beta (0.0) and the moving statistics; "
            "use mx.sym.Variable(init=mx.init.*) to set the initializer of this variable")


register, alias, create = make_registry(Initializer, "initializer")


class Load:
    """Initialize from saved parameters (a file of `mx.nd.save` or a dict name -> NDArray),
    dropping the ``arg:`` / ``aux:`` prefixes; names not found use `default_init`."""

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            param = load(param)
        if not isinstance(param, dict):
            raise MXNetError(f"Load: param must be a file name or a dict of name -> NDArray, "
                             f"got {type(param).__name__}")
        self.param = {}
        for name, arr in param.items():
            if name.startswith("arg:") or name.startswith("aux:"):
                name = name[4:]
            self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            if arr.shape != self.param[name].shape:
                raise MXNetError(f"Parameter {name} cannot be initialized from loading. Shape "
                                 f"mismatch, target {arr.shape} vs loaded "
                                 f"{self.param[name].shape}")
            arr[:] = self.param[name]
            if self.verbose:
                logging.info("Initialized %s by loading", name)
        else:
            if self.default_init is None:
                raise MXNetError(f"Cannot Initialize {name}. Not found in loaded param and no "
                                 "default Initializer is provided.")
            self.default_init(name, arr)
            if self.verbose:
                logging.info("Initialized %s by default", name)


class Mixed:
    """Initialize each array with the initializer of the first regular expression in
    `patterns` that matches its name (re.match)."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise MXNetError(f"Mixed: {len(patterns)} patterns but {len(initializers)} "
                             "initializers; give one initializer per pattern")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise MXNetError(f"Parameter name {name} did not match any pattern. Consider adding a "
                         "'.*' pattern at the end with a default Initializer.")


@register
@alias("zeros")
class Zero(Initializer):
    """Initializes weights to zero."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 0


@register
@alias("ones")
class One(Initializer):
    """Initializes weights to one."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 1


@register
class Constant(Initializer):
    """Initializes weights to `value`: a scalar, or an array broadcastable to the weight."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        arr[:] = self.value


@register
class Uniform(Initializer):
    """Initializes weights with values drawn uniformly from [-scale, scale).

    Parameters
    ----------
    scale : float, default 0.07
    """

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _random.uniform(-self.scale, self.scale, out=arr)


@register
class Normal(Initializer):
    """Initializes weights with values drawn from N(0, sigma**2).

    Parameters
    ----------
    sigma : float, default 0.01
    """

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _random.normal(0, self.sigma, out=arr)


@register
class Orthogonal(Initializer):
    """Initializes weights as a scaled orthogonal matrix (Saxe et al.): the (rows, rest)
    reshape of the weight has orthonormal rows (or columns when rows > rest), times `scale`.

    Parameters
    ----------
    scale : float, default 1.414
    rand_type : {'uniform', 'normal'}
        Distribution of the random matrix whose SVD gives the result.
    """

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, name, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = _random.uniform(-1.0, 1.0, shape=(nout, nin), ctx=arr.context).asnumpy()
        elif self.rand_type == "normal":
            tmp = _random.normal(0.0, 1.0, shape=(nout, nin), ctx=arr.context).asnumpy()
        else:
            raise MXNetError(f"Orthogonal: rand_type={self.rand_type!r}; use 'uniform' or "
                             "'normal'")
        u, _, v = np.linalg.svd(tmp.astype(np.float64), full_matrices=False)
        res = u if u.shape == tmp.shape else v
        arr[:] = (self.scale * res.reshape(arr.shape)).astype(arr.dtype)


@register
class Xavier(Initializer):
    """Xavier (Glorot) initialization: values in [-c, c] (uniform) or with standard deviation
    c (gaussian), c = sqrt(magnitude / factor) where factor is (fan_in + fan_out) / 2
    ('avg'), fan_in ('in') or fan_out ('out'); fan_in = shape[1] * prod(shape[2:]),
    fan_out = shape[0] * prod(shape[2:]).

    Parameters
    ----------
    rnd_type : {'uniform', 'gaussian'}
    factor_type : {'avg', 'in', 'out'}
    magnitude : float, default 3
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise MXNetError(f"Xavier initializer cannot be applied to vector {name} of shape "
                             f"{shape}. It requires at least 2D.")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        factors = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}
        if self.factor_type not in factors:
            raise MXNetError(f"Xavier: factor_type={self.factor_type!r}; use 'avg', 'in' or "
                             "'out'")
        scale = float(np.sqrt(self.magnitude / factors[self.factor_type]))
        if self.rnd_type == "uniform":
            _random.uniform(-scale, scale, out=arr)
        elif self.rnd_type == "gaussian":
            _random.normal(0, scale, out=arr)
        else:
            raise MXNetError(f"Xavier: rnd_type={self.rnd_type!r}; use 'uniform' or "
                             "'gaussian'")


@register
class MSRAPrelu(Xavier):
    """He (MSRA) initialization for PReLU nets: Xavier gaussian with magnitude
    2 / (1 + slope ** 2).

    Parameters
    ----------
    factor_type : {'avg', 'in', 'out'}
    slope : float, default 0.25
        Initial slope of the PReLU (0 for ReLU).
    """

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super().__init__("gaussian", factor_type, magnitude)
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Initializes (channels, 1, k, k) weights of upsampling deconvolutions with bilinear
    interpolation kernels."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, name, arr):
        self._init_bilinear(name, arr)


@register
class LSTMBias(Initializer):
    """Initializes an LSTM bias to 0 except the forget gate's (the second quarter), set to
    `forget_bias`."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        arr[:] = 0.0
        num_hidden = int(arr.shape[0] / 4)
        arr[num_hidden:2 * num_hidden] = self.forget_bias
