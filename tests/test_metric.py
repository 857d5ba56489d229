"""Evaluation metrics against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

import clnet as mx
from clnet import metric
from clnet.base import MXNetError


def nd(x):
    return mx.nd.array(np.asarray(x, dtype=np.float32))


def test_accuracy(ctx):
    m = metric.Accuracy()
    preds = nd([[0.3, 0.7, 0.0], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    m.update([nd([1, 0, 1, 1])], [preds])
    assert m.get() == ("accuracy", 0.5)
    m.update(nd([2, 2]), nd([2, 0]))  # class predictions with the labels' shape; single arrays
    assert m.get() == ("accuracy", pytest.approx(3 / 6))
    assert m.num_inst == 6
    m.reset_local()
    assert math.isnan(m.get()[1])
    assert m.get_global() == ("accuracy", pytest.approx(0.5))
    m.reset()
    assert math.isnan(m.get_global()[1])
    # axis picks the class dimension
    m = metric.Accuracy(axis=0)
    m.update([nd([0, 1])], [nd([[0.9, 0.1], [0.1, 0.9]]).T])
    assert m.get()[1] == 1.0
    with pytest.raises(MXNetError, match="does not match"):
        metric.Accuracy().update([nd([1, 0])], [nd([1, 0]), nd([0, 1])])


def test_top_k_accuracy(ctx):
    m = metric.TopKAccuracy(top_k=2)
    assert m.name == "top_k_accuracy_2"
    preds = nd([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7]])
    m.update([nd([2, 2, 0, 2])], [preds])  # top-2: {1,2} {0,1} {2,1} {2,1}
    assert m.get()[1] == pytest.approx(2 / 4)
    m = metric.TopKAccuracy(top_k=5)  # more than the classes: every label is in
    m.update([nd([0, 1])], [nd([[0.1, 0.9], [0.8, 0.2]])])
    assert m.get()[1] == 1.0
    with pytest.raises(MXNetError, match="top_k"):
        metric.TopKAccuracy(top_k=1)


# two batches of a binary classifier: predicted classes are the argmax
LABELS = [[1, 0, 1, 1, 0], [0, 1, 0]]
PRED_CLASSES = [[1, 1, 0, 1, 0], [0, 1, 1]]


def _binary_batches():
    out = []
    for label, cls in zip(LABELS, PRED_CLASSES):
        scores = np.array([[0.7, 0.3] if c == 0 else [0.2, 0.8] for c in cls])
        out.append((nd(label), nd(scores)))
    return out


def _counts(labels, classes):
    lab, cls = np.array(labels), np.array(classes)
    return (int(((cls == 1) & (lab == 1)).sum()), int(((cls == 1) & (lab == 0)).sum()),
            int(((cls == 0) & (lab == 1)).sum()), int(((cls == 0) & (lab == 0)).sum()))


def _f1(tp, fp, fn, tn):
    p, r = tp / (tp + fp), tp / (tp + fn)
    return 2 * p * r / (p + r)


def _mcc(tp, fp, fn, tn):
    return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


def test_f1_and_mcc(ctx):
    per_batch = [_counts(lab, cls) for lab, cls in zip(LABELS, PRED_CLASSES)]
    total = _counts(sum(LABELS, []), sum(PRED_CLASSES, []))
    assert per_batch[0] == (2, 1, 1, 1) and per_batch[1] == (1, 1, 0, 1)
    for klass, score in ((metric.F1, _f1), (metric.MCC, _mcc)):
        macro, micro = klass(), klass(average="micro")
        for label, pred in _binary_batches():
            macro.update([label], [pred])
            micro.update([label], [pred])
        assert macro.get()[1] == pytest.approx(np.mean([score(*c) for c in per_batch]))
        assert micro.get()[1] == pytest.approx(score(*total))
        assert micro.get_global()[1] == pytest.approx(score(*total))
        micro.reset_local()
        assert math.isnan(micro.get()[1])
    assert metric.F1().name == "f1" and metric.MCC().name == "mcc"
    with pytest.raises(MXNetError, match="binary"):
        metric.F1().update([nd([0, 1, 2])], [nd(np.eye(3))])
    with pytest.raises(MXNetError, match="average"):
        metric.F1(average="weighted")


def test_perplexity(ctx):
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1 / 3] * 3])
    labels = np.array([0, 1, 2, 1])
    m = metric.Perplexity(ignore_label=None)
    m.update([nd(labels)], [nd(probs)])
    want = math.exp(-np.mean(np.log(probs[np.arange(4), labels])))
    assert m.get() == ("perplexity", pytest.approx(want))
    m = metric.Perplexity(ignore_label=1)
    m.update([nd(labels)], [nd(probs)])
    assert m.get()[1] == pytest.approx(math.exp(-(np.log(0.5) + np.log(0.6)) / 2))
    # (batch, time, vocab) predictions with (batch, time) labels
    m = metric.Perplexity(ignore_label=None)
    m.update([nd(labels.reshape(2, 2))], [nd(probs.reshape(2, 2, 3))])
    assert m.get()[1] == pytest.approx(want)


def test_regression_metrics(ctx):
    batches = [(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])),
               (np.array([[0.0], [4.0]]), np.array([1.0, 2.0]))]
    expect = {"mae": np.mean([np.mean([0.5, 0, 1]), np.mean([1, 2])]),
              "mse": np.mean([np.mean([0.25, 0, 1]), np.mean([1, 4])]),
              "rmse": np.mean([np.sqrt(np.mean([0.25, 0, 1])), np.sqrt(np.mean([1, 4]))])}
    for name, value in expect.items():
        m = metric.create(name)
        for label, pred in batches:
            m.update([nd(label)], [nd(pred)])
        assert m.get() == (name, pytest.approx(value)), name


def test_cross_entropy_and_nll(ctx):
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    labels = np.array([1, 1, 0])
    want = -np.mean(np.log(probs[np.arange(3), labels] + 1e-12))
    for name, klass, mname in (("ce", metric.CrossEntropy, "cross-entropy"),
                               ("nll_loss", metric.NegativeLogLikelihood, "nll-loss")):
        m = metric.create(name)
        assert isinstance(m, klass)
        m.update([nd(labels)], [nd(probs)])
        assert m.get() == (mname, pytest.approx(want))


def test_pearson_correlation(ctx):
    a_l, a_p = np.random.normal(size=20), np.random.normal(size=20)
    b_l, b_p = np.random.normal(size=30), np.random.normal(size=30)
    b_p = b_p + b_l
    macro, micro = metric.PearsonCorrelation(), metric.PearsonCorrelation(average="micro")
    for m in (macro, micro):
        m.update([nd(a_l)], [nd(a_p)])
        m.update([nd(b_l.reshape(3, 10))], [nd(b_p.reshape(3, 10))])
    want_macro = np.mean([np.corrcoef(a_p, a_l)[0, 1], np.corrcoef(b_p, b_l)[0, 1]])
    want_micro = np.corrcoef(np.concatenate([a_p, b_p]), np.concatenate([a_l, b_l]))[0, 1]
    assert macro.get() == ("pearsonr", pytest.approx(want_macro, rel=1e-5))
    assert micro.get() == ("pearsonr", pytest.approx(want_micro, rel=1e-5))
    assert isinstance(metric.create("pearsonr"), metric.PearsonCorrelation)


def test_loss_metric(ctx):
    m = metric.Loss()
    m.update(None, [nd([1.0, 2.0]), nd([[3.0, 4.0], [5.0, 6.0]])])
    assert m.get() == ("loss", pytest.approx(21 / 6))
    m.update(None, nd([0.0]))
    assert m.num_inst == 7


def test_composite(ctx):
    m = metric.create(["acc", "mse"])
    assert isinstance(m, metric.CompositeEvalMetric)
    label, pred = nd([0, 1]), nd([[0.9, 0.1], [0.2, 0.8]])
    m.update([label], [pred])
    names, values = m.get()
    assert names == ["accuracy", "mse"]
    assert values[0] == 1.0
    assert values[1] == pytest.approx(np.mean((np.array([[0, 1]]).T - [[0.9, 0.1],
                                                                         [0.2, 0.8]]) ** 2))
    assert m.get_name_value()[0] == ("accuracy", 1.0)
    assert isinstance(m.get_metric(1), metric.MSE)
    with pytest.raises(MXNetError, match="out of range"):
        m.get_metric(5)
    m.reset()
    assert all(math.isnan(v) for v in m.get()[1])
    # update_dict with names picks the outputs and labels
    c = metric.CompositeEvalMetric([metric.Accuracy(output_names=["out"],
                                                    label_names=["lab"])])
    c.update_dict({"lab": label, "other": nd([5, 5])}, {"out": pred, "x": nd([0, 0])})
    assert c.get()[1] == [1.0]


def test_custom_metric_and_np(ctx):
    def feval(label, pred):
        return float(np.abs(label - pred).sum())

    m = metric.CustomMetric(feval)
    assert m.name == "feval"
    m.update([nd([1, 2])], [nd([1.5, 2.5])])
    m.update([nd([0])], [nd([2])])
    assert m.get() == ("feval", pytest.approx((1.0 + 2.0) / 2))
    lam = metric.create(lambda label, pred: (float((label == pred).sum()), label.size))
    assert lam.name == "custom(<lambda>)"
    lam.update([nd([1, 2, 3])], [nd([1, 0, 3])])
    assert lam.get()[1] == pytest.approx(2 / 3)
    extra = metric.CustomMetric(lambda label, pred: 1.0, allow_extra_outputs=True)
    extra.update([nd([1])], [nd([1]), nd([2])])
    assert extra.num_inst == 1

    @metric.np
    def my_acc(label, pred):
        return (label == pred.argmax(axis=1)).mean()

    assert isinstance(my_acc, metric.CustomMetric) and my_acc.name == "my_acc"
    my_acc.update([nd([1, 0])], [nd([[0, 1], [0, 1]])])
    assert my_acc.get()[1] == 0.5
    with pytest.raises(NotImplementedError):
        my_acc.get_config()


def test_create_and_register():
    assert isinstance(metric.create("acc"), metric.Accuracy)
    assert isinstance(metric.create("accuracy"), metric.Accuracy)
    top = metric.create("top_k_acc", top_k=3)
    assert isinstance(top, metric.TopKAccuracy) and top.top_k == 3
    existing = metric.MAE()
    assert metric.create(existing) is existing
    assert metric.create("f1", average="micro").average == "micro"
    config = metric.Accuracy(axis=2).get_config()
    assert config["metric"] == "Accuracy" and config["axis"] == 2
    assert isinstance(metric.create(config["metric"], axis=config["axis"]), metric.Accuracy)
    with pytest.raises(MXNetError, match="not registered"):
        metric.create("no_such_metric")

    @metric.register
    @metric.alias("half_acc")
    class HalfAccuracy(metric.Accuracy):
        def get(self):
            return (self.name, super().get()[1] / 2)

    assert isinstance(metric.create("half_acc"), HalfAccuracy)
