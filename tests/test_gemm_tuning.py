"""Tests for the GEMM parameter search and its tuning file (clnet.runtime.tuning, the search
side of clnet.ops.matrix): every candidate parameter set of every device kind and the GEMV
kernel against numpy (odd shapes, all transpose cases, batches, alpha/beta, bias, strided
operands, float32 and float64); the search keeping the fastest candidate outside any launch
recording; the file written, re-read by a new process that then searches nothing, a corrupt
or foreign file ignored and rebuilt, one file per device identity. Nothing here is timed."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import clnet as mx
from clnet.base import MXNetError
from clnet.codegen import templates
from clnet.ops import matrix
from clnet.runtime import get_device, replay, tuning

from conftest import supported_dtypes

FLAGS = list(itertools.product((False, True), repeat=2))
# (m, n, k) from {1, 3, 17, 1000}, k = 1000 in few of them (runtime)
SHAPES = [(1, 1, 1), (3, 17, 3), (17, 3, 17), (17, 17, 1), (1, 1000, 3), (1000, 3, 17),
          (3, 17, 1000), (17, 1, 1000)]
GEMV_SHAPES = [(1, 1, 1), (1, 17, 1000), (3, 1000, 17), (4, 3, 3), (2, 17, 17), (3, 1, 1000)]


def _dt(dtype):
    return mx.nd.array(np.zeros(1), dtype=dtype)._dt


def _strided(host, pad):
    """An NDArray view of `host` (batch, rows, cols) inside a wider parent (row stride
    cols + pad, element offset 1), and the Operand reading it, optionally transposed."""
    b, r, c = host.shape
    parent = np.zeros((b, r, c + pad + 1), host.dtype)
    parent[:, :, 1:c + 1] = host
    x = mx.nd.array(parent, dtype=host.dtype)
    return x, matrix.Operand(x._buf, 1, c + pad + 1, 1, r * (c + pad + 1))


def _run_case(dev, dtype, path, params, m, n, k, ta, tb, pad=0, batch=2, bias=True):
    """gemm with forced `path` and `params` on random operands against numpy."""
    rng = np.random
    a = rng.uniform(-1, 1, (batch,) + ((k, m) if ta else (m, k))).astype(dtype)
    b = rng.uniform(-1, 1, (batch,) + ((n, k) if tb else (k, n))).astype(dtype)
    c = rng.uniform(-1, 1, (batch, m, n)).astype(dtype)
    v = rng.uniform(-1, 1, (2 * n,)).astype(dtype)
    _, op_a = _strided(a, pad)  # the Operand holds the parent's buffer
    _, op_b = _strided(b, pad)
    op_a = op_a._replace(rs=op_a.cs, cs=op_a.rs) if ta else op_a
    op_b = op_b._replace(rs=op_b.cs, cs=op_b.rs) if tb else op_b
    xc, xv = mx.nd.array(c, dtype=dtype), mx.nd.array(v, dtype=dtype)
    alpha, beta = 1.5, 0.5
    # a strided bias: every other element of v
    op_v = matrix.Operand(xv._buf, 1, 0, 2, 0) if bias else None
    matrix.gemm(dev, _dt(dtype), m, n, k, op_a, op_b, matrix.Operand(xc._buf, 0, n, 1, m * n),
                batch=batch, alpha=alpha, beta=beta, bias=op_v, params=params, path=path)
    opa = np.swapaxes(a, 1, 2) if ta else a
    opb = np.swapaxes(b, 1, 2) if tb else b
    want = alpha * np.matmul(opa.astype(np.float64), opb) + beta * c
    if bias:
        want += v[1::2]
    eps = {"float32": 1.2e-7, "float64": 2.3e-16}[dtype]
    np.testing.assert_allclose(xc.asnumpy(), want, rtol=8 * eps * k ** 0.5, atol=8 * eps * k,
                               err_msg=f"{path} {params} m={m} n={n} k={k} ta={ta} tb={tb}")


@pytest.mark.parametrize("kind,path", sorted(matrix.CANDIDATES))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_every_candidate(ctx, kind, path, dtype, monkeypatch):
    """Every parameter set the search may choose computes the right product, on every layout
    its path takes (the packed kernels take any; GEMV needs both operands k-contiguous)."""
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} lacks {dtype}")
    monkeypatch.setattr(matrix, "device_kind", lambda device: kind)
    dev = get_device(ctx)
    for i, change in enumerate(matrix.CANDIDATES[kind, path]):
        params = matrix.gemm_params(dev, _dt(dtype), change)
        if path == "gemv":
            cases = [(s, (False, True)) for s in GEMV_SHAPES]
        else:
            cases = list(zip(SHAPES, itertools.cycle(FLAGS)))
            cases += [((17, 17, 17), f) for f in FLAGS]
        for j, ((m, n, k), (ta, tb)) in enumerate(cases):
            _run_case(dev, dtype, path, params, m, n, k, ta, tb, pad=(i + j) % 3,
                      batch=1 + j % 2, bias=j % 3 != 2)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_gemv_path(ctx, dtype):
    """kernel_path sends m <= 4 products with k-contiguous operands to the GEMV kernel, which
    also serves non-contiguous rows (row stride > k) and all-default parameters."""
    if dtype not in supported_dtypes(ctx, (dtype,)):
        pytest.skip(f"{ctx} lacks {dtype}")
    dev, dt = get_device(ctx), _dt(dtype)
    a = matrix.Operand(None, 0, 784, 1, 0)
    w_t = matrix.Operand(None, 0, 1, 784, 0)
    assert matrix.kernel_path(dev, dt, 1, 512, 784, a, w_t) == "gemv"
    assert matrix.kernel_path(dev, dt, 5, 512, 784, a, w_t) != "gemv"
    assert matrix.kernel_path(dev, dt, 1, 512, 784, a, w_t._replace(rs=512, cs=1)) != "gemv"
    for (m, n, k), pad in zip(GEMV_SHAPES, itertools.cycle((0, 3))):
        _run_case(dev, dtype, None, None, m, n, k, False, True, pad=pad)


def test_fully_connected_is_one_launch(ctx):
    """FullyConnected's forward adds the bias in the GEMM's store: one launch at batch 1."""
    x, w, b = (mx.nd.array(np.random.uniform(-1, 1, s)) for s in ((1, 784), (512, 784), (512,)))
    mx.nd.FullyConnected(x, w, b, num_hidden=512).wait_to_read()
    dev = get_device(ctx)
    before = dev.launches
    y = mx.nd.FullyConnected(x, w, b, num_hidden=512)
    assert dev.launches - before == 1
    want = x.asnumpy().astype(np.float64) @ w.asnumpy().T + b.asnumpy()
    np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-4, atol=1e-4)


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# -- the search --------------------------------------------------------------------------
@pytest.fixture
def tune_dir(tmp_path, monkeypatch):
    """Searches on, tuning files under tmp_path, no choice remembered in memory."""
    monkeypatch.setenv("CLNET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CLNET_GEMM_TUNE", "1")
    matrix.forget_choices()
    tuning.forget()
    yield tmp_path
    matrix.forget_choices()
    tuning.forget()


def test_choose_keeps_fastest_and_stores(ctx, tune_dir, monkeypatch):
    """Each candidate's best over the passes decides; a candidate rejected in the first pass
    is not timed again."""
    monkeypatch.setattr(tuning, "PASSES", 3)
    dev = get_device(ctx)
    # per pass: 1 is fastest in the first (a quiet host while it ran), 2 at its best later
    times = {1: [1.5, 3.0, 3.0], 2: [4.0, 1.0, 2.0], 4: [2.0, 2.0, 2.0]}
    seen = []

    def measure(cand):
        assert replay.active() is None  # never part of a recorded step
        seen.append(cand["x"])
        if cand["x"] == 3:
            raise MXNetError("rejected by the device")
        return times[cand["x"]][seen.count(cand["x"]) - 1]

    cands = [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}]
    with replay.paused():
        searches = tuning.stats["searches"]
        assert tuning.choose(dev, "demo", "k1", cands, measure) == {"x": 2}
        assert seen == [1, 2, 3, 4, 1, 2, 4, 1, 2, 4]
        assert tuning.stats["searches"] == searches + 1
        seen.clear()
        assert tuning.choose(dev, "demo", "k1", cands, measure) == {"x": 2}
        assert seen == []  # remembered
        # a stored choice that is no longer a candidate is searched again
        assert tuning.choose(dev, "demo", "k1", [{"x": 1}], measure) == {"x": 1}
        assert seen == [1, 1, 1]
        seen.clear()
        # a spent budget stops after the first candidate, in the first pass
        assert tuning.choose(dev, "demo", "k2", cands, measure, budget_s=-1) == {"x": 1}
        assert seen == [1]
    doc = _json(tuning.path_for(dev.identity))
    assert doc["identity"] == dev.identity
    assert doc["entries"]["demo"] == {"k1": {"x": 1}, "k2": {"x": 1}}


def test_store_per_identity_and_corrupt_files(ctx, tune_dir):
    one, two = tuning.Store("platform|dev|1.0"), tuning.Store("platform|dev|2.0")
    assert one.path != two.path and os.path.dirname(one.path) == str(tune_dir / "tuning")
    one.put("gemm", "key", {"MR": 6})
    assert tuning.Store("platform|dev|1.0").get("gemm", "key") == {"MR": 6}
    assert tuning.Store("platform|dev|2.0").get("gemm", "key") is None
    # another identity's document at this path (a hash collision, a copied file) is ignored
    with open(two.path, "w") as f:
        json.dump({"version": tuning.VERSION, "identity": "other", "entries": {"gemm": {
            "key": {"MR": 6}}}}, f)
    assert tuning.Store("platform|dev|2.0").get("gemm", "key") is None
    # choices timed with other kernel templates (an older clnet) are searched again
    doc = _json(one.path)
    assert doc["kernels"] == templates.digest()
    with open(one.path, "w") as f:
        json.dump(dict(doc, kernels="0" * 32), f)
    assert tuning.Store("platform|dev|1.0").get("gemm", "key") is None
    for garbage in ("{not json", "[1, 2]", '{"version": 1}'):
        with open(one.path, "w") as f:
            f.write(garbage)
        store = tuning.Store("platform|dev|1.0")
        assert store.get("gemm", "key") is None
        store.put("gemm", "key2", {"NJ": 2})  # rebuilt whole
        assert _json(one.path)["entries"] == {"gemm": {"key2": {"NJ": 2}}}


def test_gemm_search_picks_a_candidate(ctx, tune_dir):
    """A product on the search path: every candidate timed once, the choice stored under the
    shape class, and the product still right."""
    dev = get_device(ctx)
    a, b = np.random.uniform(-1, 1, (70, 300)), np.random.uniform(-1, 1, (300, 90))
    xa, xb = mx.nd.array(a), mx.nd.array(b)
    searches = tuning.stats["searches"]
    got = mx.nd.dot(xa, xb).asnumpy()
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
    assert tuning.stats["searches"] == searches + 1
    op_a, op_b = matrix.Operand(None, 0, 300, 1, 0), matrix.Operand(None, 0, 90, 1, 0)
    path = matrix.kernel_path(dev, xa._dt, 70, 90, 300, op_a, op_b)
    assert path == ("tiled" if dev.kind == "gpu" else "packed")
    key = matrix.shape_class(xa._dt, path, 70, 90, 300, op_a, op_b)
    assert tuning.store_for(dev).get("gemm", key) in list(matrix.CANDIDATES[
        matrix.device_kind(dev), path])
    mx.nd.dot(mx.nd.array(a[:65]), xb).wait_to_read()  # the same class: no new search
    assert tuning.stats["searches"] == searches + 1


def test_small_products_try_no_candidate_that_builds(ctx, tune_dir, monkeypatch):
    """Below BUILD_MIN_FLOPS the search times only candidates that change kernel arguments
    (no program build); from it on, every candidate of the path."""
    monkeypatch.setattr(matrix, "device_kind", lambda device: "cpu")
    dev, dt = get_device(ctx), _dt("float32")
    timed = []

    def fake_time(device, dt, dims, a, b, params):
        timed.append((dims, {k: params[k] for k in ("MR", "APACK", "KC")}))
        return 1.0 / len(timed)  # the last one timed wins
    monkeypatch.setattr(matrix, "_time_candidate", fake_time)
    op = matrix.Operand(None, 0, 1, 1, 0)
    cands = matrix.CANDIDATES["cpu", "packed"]
    built = [c for c in cands if matrix.BUILT & c.keys()]
    assert built, "the CPU candidates no longer hold one that builds: the test tests nothing"
    edge = round((matrix.BUILD_MIN_FLOPS["cpu"] / 2) ** (1 / 3))  # m = n = k at the threshold
    assert tuning.bucket(edge // 4) != tuning.bucket(edge)  # two shape classes, two searches
    for m, want in ((edge // 4, [c for c in cands if c not in built]), (edge, list(cands))):
        timed.clear()
        params = matrix._tuned(dev, dt, "packed", (m, m, m, 1), op, op)
        assert [t[1] for t in timed] == [
            {k: matrix.gemm_params(dev, dt, c)[k] for k in ("MR", "APACK", "KC")} for c in want
        ] * tuning.PASSES
        assert params == matrix.gemm_params(dev, dt, want[-1])


def test_search_off_uses_defaults(ctx, tune_dir, monkeypatch):
    monkeypatch.setenv("CLNET_GEMM_TUNE", "0")
    matrix.forget_choices()
    searches = tuning.stats["searches"]
    mx.nd.dot(mx.nd.ones((70, 300)), mx.nd.ones((300, 90))).wait_to_read()
    assert tuning.stats["searches"] == searches
    assert not os.path.exists(tune_dir / "tuning")


_CHILD = """
import json, sys
import numpy as np
import clnet as mx
from clnet.runtime import get_device, tuning
x = mx.nd.array(np.ones((1, 40)))
w, b = mx.nd.array(np.ones((30, 40))), mx.nd.array(np.ones(30))
y = mx.nd.FullyConnected(x, w, b, num_hidden=30).asnumpy()
z = mx.nd.dot(mx.nd.ones((70, 300)), mx.nd.ones((300, 90))).asnumpy()
assert (y == 41).all() and (z == 300).all()
print(json.dumps({"stats": tuning.stats, "path": tuning.path_for(get_device().identity)}))
"""


def _child(tmp_path, ctx):
    env = dict(os.environ, CLNET_CACHE_DIR=str(tmp_path), CLNET_GEMM_TUNE="1")
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                         check=False, text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_new_process_starts_tuned(ctx, tmp_path):
    """The first process searches (GEMV and packed classes) and writes the file; a second one
    reads it and searches nothing; a corrupt file is ignored and rewritten."""
    if ctx.device_type != "cpu":
        pytest.skip("the child process opens the default (CPU) context")
    first = _child(tmp_path, ctx)
    assert first["stats"]["searches"] == 2
    doc = _json(first["path"])
    assert sorted(k.split("/")[1] for k in doc["entries"]["gemm"]) == ["gemv", "packed"]
    second = _child(tmp_path, ctx)
    assert second["stats"]["searches"] == 0 and second["stats"]["loads"] >= 1
    with open(first["path"], "w") as f:
        f.write('{"version": 1, "identity": ')
    third = _child(tmp_path, ctx)
    assert third["stats"]["searches"] == 2
    assert len(_json(first["path"])["entries"]["gemm"]) == 2
