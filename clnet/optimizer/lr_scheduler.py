"""Learning-rate schedules (`mx.lr_scheduler`), as MXNet 1.x: callables of the number of
updates (`num_update`, the largest update count of any weight, starting at 1 for the first
update) returning the learning rate, with an optional linear or constant warmup.

Optimizers call them (`Optimizer.learning_rate`, `_get_lr`); nothing here touches a device.
"""
from __future__ import annotations

import logging
from math import cos, pi

from ..base import MXNetError

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler",
           "CosineScheduler"]


class LRScheduler:
    """Base class of learning-rate schedules.

    Parameters
    ----------
    base_lr : float, default 0.01
        The learning rate after warmup (optimizers given a learning_rate overwrite it).
    warmup_steps : int, default 0
        Updates spent warming up before the schedule starts.
    warmup_begin_lr : float, default 0
        The learning rate the warmup starts from.
    warmup_mode : {'linear', 'constant'}
        'linear' rises by equal steps from warmup_begin_lr to base_lr; 'constant' keeps
        warmup_begin_lr during the warmup.
    """

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise MXNetError(f"{type(self).__name__}: warmup_steps={warmup_steps!r} must be an "
                             "integer >= 0")
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise MXNetError(f"{type(self).__name__}: base_lr={base_lr} has to be higher than "
                             f"warmup_begin_lr={warmup_begin_lr}")
        if warmup_mode not in ("linear", "constant"):
            raise MXNetError(f"{type(self).__name__}: warmup_mode={warmup_mode!r}; supports only "
                             "'linear' and 'constant'")
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """The learning rate at update `num_update` < warmup_steps."""
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        increase = (self.warmup_final_lr - self.warmup_begin_lr) \
            * float(num_update) / float(self.warmup_steps)
        return self.warmup_begin_lr + increase

    def __call__(self, num_update):
        """The learning rate after `num_update` updates (the largest count of any weight)."""
        raise NotImplementedError("must override this")


class FactorScheduler(LRScheduler):
    """Multiply the learning rate by `factor` every `step` updates::

        base_lr * factor ** floor((num_update - 1) / step)

    never going below `stop_factor_lr`.

    Parameters
    ----------
    step : int
        Updates between changes (>= 1).
    factor : float, default 1
        Multiplier (<= 1).
    stop_factor_lr : float, default 1e-8
        The learning rate stops decreasing at this value.
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in `LRScheduler`.
    """

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise MXNetError(f"FactorScheduler: step={step}; the schedule step must be >= 1")
        if factor > 1.0:
            raise MXNetError(f"FactorScheduler: factor={factor} must be no more than 1 to make "
                             "lr reduce")
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # a while loop, not an if: training resumed at a later update catches up at once
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info("Update[%d]: now learning rate arrived at %0.5e, will not change "
                             "in the future", num_update, self.base_lr)
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update,
                             self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the learning rate by `factor` after each of the updates in `step`: with
    step[k] < num_update <= step[k + 1] the rate is base_lr * factor ** (k + 1).

    Parameters
    ----------
    step : list of int
        Increasing update counts (>= 1).
    factor : float, default 1
        Multiplier (<= 1).
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in `LRScheduler`.
    """

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or not step:
            raise MXNetError(f"MultiFactorScheduler: step must be a non-empty list of update "
                             f"counts, got {step!r}")
        for i, s in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise MXNetError(f"MultiFactorScheduler: step={step} must be an increasing "
                                 "integer list")
            if s < 1:
                raise MXNetError(f"MultiFactorScheduler: step={step}; every step must be >= 1")
        if factor > 1.0:
            raise MXNetError(f"MultiFactorScheduler: factor={factor} must be no more than 1 to "
                             "make lr reduce")
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind <= len(self.step) - 1:
            if num_update > self.step[self.cur_step_ind]:
                self.count = self.step[self.cur_step_ind]
                self.cur_step_ind += 1
                self.base_lr *= self.factor
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update,
                             self.base_lr)
            else:
                return self.base_lr
        return self.base_lr


class _DecayToFinal(LRScheduler):
    """Shared by Poly and Cosine: decay from base_lr to final_lr over the max_update -
    warmup_steps updates after the warmup, then stay."""

    def __init__(self, max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr,
                 warmup_mode):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int) or max_update < 1:
            raise MXNetError(f"{type(self).__name__}: max_update={max_update!r}; the maximum "
                             "number of updates must be a strictly positive integer")
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def _decay(self, fraction):
        """Fraction of (base_lr - final_lr) left after `fraction` of the decay."""
        raise NotImplementedError

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            done = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * self._decay(done)
        return self.base_lr


class PolyScheduler(_DecayToFinal):
    """Polynomial decay after warmup::

        final_lr + (base_lr - final_lr) * (1 - (nup - warmup_steps) / max_steps) ** pwr

    for nup <= max_update, final_lr afterwards (max_steps = max_update - warmup_steps).

    Parameters
    ----------
    max_update : int
        Update at which the decay reaches final_lr.
    base_lr : float, default 0.01
    pwr : float, default 2
    final_lr : float, default 0
    warmup_steps, warmup_begin_lr, warmup_mode
        As in `LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr,
                         warmup_mode)
        self.power = pwr

    def _decay(self, fraction):
        return pow(1 - fraction, self.power)


class CosineScheduler(_DecayToFinal):
    """Cosine decay after warmup::

        final_lr + (base_lr - final_lr) * (1 + cos(pi * (nup - warmup_steps) / max_steps)) / 2

    for nup <= max_update, final_lr afterwards (max_steps = max_update - warmup_steps).

    Parameters
    ----------
    max_update : int
        Update at which the decay reaches final_lr.
    base_lr : float, default 0.01
    final_lr : float, default 0
    warmup_steps, warmup_begin_lr, warmup_mode
        As in `LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr,
                         warmup_mode)

    def _decay(self, fraction):
        return (1 + cos(pi * fraction)) / 2
