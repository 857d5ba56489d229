"""NDArray throughput: clnet against numpy and (when importable) PyTorch, same machine, same run.

Workloads (float32): elementwise `tanh(a*b+a)` on 4M elements (GB/s, counting the two inputs
read and the output written once), imperatively (three launches) and through a bound executor
(one fused kernel; the peers' figures are their imperative ones), `sum` of 16M elements (GB/s
of input read) and matrix products n x n x n for n = 256..2048 (GFLOP/s, 2 n^3 flops). Each
figure is the median of timed rounds after warm-up rounds; in every round each framework runs
a block of calls (about 0.1 s) in turn, so a change in the host's load between the libraries'
measurements does not decide their ratio. clnet's blocks end with `mx.nd.waitall()` inside
the timed region, so queued work is counted.

    python benchmarks/bench_ndarray.py            # full run
    python benchmarks/bench_ndarray.py --quick    # fewer repeats, under 2 minutes
    python benchmarks/bench_ndarray.py --ctx gpu:0
"""
from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time

import numpy as np

import clnet as mx

try:
    import torch
except ImportError:
    torch = None

# Where PyTorch runs: "cuda" when clnet's context is a GPU and torch has CUDA (like against
# like), else "cpu"; set by use_torch_device.
TORCH_DEVICE = "cpu"
ELEMWISE_N = 4 * 2**20
SUM_N = 16 * 2**20
GEMM_SIZES = (256, 512, 1024, 2048)


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks of up to 32 MB in the heap instead of returning them to
    the OS. numpy's temporaries (16 MB each in tanh(a*b+a)) otherwise arrive as fresh pages
    that fault on first touch in some processes and not in others (glibc moves its mmap
    threshold as blocks are freed, so what ran before decides): numpy measured 5 or 14 GB/s
    in the same script. Pinned, numpy runs at its best in every run. False off glibc."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(name)
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)
                and libc.mallopt(m_trim_threshold, 1 << 30))


def use_torch_device(ctx) -> str:
    """Run PyTorch on its GPU when clnet runs on one and torch has CUDA, else on the CPU."""
    global TORCH_DEVICE
    cuda = torch is not None and ctx.device_type == "gpu" and torch.cuda.is_available()
    TORCH_DEVICE = "cuda" if cuda else "cpu"
    return TORCH_DEVICE


def to_torch(host: np.ndarray):
    """A PyTorch tensor of `host` on TORCH_DEVICE."""
    return torch.from_numpy(host).to(TORCH_DEVICE)


def torch_sync() -> None:
    """Wait for PyTorch's queued GPU work (nothing to wait for on the CPU)."""
    if TORCH_DEVICE == "cuda":
        torch.cuda.synchronize()


def torch_synced(fn):
    """`fn` followed by torch_sync."""
    def run():
        out = fn()
        torch_sync()
        return out
    return run


def synced(fn):
    """`fn` followed by a wait for every queued clnet command, its result held until then
    (an imperative result nobody holds is never computed: see clnet.ops.deferred)."""
    def run():
        out = fn()
        mx.nd.waitall()
        return out
    return run


def _attempt(figure):
    """figure(), or the error text when the framework could not produce it."""
    try:
        return figure()
    except (Exception, SystemExit) as err:  # a missing op, a wrong result, a driver problem
        return f"{type(err).__name__}: {err}".splitlines()[0][:120]


def settle(seconds: float):
    """Let the BLAS and OpenMP worker threads of the previous library stop spinning."""
    time.sleep(seconds)


