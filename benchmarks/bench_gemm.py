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
    seconds = _median_seconds(run, reps)
    # checked after timing: numpy's BLAS threads spin after a call and would slow clnet
    got = mx.nd.dot(xa, xb).asnumpy()
    want = a.astype(np.float64) @ b
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if err > 1e-4 * a.shape[1] ** 0.5:
        raise SystemExit(f"clnet result is wrong at n={a.shape[0]}: relative error {err:.2e}")
    return seconds


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
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    inputs = {n: (rng.uniform(-1, 1, (n, n)).astype(args.dtype),
                  rng.uniform(-1, 1, (n, n)).astype(args.dtype)) for n in sizes}
    # One library at a time over all sizes: BLAS worker threads keep spinning for a while
    # after a call and would steal the cores from the next library's measurement.
    rates = {}
    for name, fn in (("clnet", _clnet), ("numpy", _numpy), ("torch", _torch)):
        for n in sizes:
            reps = max(3, args.reps if n <= 1024 else args.reps // 2)
            t = fn(*inputs[n], reps)
            rates[name, n] = 2.0 * n ** 3 / t / 1e9 if t else None
        time.sleep(0.5)
    header = f"{'n':>6} {'clnet':>9} {'numpy':>9} {'torch':>9} {'/numpy':>8} {'/torch':>8}"
    print(header + "   (GFLOP/s)")
    for n in sizes:
        own = rates["clnet", n]
        peers = [rates["numpy", n], rates["torch", n]]
        cells = [f"{r:9.1f}" if r else f"{'-':>9}" for r in [own] + peers]
        ratios = [f"{own / r:8.2f}" if r else f"{'-':>8}" for r in peers]
        print(f"{n:>6} " + " ".join(cells + ratios), flush=True)


if __name__ == "__main__":
    main()
