"""Devices, contexts, memory pool, program cache, asynchronous ordering and sync mode."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.test_utils import assert_almost_equal
from clnet.runtime import device as rdevice, discovery, get_device


def test_context_values():
    assert mx.cpu() == mx.cpu(0) == mx.Context("cpu", 0) == mx.Context(mx.cpu(0))
    assert mx.gpu(1) != mx.cpu(1) and str(mx.gpu(1)) == "gpu(1)"
    assert len({mx.cpu(0), mx.cpu(0), mx.gpu(0)}) == 2
    assert mx.gpu(2).device_type == "gpu" and mx.gpu(2).device_id == 2
    with pytest.raises(MXNetError, match="device_type 'tpu' is unknown"):
        mx.Context("tpu", 0)


def test_context_scoping_nested_and_thread_local():
    assert mx.current_context() == mx.cpu(0)
    with mx.Context("gpu", 3):
        assert mx.current_context() == mx.gpu(3)
        with mx.cpu(1):
            assert mx.current_context() == mx.cpu(1)
            seen = []
            t = threading.Thread(target=lambda: seen.append(mx.current_context()))
            t.start()
            t.join()
            assert seen == [mx.cpu(0)]
        assert mx.current_context() == mx.gpu(3)
    assert mx.current_context() == mx.cpu(0)


def test_arrays_follow_the_scoped_context():
    if len(discovery.devices_of_kind("cpu")) < 2:
        pytest.skip("needs two OpenCL CPU devices (POCL_DEVICES='pthread pthread')")
    with mx.cpu(1):
        x = mx.nd.ones((3,))
        assert x.context == mx.cpu(1)
    y = x.as_in_context(mx.cpu(0)) * 2
    assert y.context == mx.cpu(0) and np.array_equal(y.asnumpy(), [2, 2, 2])
    assert x.as_in_context(mx.cpu(1)) is x


def test_num_gpus_counts_gpu_devices():
    assert mx.context.num_gpus() == len(discovery.devices_of_kind("gpu", missing_ok=True))


def test_missing_gpu_error_says_how_to_fix():
    if mx.context.num_gpus() > 0:
        pytest.skip("this machine has a GPU")
    with pytest.raises(MXNetError, match=r"gpu\(0\) does not exist.*pocl"):
        mx.nd.ones((2,), ctx=mx.gpu(0))


def test_no_platform_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(discovery, "all_devices", lambda: ())
    with pytest.raises(MXNetError, match="no OpenCL platform found.*pip install "
                                         "pocl-binary-distribution"):
        discovery.find("cpu", 0)


def test_clnet_devices_pins_the_choice(monkeypatch):
    name = discovery.full_name(*discovery.devices_of_kind("cpu")[0])
    monkeypatch.setenv("CLNET_DEVICES", "cpu=no-such-device")
    assert discovery.devices_of_kind("cpu") == []
    monkeypatch.setenv("CLNET_DEVICES", f"cpu={name.split('/')[-1].strip()[:6]}")
    assert discovery.devices_of_kind("cpu")
    monkeypatch.setenv("CLNET_DEVICES", "tpu=x")
    with pytest.raises(MXNetError, match="CLNET_DEVICES item 'tpu=x'"):
        discovery.devices_of_kind("cpu")


def test_import_opens_no_device_and_no_sympy():
    code = ("import sys, clnet; from clnet.runtime import device; "
            "assert not device._devices, 'device opened'; "
            "assert 'sympy' not in sys.modules, 'sympy imported'; "
            "assert 'pyopencl' not in sys.modules, 'pyopencl imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_memory_info_tracks_use_and_pool(ctx):
    gc.collect()  # garbage of earlier tests must not be freed between the snapshots
    before = mx.context.memory_info(ctx)
    x = mx.nd.zeros((1000, 1000), ctx=ctx)
    during = mx.context.memory_info(ctx)
    assert during["in_use"] >= before["in_use"] + 4_000_000
    assert during["peak"] >= during["in_use"]
    del x
    after = mx.context.memory_info(ctx)
    assert after["in_use"] == before["in_use"]
    assert after["pooled"] >= 4_000_000
    y = mx.nd.zeros((1000, 1000), ctx=ctx)  # reuses the pooled buffer
    assert mx.context.memory_info(ctx)["allocations"] == after["allocations"]
    del y
    ctx.empty_cache()
    assert mx.context.memory_info(ctx)["pooled"] == 0


def _thp_eligible(address: int):
    """The THPeligible flag of the mapping holding `address` (/proc/self/smaps), or None
    where the kernel does not report it or has transparent huge pages off."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[never]" in f.read():
                return None
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    inside = False
    for line in lines:
        head = line.split()[0]
        if "-" in head and ":" not in head:  # a mapping's first line: start-end perms ...
            start, end = (int(v, 16) for v in head.split("-"))
            inside = start <= address < end
        elif inside and head == "THPeligible:":
            return line.split()[1] == "1"
    return None