def taking_turns(blocks: dict, repeats: int, warmup: int) -> dict:
    """{name: median seconds of blocks[name]()} with the blocks taking turns in every round,
    so a burst of load on a shared machine hits every framework alike; the order rotates
    from round to round, so no block always follows the same one (whose worker threads may
    still be winding down). A block that fails gets its error text and leaves the rounds."""
    times = {name: [] for name in blocks}
    failed = {}
    names = list(blocks)
    for r in range(warmup + repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            block = blocks[name]
            if name in failed:
                continue
            settle(0.2)
            got = _attempt(lambda b=block: _seconds(b))
            if isinstance(got, str):
                failed[name] = got
            elif r >= warmup:
                times[name].append(got)
    return {name: failed.get(name) or statistics.median(times[name]) for name in blocks}


def rates_in_turns(calls: dict, work: float, repeats: int, warmup: int, syncs: dict = None,
                   block_seconds: float = 0.1) -> dict:
    """{name: work per second of calls[name]}: each call repeated in blocks of about
    `block_seconds` ended by syncs[name]() (if any), the blocks taking turns (a few ms of
    one library and then of the other would each see a different phase of the host). A call
    that fails, or whose result `checked` rejected, gets its error text."""
    syncs = syncs or {}
    blocks, counts = {}, {}
    for name, call in calls.items():
        def block(call=call, sync=syncs.get(name, _nothing), count=1):
            for _ in range(count):
                call()
            sync()
        once = _attempt(lambda b=block: (b(), _seconds(b))[1])  # warm: kernels built, tuned
        if isinstance(once, str):
            blocks[name] = once
            continue
        counts[name] = max(1, int(block_seconds / max(once, 1e-6)))
        blocks[name] = functools.partial(block, count=counts[name])
    seconds = taking_turns({n: b for n, b in blocks.items() if callable(b)}, repeats, warmup)
    return {name: (blocks[name] if isinstance(blocks[name], str) else
                   seconds[name] if isinstance(seconds[name], str) else
                   work * counts[name] / seconds[name]) for name in calls}


def _nothing():
    pass


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def checked(call, check):
    """`call`, once `check()` (which raises on a wrong result) has passed; else a call
    raising the check's error."""
    try:
        check()
    except Exception as err:  # the figure becomes this error text, the run goes on
        def failed(err=err):
            raise err
        return failed
    return call


def _close(name, got, want, rtol):
    """Raise when clnet's result differs from numpy's by more than rtol (relative to max)."""
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    if err > rtol * max(float(np.max(np.abs(want))), 1e-30):
        raise ValueError(f"clnet's {name} is wrong: max abs error {err:.3g}")


def elemwise_calls(ctx) -> tuple:
    """({name: call}, GB per call) for `tanh(a*b+a)`: clnet imperatively (three launches)
    and through a bound executor (one fused kernel, "clnet executor"), numpy, PyTorch."""
    rng = np.random.RandomState(0)
    a, b = (rng.uniform(-1, 1, ELEMWISE_N).astype(np.float32) for _ in range(2))
    want = np.tanh(a.astype(np.float64) * b + a)
    ca, cb = mx.nd.array(a, ctx=ctx), mx.nd.array(b, ctx=ctx)
    sa, sb = mx.sym.var("a"), mx.sym.var("b")
    ex = mx.sym.tanh(sa * sb + sa).bind(ctx, {"a": ca, "b": cb})

    def check_fused():
        if ex.fused_kernels != 1:
            raise ValueError(f"the executor runs {ex.fused_kernels} fused kernels, not 1")
        _close("tanh(a*b+a)", ex.forward()[0].asnumpy(), want, 1e-5)
    calls = {"clnet": checked(synced(lambda: mx.nd.tanh(ca * cb + ca)), lambda: _close(
                 "tanh(a*b+a)", mx.nd.tanh(ca * cb + ca).asnumpy(), want, 1e-5)),
             "clnet executor": checked(synced(ex.forward), check_fused),
             "numpy": lambda: np.tanh(a * b + a)}
    if torch is not None:
        ta, tb = to_torch(a), to_torch(b)
        calls["torch"] = torch_synced(lambda: torch.tanh(ta * tb + ta))
    return calls, 3 * ELEMWISE_N * 4 / 1e9


def sum_host() -> np.ndarray:
    """The 16M float32 values every framework sums."""
    return np.random.RandomState(1).uniform(0, 1, SUM_N).astype(np.float32)


def sum_calls(ctx, x: np.ndarray = None) -> tuple:
    """({name: call}, GB per call) for the sum of `x` (sum_host() by default): clnet, numpy,
    PyTorch."""
    x = sum_host() if x is None else x
    cx = mx.nd.array(x, ctx=ctx)
    want = x.astype(np.float64).sum()
    calls = {"clnet": checked(synced(lambda: mx.nd.sum(cx)),
                              lambda: _close("sum", mx.nd.sum(cx).asnumpy(), want, 1e-5)),
             "numpy": lambda: x.sum()}
    if torch is not None:
        tx = to_torch(x)
        calls["torch"] = torch_synced(lambda: tx.sum())
    return calls, x.nbytes / 1e9


def dot_calls(n: int, ctx, seed: int = 0) -> tuple:
    """({name: call}, {name: sync}, GFLOP per call) for the product of two n x n float32
    matrices: clnet (its result checked against numpy's), numpy, PyTorch. The calls only
    queue the product; a block of them ends with the sync."""
    rng = np.random.RandomState(seed)
    a, b = (rng.uniform(-1, 1, (n, n)).astype(np.float32) for _ in range(2))
    xa, xb = mx.nd.array(a, ctx=ctx), mx.nd.array(b, ctx=ctx)
    calls = {"clnet": checked(lambda: mx.nd.dot(xa, xb), lambda: _close(
                 f"dot n={n}", mx.nd.dot(xa, xb).asnumpy(), a.astype(np.float64) @ b,
                 1e-4 * n ** 0.5)),
             "numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = to_torch(a), to_torch(b)
        calls["torch"] = lambda: ta @ tb
    return calls, {"clnet": mx.nd.waitall, "torch": torch_sync}, 2.0 * n ** 3 / 1e9


def _cell(value) -> str:
    """A figure; '-' where the framework was not run, 'n/a' where it failed."""
    if not isinstance(value, float):
        return "-" if value is None else "n/a"
    return f"{value:.0f}" if value >= 1000 else f"{value:.1f}" if value >= 10 else f"{value:#.3g}"


LOWER_IS_BETTER = ("ms", "s")


def _ratio(a, b, unit: str = "") -> str:
    """clnet's speed over the peer's: a / b, or b / a for times."""
    if not (isinstance(a, float) and isinstance(b, float) and a and b):
        return "-"
    return f"{b / a:.2f}" if unit in LOWER_IS_BETTER else f"{a / b:.2f}"


def format_table(rows: list, peers: list) -> str:
    """rows: (workload, unit, {framework: figure or error text}[, target text]). Ratios are
    clnet's speed over each peer's (for time units, the peer's time over clnet's)."""
    targets = any(len(r) > 3 for r in rows)
    head = (["workload", "unit", "clnet"] + peers + [f"clnet/{p}" for p in peers]
            + (["target"] if targets else []))
    table = [head]
    notes = []
    for row in rows:
        name, unit, figures = row[:3]
        table.append([name, unit, _cell(figures.get("clnet"))]
                     + [_cell(figures.get(p)) for p in peers]
                     + [_ratio(figures.get("clnet"), figures.get(p), unit) for p in peers]
                     + ([row[3] if len(row) > 3 else ""] if targets else []))
        notes += [f"{name} / {fw}: {v}" for fw, v in figures.items() if isinstance(v, str)]
    widths = [max(len(r[c]) for r in table) for c in range(len(head))]
    last = len(head) - 1 if targets else len(head)
    lines = ["  ".join(cell.ljust(w) if c < 2 or c == last else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(r, widths))).rstrip() for r in table]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines + (["", "n/a:"] + ["  " + n for n in notes] if notes else []))


