"""Model parallelism with group2ctx: the two halves of an MLP on two devices.

    python examples/model_parallel_mlp.py --steps 30 --ctx cpu

The first half (fc1, relu1) is built under `mx.AttrScope(ctx_group='dev1')`, the second (fc2,
relu2, fc3 and the loss) under 'dev2'. Binding with group2ctx={'dev1': <ctx>(0), 'dev2':
<ctx>(1)} runs each half on its device: the executor copies the activations forward and their
gradients backward between the devices, and each gradient node runs beside the forward node it
differentiates. The same symbol bound to one device trains alongside on the same batches (the
8x8 digits that ship with clnet) with the same SGD steps; the script prints the launch list of
the split executor, then the largest differences to the single-device run in outputs,
gradients and weights, and both validation accuracies.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

# pocl's CPU driver shows one device unless asked for more; other drivers ignore this
os.environ.setdefault("POCL_DEVICES", "pthread pthread")

import clnet as mx  # noqa: E402
from clnet.data import load_digits  # noqa: E402
from clnet.runtime import discovery  # noqa: E402


def split_mlp(hidden=64, classes=10):
    with mx.AttrScope(ctx_group="dev1"):
        data = mx.sym.var("data")
        net = mx.sym.FullyConnected(data, num_hidden=hidden, name="fc1")
        net = mx.sym.Activation(net, act_type="relu", name="relu1")
    with mx.AttrScope(ctx_group="dev2"):
        net = mx.sym.FullyConnected(net, num_hidden=hidden, name="fc2")
        net = mx.sym.Activation(net, act_type="relu", name="relu2")
        net = mx.sym.FullyConnected(net, num_hidden=classes, name="fc3")
        return mx.sym.SoftmaxOutput(net, name="softmax")


def max_diff(a, b) -> float:
    return float(np.abs(a.asnumpy() - b.asnumpy()).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctx", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="SGD steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if len(discovery.devices_of_kind(args.ctx, missing_ok=True)) < 2:
        print(f"needs two {args.ctx.upper()} OpenCL devices; with pocl set "
              "POCL_DEVICES='pthread pthread'", file=sys.stderr)
        return 1
    dev1, dev2 = mx.Context(args.ctx, 0), mx.Context(args.ctx, 1)

    x, y = load_digits()
    rng = np.random.RandomState(args.seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order].astype(np.float32)
    n_val = len(x) // 5
    shapes = {"data": (args.batch_size, x.shape[1])}

    sym = split_mlp()
    split = sym.simple_bind(dev1, group2ctx={"dev1": dev1, "dev2": dev2}, **shapes)
    single = sym.simple_bind(dev1, **shapes)
    for name, arr in split.arg_dict.items():
        if name.endswith("weight"):
            value = rng.normal(0, np.sqrt(2 / arr.shape[1]), arr.shape)
        else:
            value = np.zeros(arr.shape)
        arr[:] = value
        single.arg_dict[name][:] = value
    print("launch list of the split executor:")
    print("  " + split.debug_str().replace("\n", "\n  "))
    print("arguments: " + ", ".join(f"{n}@{a.context}" for n, a in split.arg_dict.items()))

    params = [n for n in split.arg_names if n not in ("data", "softmax_label")]
    worst = {"outputs": 0.0, "gradients": 0.0}
    train_x, train_y = x[n_val:], y[n_val:]
    for step in range(args.steps):
        lo = step * args.batch_size % (len(train_x) - args.batch_size)
        batch = {"data": train_x[lo:lo + args.batch_size],
                 "softmax_label": train_y[lo:lo + args.batch_size]}
        for ex in (split, single):
            ex.forward(is_train=True, **batch)
            ex.backward()
        worst["outputs"] = max(worst["outputs"], max_diff(split.outputs[0], single.outputs[0]))
        for name in params:
            worst["gradients"] = max(worst["gradients"], max_diff(split.grad_dict[name],
                                                                  single.grad_dict[name]))
        for ex in (split, single):
            for name in params:
                ex.arg_dict[name][:] -= args.lr / args.batch_size * ex.grad_dict[name]
    weights = max(max_diff(split.arg_dict[n], single.arg_dict[n]) for n in params)

    accuracy = {}
    for label, ex in (("split", split), ("single", single)):
        hits = 0
        for lo in range(0, n_val - args.batch_size + 1, args.batch_size):
            ex.forward(data=x[lo:lo + args.batch_size])
            hits += int((ex.outputs[0].asnumpy().argmax(1) == y[lo:lo + args.batch_size]).sum())
        accuracy[label] = hits / (n_val // args.batch_size * args.batch_size)
    print(f"after {args.steps} steps on {dev1} + {dev2}, largest difference to one device:")
    print(f"  forward outputs {worst['outputs']:.3g}, gradients {worst['gradients']:.3g}, "
          f"weights {weights:.3g}")
    print(f"validation accuracy: split {accuracy['split']:.4f}, single "
          f"{accuracy['single']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
