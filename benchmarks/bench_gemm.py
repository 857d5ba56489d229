"""Matrix product throughput: clnet's `dot` against numpy (and PyTorch if importable).

Prints GFLOP/s (2 n^3 / median seconds) for each square n, and clnet's ratio to each peer.
Each timing is one call followed by a synchronisation (`mx.nd.waitall()` for clnet), after
warm-up calls that also build the kernels and run clnet's measured parameter search for the
shape class (CLNET_GEMM_TUNE=0 turns the search off: PARAMS defaults). Then the batch-1
FullyConnected case, x (1 x 784) . W^T + b with W (512, 784), the GEMV path: GFLOP/s per
call, back-to-back (`--gemv-reps` calls, then one synchronisation), and per call with a
synchronisation after each; and once more through `matrix.gemm` itself (no imperative op
around it), which shows what the kernel and its launch reach. The load average is printed
before and after: on a shared machine compare runs taken at the same load.

    python benchmarks/bench_gemm.py [--sizes 512,1024,2048] [--reps 7] [--dtype float32]
"""
from __future__ import annotations

import argparse
import os
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


def _torch(a: np.ndarray, b: np.ndarray, reps: int, device: str = "cpu") -> float | None:
    """PyTorch's seconds per product on `device` ("cpu" or "cuda", synchronised)."""
    try:
        import torch
    except ImportError:
        return None
    ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

    def product():
        ta @ tb
        if device == "cuda":
            torch.cuda.synchronize()
    return _median_seconds(product, reps)


GEMV_SHAPE = (1, 512, 784)  # (rows, num_hidden, in_features)


def _gemv_inputs(dtype: str):
    rng = np.random.default_rng(1)
    m, n, k = GEMV_SHAPE
    return (rng.uniform(-1, 1, (m, k)).astype(dtype), rng.uniform(-1, 1, (n, k)).astype(dtype),
            rng.uniform(-1, 1, (n,)).astype(dtype))


def _gemv_clnet(x, w, b, reps: int, batched: bool) -> float:
    xx, xw, xb = (mx.nd.array(v, dtype=v.dtype) for v in (x, w, b))

    def run():
        for _ in range(reps if batched else 1):
            mx.nd.FullyConnected(xx, xw, xb, num_hidden=w.shape[0])
        mx.nd.waitall()
    seconds = _median_seconds(run, 7) / (reps if batched else 1)
    got = mx.nd.FullyConnected(xx, xw, xb, num_hidden=w.shape[0]).asnumpy()
    want = x.astype(np.float64) @ w.T + b
    if np.abs(got - want).max() > 1e-4 * w.shape[1] ** 0.5:
        raise SystemExit("clnet FullyConnected result is wrong")
    return seconds


def _gemv_launcher(x, w, b, reps: int) -> float:
    """The same product through `matrix.gemm` directly, back to back: the GEMV kernel and its
    launch without the imperative op's Python (shape inference, output allocation)."""
    from clnet.ops import matrix
    xx, xw, xb = (mx.nd.array(v, dtype=v.dtype) for v in (x, w, b))
    out = mx.nd.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    (m, k), n = x.shape, w.shape[0]
    args = (xx.device, xx._dt, m, n, k, matrix.Operand(xx._buf, 0, k, 1, 0),
            matrix.Operand(xw._buf, 0, 1, k, 0), matrix.Operand(out._buf, 0, n, 1, 0))
    bias = matrix.Operand(xb._buf, 0, 0, 1, 0)

    def run():
        for _ in range(reps):
            matrix.gemm(*args, bias=bias)
        mx.nd.waitall()
    return _median_seconds(run, 7) / reps


def _gemv_numpy(x, w, b, reps: int, batched: bool) -> float:
    def run():
        for _ in range(reps if batched else 1):
            x @ w.T + b
    return _median_seconds(run, 7) / (reps if batched else 1)


def _gemv_torch(x, w, b, reps: int, batched: bool) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    tx, tw, tb = (torch.from_numpy(v) for v in (x, w, b))

    def run():
        for _ in range(reps if batched else 1):
            torch.nn.functional.linear(tx, tw, tb)
    return _median_seconds(run, 7) / (reps if batched else 1)


def _row(label, own, peers, unit="GFLOP/s"):
    cells = [f"{r:9.1f}" if r else f"{'-':>9}" for r in [own] + peers]
    ratios = [f"{own / r:8.2f}" if r and own else f"{'-':>8}" for r in peers]
    print(f"{label:>12} " + " ".join(cells + ratios) + f"   ({unit})", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--gemv-reps", type=int, default=200,
                        help="back-to-back FullyConnected calls per timed round")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)
    dev = mx.nd.array([0]).device
    tune = os.environ.get("CLNET_GEMM_TUNE", "1")
    print(f"device: {dev.name}; dtype {args.dtype}; median of {args.reps} runs; "
          f"CLNET_GEMM_TUNE={tune}; load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",") if s]
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
    gemv = _gemv_inputs(args.dtype)
    flops = 2.0 * GEMV_SHAPE[0] * GEMV_SHAPE[1] * GEMV_SHAPE[2]
    for name, fn in (("clnet", _gemv_clnet), ("numpy", _gemv_numpy), ("torch", _gemv_torch)):
        for batched in (True, False):
            t = fn(*gemv, args.gemv_reps, batched)
            rates[name, "gemv", batched] = flops / t / 1e9 if t else None
        if name == "clnet":
            rates[name, "gemv", "launcher"] = flops / _gemv_launcher(*gemv, args.gemv_reps) / 1e9
        time.sleep(0.5)
    header = f"{'n':>12} {'clnet':>9} {'numpy':>9} {'torch':>9} {'/numpy':>8} {'/torch':>8}"
    print(header)
    for n in sizes:
        _row(str(n), rates["clnet", n], [rates["numpy", n], rates["torch", n]])
    for batched, label in ((True, "fc b1"), (False, "fc b1 sync")):
        _row(label, rates["clnet", "gemv", batched],
             [rates["numpy", "gemv", batched], rates["torch", "gemv", batched]])
    _row("fc b1 gemm()", rates["clnet", "gemv", "launcher"],
         [rates["numpy", "gemv", True], rates["torch", "gemv", True]])
    print(f"FullyConnected {GEMV_SHAPE[0]}x{GEMV_SHAPE[2]} . ({GEMV_SHAPE[1]}x"
          f"{GEMV_SHAPE[2]})^T + bias; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
