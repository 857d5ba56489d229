"""Data-parallel training across processes with a distributed kvstore (MPI):

    mpiexec -n 2 python examples/dist_worker.py --kv-store dist_sync --epochs 5

Every process is one worker. The kvstore gives its rank and the number of workers; each worker
reads only its part of the data (the 8x8 digits shipped with clnet): part `kv.rank` of
`kv.num_workers` contiguous parts, as `part_index` / `num_parts` select in MXNet's file
iterators (mx.io.MNISTIter(..., part_index=kv.rank, num_parts=kv.num_workers) does the same
for MNIST). Parts are cut to one length, so all workers run the same number of steps, which
a synchronous store needs. One step sums the gradients of num_workers x batch-size samples,
and every worker applies the same update: all end with the same weights, equal to one
process training with batch num_workers x batch-size on the workers' batches side by side.

Without mpiexec it is a job of one worker. Set CLNET_DIST_TIMEOUT (seconds, default 60) to
bound how long a worker waits for the others before it fails.
"""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

import clnet as mx


def mlp(num_classes: int = 10):
    net = mx.sym.var("data")
    net = mx.sym.FullyConnected(net, num_hidden=32, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=num_classes, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def load_data(num_examples=None):
    """The digits (float32 pixels in [0, 1], float32 labels), the first `num_examples`."""
    from clnet.data import load_digits
    x, y = load_digits()
    return x[:num_examples], y[:num_examples].astype(np.float32)


def part(x, y, part_index: int, num_parts: int):
    """Part `part_index` of `num_parts` contiguous parts, each len(x) // num_parts long."""
    size = len(x) // num_parts
    sl = slice(part_index * size, (part_index + 1) * size)
    return x[sl], y[sl]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv-store", default="dist_sync")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--num-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ctx", default="cpu", help="cpu, gpu, or gpu:0,1 for several")
    parser.add_argument("--save", default=None,
                        help="write each worker's final parameters to SAVE-rank<r>.params")
    args = parser.parse_args(argv)
    kv = mx.kv.create(args.kv_store)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s worker {kv.rank}/{kv.num_workers} %(message)s")
    # the same seed everywhere; worker 0's initial weights are the ones all workers start from
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    x, y = part(*load_data(args.num_examples), kv.rank, kv.num_workers)
    train = mx.io.NDArrayIter(x, y, args.batch_size, last_batch_handle="discard")
    kind, _, ids = args.ctx.partition(":")
    ctx = [mx.Context(kind, int(i)) for i in ids.split(",")] if ids else [mx.Context(kind, 0)]
    mod = mx.mod.Module(mlp(), context=ctx)
    mod.fit(train, num_epoch=args.epochs, kvstore=kv, optimizer="sgd",
            optimizer_params={"learning_rate": args.lr, "momentum": 0.9},
            initializer=mx.init.Xavier())
    acc = dict(mod.score(train, "acc"))["accuracy"]
    print(f"worker {kv.rank} of {kv.num_workers}: accuracy on its part {acc:.4f}", flush=True)
    if args.save:
        arg, _ = mod.get_params()
        mx.nd.save(f"{args.save}-rank{kv.rank}.params", arg)
    kv.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
