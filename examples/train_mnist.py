"""Train an MLP or LeNet with Module.fit: on MNIST when IDX files are given, else on the
handwritten digits that ship with clnet (8x8 images, 20% held out with a fixed seed).

    python examples/train_mnist.py --network lenet --epochs 10 --ctx cpu

Logs progress, prints the final validation accuracy, saves a checkpoint, reloads it and
checks that the reloaded model scores the same.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

import clnet as mx


def mlp(num_classes=10):
    data = mx.sym.var("data")
    net = mx.sym.Flatten(data)
    net = mx.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=num_classes, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def lenet(num_classes=10, small=False):
    """LeNet; for the 8x8 digits the 5x5 convolutions are padded so the maps stay 8x8/4x4."""
    pad = (2, 2) if small else (0, 0)
    data = mx.sym.var("data")
    net = mx.sym.Convolution(data, kernel=(5, 5), pad=pad, num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(net, kernel=(5, 5), pad=pad, num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Flatten(net)
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.FullyConnected(net, num_hidden=num_classes, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def parse_ctx(text: str):
    kind, _, ids = text.partition(":")
    ids = [int(i) for i in ids.split(",")] if ids else [0]
    return [mx.Context(kind, i) for i in ids]


def digits_iters(batch_size, image, seed=42, part_index=0, num_parts=1):
    from clnet.data import load_digits
    x, y = load_digits()
    order = np.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order].astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    split = int(len(x) * 0.8)
    # each distributed worker trains on its own equal share of the training rows
    share = split // num_parts
    rows = slice(part_index * share, (part_index + 1) * share)
    train = mx.io.NDArrayIter(x[:split][rows], y[:split][rows], batch_size, shuffle=True)
    val = mx.io.NDArrayIter(x[split:], y[split:], batch_size)
    return train, val


def mnist_iters(data_dir, batch_size, image, part_index=0, num_parts=1):
    def path(name):
        for candidate in (name, name + ".gz"):
            if os.path.exists(os.path.join(data_dir, candidate)):
                return os.path.join(data_dir, candidate)
        raise SystemExit(f"{name}(.gz) not found in {data_dir}")
    train = mx.io.MNISTIter(image=path("train-images-idx3-ubyte"),
                            label=path("train-labels-idx1-ubyte"), batch_size=batch_size,
                            shuffle=True, flat=not image, part_index=part_index,
                            num_parts=num_parts)
    val = mx.io.MNISTIter(image=path("t10k-images-idx3-ubyte"),
                          label=path("t10k-labels-idx1-ubyte"), batch_size=batch_size,
                          flat=not image)
    return train, val


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=("mlp", "lenet"), default="mlp")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--ctx", default="cpu", help="cpu, gpu, or gpu:0,1 for several")
    parser.add_argument("--data-dir", default=None, help="folder with MNIST IDX files")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default 0.1 for mlp, 0.05 for lenet)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--kv-store", default="local")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    image = args.network == "lenet"
    if args.lr is None:
        args.lr = 0.05 if image else 0.1
    kv = mx.kv.create(args.kv_store)
    part = {"part_index": kv.rank, "num_parts": kv.num_workers}
    if args.data_dir:
        train, val = mnist_iters(args.data_dir, args.batch_size, image, **part)
        net = mlp() if not image else lenet()
    else:
        train, val = digits_iters(args.batch_size, image, args.seed, **part)
        net = mlp() if not image else lenet(small=True)
    ctx = parse_ctx(args.ctx)
    mod = mx.mod.Module(net, context=ctx)
    tic = time.time()
    mod.fit(train, eval_data=val, num_epoch=args.epochs, optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4},
            initializer=mx.init.Xavier(magnitude=2.0), kvstore=kv,
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 50))
    seconds = time.time() - tic
    acc = dict(mod.score(val, "acc"))["accuracy"]
    print(f"final validation accuracy: {acc:.4f} ({args.network}, {args.epochs} epochs, "
          f"{seconds / args.epochs:.2f} s/epoch)")
    if kv.rank != 0:
        return 0  # worker 0 checks the checkpoint for everyone
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, args.network)
        mod.save_checkpoint(prefix, args.epochs)
        loaded = mx.mod.Module.load(prefix, args.epochs, context=ctx)
        loaded.bind(data_shapes=val.provide_data, label_shapes=val.provide_label,
                    for_training=False)
        reloaded = dict(loaded.score(val, "acc"))["accuracy"]
    print(f"reloaded checkpoint scores {reloaded:.4f}")
    if reloaded != acc:
        print("reloaded model scores differently", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
