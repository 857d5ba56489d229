"""mx.callback: Speedometer, do_checkpoint, module_checkpoint, log_train_metric, the progress
bars and LogValidationMetricsCallback, with a stand-in metric and a fake clock."""
from __future__ import annotations

import io
import logging
import sys
import types

import pytest

from clnet import callback
from clnet.callback import BatchEndParam


class Metric:
    """Stands in for an EvalMetric: fixed values; counts its resets."""

    def __init__(self, pairs=(("accuracy", 0.5),)):
        self.pairs = list(pairs)
        self.local_resets = 0

    def get_name_value(self):
        return self.pairs

    def reset_local(self):
        self.local_resets += 1


@pytest.fixture
def clock(monkeypatch):
    """callback.time.time() returns clock.now."""
    fake = types.SimpleNamespace(now=100.0)
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=lambda: fake.now))
    return fake


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_batch_end_param():
    p = BatchEndParam(epoch=1, nbatch=2, eval_metric=None, locals={})
    assert type(p).__name__ == "BatchEndParams" and p._fields == ("epoch", "nbatch",
                                                                  "eval_metric", "locals")
    assert (p.epoch, p.nbatch) == (1, 2)


def test_speedometer_auto_reset(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = Metric([("accuracy", 0.5), ("ce", 1.25)])
    speed = callback.Speedometer(batch_size=32, frequent=50)
    for nbatch in range(101):
        clock.now += 0.1
        speed(BatchEndParam(epoch=3, nbatch=nbatch, eval_metric=metric, locals=None))
    # 50 batches of 32 in 5 s: 320 samples/s
    assert messages(caplog) == [
        "Epoch[3] Batch [0-50]\tSpeed: 320.00 samples/sec\taccuracy=0.500000\tce=1.250000",
        "Epoch[3] Batch [50-100]\tSpeed: 320.00 samples/sec\taccuracy=0.500000\tce=1.250000"]
    assert metric.local_resets == 2
    assert all(r.levelno == logging.INFO for r in caplog.records)
    caplog.clear()
    # a new epoch (nbatch back to 0) restarts the clock instead of logging
    for nbatch in range(51):
        clock.now += 0.2
        speed(BatchEndParam(epoch=4, nbatch=nbatch, eval_metric=metric, locals=None))
    assert messages(caplog) == [
        "Epoch[4] Batch [0-50]\tSpeed: 160.00 samples/sec\taccuracy=0.500000\tce=1.250000"]


def test_speedometer_without_reset_or_metric(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = Metric()
    speed = callback.Speedometer(10, frequent=2, auto_reset=False)
    for nbatch in range(5):
        clock.now += 0.5
        speed(BatchEndParam(0, nbatch, metric, None))
    assert messages(caplog) == [
        "Epoch[0] Batch [0-2]\tSpeed: 20.00 samples/sec\taccuracy=0.500000",
        "Epoch[0] Batch [0-4]\tSpeed: 20.00 samples/sec\taccuracy=0.500000"]
    assert metric.local_resets == 0
    caplog.clear()
    bare = callback.Speedometer(10, frequent=2)
    for nbatch in range(3):
        clock.now += 1.0
        bare(BatchEndParam(2, nbatch, None, None))
    assert messages(caplog) == ["Iter[2] Batch [2]\tSpeed: 10.00 samples/sec"]
    caplog.clear()
    frozen = callback.Speedometer(10, frequent=1)  # no time passes: MXNet logs inf
    frozen(BatchEndParam(0, 0, None, None))
    frozen(BatchEndParam(0, 1, None, None))
    assert messages(caplog) == ["Iter[0] Batch [1]\tSpeed: inf samples/sec"]


def test_speedometer_falls_back_to_reset(caplog, clock):
    class Plain:
        resets = 0

        def get_name_value(self):
            return [("mse", 2.0)]

        def reset(self):
            self.resets += 1

    caplog.set_level(logging.INFO)
    metric = Plain()
    speed = callback.Speedometer(1, frequent=1)
    for nbatch in range(3):
        clock.now += 1
        speed(BatchEndParam(0, nbatch, metric, None))
    assert metric.resets == 2 and len(caplog.records) == 2


@pytest.fixture
def saved(monkeypatch):
    """Replace clnet.model (written elsewhere) with a module whose save_checkpoint records."""
    calls = []
    fake = types.ModuleType("clnet.model")
    fake.save_checkpoint = lambda *args: calls.append(args)
    monkeypatch.setitem(sys.modules, "clnet.model", fake)
    return calls


def test_do_checkpoint(saved):
    sym, arg, aux = object(), {"w": 1}, {"m": 2}
    every = callback.do_checkpoint("/tmp/model")
    for epoch in range(2):
        every(epoch, sym, arg, aux)
    assert saved == [("/tmp/model", 1, sym, arg, aux), ("/tmp/model", 2, sym, arg, aux)]
    saved.clear()
    second = callback.do_checkpoint("pre", period=2)
    for epoch in range(5):
        second(epoch, sym, arg, aux)
    assert [c[1] for c in saved] == [2, 4]
    saved.clear()
    callback.do_checkpoint("pre", period=0)(0, sym, arg, aux)  # period < 1 means every epoch
    assert [c[1] for c in saved] == [1]


def test_module_checkpoint():
    class Mod:
        def __init__(self):
            self.calls = []

        def save_checkpoint(self, prefix, epoch, save_optimizer_states):
            self.calls.append((prefix, epoch, save_optimizer_states))

    mod = Mod()
    cb = callback.module_checkpoint(mod, "run", period=3, save_optimizer_states=True)
    for epoch in range(6):
        cb(epoch)
    assert mod.calls == [("run", 3, True), ("run", 6, True)]


def test_log_train_metric(caplog):
    caplog.set_level(logging.INFO)
    metric = Metric([("accuracy", 0.25), ("ce", 0.5)])
    cb = callback.log_train_metric(period=2)
    for nbatch in range(4):
        cb(BatchEndParam(1, nbatch, metric, None))
    cb(BatchEndParam(1, 4, None, None))
    assert messages(caplog) == [
        "Iter[1] Batch[0] Train-accuracy=0.250000", "Iter[1] Batch[0] Train-ce=0.500000",
        "Iter[1] Batch[2] Train-accuracy=0.250000", "Iter[1] Batch[2] Train-ce=0.500000"]
    assert metric.local_resets == 0
    resetting = callback.log_train_metric(period=1, auto_reset=True)
    resetting(BatchEndParam(0, 0, metric, None))
    assert metric.local_resets == 1


def test_progress_bar(caplog):
    caplog.set_level(logging.INFO)
    bar = callback.ProgressBar(total=4, length=8)
    bar(BatchEndParam(0, 2, None, None))
    bar(BatchEndParam(0, 3, None, None))
    assert messages(caplog) == ["[====----] 50%\r", "[======--] 75%\r"]


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_terminal_progress_bar(capsys):
    tty = Stream(True)
    bar = callback.TerminalProgressBar(total=4, length=8, stream=tty)
    for nbatch in range(4):
        bar(BatchEndParam(1, nbatch, None, None))
    assert tty.getvalue() == ("\rEpoch[1] [==------] 25%\rEpoch[1] [====----] 50%"
                              "\rEpoch[1] [======--] 75%\rEpoch[1] [========] 100%\n")
    piped = Stream(False)
    callback.TerminalProgressBar(4, stream=piped)(BatchEndParam(0, 0, None, None))
    assert piped.getvalue() == ""
    callback.TerminalProgressBar(4)(BatchEndParam(0, 0, None, None))  # stderr is captured
    assert capsys.readouterr().err == ""


def test_log_validation_metrics(caplog):
    caplog.set_level(logging.INFO)
    cb = callback.LogValidationMetricsCallback()
    cb(BatchEndParam(2, 0, Metric([("accuracy", 0.75)]), None))
    cb(BatchEndParam(2, 0, None, None))
    assert messages(caplog) == ["Epoch[2] Validation-accuracy=0.750000"]
