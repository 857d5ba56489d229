"""Data-parallel scaling: Module training throughput (samples/s) of an MLP on 1 and 2 OpenCL
devices with the same total batch, and the ratio.

The MLP is examples/train_mnist.py's (784-128-64-10, relu, softmax) on random MNIST-shaped
data; one step is forward, backward and an SGD update (momentum 0.9), the two-device runs
summing gradients through a 'local' or 'device' kvstore. Each figure is the median of timed
repeats of `--steps` steps after warm-up steps; the timed region ends with `mx.nd.waitall()`.

    python benchmarks/bench_scaling.py                  # two pocl CPU devices
    python benchmarks/bench_scaling.py --ctx gpu --quick

On pocl the "two devices" are two pthread devices of one CPU (POCL_DEVICES='pthread pthread',
set here unless already set): they share the same cores, so the ratio shows the cost of
splitting a batch and summing gradients rather than a speed-up; expect 2x only from two real
devices.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("POCL_DEVICES", "pthread pthread")  # read when OpenCL is first opened

import numpy as np  # noqa: E402

import clnet as mx  # noqa: E402


def mlp():
    net = mx.sym.var("data")
    net = mx.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def samples_per_second(contexts, kvstore, batch, steps, repeats, warmup) -> float:
    rng = np.random.RandomState(0)
    batches = [mx.io.DataBatch([mx.nd.array(rng.uniform(0, 1, (batch, 784)))],
                               [mx.nd.array(rng.randint(0, 10, batch))]) for _ in range(4)]
    mod = mx.mod.Module(mlp(), context=contexts)
    mod.bind(data_shapes=[("data", (batch, 784))], label_shapes=[("softmax_label", (batch,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(kvstore=kvstore, optimizer="sgd",
                       optimizer_params={"learning_rate": 0.01, "momentum": 0.9})

    def run(n):
        for i in range(n):
            mod.forward_backward(batches[i % len(batches)])
            mod.update()
        mx.nd.waitall()

    run(warmup)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        run(steps)
        times.append(time.perf_counter() - tic)
    return batch * steps / statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctx", default="cpu", help="device kind: cpu or gpu")
    parser.add_argument("--batch", default="256,1024",
                        help="total batch sizes, split over the devices (comma-separated)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats, warmup = (3, 3) if args.quick else (7, 5)
    from clnet.runtime import discovery, get_device
    found = len(discovery.devices_of_kind(args.ctx, missing_ok=True))
    if found < 2:
        raise SystemExit(f"needs two {args.ctx} OpenCL devices, found {found} (for pocl: "
                         "POCL_DEVICES='pthread pthread')")
    devs = [mx.Context(args.ctx, 0), mx.Context(args.ctx, 1)]
    print(f"# {platform.node()} ({os.cpu_count()} cores): {get_device(devs[0]).name} x2, "
          f"median of {repeats} x {args.steps} steps")
    print(f"{'batch':<8}{'devices':<10}{'kvstore':<10}{'samples/s':>12}{'vs 1 device':>14}")
    for batch in (int(b) for b in args.batch.split(",")):
        one = samples_per_second(devs[:1], "local", batch, args.steps, repeats, warmup)
        print(f"{batch:<8}{1:<10}{'-':<10}{one:>12.0f}{1.0:>14.2f}", flush=True)
        for kvstore in ("local", "device"):
            two = samples_per_second(devs, kvstore, batch, args.steps, repeats, warmup)
            print(f"{batch:<8}{2:<10}{kvstore:<10}{two:>12.0f}{two / one:>14.2f}", flush=True)


if __name__ == "__main__":
    main()
