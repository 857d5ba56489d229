"""Train a digit classifier with NDArray operations and hand-written gradients.

Data: the 8x8 handwritten digits that ship with clnet (`clnet.data.load_digits`, 1797
images), split 80/20 into train and test sets. Model: one hidden ReLU layer and a softmax
output (`--hidden 0` gives plain softmax regression). The forward pass, the cross-entropy
loss and every gradient are written with `mx.nd` operations (dot, broadcasting, exp, log,
sum, max), so the whole step runs on the OpenCL device; the host reads numbers back once per
epoch.

    python examples/digits_imperative.py --epochs 10 --ctx cpu
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import clnet as mx
from clnet.data import load_digits

CLASSES = 10


def parse_ctx(text: str) -> mx.Context:
    """'cpu', 'gpu', 'cpu:1' or 'gpu:0' -> a Context."""
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
        raise argparse.ArgumentTypeError(f"--ctx must look like cpu, gpu, cpu:1 or gpu:0, "
                                         f"got {text!r}")
    return mx.Context(kind, int(index or 0))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the train set")
    parser.add_argument("--ctx", type=parse_ctx, default=mx.cpu(), help="cpu, gpu or gpu:i")
    parser.add_argument("--lr", type=float, default=0.2, help="SGD learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64,
                        help="hidden units (0: softmax regression, no hidden layer)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def split(seed: int):
    """Shuffled 80/20 train/test split of the shipped digits (host arrays)."""
    images, labels = load_digits()
    order = np.random.RandomState(seed).permutation(len(labels))
    cut = int(0.8 * len(labels))
    train, test = order[:cut], order[cut:]
    return images[train], labels[train], images[test], labels[test]


class Model:
    """Weights on the device, with forward and backward passes made of NDArray ops."""

    def __init__(self, hidden: int, rng: np.random.RandomState, ctx: mx.Context):
        sizes = [64] + ([hidden] if hidden else []) + [CLASSES]
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            scale = np.sqrt(2.0 / fan_in) if hidden else 0.0  # He init; zeros suit a linear model
            self.weights.append(mx.nd.array(rng.randn(fan_in, fan_out) * scale, ctx=ctx,
                                            dtype="float32"))
            self.biases.append(mx.nd.zeros((1, fan_out), ctx=ctx))

    def forward(self, x):
        """Logits, plus the activations the backward pass needs."""
        acts = [x]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = mx.nd.dot(acts[-1], w) + b
            acts.append(mx.nd.relu(z) if i < len(self.weights) - 1 else z)
        return acts[-1], acts[:-1]

    def step(self, x, onehot, lr: float):
        """One SGD step on a batch; returns the batch's summed loss (on the device)."""
        logits, acts = self.forward(x)
        shifted = logits - mx.nd.max(logits, axis=1, keepdims=True)
        log_prob = shifted - mx.nd.log(mx.nd.sum(mx.nd.exp(shifted), axis=1, keepdims=True))
        loss = -mx.nd.sum(log_prob * onehot)
        # d(mean cross-entropy)/d(logits) = (softmax - onehot) / batch
        grad = (mx.nd.exp(log_prob) - onehot) / x.shape[0]
        for i in reversed(range(len(self.weights))):
            w, a = self.weights[i], acts[i]
            grad_w = mx.nd.dot(a, grad, transpose_a=True)
            grad_b = mx.nd.sum(grad, axis=0, keepdims=True)
            if i > 0:  # through the ReLU below: its output is positive where it passed
                grad = mx.nd.dot(grad, w, transpose_b=True) * (a > 0)
            w -= lr * grad_w
            self.biases[i] -= lr * grad_b
        return loss

    def accuracy(self, x, labels) -> float:
        logits, _ = self.forward(x)
        hits = mx.nd.sum(mx.nd.argmax(logits, axis=1) == labels)
        return float(hits.asscalar()) / x.shape[0]


def main(argv=None) -> float:
    args = parse_args(argv)
    ctx = args.ctx
    x_train, y_train, x_test, y_test = split(args.seed)
    rng = np.random.RandomState(args.seed)
    with ctx:
        x_tr = mx.nd.array(x_train)
        y_tr = mx.nd.array(y_train, dtype="float32")
        onehot_tr = mx.nd.one_hot(y_tr, CLASSES)
        x_te = mx.nd.array(x_test)
        y_te = mx.nd.array(y_test, dtype="float32")
        model = Model(args.hidden, rng, ctx)
        starts = np.arange(0, len(y_train), args.batch_size)
        kind = f"{args.hidden} hidden units" if args.hidden else "softmax regression"
        print(f"{len(y_train)} train / {len(y_test)} test digits on {ctx}, {kind}, "
              f"batch {args.batch_size}, lr {args.lr}")
        test_acc = 0.0
        for epoch in range(args.epochs):
            tic = time.perf_counter()
            total = mx.nd.zeros((1,))
            for s in rng.permutation(starts):  # batches in a new order each epoch
                stop = s + args.batch_size
                total += model.step(x_tr[s:stop], onehot_tr[s:stop], args.lr)
            loss = float(total.asscalar()) / len(y_train)
            train_acc = model.accuracy(x_tr, y_tr)
            test_acc = model.accuracy(x_te, y_te)
            print(f"epoch {epoch + 1:2d}  loss {loss:.4f}  train acc {train_acc:.4f}  "
                  f"test acc {test_acc:.4f}  ({time.perf_counter() - tic:.2f}s)")
    print(f"test accuracy {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    try:
        main()
    except mx.MXNetError as err:  # e.g. --ctx gpu on a machine without a GPU driver
        raise SystemExit(f"digits_imperative.py: {err}") from None
