"""Training callbacks, as in MXNet 1.x's `mx.callback`, and the BatchEndParam they receive.

Owns the callbacks Module.fit calls: after each batch (Speedometer, ProgressBar,
TerminalProgressBar, log_train_metric), after each epoch (do_checkpoint, module_checkpoint)
and after scoring (LogValidationMetricsCallback). Writing checkpoints is clnet.model's job;
computing metrics is the metric module's.

Messages go through `logging` with MXNet's formats, so `logging.basicConfig(level=logging.INFO)`
shows them as MXNet's do.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from collections import namedtuple

__all__ = ["BatchEndParam", "module_checkpoint", "do_checkpoint", "log_train_metric",
           "Speedometer", "ProgressBar", "TerminalProgressBar", "LogValidationMetricsCallback"]

_log = logging.getLogger(__name__)

BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])
BatchEndParam.__doc__ = """What a batch-end callback receives: the epoch, the batch number in
the epoch, the training metric (or None) and the caller's locals()."""


def _reset_local(metric):
    # MXNet 1.x metrics keep global and local (since last log) statistics
    reset = getattr(metric, "reset_local", None) or metric.reset
    reset()


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """Epoch-end callback: `mod.save_checkpoint(prefix, epoch + 1, save_optimizer_states)`
    every `period` epochs."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def do_checkpoint(prefix, period=1):
    """Epoch-end callback that saves `<prefix>-symbol.json` and `<prefix>-<epoch>.params`
    (epoch counted from 1) every `period` epochs, through `clnet.model.save_checkpoint`.

    Examples
    --------
    >>> mod.fit(train, num_epoch=2, epoch_end_callback=mx.callback.do_checkpoint('mymodel'))
    """
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            from .model import save_checkpoint  # clnet.model imports this module
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def log_train_metric(period, auto_reset=False):
    """Batch-end callback logging the training metric every `period` batches
    ('Iter[epoch] Batch[n] Train-<name>=<value>'); `auto_reset` restarts the metric after
    each log."""
    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                _log.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name,
                          value)
            if auto_reset:
                _reset_local(param.eval_metric)
    return _callback


class Speedometer:
    """Batch-end callback logging the speed and the training metric every `frequent` batches.

    Parameters
    ----------
    batch_size : int
    frequent : int
        Log every this many batches.
    auto_reset : bool
        Restart the metric after each log, so each line covers the last `frequent` batches.

    Examples
    --------
    >>> mod.fit(train, num_epoch=1, batch_end_callback=mx.callback.Speedometer(64, 50))
    Epoch[0] Batch [0-50]	Speed: 1910.41 samples/sec	accuracy=0.760000
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = frequent
        self.init = False
        self.tic = 0
        self.last_count = 0
        self.auto_reset = auto_reset

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:  # a new epoch
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent != 0:
            return
        try:
            speed = self.frequent * self.batch_size / (time.time() - self.tic)
        except ZeroDivisionError:
            speed = float("inf")
        if param.eval_metric is not None:
            name_value = param.eval_metric.get_name_value()
            values = [x for pair in name_value for x in pair]
            if self.auto_reset:
                _reset_local(param.eval_metric)
                msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec" + "\t%s=%f" * len(
                    name_value)
                _log.info(msg, param.epoch, count - self.frequent, count, speed, *values)
            else:
                msg = "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec" + "\t%s=%f" * len(
                    name_value)
                _log.info(msg, param.epoch, count, speed, *values)
        else:
            _log.info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch, count, speed)
        self.tic = time.time()


def _bar(count, total, length):
    filled = int(round(length * count / float(total)))
    percents = math.ceil(100.0 * count / float(total))
    return "=" * filled + "-" * (length - filled), percents


class ProgressBar:
    """Batch-end callback logging a progress bar of the batches done in the epoch, as MXNet's
    (one log line per batch; see TerminalProgressBar for one redrawn line).

    Parameters
    ----------
    total : int
        Batches per epoch.
    length : int
        Width of the bar in characters.
    """

    def __init__(self, total, length=80):
        self.bar_len = length
        self.total = total

    def __call__(self, param):
        prog_bar, percents = _bar(param.nbatch, self.total, self.bar_len)
        _log.info("[%s] %s%s\r", prog_bar, percents, "%")


class TerminalProgressBar:
    """Batch-end callback drawing a progress bar on one terminal line, redrawn in place.

    Draws only when `stream` (default: sys.stderr, looked up at each call) is a terminal, so
    logs and CI output stay clean. Batch numbers count from 0, as Module.fit passes them; the
    line ends when the epoch's last batch is drawn.

    Parameters
    ----------
    total : int
        Batches per epoch.
    length : int
        Width of the bar in characters.
    stream : file, optional
        Where to draw.
    """

    def __init__(self, total, length=80, stream=None):
        self.total = total
        self.bar_len = length
        self.stream = stream

    def __call__(self, param):
        stream = self.stream if self.stream is not None else sys.stderr
        isatty = getattr(stream, "isatty", None)
        if isatty is None or not isatty():
            return
        done = min(param.nbatch + 1, self.total)
        prog_bar, percents = _bar(done, self.total, self.bar_len)
        end = "\n" if done >= self.total else ""
        stream.write(f"\rEpoch[{param.epoch}] [{prog_bar}] {percents}%{end}")
        stream.flush()


class LogValidationMetricsCallback:
    """Score-end callback logging each validation metric ('Epoch[n] Validation-<name>=...')."""

    def __call__(self, param):
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            _log.info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)
