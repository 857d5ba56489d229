"""Optimizers: MXNet 1.x's `Optimizer` base (learning rate, scheduler, per-parameter lr and wd
multipliers, update counts, multi-precision), its registry (`register`, `create`), the update
rules SGD, NAG, Adam, AdamW, RMSProp, AdaGrad, AdaDelta, Signum and Ftrl, and the `Updater`
(per-index states, pickled by get_states / set_states) that Module and KVStore call.

Each update is one fused kernel of `kernels/optimizer.cl` per parameter (`fused_update`): the
step's scalars (lr, wd, rescale_grad, clip_gradient, momentum, bias corrections) are kernel
arguments, so a training step builds nothing after its first. Schedules are `lr_scheduler`'s;
arrays and their memory are `ndarray`'s.
"""
from __future__ import annotations

import functools
import math
import pickle
import warnings

import numpy as np

from ..base import MXNetError
from ..codegen import templates
from ..dtype import as_dtype
from ..ndarray import NDArray, invoke, zeros
from ..ops.mapping import vector_width

__all__ = ["Optimizer", "SGD", "ccSGD", "NAG", "Signum", "Adam", "AdamW", "RMSProp",
           "AdaGrad", "AdaDelta", "Ftrl", "Updater", "get_updater", "create", "register",
           "fused_update"]

_FLOATS = ("float32", "float64", "float16")
_LOCAL = 64  # one fixed local size: pocl compiles a kernel anew for each local size


@functools.lru_cache(maxsize=None)
def _program(dt) -> tuple:
    """(source, compute dtype, vector width) of the optimizer program of dtype `dt`: every
    update rule in one build; arithmetic and scalar arguments in float32 for float16."""
    ct = as_dtype("float64" if dt.name == "float64" else "float32")
    vw = vector_width(ct)
    defines = {"T": dt.ctype, "CT": templates.compute_ctype(dt), "SFX": dt.suffix, "VW": vw,
               "HALF": int(dt.name == "float16")}
    return templates.render("optimizer", defines, (dt,)), ct, vw