def test_large_cpu_buffers_are_host_memory_on_huge_pages(ctx, monkeypatch):
    import pyopencl as cl
    from clnet.runtime.memory import HUGE_PAGE
    host_ptr = cl.mem_flags.USE_HOST_PTR
    monkeypatch.delenv("CLNET_HUGE_PAGES", raising=False)
    data = np.random.uniform(-1, 1, (1 << 20) + 4099).astype(np.float32)  # 4 MiB and more
    x = mx.nd.array(data, ctx=ctx)
    small = mx.nd.array(data[:1000], ctx=ctx)
    assert not small._buf.cl_buffer.flags & host_ptr
    if get_device(ctx).kind != "cpu":  # a GPU's memory is the driver's
        assert not x._buf.cl_buffer.flags & host_ptr
        return
    assert x._buf.cl_buffer.flags & host_ptr
    host = x._buf.cl_buffer.hostbuf
    assert host.ctypes.data % HUGE_PAGE == 0 and host.nbytes >= data.nbytes
    assert _thp_eligible(host.ctypes.data) in (True, None)
    # kernels, reads and writes use that memory in place
    np.testing.assert_array_equal(x.asnumpy(), data)
    assert_almost_equal(mx.nd.sum(x), np.float32(data.sum(dtype=np.float64)), rtol=1e-5,
                        atol=1e-3)
    x[:] = mx.nd.tanh(x) * 2
    assert_almost_equal(x, np.tanh(data) * 2, rtol=1e-6, atol=1e-6)
    monkeypatch.setenv("CLNET_HUGE_PAGES", "0")
    y = mx.nd.array(data[:786437], ctx=ctx)  # 3 MiB: a size class no buffer above has
    assert not y._buf.cl_buffer.flags & host_ptr
    np.testing.assert_array_equal(y.asnumpy(), data[:786437])


def test_out_of_memory_retries_then_names_bytes(ctx, monkeypatch):
    import pyopencl as cl
    pool = get_device(ctx).pool
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise cl.MemoryError("clCreateBuffer", cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE,
                             "refused")
    monkeypatch.setattr(cl, "Buffer", refuse)
    with pytest.raises(MXNetError, match=r"out of device memory on .*asked 4000000 bytes"):
        mx.nd.empty((1000, 1000), ctx=ctx)
    assert len(calls) == 2 and pool.pooled == 0


