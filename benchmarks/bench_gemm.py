"""Square matrix product throughput: clnet's `dot` against numpy (and PyTorch if importable).

Prints GFLOP/s (2 n^3 / median seconds) for each n, and clnet's ratio to each peer. Each
timing is one call followed by a synchronisation (`mx.nd.waitall()` for clnet), after
warm-up calls that also build and compile the kernels.

    python benchmarks/bench_gemm.py [--sizes 256,512,1024,2048] [--reps 7] [--dtype float32]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import clnet as mx


def _median_seconds(fn, reps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _clnet(a: np.ndarray, b: np.ndarray, reps: int) -> float:
    xa, xb = mx.nd.array(a, dtype=a.dtype), mx.nd.array(b, dtype=b.dtype)

    def run():
        mx.nd.dot(xa, xb)
        mx.nd.waitall()
    got = mx.nd.dot(xa, xb).asnumpy()
    want = a.astype(np.float64) @ b
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if err > 1e-4 * a.shape[1] ** 0.5:
        raise SystemExit(f"clnet result is wrong at n={a.shape[0]}: relative error {err:.2e}")
    return _median_seconds(run, reps)


def _numpy(a: np.ndarray, b: np.ndarray, reps: int) -> float:
    return _median_seconds(lambda: a @ b, reps)


def _torch(a: np.ndarray, b: np.ndarray, reps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return _median_seconds(lambda: ta @ tb, reps)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)
    dev = mx.nd.array([0]).device
    print(f"device: {dev.name}; dtype {args.dtype}; median of {args.reps} runs")
    header = f"{'n':>6} {'clnet':>9} {'numpy':>9} {'torch':>9} {'/numpy':>8} {'/torch':>8}"
    print(header + "   (GFLOP/s)")
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        a = rng.uniform(-1, 1, (n, n)).astype(args.dtype)
        b = rng.uniform(-1, 1, (n, n)).astype(args.dtype)
        flops = 2.0 * n ** 3
        reps = max(3, args.reps if n <= 1024 else args.reps // 2)
        rates = [flops / t / 1e9 if t else None
                 for t in (_clnet(a, b, reps), _numpy(a, b, reps), _torch(a, b, reps))]
        cells = [f"{r:9.1f}" if r else f"{'-':>9}" for r in rates]
        ratios = [f"{rates[0] / r:8.2f}" if r else f"{'-':>8}" for r in rates[1:]]
        print(f"{n:>6} " + " ".join(cells + ratios), flush=True)


if __name__ == "__main__":
    main()