def fused_update(rule: str, weight: NDArray, grad: NDArray, states=(), scalars=(),
                 state_dtype=None):
    """Enqueue `opt_<rule>` of kernels/optimizer.cl: `weight` and `states` are updated in
    place from `grad` in one pass.

    Parameters
    ----------
    rule : str
        Kernel name without prefix and dtype: 'sgd', 'sgd_mom', 'adam', 'mp_sgd_mom', ...
    weight, grad : NDArray
        Same shape, dtype (float16/32/64) and context.
    states : list of NDArray
        The rule's state arrays, of weight's shape; of weight's dtype, or `state_dtype`
        (float32 master weight and momentum of the mixed-precision rules).
    scalars : tuple of float
        The rule's scalar arguments, in the kernel's order (see kernels/optimizer.cl).
    """
    dt = weight._dt
    if dt.name not in _FLOATS:
        raise MXNetError(f"optimizer update {rule}: weight dtype {dt.name} is not a float "
                         f"type; optimizers update {list(_FLOATS)} weights")
    want_state = as_dtype(state_dtype) if state_dtype is not None else dt
    checks = [("grad", grad, dt)] + [(f"state {i}", s, want_state) for i, s in enumerate(states)]
    for name, arr, want in checks:
        if not isinstance(arr, NDArray):
            raise MXNetError(f"optimizer update {rule}: {name} must be an NDArray, got "
                             f"{type(arr).__name__}")
        if arr.shape != weight.shape or arr._dt is not want or arr.context != weight.context:
            raise MXNetError(
                f"optimizer update {rule}: {name} has shape {arr.shape}, dtype {arr._dt.name} "
                f"on {arr.context}; it must match the weight: shape {weight.shape}, dtype "
                f"{want.name} on {weight.context}")
    n = weight.size
    if n == 0:
        return None
    dev = weight.device
    source, ct, vw = _program(dt)
    arrays = [weight, grad] + list(states)
    vec = all(a._offset % vw == 0 for a in arrays)
    knl = dev.kernel(source, f"opt_{rule}_{dt.suffix}")
    args = [np.int64(n), np.int32(vec)]
    for a in arrays:
        args += [a._buf.cl_buffer, np.int64(a._offset)]
    args += [ct.np.type(s) for s in scalars]
    groups = -(-n // vw)
    gsize = -(-groups // _LOCAL) * _LOCAL
    return dev.enqueue(knl, (gsize,), (_LOCAL,), args, [a._buf for a in arrays])


def _is_half(weight) -> bool:
    return weight._dt.name == "float16"


def _warn_half():
    warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                  "convergence. Consider using multi_precision=True option of the optimizer")


class Optimizer:
    """The base class of all optimizers (MXNet 1.x).

    Parameters
    ----------
    rescale_grad : float, default 1.0
        Multiply the gradient with `rescale_grad` before updating (often 1 / batch_size).
    param_idx2name : dict of int to str, optional
        Names of the parameter indices; without a `__wd_mult__` attribute, parameters whose
        name ends with neither ``_weight`` nor ``_gamma`` get weight decay 0.
    wd : float, default 0.0
        Weight decay (L2 regularization) coefficient.
    clip_gradient : float, optional
        Clip the (rescaled) gradient to ``[-clip_gradient, clip_gradient]``; None or 0: off.
    learning_rate : float, optional
        The initial learning rate; default 0.01, or the scheduler's base_lr when
        `lr_scheduler` is given (a given learning_rate overrides that base_lr).
    lr_scheduler : LRScheduler, optional
        Called with the number of updates to give the learning rate.
    sym : Symbol, optional
        Its variables' `__lr_mult__` / `__wd_mult__` attributes set the multipliers.
    begin_num_update : int, default 0
        The initial number of updates.
    multi_precision : bool, default False
        Keep a float32 master copy of float16 weights and update that.
    param_dict : dict of int to Parameter, optional
        Gluon parameters whose `lr_mult` / `wd_mult` override the tables.
    """

    opt_registry: dict = {}

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None \
                and lr_scheduler.base_lr != learning_rate:
            warnings.warn("learning rate from ``lr_scheduler`` has been overwritten by "
                          "``learning_rate`` in optimizer.")
            lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise MXNetError(f"{type(self).__name__}: param_idx2name must be a dict of "
                             f"parameter indices to names, got {type(param_idx2name).__name__}")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    # -- registry -------------------------------------------------------------------------
    @staticmethod
    def register(klass):
        """Register an optimizer class under its lowercase name (`create('name')`)."""
        if not isinstance(klass, type):
            raise MXNetError(f"Optimizer.register: expects a class, got {klass!r}")
        name = klass.__name__.lower()
        old = Optimizer.opt_registry.get(name)
        if old is not None and old is not klass:
            warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                          f"overriding existing optimizer {old.__module__}.{old.__name__}")
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An optimizer instance from its (case-insensitive) registered name and kwargs.

        Examples
        --------
        >>> opt = mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)
        """
        klass = Optimizer.opt_registry.get(str(name).lower())
        if klass is None:
            raise MXNetError(f"Cannot find optimizer {name}; registered optimizers: "
                             f"{sorted(Optimizer.opt_registry)}")
        return klass(**kwargs)

    # -- learning rate and multipliers ----------------------------------------------------
    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    @learning_rate.setter
    def learning_rate(self, lr):
        self.set_learning_rate(lr)

    def set_learning_rate(self, lr):
        """Set the learning rate (only without an lr_scheduler)."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note that "
                              "set_learning_rate can mutate the value of the learning rate of "
                              "the optimizer only when the LRScheduler of the optimizer is "
                              "undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale):
        """[DEPRECATED] Use set_lr_mult."""
        raise DeprecationWarning("set_lr_scale is deprecated; use set_lr_mult")

    def set_lr_mult(self, args_lr_mult):
        """Learning-rate multipliers by parameter name or index; the symbol's `__lr_mult__`
        attributes are the defaults."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Weight-decay multipliers by parameter name or index. Named parameters that end with
        neither ``_weight`` nor ``_gamma`` (biases, beta) default to 0; the symbol's
        `__wd_mult__` attributes override that."""
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith("_weight") or name.endswith("_gamma")):
                self.wd_mult[name] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _set_current_context(self, device_id):
        """Keep separate update counts per device (Module with several contexts)."""
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        for idx in index if isinstance(index, (list, tuple)) else [index]:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _multiplied(self, base, index, table, attr):
        if index in self.param_dict:
            return base * getattr(self.param_dict[index], attr)
        if index in table:
            return base * table[index]
        if index in self.idx2name:
            return base * table.get(self.idx2name[index], 1.0)
        return base

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [self._multiplied(lr, i, self.lr_mult, "lr_mult") for i in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self._multiplied(self.wd, i, self.wd_mult, "wd_mult") for i in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def _clip(self) -> float:
        """clip_gradient as the kernels take it: < 0 means no clipping."""
        return float(self.clip_gradient) if self.clip_gradient else -1.0

    # -- states and updates -----------------------------------------------------------------
    def create_state(self, index, weight):
        """The auxiliary state of one weight (momentum, moments...), or None."""
        return None

    def create_state_multi_precision(self, index, weight):
        """create_state, plus a float32 master copy first for float16 weights when
        multi_precision is on: (master, state)."""
        if self.multi_precision and _is_half(weight):
            master = weight.astype("float32")
            return (master, self.create_state(index, master))
        if _is_half(weight):
            _warn_half()
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update `weight` in place from `grad` and `state`."""
        raise NotImplementedError()

    def update_multi_precision(self, index, weight, grad, state):
        """update, through the float32 master copy for float16 weights when multi_precision
        is on (the master is updated, then cast into the weight)."""
        if self.multi_precision and _is_half(weight):
            master, inner = state
            self.update(index, master, grad.astype("float32"), inner)
            invoke("Cast", [master], {"dtype": weight._dt.name}, out=weight)
        else:
            self.update(index, weight, grad, state)

    def __getstate__(self):
        ret = self.__dict__.copy()
        del ret["param_dict"]  # gluon Parameters are set again by their Trainer
        return ret

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}

    def _zeros(self, weight):
        return zeros(weight.shape, weight.context, dtype=weight._dt)


register = Optimizer.register
create = Optimizer.create_optimizer


class _SGDFamily(Optimizer):
    """SGD-like rules with optional momentum and a fused float16 master-weight path."""

    _mom_rule = "sgd_mom"

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return self._zeros(weight) if self.momentum != 0.0 else None

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and _is_half(weight):
            master = weight.astype("float32")
            return (self.create_state(index, master), master)
        if _is_half(weight):
            _warn_half()
        return self.create_state(index, weight)

    def _update_impl(self, index, weight, grad, state, multi_precision=False):
        self._update_count(index)
        scalars = (self._get_lr(index), self._get_wd(index), self.rescale_grad, self._clip())
        momentum = (self.momentum,)
        if not multi_precision:
            if state is not None:
                fused_update(self._mom_rule, weight, grad, [state], scalars + momentum)
            else:
                fused_update("sgd", weight, grad, [], scalars)
        else:
            mom, master = state
            if mom is not None:
                fused_update("mp_" + self._mom_rule, weight, grad, [mom, master],
                             scalars + momentum, state_dtype="float32")
            else:
                fused_update("mp_sgd", weight, grad, [master], scalars, state_dtype="float32")

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state)

    def update_multi_precision(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state,
                          multi_precision=self.multi_precision and _is_half(weight))


@register
class SGD(_SGDFamily):
    """SGD with momentum and weight decay::

        mom = momentum * mom - lr * (rescale_grad * clip(grad) + wd * weight)
        weight = weight + mom

    (without momentum: weight -= lr * (rescale_grad * clip(grad) + wd * weight)); the
    gradient is clipped after rescaling, the decay term is not clipped.

    Parameters
    ----------
    momentum : float, default 0.0
    lazy_update : bool, default True
        Only affects row_sparse gradients in MXNet; accepted and ignored (dense arrays).
    multi_precision : bool, default False
        float16 weights keep a float32 master copy (and float32 momentum), updated by one
        fused kernel that also writes the float16 weight.
    """

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.lazy_update = lazy_update


@register
class ccSGD(SGD):  # noqa: N801 (MXNet's name)
    """[DEPRECATED] Same as `SGD`."""


@register
class NAG(_SGDFamily):
    """Nesterov accelerated SGD::

        grad = rescale_grad * clip(grad) + wd * weight
        mom = momentum * mom + grad
        weight = weight - lr * (grad + momentum * mom)

    Parameters
    ----------
    momentum : float, default 0.0
    multi_precision : bool, default False
    """

    _mom_rule = "nag_mom"


@register
class Signum(Optimizer):
    """signSGD / Signum: steps by the sign of the gradient or of its momentum::

        mom = momentum * mom - (1 - momentum) * (rescale_grad * clip(grad) + wd * weight)
        weight = (1 - lr * wd_lh) * weight + lr * sign(mom)

    Without momentum: weight = (1 - lr * wd) * weight - lr * sign(grad).

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float, default 0.9
    wd_lh : float, default 0.0
        Decoupled weight decay (Loshchilov & Hutter).
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        return self._zeros(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        if state is not None:
            fused_update("signum", weight, grad, [state],
                         (lr, wd, self.rescale_grad, self._clip(), self.momentum, self.wd_lh))
        else:
            fused_update("signsgd", weight, grad, [], (lr, wd))


@register
class Adam(Optimizer):
    """Adam (Kingma & Ba)::

        grad = clip(rescale_grad * grad + wd * weight)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad ** 2
        weight -= lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (sqrt(v) + epsilon)

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta1, beta2 : float, default 0.9, 0.999
    epsilon : float, default 1e-8
    lazy_update : bool, default True
        Accepted and ignored (dense arrays).
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (self._zeros(weight), self._zeros(weight))  # mean, variance

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        fused_update("adam", weight, grad, list(state),
                     (lr, wd, self.rescale_grad, self._clip(), self.beta1, self.beta2,
                      self.epsilon))


@register
class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), through MXNet's contrib
    adamw_update with lr = 1 and eta = the bias-corrected learning rate::

        grad = clip(rescale_grad * grad)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad ** 2
        eta = learning_rate * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)   (correct_bias)
        weight -= eta * (m / (sqrt(v) + epsilon) + wd * weight)

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta1, beta2 : float, default 0.9, 0.999
    epsilon : float, default 1e-6
    correct_bias : bool, default True
        False leaves eta = learning_rate (as BERT's reference implementation).
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 correct_bias=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.correct_bias = correct_bias

    def create_state(self, index, weight):
        return (self._zeros(weight), self._zeros(weight))  # mean, variance

    def update(self, index, weight, grad, state):
        self._update_count(index)
        eta, wd = self._get_lr(index), self._get_wd(index)
        if self.correct_bias:
            t = self._index_update_count[index]
            eta *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        fused_update("adamw", weight, grad, list(state),
                     (1.0, wd, self.rescale_grad, self._clip(), self.beta1, self.beta2,
                      self.epsilon, eta))


@register
class RMSProp(Optimizer):
    """RMSProp: Tieleman & Hinton's (centered=False)::

        grad = clip(rescale_grad * grad + wd * weight)
        n = (1 - gamma1) * grad ** 2 + gamma1 * n
        weight -= lr * grad / sqrt(n + epsilon)

    or Graves' centered form (centered=True)::

        n = (1 - gamma1) * grad ** 2 + gamma1 * n
        g = (1 - gamma1) * grad + gamma1 * g
        delta = gamma2 * delta - lr * grad / sqrt(n - g ** 2 + epsilon)
        weight += delta

    then weights are clipped to ``[-clip_weights, clip_weights]`` when clip_weights is set.

    Parameters
    ----------
    learning_rate : float, default 0.001
    gamma1 : float, default 0.9
    gamma2 : float, default 0.9
        Momentum factor of the centered form.
    epsilon : float, default 1e-8
    centered : bool, default False
    clip_weights : float, optional
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        count = 3 if self.centered else 1  # n (and g, delta)
        return tuple(self._zeros(weight) for _ in range(count))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        scalars = (self._get_lr(index), self._get_wd(index), self.rescale_grad, self._clip())
        clip_weights = float(self.clip_weights) if self.clip_weights else -1.0
        if self.centered:
            fused_update("rmspropalex", weight, grad, list(state),
                         scalars + (self.gamma1, self.gamma2, self.epsilon, clip_weights))
        else:
            fused_update("rmsprop", weight, grad, list(state),
                         scalars + (self.gamma1, self.epsilon, clip_weights))


@register
class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al.)::

        grad = clip(rescale_grad * grad)
        history += grad ** 2
        weight -= lr * (grad / sqrt(history + eps) + wd * weight)

    Parameters
    ----------
    eps : float, default 1e-7
    """

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return self._zeros(weight)  # history

    def update(self, index, weight, grad, state):
        self._update_count(index)
        fused_update("adagrad", weight, grad, [state],
                     (self._get_lr(index), self._get_wd(index), self.rescale_grad,
                      self._clip(), self.float_stable_eps))


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler); uses no learning rate::

        grad = clip(rescale_grad * grad)
        acc_g = rho * acc_g + (1 - rho) * grad ** 2
        delta = sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * grad
        acc_delta = rho * acc_delta + (1 - rho) * delta ** 2
        weight -= delta + wd * weight

    Parameters
    ----------
    rho : float, default 0.9
    epsilon : float, default 1e-5
    """

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (self._zeros(weight), self._zeros(weight))  # accumulated g, delta

    def update(self, index, weight, grad, state):
        wd = self._get_wd(index)
        self._update_count(index)
        fused_update("adadelta", weight, grad, list(state),
                     (wd, self.rescale_grad, self._clip(), self.rho, self.epsilon))


@register
class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al.)::

        grad = clip(rescale_grad * grad)
        z += grad - (sqrt(n + grad ** 2) - sqrt(n)) * weight / lr
        n += grad ** 2
        weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1)

    Parameters
    ----------
    lamda1 : float, default 0.01
        L1 regularization coefficient.
    learning_rate : float, default 0.1
    beta : float, default 1
    """

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lamda1 = lamda1
        self.beta = beta

    def create_state(self, index, weight):
        return (self._zeros(weight), self._zeros(weight))  # z, n

    def update(self, index, weight, grad, state):
        self._update_count(index)
        fused_update("ftrl", weight, grad, list(state),
                     (self._get_lr(index), self._get_wd(index), self.rescale_grad,
                      self._clip(), self.lamda1, self.beta))


class Updater:
    """Applies an optimizer by parameter index, creating each index's state on first use
    (MXNet's KVStore / Module updater): ``updater(index, grad, weight)``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        if isinstance(index, (list, tuple)):
            for i, g, w in zip(index, grad, weight):
                self(i, g, w)
            return
        if isinstance(index, bytes):
            index = index.decode()
        # update counts are kept per device, as MXNet's
        self.optimizer._set_current_context(weight.context.device_id)
        if index not in self.states:
            self.states[index] = self.optimizer.create_state_multi_precision(index, weight)
            self.states_synced[index] = True
        elif not self.states_synced[index]:
            self.states[index] = self.sync_state_context(self.states[index], weight.context)
            self.states_synced[index] = True
        self.optimizer.update_multi_precision(index, weight, grad, self.states[index])

    def sync_state_context(self, state, context):
        """`state` (NDArrays, possibly nested in tuples/lists) moved to `context`."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Restore states from `get_states` bytes (and the optimizer, when it was dumped)."""
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """The states pickled (with the optimizer when `dump_optimizer`)."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """The Updater applying `optimizer` (MXNet's closure for KVStore)."""
    return Updater(optimizer)
