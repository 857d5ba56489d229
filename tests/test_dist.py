"""dist_sync over MPI: `mpiexec -n 2` on this machine trains examples/dist_worker.py, every
worker ends with the same parameters as one process training on the combined batches, and a
worker that leaves the job makes the other fail with a clear error instead of hanging."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import clnet as mx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = 2


def _mpiexec():
    """The mpiexec beside this Python (mpich's wheel installs it there), else on PATH."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'clnet[dist]': mpi4py and mpich)")
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = local if os.access(local, os.X_OK) else shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec beside the Python executable or on PATH (pip install mpich)")
    return found


def _run(args, timeout_s: float, env_extra=None):
    env = dict(os.environ, POCL_DEVICES="pthread", POCL_MAX_PTHREAD_COUNT="1")
    # Open MPI's mpiexec refuses root (containers, CI images) unless told twice; mpich ignores it
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.update(env_extra or {})
    return subprocess.run([_mpiexec(), "-n", str(WORKERS), sys.executable, *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout_s)


def _example():
    spec = importlib.util.spec_from_file_location(
        "dist_worker", os.path.join(ROOT, "examples", "dist_worker.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kv_type,ctx,pocl", [("dist_sync", "cpu", "pthread"),
                                             ("dist_device_sync", "cpu:0,1", "pthread pthread")])
def test_dist_sync_matches_one_process_on_the_combined_batch(tmp_path, kv_type, ctx, pocl):
    epochs, batch, examples, seed = 3, 16, 384, 7
    prefix = str(tmp_path / "w")
    out = _run(["examples/dist_worker.py", "--kv-store", kv_type, "--ctx", ctx, "--epochs",
                str(epochs), "--batch-size", str(batch), "--num-examples", str(examples),
                "--seed", str(seed), "--save", prefix], timeout_s=300,
               env_extra={"POCL_DEVICES": pocl})
    assert out.returncode == 0, out.stdout + out.stderr
    ranks = [{k: v.asnumpy() for k, v in mx.nd.load(f"{prefix}-rank{r}.params").items()}
             for r in range(WORKERS)]
    for name in ranks[0]:
        np.testing.assert_array_equal(ranks[1][name], ranks[0][name], err_msg=name)

    # one process, batch WORKERS x batch: step b sees every worker's batch b side by side
    ex = _example()
    x, y = ex.load_data(examples)
    parts = [ex.part(x, y, r, WORKERS) for r in range(WORKERS)]
    steps = len(parts[0][0]) // batch
    order = [(p, slice(b * batch, (b + 1) * batch)) for b in range(steps) for p in parts]
    xs = np.concatenate([p[0][sl] for p, sl in order])
    ys = np.concatenate([p[1][sl] for p, sl in order])
    mx.random.seed(seed)
    np.random.seed(seed)
    mod = mx.mod.Module(ex.mlp(), context=mx.cpu(0))
    mod.fit(mx.io.NDArrayIter(xs, ys, batch * WORKERS, last_batch_handle="discard"),
            num_epoch=epochs, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier())
    arg, _ = mod.get_params()
    assert sorted(arg) == sorted(ranks[0])
    for name, value in arg.items():
        np.testing.assert_allclose(ranks[0][name], value.asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


_LEAVER = """
import os, sys
import clnet as mx
kv = mx.kv.create("dist_sync")
kv.init("w", mx.nd.zeros((4,)))
for step in range(1000000):
    if kv.rank == 1 and step == 3:
        if sys.argv[1] == "exit":
            sys.exit(0)  # leaves the job cleanly (MPI is finalized) while the others go on
        os._exit(3)      # dies without a word
    kv.pushpull("w", mx.nd.ones((4,)))
print("worker", kv.rank, "was never stopped")
"""


@pytest.mark.parametrize("how", ["exit", "crash"])
def test_a_worker_leaving_makes_the_others_fail(tmp_path, how):
    script = tmp_path / "leaver.py"
    script.write_text(_LEAVER)
    # a hang would end in subprocess.TimeoutExpired and fail the test
    out = _run([str(script), how], timeout_s=120, env_extra={"CLNET_DIST_TIMEOUT": "3"})
    assert out.returncode != 0, out.stdout + out.stderr
    assert "was never stopped" not in out.stdout
    if how == "exit":
        assert ("MXNetError: kvstore dist_sync: worker 0 of 2 waited 3 s (CLNET_DIST_TIMEOUT) "
                "for the other workers while summing keys ['w'] across workers") in out.stderr, \
            out.stderr