def test_a_buffer_collected_while_its_pool_is_locked_is_filed_later(ctx):
    """The garbage collector can run a Buffer's finalizer inside Pool.allocate, on the same
    thread, with the pool's lock held (an xdist run on NVIDIA hung so). Here that moment is
    made on a private pool, on a thread that cannot hang the suite."""
    from clnet.runtime.memory import Pool
    pool = Pool(get_device(ctx))
    buf, size = pool.allocate(1000)

    class Cycle:  # garbage only the collector frees, as an NDArray in a reference cycle
        pass
    owner = Cycle()
    owner.me = owner
    weakref.finalize(owner, pool.free, buf, size, [])
    del owner

    def collect_inside_the_lock():
        with pool._lock:
            gc.collect()
    thread = threading.Thread(target=collect_inside_the_lock, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "Pool.free waited for the lock its own thread held"
    assert (pool.in_use, pool.pooled) == (size, 0)  # given back, not filed yet
    pool.settle()
    assert (pool.in_use, pool.pooled) == (0, size)
    again, _ = pool.allocate(1000)
    assert again is buf and (pool.in_use, pool.pooled) == (size, 0)


def test_unsupported_dtype_error(ctx):
    dev = get_device(ctx)
    if dev.has_fp16:
        pytest.skip("device supports float16")
    with pytest.raises(MXNetError, match="float16 needs the OpenCL extension cl_khr_fp16"):
        mx.nd.zeros((2,), dtype="float16")
    with pytest.raises(MXNetError, match="dtype bool is not supported"):
        mx.nd.zeros((2,), dtype=bool)
    with pytest.raises(MXNetError, match="dtype complex64 is not supported"):
        mx.nd.zeros((2,), dtype=np.complex64)


def test_work_is_ordered_without_host_waits(ctx):
    # a chain of in-place updates and reads: each must see the previous write
    x = mx.nd.zeros((100000,), ctx=ctx)
    snapshots = []
    for i in range(20):
        x += 1
        snapshots.append(x * 1)  # a read of x queued before the next write
    assert [s.asnumpy()[-1] for s in snapshots] == list(range(1, 21))


def test_cross_device_copy_is_ordered():
    if len(discovery.devices_of_kind("cpu")) < 2:
        pytest.skip("needs two OpenCL CPU devices (POCL_DEVICES='pthread pthread')")
    a = mx.nd.zeros((200000,), ctx=mx.cpu(0))
    for _ in range(5):
        a += 1
    b = a.copyto(mx.cpu(1))
    a += 100  # must not leak into b: the copy was queued before
    b *= 2
    assert b.asnumpy()[0] == 10 and a.asnumpy()[0] == 105
    c = mx.nd.ones((200000,), ctx=mx.cpu(0))
    b.copyto(c)
    assert np.array_equal(c.asnumpy(), b.asnumpy())


def test_buffer_freed_under_a_pending_copy_is_not_reused_early():
    """A copy from cpu(0) into an array of cpu(1) runs on cpu(0)'s queue. The array dropped
    before it lands must not give its memory to a new cpu(1) array, whose queue would not
    wait for the copy (it would land on the new array's data)."""
    import pyopencl as cl
    if len(discovery.devices_of_kind("cpu")) < 2:
        pytest.skip("needs two OpenCL CPU devices (POCL_DEVICES='pthread pthread')")
    a = mx.nd.ones((50000,), ctx=mx.cpu(0)) * 7
    a.wait_to_read()
    dev0 = get_device(mx.cpu(0))
    gate = cl.UserEvent(dev0.cl_context)
    cl.enqueue_barrier(dev0.queue, wait_for=[gate])  # holds the copy below
    try:
        b = mx.nd.zeros((50000,), ctx=mx.cpu(1))
        a.copyto(b)
        del b
        gc.collect()
        c = mx.nd.zeros((50000,), ctx=mx.cpu(1))
        assert c.asnumpy().max() == 0
    finally:
        gate.set_status(cl.command_execution_status.COMPLETE)
    mx.nd.waitall()
    assert c.asnumpy().max() == 0
    d = mx.nd.zeros((50000,), ctx=mx.cpu(1))  # the copy has landed: the memory is free again
    assert d.asnumpy().max() == 0


def _cache_run(cache_dir):
    code = ("import sys; import clnet as mx; from clnet.runtime import device;"
            "x = mx.nd.array([1., 2.]); x.attach_grad();\n"
            "with mx.autograd.record(): y = mx.nd.exp(x) + mx.nd.tanh(x) * 3\n"
            "y.backward(); x.grad.asnumpy();"
            "print(device.build_stats['source_builds'], device.build_stats['binary_loads'],"
            "int('sympy' in sys.modules))")
    env = dict(os.environ, CLNET_CACHE_DIR=str(cache_dir), CLNET_DISK_CACHE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return [int(v) for v in out.stdout.split()]


def test_second_process_builds_nothing_the_first_built(tmp_path):
    """The second process loads every program the first built and never imports sympy:
    the printed expressions and derivatives are on disk too."""
    first = _cache_run(tmp_path)
    second = _cache_run(tmp_path)
    assert first[0] >= 3 and first[1] == 0 and first[2] == 1
    assert second == [0, first[0], 0]


def test_sync_mode_runs_each_op_to_completion(monkeypatch, ctx):
    calls = []
    dev = get_device(ctx)
    monkeypatch.setenv("CLNET_SYNC", "1")
    monkeypatch.setattr(dev, "sync", lambda what="operation": calls.append(what))
    mx.nd.ones((4,)) + mx.nd.ones((4,))
    assert any("broadcast_add" in c for c in calls)


def test_device_listing_and_identity(ctx):
    dev = get_device(ctx)
    assert dev.global_mem_size > 0 and dev.compute_units > 0
    assert dev.ctx == ctx and get_device(ctx) is dev
    assert rdevice.cache_dir().endswith("kernels")


def test_environment_flags_are_read_when_used(monkeypatch):
    from clnet.base import env_int, env_str, env_unset
    monkeypatch.delenv("CLNET_TEST_FLAG", raising=False)
    assert env_int("CLNET_TEST_FLAG", 7) == 7 and env_str("CLNET_TEST_FLAG", "x") == "x"
    monkeypatch.setenv("CLNET_TEST_FLAG", "3")
    assert env_int("CLNET_TEST_FLAG", 7) == 3
    monkeypatch.setenv("CLNET_TEST_FLAG", " ")
    assert env_int("CLNET_TEST_FLAG", 7) == 7
    monkeypatch.setenv("CLNET_TEST_FLAG", "d\u00e9j\u00e0")
    assert env_str("CLNET_TEST_FLAG") == "d\u00e9j\u00e0"
    with pytest.raises(MXNetError, match=r"CLNET_TEST_FLAG='d\u00e9j\u00e0' must be an integer"):
        env_int("CLNET_TEST_FLAG")
    os.environ.pop("CLNET_TEST_FLAG")
    assert env_int("CLNET_TEST_FLAG", 5) == 5
    assert env_unset(["CLNET_TEST_FLAG"])
    os.environ["CLNET_TEST_FLAG"] = ""  # set, though empty
    assert not env_unset(["CLNET_TEST_FLAG", "CLNET_OTHER_TEST_FLAG"])
    os.environ.pop("CLNET_TEST_FLAG")


def test_a_kernel_is_built_alone_from_its_template(ctx, monkeypatch, tmp_path):
    """With binaries stored, Device.kernel builds a program of the one kernel asked for
    (templates.single_kernel): pocl compiles every kernel of a program whose binary is
    stored. The others are cut out, declarations and bodies; the kernel still computes
    right."""
    monkeypatch.setenv("CLNET_DISK_CACHE", "1")
    monkeypatch.setenv("CLNET_CACHE_DIR", str(tmp_path / "kernels"))
    from clnet.codegen import templates
    from clnet.dtype import DTYPES
    from clnet.ops import mapping
    from clnet.optimizer import optimizer
    f32 = DTYPES["float32"]
    src = mapping.source("x*y + s", f32, (f32, f32), "probe_single")
    cut = templates.single_kernel(src, "ew_vec_probe_single_f32")
    assert cut.count("__kernel") == 1 and "ew_rest" in cut  # its helper stays
    assert templates.single_kernel(src, "no_such_kernel") is src
    opt_src = optimizer._program(f32)[0]
    for name in ("opt_sgd_f32", "opt_sgd_mom_f32", "opt_adam_f32"):  # prefixes of each other
        cut = templates.single_kernel(opt_src, name)
        assert cut.count("__kernel") == 1 and f"KN({name[:-4]})(" in cut, name
    dev = get_device(ctx)
    before = set(dev._kernels)  # kernels earlier tests built whole, without the disk cache
    knl = dev.kernel(src, "ew_vec_probe_single_f32")
    assert [k.function_name for k in knl.program.all_kernels()] == ["ew_vec_probe_single_f32"]
    a = mx.nd.array(np.arange(20, dtype=np.float32), ctx=ctx)
    with mx.Context(ctx):
        got = mx.nd.invoke("broadcast_mul", [a, a], {}) + 1  # ew_vec of its own program
    np.testing.assert_allclose(got.asnumpy(), np.arange(20) ** 2 + 1)
    # kernels with local memory (norm) and several kernels per op (gemm) build alone too
    x = np.random.uniform(-1, 1, (4, 6, 3, 3)).astype(np.float32)
    with mx.autograd.train_mode():  # batch statistics: bn_forward's work-group reduction
        y = mx.nd.BatchNorm(mx.nd.array(x, ctx=ctx),
                            *(mx.nd.ones((6,), ctx=ctx) for _ in range(2)),
                            mx.nd.zeros((6,), ctx=ctx), mx.nd.ones((6,), ctx=ctx),
                            fix_gamma=False)
    mean, var = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    assert_almost_equal(y, (x - mean) / np.sqrt(var + 1e-3) + 1, rtol=1e-4, atol=1e-4)
    # a kernel calling another one it would lose: the cut program fails, the whole one builds
    calls = ("__kernel void probe_callee(__global float *a) { a[0] = 2; }\n"
             "__kernel void probe_caller(__global float *a) { probe_callee(a); a[1] = 3; }\n")
    assert "void probe_callee" not in templates.single_kernel(calls, "probe_caller")
    caller = dev.kernel(calls, "probe_caller")
    assert len(caller.program.all_kernels()) == 2
    import pyopencl as cl
    host = np.zeros(2, np.float32)
    buf = cl.Buffer(dev.cl_context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                    hostbuf=host)
    caller(dev.queue, (1,), None, buf)
    cl.enqueue_copy(dev.queue, host, buf)
    assert host.tolist() == [2.0, 3.0]
    for key in set(dev._kernels) - before:  # what this test built, cut to one kernel
        source, _, name = key
        kept_whole = ("__kernel __attribute__" in source or "REDUCE_KERNELS" in source
                      or "probe_callee" in source)
        assert len(dev._kernels[key].program.all_kernels()) == 1 or kept_whole, name
