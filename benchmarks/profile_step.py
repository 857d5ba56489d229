"""Where one clnet step spends its time: device time per kernel, host time per launch.

Profiles bench_all.py's MLP 784-512-512-10 training step at batch 128 and LeNet step at
batch 64 (the same models, data and SGD-with-momentum updates, through Module or a bare
executor), and the MLP's inference at batch 1 through a bound executor. Each step is
measured three ways:

- as run: steps back to back, synchronised at the end (what bench_all.py times);
- host: the step enqueued while the device is held by a barrier on a user event, so the host
  time is the framework's own (Python, argument setting, enqueueing), not shared with kernels
  running on the same cores; divided by the launches it is the host overhead per launch;
- device: the barrier released, the queued step runs without the host; kernel times come from
  profiling events (the queue is opened with CLNET_DEBUG=2's profiling), the wall time minus
  the kernels' busy time is the device's own cost between launches.

Kernels are grouped into GEMM, packing (GEMM operand panels), conv lowering (im2col, col2im),
elementwise, reductions, pooling, optimizer updates and copies; then each kernel (GEMMs by
M x N x K with their GFLOP/s, others by global size) with its calls and time, and the host's
hot spots (cProfile of the enqueueing). A step that waits on the host inside itself cannot be
held by the barrier: the profiler then says so (that wait is itself a finding). On pocl the
profiling queue costs no measurable time; the profiler's own wrapper adds about 1 us per
launch.

    python benchmarks/profile_step.py                  # all three, Module path
    python benchmarks/profile_step.py --path executor --model mlp --steps 20
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_all  # noqa: E402  (models, data and trainers)

# (category, kernel-name prefixes); the first match wins, so copies precede elementwise
CATEGORIES = (
    ("GEMM", ("gemm_micro", "gemm_direct", "gemm_gemv")),
    ("packing", ("gemm_pack",)),
    ("conv lowering", ("im2col", "col2im", "rows_copy")),
    ("copies", ("ew_vec__copy", "ew_contig__copy", "ew_grid__copy", "ew_strided__copy")),
    ("pooling", ("pool_",)),
    ("optimizer", ("opt_",)),
    ("reductions", ("reduce_", "combine_", "softmax")),
    ("elementwise", ("ew_", "fused_", "bn_", "ln_")),
)
GATE_TIMEOUT = 20.0  # seconds before a held step is declared to wait on the host


def category(kernel: str) -> str:
    for name, prefixes in CATEGORIES:
        if kernel.startswith(prefixes):
            return name
    return "other"


class Recorder:
    """Keeps each launch's kernel, global size, arguments and event, and the host time spent
    in the OpenCL enqueue calls. It wraps pyopencl.enqueue_nd_range_kernel, through which
    every clnet launch goes (an op's through Device.enqueue, a bound executor's replayed ones
    directly), and learns the arguments where they are set: Device.enqueue, and the replay's
    recording of a launch."""

    def __init__(self, device):
        import pyopencl as cl

        from clnet.runtime import replay
        self.device = device
        self.launches = []
        self.enqueue_seconds = 0.0
        self._args = {}  # kernel object -> its arguments
        self._undo = []
        self._wrap(cl, "enqueue_nd_range_kernel", self._enqueue_cl)
        self._wrap(device, "enqueue", self._enqueue)
        self._wrap(replay._Launches, "add", self._add)

    def _wrap(self, owner, name, wrapper):
        inner = getattr(owner, name)
        self._undo.append((owner, name, inner))

        def wrapped(*args, **kwargs):  # a function, so it binds as a method on a class
            return wrapper(inner, *args, **kwargs)
        setattr(owner, name, wrapped)

    def _enqueue(self, inner, knl, gsize, lsize, args, buffers=()):
        self._args[knl] = args
        return inner(knl, gsize, lsize, args, buffers)

    def _add(self, inner, launches, knl, gsize, lsize, args, buffers):
        inner(launches, knl, gsize, lsize, args, buffers)
        self._args[launches.items[-1][0]] = args

    def _enqueue_cl(self, inner, queue, knl, gsize, lsize, *rest, **kwargs):
        start = time.perf_counter()
        evt = inner(queue, knl, gsize, lsize, *rest, **kwargs)
        self.enqueue_seconds += time.perf_counter() - start
        self.launches.append((knl.function_name, tuple(gsize), self._args.get(knl, ()), evt))
        return evt

    def reset(self):
        self.launches = []
        self.enqueue_seconds = 0.0

    def close(self):
        for owner, name, inner in reversed(self._undo):
            setattr(owner, name, inner)


def open_profiled_device(ctx):
    """The context's Device, opened with a profiling queue (CLNET_DEBUG=2), after which the
    per-launch tracing is switched off again so launches are not waited for one by one."""
    from clnet.runtime import device as device_mod
    if ctx in device_mod._devices:
        raise SystemExit("profile_step: the device is already open without profiling")
    old = os.environ.get("CLNET_DEBUG")
    os.environ["CLNET_DEBUG"] = "2"
    try:
        dev = device_mod.get_device(ctx)
    finally:
        if old is None:
            del os.environ["CLNET_DEBUG"]
        else:
            os.environ["CLNET_DEBUG"] = old
    return dev


def held_step(dev, step, prof=None):
    """Run `step` with the queue held: (host seconds to enqueue it, device wall seconds once
    released), or None when the step waited on the host. `prof` (a cProfile.Profile) records
    the enqueueing when given."""
    import pyopencl as cl
    gate = cl.UserEvent(dev.cl_context)
    cl.enqueue_barrier(dev.queue, wait_for=[gate])
    released = threading.Event()

    def release():
        if not released.is_set():
            released.set()
            gate.set_status(cl.command_execution_status.COMPLETE)
    timer = threading.Timer(GATE_TIMEOUT, release)
    timer.start()
    start = time.perf_counter()
    if prof is not None:
        prof.enable()
    step()
    if prof is not None:
        prof.disable()
    host = time.perf_counter() - start
    waited = released.is_set()
    timer.cancel()
    start = time.perf_counter()
    release()
    dev.queue.finish()
    wall = time.perf_counter() - start
    return None if waited else (host, wall)


def gemm_shape(name: str, gsize, args):
    """(label, flops) of a GEMM launch, read from its leading M, N, K arguments and the
    batch in global dimension 2; None for other kernels."""
    if not name.startswith(CATEGORIES[0][1]) or len(args) < 3 or not all(
            isinstance(a, np.integer) for a in args[:3]):
        return None
    m, n, k = (int(a) for a in args[:3])
    batch = gsize[2] if len(gsize) > 2 else 1
    return f"{m}x{n}x{k}" + (f" x{batch}" if batch > 1 else ""), 2.0 * m * n * k * batch


def kernel_times(launches) -> list:
    """(kernel, shape label, category, seconds, flops or None) per launch: GEMMs are labelled
    by M x N x K, other kernels by their global size."""
    out = []
    for name, gsize, args, evt in launches:
        evt.wait()
        shape = gemm_shape(name, gsize, args)
        out.append((name, shape[0] if shape else str(gsize), category(name),
                    (evt.profile.end - evt.profile.start) * 1e-9, shape and shape[1]))
    return out


def hot_spots(stats, steps: int, top: int) -> list:
    """Lines of the `top` functions by own host time, per step."""
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    lines = [f"    {'own ms':>7} {'cum ms':>7} {'calls':>6}  function"]
    for (path, line, func), (_, calls, own, cum, _) in rows:
        where = f"{os.path.basename(path)}:{line}({func})" if line else func
        lines.append(f"    {own / steps * 1e3:7.3f} {cum / steps * 1e3:7.3f} "
                     f"{calls / steps:6.0f}  {where}")
    return lines


def profile(label, make, batch: int, dev, steps: int, top: int) -> str:
    """The report of one step function: `make()` returns (step, sync, loss) as bench_all's
    trainers do."""
    rec = Recorder(dev)
    step, sync, _ = make()
    for _ in range(3):  # builds every kernel, fills the pools
        step()
    sync()
    # as run: what bench_all times
    rec.reset()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    as_run = (time.perf_counter() - start) / steps
    launches = len(rec.launches) / steps
    # held: host alone, then device alone
    hosts, walls, kernels, enqueue = [], [], [], []
    for i in range(steps):
        rec.reset()
        got = held_step(dev, step)
        if got is None:
            return (f"{label}: the step waits on the host inside itself (a blocking read or "
                    f"a finish), so it cannot be held; profile it with CLNET_DEBUG=2 instead")
        hosts.append(got[0])
        walls.append(got[1])
        enqueue.append(rec.enqueue_seconds)
        kernels.append(kernel_times(rec.launches))
    prof = cProfile.Profile()  # separate steps: cProfile slows the host about 2x
    for i in range(steps):
        held_step(dev, step, prof)
    stats = pstats.Stats(prof)
    host = statistics.median(hosts)
    wall = statistics.median(walls)
    in_enqueue = statistics.median(enqueue)
    busy = sum(k[3] for ks in kernels for k in ks) / steps
    gemm_flops = sum(k[4] for ks in kernels for k in ks if k[4]) / steps
    gemm_time = sum(k[3] for ks in kernels for k in ks if k[4]) / steps
    n = len(kernels[0])
    us = 1e6
    lines = [f"{label}: {n} launches per step (as run: {launches:.0f})",
             f"  as run (back to back, synchronised at the end): {as_run * 1e3:8.2f} ms/step = "
             f"{batch / as_run:,.0f} samples/s",
             f"  host, enqueueing one held step:  {host * 1e3:8.2f} ms = {host / n * us:.1f} us "
             f"per launch ({in_enqueue / n * us:.1f} us in the OpenCL enqueue, "
             f"{(host - in_enqueue) / n * us:.1f} us in clnet's Python around it)",
             f"  device, running the released step: {wall * 1e3:8.2f} ms wall, kernels busy "
             f"{busy * 1e3:.2f} ms, between kernels {(wall - busy) * 1e3:.2f} ms "
             f"({(wall - busy) / n * us:.1f} us per launch)",
             f"  host + device wall = {(host + wall) * 1e3:.2f} ms; as run, they overlap to "
             f"{as_run * 1e3:.2f} ms",
             "", "  device time by category (mean over steps):",
             f"    {'category':<14} {'ms/step':>8} {'share':>6} {'launches':>8}"]
    per_cat: dict = {}
    for ks in kernels:
        for name, shape, cat, sec, flops in ks:
            per_cat.setdefault(cat, []).append(sec)
    for cat, secs in sorted(per_cat.items(), key=lambda kv: -sum(kv[1])):
        ms = sum(secs) / steps * 1e3
        lines.append(f"    {cat:<14} {ms:8.3f} {ms / (busy * 1e3):6.1%} {len(secs) / steps:8.0f}")
    lines.append(f"    {'host (held)':<14} {host * 1e3:8.3f}")
    if gemm_time:
        lines.append(f"  GEMM: {gemm_flops / 1e9:.3f} GFLOP per step at "
                     f"{gemm_flops / gemm_time / 1e9:.1f} GFLOP/s overall; packing + GEMM "
                     f"{(gemm_time + sum(per_cat.get('packing', ())) / steps) * 1e3:.2f} ms")
    lines += ["", "  kernels by device time (per step):",
              f"    {'kernel':<28} {'M x N x K / global':<18} {'calls':>5} {'us/call':>8} "
              f"{'ms/step':>8} {'share':>6} {'GFLOP/s':>7}  category"]
    per_kernel: dict = {}
    for ks in kernels:
        for name, shape, cat, sec, flops in ks:
            per_kernel.setdefault((name, shape, cat, flops), []).append(sec)
    for (name, shape, cat, flops), secs in sorted(per_kernel.items(),
                                                  key=lambda kv: -sum(kv[1])):
        ms = sum(secs) / steps * 1e3
        med = float(np.median(secs))
        rate = f"{flops / med / 1e9:7.1f}" if flops and med else f"{'':>7}"
        lines.append(f"    {name[:28]:<28} {shape:<18} {len(secs) / steps:5.0f} "
                     f"{med * us:8.1f} {ms:8.3f} {ms / (busy * 1e3):6.1%} {rate}  {cat}")
    lines += ["", f"  host hot spots while enqueueing (cProfile over {steps} more held steps, "
                  f"by own time, ms per step; under cProfile the host took "
                  f"{stats.total_tt / steps * 1e3:.2f} ms/step):"]
    lines += hot_spots(stats, steps, top)
    rec.close()
    return "\n".join(lines)


def inference(mx, ctx, symbol, x, y):
    """bench_all's inference forward, without its read-back (which waits on the host)."""
    ex = bench_all.clnet_executor(mx, ctx, symbol, x, y, for_training=False)
    return (lambda: ex.forward(is_train=False)), mx.nd.waitall, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctx", default="cpu", help="cpu, gpu or gpu:i")
    parser.add_argument("--model", choices=("mlp", "lenet", "infer", "all"), default="all",
                        help="infer: the MLP's forward at batch 1 through a bound executor")
    parser.add_argument("--path", choices=("module", "executor"), default="module")
    parser.add_argument("--steps", type=int, default=10, help="profiled steps per model")
    parser.add_argument("--top", type=int, default=15, help="host hot spots to list")
    args = parser.parse_args(argv)
    import clnet as mx
    kind, _, index = args.ctx.partition(":")
    ctx = mx.Context(kind, int(index or 0))
    dev = open_profiled_device(ctx)
    print(f"clnet on {ctx}: {dev.name}; {args.steps} profiled steps; load average "
          f"{os.getloadavg()[0]:.2f}\n", flush=True)
    trainer = (bench_all.clnet_module_trainer if args.path == "module"
               else bench_all.clnet_executor_trainer)
    models = ("mlp", "lenet", "infer") if args.model == "all" else (args.model,)
    for kind in models:
        batch = {"mlp": bench_all.MLP_BATCH, "lenet": bench_all.LENET_BATCH, "infer": 1}[kind]
        x, y = bench_all.batch_data("lenet" if kind == "lenet" else "mlp", batch)
        symbol = (bench_all.lenet_symbol if kind == "lenet" else bench_all.mlp_symbol)(mx)
        label = {"mlp": f"MLP 784-512-512-10 train b{batch}, {args.path} path",
                 "lenet": f"LeNet train b{batch}, {args.path} path",
                 "infer": "MLP 784-512-512-10 inference b1, bound executor"}[kind]
        make = functools.partial(inference if kind == "infer" else trainer, mx, ctx, symbol,
                                 x, y)
        print(profile(label, make, batch, dev, args.steps, args.top) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
