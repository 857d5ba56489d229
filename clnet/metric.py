"""Evaluation metrics (`mx.metric`), as MXNet 1.x: `EvalMetric` (update(labels, preds), get,
reset, local and global statistics), Accuracy, TopKAccuracy, F1, MCC, Perplexity, MAE, MSE,
RMSE, CrossEntropy, NegativeLogLikelihood, PearsonCorrelation, Loss, CompositeEvalMetric,
CustomMetric, the `np` decorator and `create` by name, list or callable.

Metrics run on the host: each label and prediction array is copied once (`asnumpy`) and
reduced with numpy, as MXNet's metrics do; numpy arrays are accepted too. The name registry
is `initializer.make_registry`'s.
"""
from __future__ import annotations

import math

import numpy

from .base import MXNetError
from .initializer import make_registry
from .ndarray import NDArray

__all__ = ["EvalMetric", "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC",
           "Perplexity", "MAE", "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood",
           "PearsonCorrelation", "Loss", "Torch", "Caffe", "CustomMetric", "np", "create",
           "register", "alias", "check_label_shapes"]


def _host(x) -> numpy.ndarray:
    """A host copy of an NDArray (one transfer), or `x` as a numpy array."""
    return x.asnumpy() if isinstance(x, NDArray) else numpy.asarray(x)


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Check that labels and preds have the same length (or shape, with `shape=True`);
    `wrap` turns single arrays into lists."""
    if not shape:
        label_shape, pred_shape = len(labels), len(preds)
    else:
        label_shape, pred_shape = labels.shape, preds.shape
    if label_shape != pred_shape:
        raise MXNetError(f"Shape of labels {label_shape} does not match shape of predictions "
                         f"{pred_shape}")
    if wrap:
        if isinstance(labels, (NDArray, numpy.ndarray)):
            labels = [labels]
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
    return labels, preds


class EvalMetric:
    """Base class of evaluation metrics: accumulates `sum_metric` over `num_inst` instances
    (local statistics since the last reset_local, global ones since reset).

    Parameters
    ----------
    name : str
        Name of the metric.
    output_names, label_names : list of str, optional
        Names of the predictions / labels `update_dict` picks (default: all, in order).
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self):
        """The metric's constructor arguments (for `create(**config)`)."""
        config = self._kwargs.copy()
        config.update({"metric": type(self).__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def update_dict(self, label, pred):
        """update() from dicts name -> array (Module's outputs and labels)."""
        if self.output_names is not None:
            pred = [pred[name] for name in self.output_names]
        else:
            pred = list(pred.values())
        if self.label_names is not None:
            label = [label[name] for name in self.label_names]
        else:
            label = list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Accumulate the statistics of one batch: lists (or single arrays) of labels and
        predictions."""
        raise NotImplementedError()

    def reset(self):
        """Clear local and global statistics."""
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self):
        """Clear the local statistics only."""
        self.num_inst = 0
        self.sum_metric = 0.0

    def _add(self, value, count):
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def get(self):
        """(name, value) of the local statistics; value is nan before any update."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self):
        """(name, value) of the global statistics."""
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    @staticmethod
    def _pairs(name, value):
        if not isinstance(name, list):
            name = [name]
        if not isinstance(value, list):
            value = [value]
        return list(zip(name, value))

    def get_name_value(self):
        """[(name, value)] of the local statistics."""
        return self._pairs(*self.get())

    def get_global_name_value(self):
        """[(name, value)] of the global statistics."""
        return self._pairs(*self.get_global())


register, alias, _create = make_registry(EvalMetric, "metric")


def create(metric, *args, **kwargs):
    """A metric from a name ('acc', 'f1', ...), an EvalMetric, a callable
    ``feval(label, pred)`` (a CustomMetric) or a list of those (a CompositeEvalMetric).

    Examples
    --------
    >>> m = mx.metric.create(['acc', 'ce'])
    """
    if callable(metric) and not isinstance(metric, EvalMetric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create(metric, *args, **kwargs)


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; get() returns lists of names and values."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric):
        """Add a child metric (anything `create` accepts)."""
        self.metrics.append(create(metric))

    def get_metric(self, index):
        """The child metric at `index`."""
        try:
            return self.metrics[index]
        except IndexError:
            raise MXNetError(f"Metric index {index} is out of range 0 and "
                             f"{len(self.metrics)}") from None

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = {name: labels[name] for name in self.label_names}
        if self.output_names is not None:
            preds = {name: preds[name] for name in self.output_names}
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, "metrics", []):
            metric.reset()

    def reset_local(self):
        for metric in self.metrics:
            metric.reset_local()

    def _collect(self, getter):
        names, values = [], []
        for metric in self.metrics:
            name, value = getter(metric)
            names += name if isinstance(name, list) else [name]
            values += value if isinstance(value, list) else [value]
        return (names, values)

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def get_config(self):
        config = super().get_config()
        config.update({"metrics": [m.get_config() for m in self.metrics]})
        return config


def _argmax_if_scores(label: numpy.ndarray, pred: numpy.ndarray, axis: int) -> numpy.ndarray:
    """Predicted classes: pred itself when it has label's shape, else its argmax."""
    return pred if pred.shape == label.shape else numpy.argmax(pred, axis=axis)


@register
@alias("acc")
class Accuracy(EvalMetric):
    """Fraction of predictions equal to the labels; scores are turned into classes by argmax
    over `axis` (default 1) when their shape differs from the labels'."""

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _host(label), _host(pred)
            pred_label = _argmax_if_scores(label, pred, self.axis).astype("int32").ravel()
            label = label.astype("int32").ravel()
            check_label_shapes(label, pred_label)
            self._add(int((pred_label == label).sum()), len(pred_label))


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the `top_k` highest scores."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.top_k = top_k
        if self.top_k <= 1:
            raise MXNetError(f"TopKAccuracy: top_k={top_k}; use top_k > 1 (or Accuracy)")
        self.name += f"_{self.top_k}"

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _host(pred).astype("float32")
            if pred.ndim > 2:
                raise MXNetError(f"TopKAccuracy: predictions should be no more than 2 dims, "
                                 f"got shape {pred.shape}")
            label = _host(label).astype("int32")
            check_label_shapes(label, pred)
            num_samples = pred.shape[0]
            if pred.ndim == 1:
                correct = int((pred.astype("int32") == label.ravel()).sum())
            else:
                top_k = min(pred.shape[1], self.top_k)
                # argpartition: the top-k set is all that matters, not its order
                top = numpy.argpartition(pred, -top_k, axis=1)[:, -top_k:]
                correct = int((top == label.reshape(-1, 1)).any(axis=1).sum())
            self._add(correct, num_samples)


class _BinaryClassificationMetrics:
    """True/false positive/negative counts of a binary classifier (local and global)."""

    def __init__(self):
        self.reset_stats()

    def update_binary_stats(self, label, pred):
        pred = _host(pred)
        label = _host(label).astype("int32").ravel()
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise MXNetError(f"{type(self).__name__} currently only supports binary "
                             f"classification; labels hold {numpy.unique(label).tolist()}")
        pred_true = pred_label == 1
        label_true = label == 1
        counts = ((pred_true & label_true).sum(), (pred_true & ~label_true).sum(),
                  (~pred_true & label_true).sum(), (~pred_true & ~label_true).sum())
        for i, c in enumerate(counts):
            self.local[i] += int(c)
            self.global_[i] += int(c)

    @staticmethod
    def _fscore(tp, fp, fn, tn):
        precision = tp / (tp + fp) if tp + fp > 0 else 0.
        recall = tp / (tp + fn) if tp + fn > 0 else 0.
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.

    @staticmethod
    def _mcc(tp, fp, fn, tn):
        if not tp + fp + fn + tn:
            return 0.
        denom = 1.
        for t in (tp + fp, tp + fn, tn + fp, tn + fn):
            if t != 0:
                denom *= t
        return (tp * tn - fp * fn) / math.sqrt(denom)

    @property
    def fscore(self):
        return self._fscore(*self.local)

    @property
    def global_fscore(self):
        return self._fscore(*self.global_)

    def matthewscc(self, use_global=False):
        return self._mcc(*(self.global_ if use_global else self.local))

    @property
    def total_examples(self):
        return sum(self.local)

    @property
    def global_total_examples(self):
        return sum(self.global_)

    def local_reset_stats(self):
        self.local = [0, 0, 0, 0]  # tp, fp, fn, tn

    def reset_stats(self):
        self.local_reset_stats()
        self.global_ = [0, 0, 0, 0]


class _BinaryMetric(EvalMetric):
    """F1 and MCC: 'macro' averages the per-batch scores, 'micro' scores all counts."""

    def __init__(self, name, output_names, label_names, average):
        if average not in ("macro", "micro"):
            raise MXNetError(f"{type(self).__name__}: average={average!r}; use 'macro' or "
                             "'micro'")
        self.average = average
        self.metrics = _BinaryClassificationMetrics()
        super().__init__(name=name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _score(self, use_global):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred)
        if self.average == "macro":
            self.sum_metric += self._score(False)
            self.global_sum_metric += self._score(True)
            self.num_inst += 1
            self.global_num_inst += 1
            self.metrics.reset_stats()
        else:
            self.sum_metric = self._score(False) * self.metrics.total_examples
            self.global_sum_metric = self._score(True) * self.metrics.global_total_examples
            self.num_inst = self.metrics.total_examples
            self.global_num_inst = self.metrics.global_total_examples

    def reset(self):
        super().reset()
        self.metrics.reset_stats()

    def reset_local(self):
        super().reset_local()
        self.metrics.local_reset_stats()


@register
class F1(_BinaryMetric):
    """F1 score of a binary classifier (predictions: per-class scores, argmax is the class;
    class 1 is positive), averaged per batch ('macro') or over all samples ('micro')."""

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.global_fscore if use_global else self.metrics.fscore


@register
class MCC(_BinaryMetric):
    """Matthews correlation coefficient of a binary classifier (as F1's inputs)."""

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.matthewscc(use_global)


@register
class Perplexity(EvalMetric):
    """exp of the mean negative log probability of the labels; labels equal to
    `ignore_label` are left out. Probabilities are along `axis` (default the last) of
    predictions whose other dims hold one sample per label."""

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        loss, num = 0., 0
        for label, pred in zip(labels, preds):
            pred = numpy.moveaxis(_host(pred), self.axis, -1)
            label = _host(label).ravel()
            if label.size * pred.shape[-1] != pred.size:
                raise MXNetError(f"Perplexity: shape mismatch: labels {label.shape} vs. "
                                 f"predictions {pred.shape}")
            prob = numpy.take_along_axis(pred.reshape(label.size, -1),
                                         label.astype("int64").reshape(-1, 1), axis=1).ravel()
            if self.ignore_label is not None:
                keep = label != self.ignore_label
                prob = prob[keep]
            loss -= float(numpy.log(numpy.maximum(1e-10, prob)).sum())
            num += prob.size
        self._add(loss, num)

    def _value(self, total, count):
        return (self.name, math.exp(total / count) if count else float("nan"))

    def get(self):
        return self._value(self.sum_metric, self.num_inst)

    def get_global(self):
        return self._value(self.global_sum_metric, self.global_num_inst)


class _Regression(EvalMetric):
    """Per-batch regression errors, averaged over batches (as MXNet)."""

    def __init__(self, name, output_names, label_names):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    @staticmethod
    def _error(diff):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _host(label), _host(pred)
            if label.ndim == 1:
                label = label.reshape(label.shape[0], 1)
            if pred.ndim == 1:
                pred = pred.reshape(pred.shape[0], 1)
            self._add(float(self._error(label - pred)), 1)


@register
class MAE(_Regression):
    """Mean absolute error."""

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def _error(diff):
        return numpy.abs(diff).mean()


@register
class MSE(_Regression):
    """Mean squared error."""

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def _error(diff):
        return (diff ** 2.0).mean()


@register
class RMSE(_Regression):
    """Root mean squared error (per batch, then averaged)."""

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)

    @staticmethod
    def _error(diff):
        return numpy.sqrt((diff ** 2.0).mean())


class _LabelProbability(EvalMetric):
    """Sum of -log(p[label] + eps) over samples (predictions: (batch, classes))."""

    def __init__(self, eps, name, output_names, label_names):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _host(label).ravel(), _host(pred)
            if label.shape[0] != pred.shape[0]:
                raise MXNetError(f"{type(self).__name__}: {label.shape[0]} labels for "
                                 f"predictions of shape {pred.shape}")
            prob = pred[numpy.arange(label.shape[0]), numpy.int64(label)]
            self._add(float((-numpy.log(prob + self.eps)).sum()), label.shape[0])


@register
@alias("ce")
class CrossEntropy(_LabelProbability):
    """Mean cross entropy of predicted probabilities against class labels."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("nll_loss")
class NegativeLogLikelihood(_LabelProbability):
    """Mean negative log likelihood of the labels under predicted probabilities."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of predictions and labels: averaged per batch ('macro') or over
    every sample seen ('micro', from running means and co-moments)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        if average not in ("macro", "micro"):
            raise MXNetError(f"PearsonCorrelation: average={average!r}; use 'macro' or 'micro'")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def reset(self):
        super().reset()
        # micro statistics: count, means, sums of squared deviations, co-moment
        self._n, self._mean_l, self._mean_p = 0, 0.0, 0.0
        self._m2_l, self._m2_p, self._co = 0.0, 0.0, 0.0

    def _merge(self, label, pred):
        """Chan et al.'s pairwise update of the running moments with one batch."""
        nb = label.size
        mean_l, mean_p = label.mean(), pred.mean()
        dl, dp = label - mean_l, pred - mean_p
        n = self._n + nb
        delta_l, delta_p = mean_l - self._mean_l, mean_p - self._mean_p
        frac = self._n * nb / n
        self._m2_l += float((dl * dl).sum()) + delta_l * delta_l * frac
        self._m2_p += float((dp * dp).sum()) + delta_p * delta_p * frac
        self._co += float((dl * dp).sum()) + delta_l * delta_p * frac
        self._mean_l += delta_l * nb / n
        self._mean_p += delta_p * nb / n
        self._n = n

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label = _host(label).ravel().astype(numpy.float64)
            pred = _host(pred).ravel().astype(numpy.float64)
            check_label_shapes(label, pred, False, True)
            if self.average == "macro":
                self._add(float(numpy.corrcoef(pred, label)[0, 1]), 1)
            else:
                self._merge(label, pred)
                self._add(0.0, 1)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, self.sum_metric / self.num_inst)
        return (self.name, self._co / math.sqrt(self._m2_l * self._m2_p))

    def get_global(self):
        return self.get() if self.average == "micro" else super().get_global()


