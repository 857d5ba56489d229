"""Training step of a CIFAR-sized convolutional network: clnet (Module and a bare executor)
against PyTorch when importable, in the same run.

The network is bench_all's `convnet_symbol`: 3x32x32 images through three 3x3 convolutions
with padding 1 (32, 64 and 64 filters), each followed by relu and a 2x2 max pool, then a
fully connected layer to 10 classes; SGD with momentum 0.9 on one fixed batch of random data,
as bench_all's training rows (each trainer must lower its loss, else its figure is n/a).
Convolutions of this size take other lowerings than LeNet's (padding, 3x3 taps, 3 input
channels in the first layer, whose weight gradient is a long-k product with few outputs).
With `--net separable` the network is bench_all's `separable_symbol` instead: a 3x3
convolution to 32 channels, then three depthwise-separable blocks (depthwise 3x3 with padding
1, relu, pointwise 1x1 to 64 channels, relu, 2x2 max pool) and the fully connected layer: the
depthwise convolutions (one channel per group) take the direct kernels.
Figures are samples/s, medians of blocks of steps with the frameworks taking turns.

    python benchmarks/bench_convnet.py                # batch 32
    python benchmarks/bench_convnet.py --batch 64 --quick
    python benchmarks/bench_convnet.py --net separable
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_all  # noqa: E402  (trainers, turns, data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--ctx", default="cpu", help="clnet context: cpu, gpu, cpu:1, ...")
    parser.add_argument("--net", choices=("convnet", "separable"), default="convnet")
    args = parser.parse_args()
    import bench_ndarray as bn

    import clnet as mx
    ctx = bn.parse_ctx(args.ctx)
    x, y = bench_all.batch_data(args.net, args.batch)
    symbol = getattr(bench_all, f"{args.net}_symbol")(mx)
    makers = {"clnet Module": lambda: bench_all.clnet_module_trainer(mx, ctx, symbol, x, y),
              "clnet executor": lambda: bench_all.clnet_executor_trainer(mx, ctx, symbol, x,
                                                                         y)}
    try:
        import torch  # noqa: F401
        makers["PyTorch"] = lambda: bench_all.torch_trainer(args.net, x, y)
    except ImportError:
        pass
    steps, repeats = (2, 5) if args.quick else (5, 11)
    rates = bench_all.train_rates(makers, args.batch, steps, repeats, warmup=2)
    print(f"{args.net} training step, batch {args.batch}, {ctx}: samples/s")
    torch_rate = rates.get("PyTorch")
    for name, rate in rates.items():
        if isinstance(rate, str):
            print(f"  {name:15} n/a ({rate})")
            continue
        ratio = (f"  {rate / torch_rate:.2f}x PyTorch" if isinstance(torch_rate, float)
                 and name != "PyTorch" else "")
        print(f"  {name:15} {rate:9.0f}{ratio}")


if __name__ == "__main__":
    main()