def describe(ctx) -> str:
    from clnet.runtime import get_device
    dev = get_device(ctx)
    parts = [f"clnet {mx.__version__} on {ctx}: {dev.name} ({dev.compute_units} CUs)",
             f"numpy {np.__version__}",
             f"python {platform.python_version()}, {os.cpu_count()} CPU(s)"]
    if torch is not None:
        where = (torch.cuda.get_device_name() if TORCH_DEVICE == "cuda"
                 else f"{torch.get_num_threads()} threads")
        parts.insert(2, f"torch {torch.__version__} ({where})")
    return "; ".join(parts)


def parse_ctx(text: str) -> mx.Context:
    kind, _, index = text.partition(":")
    return mx.Context(kind, int(index or 0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 2 minutes)")
    parser.add_argument("--ctx", type=parse_ctx, default=mx.cpu(), help="cpu, gpu or gpu:i")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure")
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 20)
    warmup = 1 if args.quick else 3
    keep_freed_memory()
    use_torch_device(args.ctx)
    print(describe(args.ctx))
    print(f"median of {repeats} runs after {warmup} warm-up run(s)\n", flush=True)
    calls, gbytes = elemwise_calls(args.ctx)
    elemwise = rates_in_turns(calls, gbytes, repeats, warmup)
    fused = dict(elemwise, clnet=elemwise.pop("clnet executor"))
    summed = rates_in_turns(*sum_calls(args.ctx), repeats, warmup)
    rows = [("tanh(a*b+a) 4M", "GB/s", elemwise), ("tanh(a*b+a) 4M, executor", "GB/s", fused),
            ("sum 16M", "GB/s", summed)]
    for n in GEMM_SIZES:
        calls, syncs, gflop = dot_calls(n, args.ctx)
        rows.append((f"dot n={n}", "GFLOP/s",
                     rates_in_turns(calls, gflop, repeats, warmup, syncs)))
    peers = ["numpy"] + (["torch"] if torch is not None else [])
    print(format_table(rows, peers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