@register
class Loss(EvalMetric):
    """Mean of the loss values in the predictions (labels are ignored)."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds):
        if isinstance(preds, (NDArray, numpy.ndarray)):
            preds = [preds]
        for pred in preds:
            pred = _host(pred)
            self._add(float(pred.sum()), pred.size)


@register
class Torch(Loss):
    """Dummy metric for torch criterions."""

    def __init__(self, name="torch", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)


@register
class Caffe(Loss):
    """Dummy metric for caffe criterions."""

    def __init__(self, name="caffe", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)


@register
class CustomMetric(EvalMetric):
    """A metric from ``feval(label, pred)`` over numpy arrays, returning a value per batch or
    a (sum_metric, num_inst) tuple.

    Parameters
    ----------
    feval : callable
    name : str, optional
        Default: feval's name (``custom(<lambda>)`` for lambdas).
    allow_extra_outputs : bool, default False
        Allow more predictions than labels (extras are skipped).
    """

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if name is None:
            name = feval.__name__
            if "<" in name:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        else:
            labels = [labels] if isinstance(labels, (NDArray, numpy.ndarray)) else labels
            preds = [preds] if isinstance(preds, (NDArray, numpy.ndarray)) else preds
        for pred, label in zip(preds, labels):
            reval = self._feval(_host(label), _host(pred))
            if isinstance(reval, tuple):
                self._add(*reval)
            else:
                self._add(reval, 1)

    def get_config(self):
        raise NotImplementedError("CustomMetric cannot be serialized")


def np(numpy_feval, name=None, allow_extra_outputs=False):  # pylint: disable=invalid-name
    """A CustomMetric from a function of numpy (label, pred) (MXNet's ``mx.metric.np``)."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
