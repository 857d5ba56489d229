"""Tests for clnet.ops.conv: Convolution, Deconvolution, Pooling and UpSampling forward
against numpy references (1-D and 2-D, stride, padding, dilation, groups, no_bias, odd sizes,
offset views, batch chunking, im2col writing the GEMM's packed panels or the plain
matrix), their gradients against central differences in float64
through autograd (mx.nd) and the executor (mx.sym), Deconvolution as Convolution's data
gradient, the gradient helper ops (and a second-order gradient), MXNet's shape inference and
auto names, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest

import clnet as mx
import clnet.ops.conv as conv  # registers the ops until clnet/ops/__init__.py lists the family
from clnet.base import MXNetError
from clnet.ops import matrix

from conftest import supported_dtypes

FLOATS = ("float32", "float64", "float16")
TOL = {"float16": (2e-2, 2e-2), "float32": (2e-5, 2e-5), "float64": (1e-10, 1e-11),
       "numeric": (1e-6, 1e-7)}  # against central differences


def _dtypes(ctx):
    return supported_dtypes(ctx, FLOATS)


def _need64(ctx):
    if "float64" not in _dtypes(ctx):
        pytest.skip(f"{ctx} lacks float64")


def _nd(host, dtype="float64"):
    return mx.nd.array(np.asarray(host), dtype=dtype)


def _close(got, want, dtype="float64"):
    rtol, atol = TOL[dtype if dtype == "numeric" else np.dtype(dtype).name]
    got = got.asnumpy() if hasattr(got, "asnumpy") else np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol * scale)


def _rand(*shape):
    return np.random.uniform(-1, 1, shape)


# -- numpy references (float64) ----------------------------------------------------------------
def ref_conv(x, w, b, stride, dilate, pad, groups):
    if x.ndim == 3:
        y = ref_conv(x[:, :, None], w[:, :, None], b, (1,) + stride, (1,) + dilate,
                     (0,) + pad, groups)
        return y[:, :, 0]
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dilate[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilate[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    fg = f // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                h0, w0 = i * dilate[0], j * dilate[1]
                patch = xp[:, g * cg:(g + 1) * cg, h0:h0 + stride[0] * (oh - 1) + 1:stride[0],
                           w0:w0 + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * fg:(g + 1) * fg] += np.einsum("nchw,fc->nfhw", patch,
                                                         w[g * fg:(g + 1) * fg, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def ref_deconv(x, w, b, stride, dilate, pad, out_size, groups):
    """Scatter form: y[..., i * s + k * d - p] += x[..., i] * w[c, f, k]."""
    if x.ndim == 3:
        y = ref_deconv(x[:, :, None], w[:, :, None], b, (1,) + stride, (1,) + dilate,
                       (0,) + pad, (1,) + out_size, groups)
        return y[:, :, 0]
    n, c, h, wd = x.shape
    _, fg, kh, kw = w.shape
    cg = c // groups
    size = [max((x_ - 1) * s + d * (k - 1) + 1, o + p) + 1 for x_, s, d, k, o, p in
            zip((h, wd), stride, dilate, (kh, kw), out_size, pad)]
    full = np.zeros((n, fg * groups) + tuple(size))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                h0, w0 = i * dilate[0], j * dilate[1]
                full[:, g * fg:(g + 1) * fg, h0:h0 + stride[0] * (h - 1) + 1:stride[0],
                     w0:w0 + stride[1] * (wd - 1) + 1:stride[1]] += np.einsum(
                    "nchw,cf->nfhw", x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg, :, i, j])
    y = full[:, :, pad[0]:pad[0] + out_size[0], pad[1]:pad[1] + out_size[1]]
    return y + (b[None, :, None, None] if b is not None else 0)


def ref_pool(x, kernel, stride, pad, pool_type, convention="valid", include_pad=True):
    if x.ndim == 3:
        return ref_pool(x[:, :, None], (1,) + kernel, (1,) + stride, (0,) + pad, pool_type,
                        convention, include_pad)[:, :, 0]
    h, w = x.shape[2:]
    rnd = np.floor if convention == "valid" else np.ceil
    oh, ow = (int(rnd((n + 2 * p - k) / s)) + 1
              for n, k, s, p in zip((h, w), kernel, stride, pad))
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * stride[0] - pad[0], j * stride[1] - pad[1]
            he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we].reshape(x.shape[:2] + (-1,))
            if pool_type == "max":  # an empty window (padding only) gives -inf here
                out[:, :, i, j] = win.max(axis=-1) if win.shape[-1] else -np.inf
            elif pool_type == "sum":
                out[:, :, i, j] = win.sum(axis=-1)
            else:
                size = size if include_pad else (he - hs) * (we - ws)
                out[:, :, i, j] = win.sum(axis=-1) / size if size > 0 else 0
    return out


def numeric_grads(fn, arrays, head, eps=1e-6):
    """Central differences of sum(fn(*arrays) * head) for every element of every array."""
    arrays = [a.copy() for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in np.ndindex(*a.shape):
            old = a[i]
            a[i] = old + eps
            up = np.sum(fn(*arrays) * head)
            a[i] = old - eps
            down = np.sum(fn(*arrays) * head)
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def autograd_grads(fn, arrays, head):
    """Gradients of sum(fn(*nd arrays) * head) from mx.autograd (float64)."""
    nds = [_nd(a) for a in arrays]
    for v in nds:
        v.attach_grad()
    with mx.autograd.record():
        out = fn(*nds)
    out.backward(_nd(head))
    return [v.grad.asnumpy() for v in nds]


def executor_grads(sym, values: dict, head):
    """Gradients of sum(sym * head) from bind + backward (float64)."""
    args = {k: _nd(v) for k, v in values.items()}
    grads = {k: mx.nd.zeros(v.shape, dtype="float64") for k, v in values.items()}
    ex = sym.bind(mx.current_context(), args, args_grad=grads)
    ex.forward(is_train=True)
    ex.backward([_nd(head)])
    return {k: g.asnumpy() for k, g in grads.items()}, ex.outputs[0].asnumpy()


@pytest.fixture
def conv_search(monkeypatch, tmp_path):
    """The convolution method search on, storing in a tuning file of its own, with nothing
    chosen yet in this process: yields clnet.runtime.tuning."""
    from clnet.runtime import tuning
    monkeypatch.setenv("CLNET_CONV_TUNE", "1")
    monkeypatch.setenv("CLNET_CACHE_DIR", str(tmp_path))
    for chosen in ("_FORWARD_CHOSEN", "_WGRAD_CHOSEN", "_DGRAD_CHOSEN"):
        monkeypatch.setattr(conv, chosen, {})
    tuning.forget()
    yield tuning
    tuning.forget()


# -- Convolution -------------------------------------------------------------------------------
# data shape, num_filter, kernel, stride, dilate, pad, num_group, no_bias
CONV_CASES = [
    ((2, 3, 7, 6), 4, (3, 3), (), (), (), 1, False),
    ((2, 4, 9, 8), 6, (3, 2), (2, 1), (1, 2), (1, 2), 2, False),
    ((1, 6, 5, 7), 6, (2, 3), (1, 2), (2, 1), (0, 1), 3, True),
    ((3, 2, 11), 5, (3,), (2,), (2,), (1,), 1, False),
    ((2, 4, 10), 4, (4,), (3,), (1,), (2,), 2, True),
    ((2, 1, 5, 5), 3, (5, 5), (), (), (), 1, False),
    ((2, 3, 4, 3), 2, (1, 1), (), (), (), 1, False),
    ((1, 2, 6, 7), 2, (2, 2), (3, 3), (), (1, 1), 1, False),
    # rows long enough for the 8-wide runs of im2col / col2im, with a scalar tail and padding
    ((2, 2, 6, 13), 3, (3, 3), (), (), (1, 1), 1, False),
    ((2, 2, 21), 3, (3,), (), (2,), (1,), 1, True),
    ((1, 2, 4, 11), 2, (1, 1), (), (), (), 2, False),  # 1x1: the image rows are one run
    # one input channel per group: the direct kernel (vector columns, scalar edges)
    ((2, 1, 9, 20), 6, (5, 5), (), (), (), 1, False),
    ((2, 3, 5, 14), 6, (3, 3), (), (2, 1), (1, 2), 3, False),
    ((2, 1, 23), 2, (3,), (2,), (), (1,), 1, True),
    # depthwise (one channel per group and filter): the data gradient's direct kernel
    ((2, 4, 7, 19), 4, (3, 3), (), (), (1, 1), 4, False),
    ((2, 3, 9, 12), 3, (3, 2), (), (2, 2), (2, 1), 3, True),
    ((2, 3, 17), 3, (5,), (), (), (2,), 3, False),
    ((1, 2, 5, 6), 2, (2, 2), (), (), (2, 2), 2, True),  # pad > (K-1)*D
    ((2, 3, 4, 5), 3, (1, 2), (), (1, 2), (0, 3), 3, False),  # last columns read no pixel
    ((2, 3, 8, 9), 3, (3, 3), (2, 2), (), (1, 1), 3, False),  # stride 2
    ((1, 2, 7, 17), 2, (2, 3), (3, 2), (1, 2), (1, 0), 2, True),  # strides 3 and 2, dilated
    # stride 2, rows wide enough for the forward's vector runs (every other column)
    ((2, 2, 5, 40), 2, (3, 3), (2, 2), (), (1, 1), 2, False),
    ((1, 2, 4, 53), 2, (1, 3), (1, 2), (1, 2), (0, 2), 2, True),
]


def _conv_kwargs(case):
    _, f, kernel, stride, dilate, pad, groups, no_bias = case
    kw = {"kernel": kernel, "num_filter": f, "num_group": groups, "no_bias": no_bias}
    for name, v in (("stride", stride), ("dilate", dilate), ("pad", pad)):
        if v:
            kw[name] = v
    return kw


def _conv_ref_args(case):
    shape, f, kernel, stride, dilate, pad, groups, no_bias = case
    nd = len(kernel)
    return (stride or (1,) * nd, dilate or (1,) * nd, pad or (0,) * nd, groups)


def _conv_arrays(case):
    shape, f, kernel, _, _, _, groups, no_bias = case
    arrays = [_rand(*shape), _rand(f, shape[1] // groups, *kernel)]
    return arrays if no_bias else arrays + [_rand(f)]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_convolution_forward(ctx, case):
    arrays = _conv_arrays(case)
    want = ref_conv(arrays[0], arrays[1], arrays[2] if len(arrays) > 2 else None,
                    *_conv_ref_args(case))
    for dtype in _dtypes(ctx):
        got = mx.nd.Convolution(*[_nd(a, dtype) for a in arrays], **_conv_kwargs(case))
        assert got.dtype == np.dtype(dtype)
        _close(got, want, dtype)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_convolution_backward(ctx, case):
    _need64(ctx)
    kw = _conv_kwargs(case)
    arrays = _conv_arrays(case)
    ref = _conv_ref_args(case)

    def fn(x, w, b=None):
        return ref_conv(x, w, b, *ref)
    head = _rand(*fn(*arrays).shape)
    want = numeric_grads(fn, arrays, head)
    got = autograd_grads(lambda *v: mx.nd.Convolution(*v, **kw), arrays, head)
    for g, w in zip(got, want):
        _close(g, w, "numeric")
    names = ["data", "conv0_weight", "conv0_bias"][:len(arrays)]
    sym = mx.sym.Convolution(mx.sym.var("data"), name="conv0", **kw)
    assert sym.list_arguments() == names
    grads, out = executor_grads(sym, dict(zip(names, arrays)), head)
    _close(out, fn(*arrays))
    for name, w in zip(names, want):
        _close(grads[name], w, "numeric")


def ref_weight_grad(dy, x, kernel, stride, pad):
    """sum over n, oh, ow of dy[n, f, oh, ow] * x_padded[n, c, oh * s + i, ow * s + j]."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = dy.shape[2:]
    dw = np.zeros((dy.shape[1], x.shape[1]) + tuple(kernel))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            patch = xp[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0],
                       j:j + stride[1] * (ow - 1) + 1:stride[1]]
            dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dy, patch)
    return dw


def test_convolution_large_products(ctx):
    """Sizes whose GEMMs take matrix's packed path (forward, data and weight gradients)."""
    x, w, b = _rand(4, 8, 17, 16), _rand(24, 8, 3, 3), _rand(24)
    geo = {"kernel": (3, 3), "stride": (1, 2), "pad": (1, 1)}
    want = ref_conv(x, w, b, (1, 2), (1, 1), (1, 1), 1)
    dy = _rand(*want.shape)
    want_dx = ref_deconv(dy, np.ascontiguousarray(w), None, (1, 2), (1, 1), (1, 1), (17, 16),
                         1)
    for dtype in _dtypes(ctx):
        nds = [_nd(a, dtype) for a in (x, w, b)]
        for t in nds:
            t.attach_grad()
        with mx.autograd.record():
            y = mx.nd.Convolution(*nds, num_filter=24, **geo)
        y.backward(_nd(dy, dtype))
        for got, ref in ((y, want), (nds[0].grad, want_dx),
                         (nds[1].grad, ref_weight_grad(dy, x, (3, 3), (1, 2), (1, 1))),
                         (nds[2].grad, dy.sum(axis=(0, 2, 3)))):
            _close(got, ref, dtype)




@pytest.mark.parametrize("width,kernel,pad,dilate", [
    (5, 3, 1, 1),    # fewer than 8 output columns: one block
    (8, 3, 1, 1),    # 8 columns, none all inside: one block
    (30, 3, 1, 1),   # vector runs between the two edge blocks
    (9, 2, 11, 1),   # edges wider than a block on both sides
    (13, 3, 4, 3),   # dilated taps
    (30, 5, 2, 7),   # a kernel row wider than the padded block: the scalar edges
])
def test_convolution_depthwise_edges(ctx, width, kernel, pad, dilate):
    """The direct kernel's depthwise rows (vector runs inside the image, zero-padded blocks
    at the edges) against numpy on every dtype."""
    x, w, b = _rand(2, 3, 4, width), _rand(3, 1, 2, kernel), _rand(3)
    want = ref_conv(x, w, b, (1, 1), (1, dilate), (1, pad), 3)
    for dtype in _dtypes(ctx):
        got = mx.nd.Convolution(_nd(x, dtype), _nd(w, dtype), _nd(b, dtype), kernel=(2, kernel),
                                pad=(1, pad), dilate=(1, dilate), num_filter=3, num_group=3)
        _close(got, want, dtype)


@pytest.mark.parametrize("method", ["phases", "gemm"])
@pytest.mark.parametrize("case", [((2, 5, 9, 20), (3, 3), (1, 1), (1, 1), (1, 1)),
                                  ((2, 5, 9, 20), (3, 3), (2, 2), (1, 1), (1, 1)),
                                  ((1, 3, 6, 11), (5, 3), (1, 3), (1, 2), (2, 1)),
                                  ((2, 3, 16, 16), (4, 4), (2, 2), (1, 1), (1, 1)),
                                  ((2, 4, 13), (4,), (2,), (2,), (3,))], ids=str)
def test_convolution_depthwise_data_gradient_methods(ctx, monkeypatch, method, case):
    """A depthwise data gradient (and Deconvolution, with its bias), each method forced,
    against numpy on every dtype: strides 1 to 3, dilation, padding beyond the kernel, 1-D."""
    shape, kernel, stride, dilate, pad = case
    c = shape[1]
    monkeypatch.setattr(conv, "DGRAD_CANDIDATES", ({"method": method},))
    w, b = _rand(c, 1, *kernel), _rand(c)
    out = ref_conv(_rand(*shape), w, None, stride, dilate, pad, c)
    dy = _rand(*out.shape)
    want = ref_deconv(dy, w, None, stride, dilate, pad, shape[2:], c)
    want_b = ref_deconv(dy, w, b, stride, dilate, pad, shape[2:], c)
    kw = {"kernel": kernel, "stride": stride, "dilate": dilate, "pad": pad, "num_group": c}
    # the image columns the convolution's last output leaves unread: Deconvolution's adj
    adj = tuple(x - (s * (o - 1) + d * (k - 1) + 1 - 2 * p) for x, o, s, d, k, p in
                zip(shape[2:], out.shape[2:], stride, dilate, kernel, pad))
    for dtype in _dtypes(ctx):
        got = mx.nd._backward_Convolution_data(_nd(dy, dtype), _nd(w, dtype),
                                               _nd(np.zeros(shape), dtype), **kw)
        _close(got, want, dtype)
        got = mx.nd.Deconvolution(_nd(dy, dtype), _nd(w, dtype), _nd(b, dtype), num_filter=c,
                                  no_bias=False, adj=adj, **kw)
        _close(got, want_b, dtype)


def test_convolution_data_gradient_method_measured_and_stored(ctx, conv_search):
    """With the search on, a depthwise data gradient times both methods and stores the faster
    under "conv_dgrad"; with two filters per group only GEMM applies and nothing is searched."""
    w, dy = _rand(3, 1, 3, 3), _rand(2, 3, 4, 5)
    kw = {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}
    timed = conv_search.stats["timed"]
    got = mx.nd._backward_Convolution_data(_nd(dy, "float32"), _nd(w, "float32"),
                                           _nd(np.zeros((2, 3, 8, 9)), "float32"),
                                           num_group=3, **kw)
    _close(got, ref_deconv(dy, w, None, (2, 2), (1, 1), (1, 1), (8, 9), 3), "float32")
    assert conv_search.stats["timed"] - timed == len(conv.DGRAD_CANDIDATES) * conv_search.PASSES
    stored = conv_search.store_for(got.device).entries["conv_dgrad"]
    assert list(stored.values())[0] in conv.DGRAD_CANDIDATES
    timed = conv_search.stats["timed"]
    w2, dy2 = _rand(6, 1, 3, 3), _rand(2, 6, 4, 5)
    got = mx.nd._backward_Convolution_data(_nd(dy2, "float32"), _nd(w2, "float32"),
                                           _nd(np.zeros((2, 3, 8, 9)), "float32"),
                                           num_group=3, **kw)
    _close(got, ref_deconv(dy2, w2, None, (2, 2), (1, 1), (1, 1), (8, 9), 3), "float32")
    assert conv_search.stats["timed"] == timed


def test_convolution_offset_views_and_chunks(ctx, monkeypatch):
    """Inputs that start inside their buffer (slices along axis 0), and batches split into
    im2col chunks of 2, 2 and 1 images (the one-image chunk takes the no-copy path)."""
    _need64(ctx)
    x_big, w_big, b_big = _rand(7, 3, 6, 5), _rand(6, 3, 2, 3), _rand(5)
    x, w, b = x_big[1:6], w_big[2:6], b_big[1:5]
    kw = {"kernel": (2, 3), "num_filter": 4, "stride": (1, 2), "pad": (1, 1)}
    want = ref_conv(x, w, b, (1, 2), (1, 1), (1, 1), 1)
    head = _rand(*want.shape)
    xs, ws, bs = _nd(x_big)[1:6], _nd(w_big)[2:6], _nd(b_big)[1:5]
    assert xs._offset and ws._offset and bs._offset
    plain = mx.nd.Convolution(xs, ws, bs, **kw)
    _close(plain, want)
    per_image = 3 * 2 * 3 * want.shape[2] * want.shape[3] * 8
    monkeypatch.setattr(conv, "_COLS_BYTES", 2 * per_image)
    _close(mx.nd.Convolution(xs, ws, bs, **kw), want)
    got = autograd_grads(lambda *v: mx.nd.Convolution(*v, **kw), [x, w, b], head)
    want_g = numeric_grads(lambda *v: ref_conv(*v, (1, 2), (1, 1), (1, 1), 1), [x, w, b], head)
    for g, wg in zip(got, want_g):
        _close(g, wg, "numeric")


def ref_weight_grad_grouped(dy, x, kernel, stride, dilate, pad, groups):
    """The weight gradient with groups and dilation, 1-D or 2-D: sum over n, oh, ow of
    dy[n, f, oh, ow] * x_padded[n, c, oh * s + i * d, ow * s + j * d] within each group."""
    if x.ndim == 3:
        dw = ref_weight_grad_grouped(dy[:, :, None], x[:, :, None], (1,) + kernel,
                                     (1,) + stride, (1,) + dilate, (0,) + pad, groups)
        return dw[:, :, 0]
    f, cg, fg = dy.shape[1], x.shape[1] // groups, dy.shape[1] // groups
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = dy.shape[2:]
    dw = np.zeros((f, cg) + tuple(kernel))
    for g in range(groups):
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                h0, w0 = i * dilate[0], j * dilate[1]
                patch = xp[:, g * cg:(g + 1) * cg, h0:h0 + stride[0] * (oh - 1) + 1:stride[0],
                           w0:w0 + stride[1] * (ow - 1) + 1:stride[1]]
                dw[g * fg:(g + 1) * fg, :, i, j] = np.einsum(
                    "nfhw,nchw->fc", dy[:, g * fg:(g + 1) * fg], patch)
    return dw


# data shape, num_filter, kernel, stride, dilate, pad, num_group: products big enough for
# matrix's packed path, so im2col writes its panels; nb*OH*OW and C*KH*KW/groups are not
# multiples of the panel width, and K (C*KH*KW/groups, or nb*OH*OW) is odd; the unpadded
# case has output rows longer than a panel (whole-vector runs, every tap inside the image)
PACKED_CASES = [
    ((3, 5, 9, 11), 40, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 12, 21), 40, (3, 3), (1, 1), (1, 1), (0, 0), 1),
    ((8, 8, 20, 19), 32, (3, 3), (2, 1), (1, 2), (1, 1), 2),
    ((6, 9, 21, 17), 24, (3, 2), (1, 2), (2, 1), (2, 1), 3),
    ((7, 6, 201), 32, (5,), (2,), (2,), (3,), 2),
]


@pytest.mark.parametrize("case", PACKED_CASES, ids=str)
@pytest.mark.parametrize("packed", [True, False], ids=["packed", "plain"])
def test_convolution_packed_cols(ctx, monkeypatch, request, case, packed):
    """Forward and weight gradient with im2col writing the GEMM's packed panels (PACKED_COLS)
    and with the plain column matrix, whole and in batch chunks of 3 images (the last chunk
    smaller, its products possibly off the packed path). The CPU row's GEMM, on whatever
    device there is: GPUs take the tiled path, which reads no panels."""
    monkeypatch.setattr(matrix, "device_kind", lambda device: "cpu")
    matrix.forget_choices()
    request.addfinalizer(matrix.forget_choices)
    shape, f, kernel, stride, dilate, pad, groups = case
    x, w, b = _rand(*shape), _rand(f, shape[1] // groups, *kernel), _rand(f)
    kw = {"kernel": kernel, "stride": stride, "dilate": dilate, "pad": pad,
          "num_group": groups}
    want = ref_conv(x, w, b, stride, dilate, pad, groups)
    dy = _rand(*want.shape)
    want_dw = ref_weight_grad_grouped(dy, x, kernel, stride, dilate, pad, groups)
    monkeypatch.setattr(conv, "PACKED_COLS", packed)
    monkeypatch.setattr(conv, "WGRAD_CANDIDATES", conv.WGRAD_CANDIDATES[:1])  # im2col + GEMM
    calls, real, whole = [], conv._packed_cols, conv._COLS_BYTES

    def spy(*args):
        calls.append(real(*args))
        return calls[-1]
    monkeypatch.setattr(conv, "_packed_cols", spy)
    per_image = int(np.prod(want.shape[2:]) * shape[1] * np.prod(kernel))
    for dtype in _dtypes(ctx):
        for chunk in (None, 3):
            monkeypatch.setattr(conv, "_COLS_BYTES",
                                chunk * per_image * np.dtype(dtype).itemsize if chunk else whole)
            del calls[:]
            xs, dys = _nd(x, dtype), _nd(dy, dtype)
            y = mx.nd.Convolution(xs, _nd(w, dtype), _nd(b, dtype), num_filter=f, **kw)
            dw = mx.nd._backward_Convolution_weight(dys, xs, **kw)
            _close(y, want, dtype)
            _close(dw, want_dw, dtype)
            if chunk is None:  # forward and weight gradient, each one chunk
                assert [c is not None for c in calls] == [packed, packed]


@pytest.mark.parametrize("shape,f,groups", [((2, 1, 9, 9), 4, 1), ((2, 3, 9, 9), 6, 3),
                                             ((3, 4, 8, 7), 5, 1)])
def test_convolution_forward_methods_measured_and_stored(ctx, monkeypatch, conv_search, shape,
                                                         f, groups):
    """With the search on, the first forward of a shape class times each candidate method
    (direct or GEMM for one input channel per group; packed or plain columns otherwise),
    stores the fastest under the device's tuning file and uses it; every candidate computes
    the same convolution; a second forward of the class searches nothing."""
    x, w, b = _rand(*shape), _rand(f, shape[1] // groups, 3, 3), _rand(f)
    kw = {"kernel": (3, 3), "stride": (1, 1), "pad": (1, 1), "num_group": groups}
    want = ref_conv(x, w, b, (1, 1), (1, 1), (1, 1), groups)
    searches = conv_search.stats["searches"]
    for dtype in _dtypes(ctx):
        y = mx.nd.Convolution(_nd(x, dtype), _nd(w, dtype), _nd(b, dtype), num_filter=f,
                              **kw)
        _close(y, want, dtype)
    assert conv_search.stats["searches"] - searches == len(_dtypes(ctx))
    y = mx.nd.Convolution(_nd(x), _nd(w), _nd(b), num_filter=f, **kw)  # stored choice
    assert conv_search.stats["searches"] - searches == len(_dtypes(ctx))
    stored = conv_search.store_for(y.device).entries["conv"]
    assert len(stored) == len(_dtypes(ctx))
    kind = "one" if shape[1] == groups else "many"
    assert all(v in conv.FORWARD_CANDIDATES[kind] for v in stored.values())
    for method in conv.FORWARD_CANDIDATES[kind]:  # each candidate, forced
        monkeypatch.setattr(conv, "_forward_method", lambda *a, m=method: m)
        y = mx.nd.Convolution(_nd(x), _nd(w), _nd(b), num_filter=f, **kw)
        _close(y, want)


# the weight gradient's direct kernel (wgrad_direct): CONV_CASES and PACKED_CASES plus its own
# edges: output rows of exactly 8 and under 8, filters per group not a multiple of 4, an
# 8-wide kernel (2 filters per work-item), zero padding on vector runs
WGRAD_CASES = [c[:7] for c in CONV_CASES] + PACKED_CASES + [
    ((3, 20, 12, 12), 50, (5, 5), (1, 1), (1, 1), (0, 0), 1),
    ((2, 6, 9, 19), 10, (3, 3), (1, 1), (1, 1), (2, 3), 2),
    ((2, 3, 3, 30), 7, (1, 8), (1, 1), (1, 1), (0, 4), 1),
    ((1, 2, 7, 5), 3, (2, 2), (1, 1), (1, 1), (0, 0), 1),
]


@pytest.mark.parametrize("case", WGRAD_CASES, ids=str)
@pytest.mark.parametrize("method", ["direct", "gemm_t"])
def test_convolution_weight_gradient_methods(ctx, monkeypatch, method, case):
    """The direct weight-gradient kernel and the transposed product (cols dY^T), each forced,
    against numpy on every dtype; the product also summed over batch chunks of 2 images."""
    shape, f, kernel, stride, dilate, pad, groups = case
    nd = len(kernel)
    stride, dilate, pad = stride or (1,) * nd, dilate or (1,) * nd, pad or (0,) * nd
    monkeypatch.setattr(conv, "WGRAD_CANDIDATES", ({"method": method},))
    x = _rand(*shape)
    out = ref_conv(x, _rand(f, shape[1] // groups, *kernel), _rand(f), stride, dilate, pad,
                   groups)
    dy = _rand(*out.shape)
    want = ref_weight_grad_grouped(dy, x, kernel, stride, dilate, pad, groups)
    kw = {"kernel": kernel, "stride": stride, "dilate": dilate, "pad": pad, "num_group": groups}
    per_image = int(np.prod(out.shape[2:]) * shape[1] * np.prod(kernel))
    chunks = (None, 2) if method == "gemm_t" and shape[0] > 2 else (None,)
    whole = conv._COLS_BYTES
    for dtype in _dtypes(ctx):
        for chunk in chunks:
            monkeypatch.setattr(conv, "_COLS_BYTES",
                                chunk * per_image * np.dtype(dtype).itemsize if chunk else whole)
            _close(mx.nd._backward_Convolution_weight(_nd(dy, dtype), _nd(x, dtype), **kw),
                   want, dtype)


def test_convolution_weight_gradient_method_measured_and_stored(ctx, conv_search):
    """With the search on, the first weight gradient of a shape class times the three methods
    (on CPUs; elsewhere GEMM is the only one) and stores the fastest under "conv_wgrad"."""
    x, dy = _rand(4, 2, 10, 12), _rand(4, 5, 8, 10)
    kw = {"kernel": (3, 3), "stride": (1, 1), "dilate": (1, 1), "pad": (0, 0),
          "num_group": 1}
    want = ref_weight_grad_grouped(dy, x, (3, 3), (1, 1), (1, 1), (0, 0), 1)
    timed = conv_search.stats["timed"]
    dw = mx.nd._backward_Convolution_weight(_nd(dy, "float32"), _nd(x, "float32"), **kw)
    _close(dw, want, "float32")
    methods = len(conv.WGRAD_CANDIDATES) if dw.device.kind == "cpu" else 1
    assert conv_search.stats["timed"] - timed == methods * conv_search.PASSES
    stored = conv_search.store_for(dw.device).entries["conv_wgrad"]
    assert list(stored.values())[0] in conv.WGRAD_CANDIDATES
    mx.nd._backward_Convolution_weight(_nd(dy, "float32"), _nd(x, "float32"), **kw)
    assert conv_search.stats["timed"] - timed == methods * conv_search.PASSES  # stored: no search


def test_convolution_search_inside_a_recorded_step_records_only_the_step(ctx, monkeypatch,
                                                                          conv_search):
    """The method search of an executor's first forward runs outside the launch recording:
    the replayed forward launches what the ops launch, and no more."""
    from clnet.runtime import get_device
    sym = mx.sym.Convolution(mx.sym.var("x"), kernel=(3, 3), num_filter=4, name="c")
    ex = sym.simple_bind(ctx, grad_req="null", x=(2, 3, 8, 8))
    searches = conv_search.stats["searches"]
    ex.forward()  # searches, then records
    assert conv_search.stats["searches"] == searches + 1
    dev = get_device(ctx)
    before = dev.launches
    ex.forward()
    replayed = dev.launches - before
    monkeypatch.setenv("CLNET_SYNC", "1")  # through the ops
    before = dev.launches
    ex.forward()
    assert replayed == dev.launches - before


def test_convolution_size_zero(ctx):
    x = mx.nd.zeros((0, 2, 5, 5))
    w = mx.nd.ones((3, 2, 3, 3))
    y = mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=3, no_bias=True)
    assert y.shape == (0, 3, 3, 3)
    dw = mx.nd._backward_Convolution_weight(mx.nd.zeros((0, 3, 3, 3)), x, kernel=(3, 3))
    assert dw.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(dw.asnumpy(), 0)


def test_convolution_shape_inference(ctx):
    data = mx.sym.var("data")
    with mx.name.NameManager():  # automatic names count from 0 whatever ran before
        net = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, num_group=2)
    assert net.list_arguments() == ["data", "convolution0_weight", "convolution0_bias"]
    args, outs, _ = net.infer_shape(data=(8, 4, 28, 28))
    assert args == [(8, 4, 28, 28), (20, 2, 5, 5), (20,)]
    assert outs == [(8, 20, 24, 24)]
    one = mx.sym.Convolution(data, kernel=(3,), num_filter=5, stride=(2,), no_bias=True,
                             name="c1d")
    args, outs, _ = one.infer_shape(data=(2, 3, 9))
    assert one.list_arguments() == ["data", "c1d_weight"]
    assert args == [(2, 3, 9), (5, 3, 3)] and outs == [(2, 5, 4)]
    ex = net.simple_bind(mx.current_context(), data=(2, 4, 8, 8))
    assert ex.arg_dict["convolution0_weight"].shape == (20, 2, 5, 5)
    assert ex.forward()[0].shape == (2, 20, 4, 4)


def test_convolution_second_order(ctx):
    """d/dx of <d<conv(x, w), h>/dw, v> (create_graph): the weight-gradient helper's own
    gradient, against central differences of the same scalar."""
    _need64(ctx)
    x, w, h, v = _rand(2, 2, 5, 4), _rand(3, 2, 2, 2), _rand(2, 3, 4, 3), _rand(3, 2, 2, 2)
    kw = {"kernel": (2, 2), "num_filter": 3, "no_bias": True, "pad": (0, 1), "stride": (1, 2)}

    def scalar(x_):
        # the weight gradient sum_{n, o} h[n, f, o] * x[n, c, o * s + k * d - p], exactly
        xp = np.pad(x_, ((0, 0), (0, 0), (0, 0), (1, 1)))
        dw = np.zeros_like(w)
        for i in range(2):
            for j in range(2):
                patch = xp[:, :, i:i + 4, j:j + 5:2]
                dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", h, patch)
        return np.sum(dw * v)
    want = numeric_grads(scalar, [x], 1.0)[0]
    X, W = _nd(x), _nd(w)
    X.attach_grad()
    W.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Convolution(X, W, **kw)
        (dw,) = mx.autograd.grad(y, [W], head_grads=_nd(h), create_graph=True)
        total = (dw * _nd(v)).sum()
    total.backward()
    _close(X.grad, want, "numeric")


def test_helper_ops_gradients(ctx):
    """Each helper is bilinear: its autograd gradients against directional differences
    computed with the helpers themselves."""
    _need64(ctx)
    params = {"kernel": (3, 2), "stride": (2, 1), "pad": (1, 0), "dilate": (1, 2),
              "num_group": 2}
    x, w = _rand(2, 4, 7, 6), _rand(6, 2, 3, 2)
    dy = _rand(2, 6, 4, 4)
    cases = [("_backward_Convolution_data", [dy, w], x),
             ("_backward_Deconvolution_data", [x, w], dy),
             ("_backward_Convolution_weight", [dy, x], None)]
    for name, ins, like in cases:
        def run(*vals, name=name, like=like):
            extra = [_nd(like)] if like is not None else []
            return getattr(mx.nd, name)(*[_nd(a) for a in vals], *extra, **params).asnumpy()
        head = _rand(*run(*ins).shape)
        nds = [_nd(a) for a in ins]
        for t in nds:
            t.attach_grad()
        with mx.autograd.record():
            extra = [_nd(like)] if like is not None else []
            out = getattr(mx.nd, name)(*nds, *extra, **params)
        out.backward(_nd(head))
        dirs = [_rand(*a.shape) for a in ins]
        eps = 1e-3
        up = np.sum(run(*[a + eps * d for a, d in zip(ins, dirs)]) * head)
        down = np.sum(run(*[a - eps * d for a, d in zip(ins, dirs)]) * head)
        analytic = sum(np.sum(t.grad.asnumpy() * d) for t, d in zip(nds, dirs))
        np.testing.assert_allclose(analytic, (up - down) / (2 * eps), rtol=1e-8)


# -- Deconvolution -----------------------------------------------------------------------------
# data shape, num_filter, kernel, stride, dilate, pad, adj, target_shape, num_group, no_bias
DECONV_CASES = [
    ((2, 3, 4, 5), 4, (3, 3), (1, 1), (1, 1), (0, 0), (0, 0), (), 1, True),
    ((2, 4, 3, 4), 6, (3, 2), (2, 3), (1, 2), (1, 0), (1, 2), (), 2, False),
    ((1, 6, 4, 3), 3, (2, 3), (3, 2), (2, 1), (0, 1), (0, 0), (12, 6), 3, False),
    ((2, 2, 5), 3, (4,), (2,), (1,), (1,), (1,), (), 1, False),
    ((3, 4, 4), 2, (3,), (3,), (2,), (0,), (0,), (11,), 2, True),
    ((2, 3, 5, 9), 3, (3, 3), (1, 1), (1, 1), (1, 1), (0, 0), (), 3, False),  # depthwise
]


def _deconv_setup(case):
    shape, f, kernel, stride, dilate, pad, adj, target, groups, no_bias = case
    kw = {"kernel": kernel, "num_filter": f, "stride": stride, "dilate": dilate, "pad": pad,
          "adj": adj, "num_group": groups, "no_bias": no_bias}
    if target:
        kw["target_shape"] = target
    arrays = [_rand(*shape), _rand(shape[1], f // groups, *kernel)]
    if not no_bias:
        arrays.append(_rand(f))
    pads, outs = [], []
    for i, (x, k, s, d) in enumerate(zip(shape[2:], kernel, stride, dilate)):
        full = s * (x - 1) + d * (k - 1) + 1
        if target:
            total = full - target[i]
            pads.append((total + 1) // 2)
            outs.append(target[i])
        else:
            pads.append(pad[i])
            outs.append(full - 2 * pad[i] + adj[i])
    return kw, arrays, (stride, dilate, tuple(pads), tuple(outs), groups)


@pytest.mark.parametrize("case", DECONV_CASES, ids=str)
def test_deconvolution_forward(ctx, case):
    kw, arrays, ref = _deconv_setup(case)
    want = ref_deconv(arrays[0], arrays[1], arrays[2] if len(arrays) > 2 else None, *ref)
    for dtype in _dtypes(ctx):
        _close(mx.nd.Deconvolution(*[_nd(a, dtype) for a in arrays], **kw), want, dtype)


@pytest.mark.parametrize("case", DECONV_CASES, ids=str)
def test_deconvolution_backward(ctx, case):
    _need64(ctx)
    kw, arrays, ref = _deconv_setup(case)

    def fn(x, w, b=None):
        return ref_deconv(x, w, b, *ref)
    head = _rand(*fn(*arrays).shape)
    want = numeric_grads(fn, arrays, head)
    for g, w in zip(autograd_grads(lambda *v: mx.nd.Deconvolution(*v, **kw), arrays, head),
                    want):
        _close(g, w, "numeric")
    names = ["data", "deconv_weight", "deconv_bias"][:len(arrays)]
    sym = mx.sym.Deconvolution(mx.sym.var("data"), name="deconv", **kw)
    assert sym.list_arguments() == names
    grads, _ = executor_grads(sym, dict(zip(names, arrays)), head)
    for name, w in zip(names, want):
        _close(grads[name], w, "numeric")


def test_deconvolution_is_convolution_data_gradient(ctx):
    """Deconvolution(dy, w) equals the data gradient of Convolution with the same geometry,
    including an output size that needs adj (stride 2, odd input)."""
    _need64(ctx)
    geo = {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "dilate": (1, 1)}
    x, w = _rand(2, 4, 7, 8), _rand(6, 2, 3, 3)
    X = _nd(x)
    X.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Convolution(X, _nd(w), num_filter=6, num_group=2, no_bias=True, **geo)
    dy = _rand(*y.shape)
    y.backward(_nd(dy))
    adj = tuple(xs + 2 * 1 - 3 - 2 * (ys - 1) for xs, ys in zip(x.shape[2:], y.shape[2:]))
    assert adj == (0, 1)
    d = mx.nd.Deconvolution(_nd(dy), _nd(w), num_filter=4, num_group=2, adj=adj, **geo)
    _close(d, X.grad.asnumpy())
    t = mx.nd.Deconvolution(_nd(dy), _nd(w), num_filter=4, num_group=2,
                            target_shape=x.shape[2:], **geo)
    _close(t, X.grad.asnumpy())


def test_deconvolution_shape_inference(ctx):
    net = mx.sym.Deconvolution(mx.sym.var("data"), kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                               num_filter=3, name="up")
    assert net.list_arguments() == ["data", "up_weight"]
    args, outs, _ = net.infer_shape(data=(2, 8, 5, 6))
    assert args == [(2, 8, 5, 6), (8, 3, 4, 4)] and outs == [(2, 3, 10, 12)]
    biased = mx.sym.Deconvolution(mx.sym.var("data"), kernel=(3,), num_filter=4,
                                  stride=(2,), num_group=2, no_bias=False, target_shape=(9,))
    args, outs, _ = biased.infer_shape(data=(1, 2, 4))
    assert args == [(1, 2, 4), (2, 2, 3), (4,)] and outs == [(1, 4, 9)]


# -- Pooling -----------------------------------------------------------------------------------
# data shape, kernel, stride, pad
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1)),
    ((2, 2, 6, 7), (3, 2), (1, 2), (1, 0)),
    ((2, 1, 5, 6), (2, 3), (3, 3), (1, 1)),
    ((2, 3, 10), (3,), (2,), (1,)),
    # 2-column windows of stride 2: four at a time on vectors, the rest scalar
    ((1, 2, 5, 19), (2, 2), (2, 2), (0, 0)),
    ((1, 1, 5, 16), (3, 2), (3, 2), (1, 0)),
    ((1, 1, 4, 18), (2, 2), (3, 2), (0, 0)),
    ((2, 2, 17), (2,), (2,), (0,)),
]


def _pool_kwargs(case, pool_type, convention="valid", include_pad=None):
    kw = {"kernel": case[1], "stride": case[2], "pad": case[3], "pool_type": pool_type,
          "pooling_convention": convention}
    if include_pad is not None:
        kw["count_include_pad"] = include_pad
    return kw


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("convention", ["valid", "full"])
def test_pooling_forward(ctx, case, convention):
    x = _rand(*case[0])
    for pool_type, include in (("max", None), ("sum", None), ("avg", None), ("avg", False)):
        want = ref_pool(x, case[1], case[2], case[3], pool_type, convention, include is not False)
        empty = np.isinf(want)
        for dtype in _dtypes(ctx):
            got = mx.nd.Pooling(_nd(x, dtype), **_pool_kwargs(case, pool_type, convention,
                                                              include)).asnumpy()
            # MXNet's max of a window of padding only: the lowest finite value
            np.testing.assert_array_equal(got[empty], np.finfo(dtype).min)
            _close(np.where(empty, 0, got), np.where(empty, 0, want), dtype)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_backward(ctx, case):
    _need64(ctx)
    # distinct values keep every window's maximum away from ties under the differences
    x = np.random.permutation(np.prod(case[0])).reshape(case[0]) * 0.01 - 1.0
    for pool_type, include, convention in (("max", None, "valid"), ("avg", None, "full"),
                                           ("avg", False, "valid"), ("sum", None, "full")):
        kw = _pool_kwargs(case, pool_type, convention, include)

        def fn(v):
            return ref_pool(v, case[1], case[2], case[3], pool_type, convention,
                            include is not False)
        head = _rand(*fn(x).shape)
        want = numeric_grads(fn, [x], head, eps=1e-4)[0]
        _close(autograd_grads(lambda v: mx.nd.Pooling(v, **kw), [x], head)[0], want, "numeric")
        sym = mx.sym.Pooling(mx.sym.var("data"), **kw)
        grads, _ = executor_grads(sym, {"data": x}, head)
        _close(grads["data"], want, "numeric")


@pytest.mark.parametrize("shape", [(2, 3, 4, 8), (1, 2, 5, 13), (3, 2, 12)], ids=str)
def test_pooling_max_ties_vector_path(ctx, shape):
    """2x2 stride-2 max pooling of data full of ties: each window's gradient goes to its
    first maximum in row-major order, as numpy's argmax picks it."""
    x = np.random.randint(0, 2, shape).astype(np.float64)
    x[..., :1, :2] = -np.inf  # a window whose maximum is -inf passes no gradient
    kernel = (2, 2)[:len(shape) - 2]
    head = _rand(*ref_pool(x, kernel, kernel, (0,) * len(kernel), "max").shape)
    x4, h4 = (x, head) if x.ndim == 4 else (x[:, :, None], head[:, :, None])
    kh = kernel[0] if x.ndim == 4 else 1
    want = np.zeros_like(x4)
    for n, c, i, j in np.ndindex(*h4.shape):
        win = x4[n, c, i * kh:(i + 1) * kh, 2 * j:2 * j + 2]
        if np.max(win) > -np.inf:
            a, b = np.unravel_index(np.argmax(win), win.shape)
            want[n, c, i * kh + a, 2 * j + b] = h4[n, c, i, j]
    for dtype in _dtypes(ctx):
        got = mx.nd._backward_Pooling(_nd(head, dtype), _nd(x, dtype), kernel=kernel,
                                      stride=kernel)
        np.testing.assert_array_equal(got.asnumpy(), want.reshape(x.shape).astype(dtype))


def test_pooling_offset_views(ctx):
    """Inputs starting at odd element offsets inside their buffer (the vector loads take any
    offset) and gradients written into the middle of a batch."""
    _need64(ctx)
    big = np.random.permutation(5 * 2 * 6 * 19).reshape(5, 2, 6, 19) * 0.01 - 1.0
    x = big[1:4]
    kw = {"kernel": (2, 2), "stride": (2, 2)}
    for dtype in _dtypes(ctx):
        xs = _nd(big, dtype)[1:4]
        assert xs._offset % 8
        for pool_type in ("max", "avg", "sum"):
            _close(mx.nd.Pooling(xs, pool_type=pool_type, **kw),
                   ref_pool(x, (2, 2), (2, 2), (0, 0), pool_type), dtype)
    head = _rand(3, 2, 3, 9)
    got = mx.nd._backward_Pooling(_nd(head), _nd(big)[1:4], **kw).asnumpy()
    want = numeric_grads(lambda v: ref_pool(v, (2, 2), (2, 2), (0, 0), "max"), [x], head,
                         eps=1e-4)[0]
    _close(got, want, "numeric")


def test_pooling_max_routes_to_first_maximum(ctx):
    """Ties: each window's gradient goes to its first maximum in row-major order; padding
    never wins, even over negative values."""
    x = -np.ones((1, 1, 4, 4))
    y = mx.nd.Pooling(_nd(x), kernel=(2, 2), stride=(2, 2), pad=(1, 1))
    np.testing.assert_array_equal(y.asnumpy(), -1)
    X = _nd(x)
    X.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Pooling(X, kernel=(3, 3), stride=(1, 1), pad=(1, 1))
    y.backward(mx.nd.ones(y.shape, dtype="float64"))
    want = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            want[max(i - 1, 0), max(j - 1, 0)] += 1
    np.testing.assert_array_equal(X.grad.asnumpy()[0, 0], want)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 3, 7)], ids=str)
def test_pooling_global(ctx, shape):
    _need64(ctx)
    x = np.random.permutation(np.prod(shape)).reshape(shape) * 0.1
    axes = tuple(range(2, len(shape)))
    for pool_type, red in (("max", np.max), ("avg", np.mean), ("sum", np.sum)):
        y = mx.nd.Pooling(_nd(x), global_pool=True, pool_type=pool_type)
        _close(y, red(x, axis=axes, keepdims=True))
        # a kernel given with global_pool is ignored
        y = mx.nd.Pooling(_nd(x), kernel=(1,) * len(axes), global_pool=True,
                          pool_type=pool_type)
        _close(y, red(x, axis=axes, keepdims=True))
    head = _rand(shape[0], shape[1], *(1,) * len(axes))
    got = autograd_grads(lambda v: mx.nd.Pooling(v, global_pool=True, pool_type="avg"), [x],
                         head)[0]
    _close(got, np.broadcast_to(head, shape) / np.prod(shape[2:]))
    got = autograd_grads(lambda v: mx.nd.Pooling(v, global_pool=True), [x], head)[0]
    flat = x.reshape(shape[:2] + (-1,))
    want = np.zeros_like(flat)
    idx = flat.argmax(axis=-1)
    for n in range(shape[0]):
        for c in range(shape[1]):
            want[n, c, idx[n, c]] = head.reshape(shape[:2])[n, c]
    _close(got, want.reshape(shape))


def test_pooling_second_order_avg(ctx):
    _need64(ctx)
    x, h, v = _rand(1, 2, 6, 6), _rand(1, 2, 3, 3), _rand(1, 2, 6, 6)
    H = _nd(h)
    H.attach_grad()
    with mx.autograd.record():
        dx = mx.nd._backward_Pooling(H, _nd(x), kernel=(2, 2), stride=(2, 2), pool_type="avg")
        total = (dx * _nd(v)).sum()
    total.backward()
    _close(H.grad, ref_pool(v, (2, 2), (2, 2), (0, 0), "avg"))


# -- UpSampling --------------------------------------------------------------------------------
def test_upsampling(ctx):
    x = _rand(2, 3, 4, 5)
    for dtype in _dtypes(ctx):
        y = mx.nd.UpSampling(_nd(x, dtype), scale=3, sample_type="nearest")
        _close(y, x.repeat(3, axis=2).repeat(3, axis=3), dtype)
    if "float64" not in _dtypes(ctx):
        return
    head = _rand(2, 3, 8, 10)
    got = autograd_grads(lambda v: mx.nd.UpSampling(v, scale=2, sample_type="nearest"), [x],
                         head)[0]
    _close(got, head.reshape(2, 3, 4, 2, 5, 2).sum(axis=(3, 5)))
    sym = mx.sym.UpSampling(mx.sym.var("data"), scale=2, sample_type="nearest")
    assert sym.list_arguments() == ["data"]
    grads, out = executor_grads(sym, {"data": x}, head)
    _close(out, x.repeat(2, axis=2).repeat(2, axis=3))
    _close(grads["data"], head.reshape(2, 3, 4, 2, 5, 2).sum(axis=(3, 5)))


def test_float32_gradients(ctx):
    """The float32 kernels of every backward path against float64 results."""
    _need64(ctx)
    x, b = _rand(3, 4, 9, 8), _rand(6)
    calls = [
        (lambda *v: mx.nd.Convolution(*v, kernel=(3, 3), num_filter=6, num_group=2,
                                      stride=(2, 1), pad=(1, 1)), [x, _rand(6, 2, 3, 3), b]),
        (lambda *v: mx.nd.Deconvolution(*v, kernel=(3, 3), num_filter=6, no_bias=False,
                                        num_group=2, stride=(2, 2), adj=(1, 0)),
         [x, _rand(4, 3, 3, 3), b]),
        (lambda v: mx.nd.Pooling(v, kernel=(3, 3), stride=(2, 2), pad=(1, 1)), [x]),
        (lambda v: mx.nd.Pooling(v, kernel=(2, 3), stride=(2, 2), pool_type="avg",
                                 count_include_pad=False), [x]),
        (lambda v: mx.nd.UpSampling(v, scale=2, sample_type="nearest"), [x]),
    ]
    for call, arrays in calls:
        results = {}
        for dtype in ("float64", "float32"):
            nds = [_nd(a, dtype) for a in arrays]
            for t in nds:
                t.attach_grad()
            with mx.autograd.record():
                out = call(*nds)
            head = np.cos(np.arange(out.size)).reshape(out.shape)
            out.backward(_nd(head, dtype))
            results[dtype] = [out.asnumpy()] + [t.grad.asnumpy() for t in nds]
        for got, want in zip(results["float32"], results["float64"]):
            _close(got, want, "float32")


# -- a LeNet-shaped graph ----------------------------------------------------------------------
def test_lenet_block_graph(ctx):
    """conv -> max pool -> conv -> avg pool through simple_bind: forward against numpy and
    the weight gradients against central differences of the numpy network."""
    _need64(ctx)
    data = mx.sym.var("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), num_filter=3, name="c1")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max")
    net = mx.sym.Convolution(net, kernel=(2, 2), num_filter=2, pad=(1, 1), name="c2")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="avg")
    types = {n: "float64" for n in net.list_arguments()}
    ex = net.simple_bind(mx.current_context(), data=(2, 1, 9, 9), type_dict=types)
    values = {"data": _rand(2, 1, 9, 9), "c1_weight": _rand(3, 1, 3, 3), "c1_bias": _rand(3),
              "c2_weight": _rand(2, 3, 2, 2), "c2_bias": _rand(2)}
    for k, v in values.items():
        ex.arg_dict[k][:] = v

    def fn(x, w1, b1, w2, b2):
        h = ref_pool(ref_conv(x, w1, b1, (1, 1), (1, 1), (0, 0), 1), (2, 2), (2, 2), (0, 0),
                     "max")
        return ref_pool(ref_conv(h, w2, b2, (1, 1), (1, 1), (1, 1), 1), (2, 2), (2, 2),
                        (0, 0), "avg")
    order = ["data", "c1_weight", "c1_bias", "c2_weight", "c2_bias"]
    out = ex.forward(is_train=True)[0]
    _close(out, fn(*[values[k] for k in order]))
    head = _rand(*out.shape)
    ex.backward([_nd(head)])
    want = numeric_grads(fn, [values[k] for k in order], head)
    for name, w in zip(order[1:], want[1:]):
        _close(ex.grad_dict[name], w, "numeric")


# -- errors ------------------------------------------------------------------------------------
def _x(*shape):
    return mx.nd.zeros(shape)


@pytest.mark.parametrize("call,match", [
    (lambda: mx.nd.Convolution(_x(1, 2, 4, 4), _x(3, 2, 5, 5), _x(3), kernel=(5, 5),
                               num_filter=3),
     r"Convolution: kernel size 5 .* exceeds the input size 4 padded to 4"),
    (lambda: mx.nd.Convolution(_x(1, 2, 4, 4), _x(3, 2, 3, 3), _x(3), kernel=(3, 3),
                               dilate=(2, 2), num_filter=3),
     r"kernel size 5 .*dilate=\(2, 2\).* exceeds"),
    (lambda: mx.nd.Convolution(_x(1, 4, 6, 6), _x(3, 2, 3, 3), kernel=(3, 3), num_filter=3,
                               num_group=2, no_bias=True),
     r"num_filter=3 must be divisible by num_group=2"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), _x(4, 1, 3, 3), kernel=(3, 3), num_filter=4,
                               num_group=2, no_bias=True),
     r"input channels \(3, from shape \(1, 3, 6, 6\)\) must be divisible by num_group=2"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), _x(4, 3, 3, 2), kernel=(3, 3), num_filter=4,
                               no_bias=True),
     r"weight has shape \(4, 3, 3, 2\), expected \(4, 3, 3, 3\)"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), _x(4, 3, 3, 3), _x(5), kernel=(3, 3),
                               num_filter=4),
     r"bias has shape \(5,\), expected \(4,\)"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6), _x(4, 3, 3, 3), kernel=(3, 3), num_filter=4,
                               no_bias=True),
     r"data shape \(1, 3, 6\) must be 4-D \(NCHW\)"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6, 6), _x(4, 3, 3, 3, 3), kernel=(3, 3, 3),
                               num_filter=4, no_bias=True),
     r"clnet supports 1-D \(NCW\) and 2-D \(NCHW\) kernels"),
    (lambda: mx.nd.Convolution(_x(1, 6, 6, 3), _x(4, 3, 3, 3), kernel=(3, 3), num_filter=4,
                               no_bias=True, layout="NHWC"),
     r"layout='NHWC' is not supported"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), _x(4, 3, 3, 3), kernel=(3, 3), stride=(1,),
                               num_filter=4, no_bias=True),
     r"stride=\(1,\) must have as many dimensions as kernel=\(3, 3\)"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), mx.nd.zeros((4, 3, 3, 3), dtype="float64"),
                               kernel=(3, 3), num_filter=4, no_bias=True),
     r"Convolution: input 1 has dtype float64 but input 0 has float32"),
    (lambda: mx.nd.Convolution(_x(1, 3, 6, 6), _x(4, 3, 3, 3), kernel=(3, 3), num_filter=0),
     r"num_filter=0 must be >= 1"),
    (lambda: mx.nd.Deconvolution(_x(1, 2, 4, 4), _x(2, 3, 3, 3), kernel=(3, 3), stride=(2, 2),
                                 adj=(2, 0), num_filter=3),
     r"adj=\(2, 0\) must be smaller than stride=\(2, 2\)"),
    (lambda: mx.nd.Deconvolution(_x(1, 2, 4, 4), _x(2, 3, 3, 3), kernel=(3, 3),
                                 target_shape=(9, 6), num_filter=3),
     r"target_shape=\(9, 6\) is too big for input size 4 in dimension 0"),
    (lambda: mx.nd.Deconvolution(_x(1, 2, 4, 4), _x(2, 3, 3, 3), kernel=(3, 3), stride=(1, 1),
                                 target_shape=(5, 6), num_filter=3),
     r"adj=\(1, 0\) must be smaller than stride=\(1, 1\)"),
    (lambda: mx.nd.Deconvolution(_x(1, 2, 4, 4), _x(2, 3, 3, 3), kernel=(3, 3), num_filter=4,
                                 num_group=2),
     r"weight has shape \(2, 3, 3, 3\), expected \(2, 2, 3, 3\)"),
    (lambda: mx.nd.Pooling(_x(1, 2, 4, 4), kernel=(5, 5)),
     r"Pooling: kernel size \(5\) exceeds input \(4 padded to 4\)"),
    (lambda: mx.nd.Pooling(_x(1, 2, 4, 4), kernel=(2, 2), pool_type="lp"),
     r"pool_type='lp' is not supported"),
    (lambda: mx.nd.Pooling(_x(1, 2, 4, 4), pool_type="max"),
     r"kernel is required unless global_pool=True"),
    (lambda: mx.nd.Pooling(_x(1, 2, 4, 4), kernel=(2, 2), pooling_convention="same"),
     r"pooling_convention='same' must be one of \['valid', 'full'\]"),
    (lambda: mx.nd.Pooling(_x(1, 2, 4), kernel=(2, 2)),
     r"data shape \(1, 2, 4\) must be 4-D"),
    (lambda: mx.nd.UpSampling(_x(1, 2, 4, 4), scale=2, sample_type="bilinear"),
     r"sample_type='bilinear' is not supported"),
    (lambda: mx.nd.UpSampling(_x(1, 2, 4, 4), _x(1, 2, 2, 2), scale=2, sample_type="nearest"),
     r"exactly one input"),
    (lambda: mx.nd.UpSampling(_x(2, 4, 4), scale=2, sample_type="nearest"),
     r"data shape \(2, 4, 4\) must be 4-D"),
    (lambda: mx.nd._backward_Convolution_data(_x(1, 3, 4, 4), _x(3, 2, 3, 3), _x(1, 2, 5, 5),
                                              kernel=(3, 3)),
     r"output side \(1, 3, 4, 4\) does not match the image side \(1, 2, 5, 5\), which gives "
     r"spatial size \(3, 3\)"),
])
def test_errors(ctx, call, match):
    with pytest.raises(MXNetError, match=match):
        call()


def test_error_in_graph_names_the_node(ctx):
    net = mx.sym.Convolution(mx.sym.var("data"), kernel=(7, 7), num_filter=2, name="big")
    with pytest.raises(MXNetError, match=r"big.*kernel size 7 .* exceeds the input size 5"):
        net.infer_shape(data=(1, 1, 5, 5))


def test_cudnn_params_accepted(ctx):
    x, w = _rand(1, 2, 5, 5), _rand(3, 2, 3, 3)
    y = mx.nd.Convolution(_nd(x, "float32"), _nd(w, "float32"), kernel=(3, 3), num_filter=3,
                          no_bias=True, workspace=512, cudnn_tune="fastest", cudnn_off=True,
                          layout="NCHW")
    _close(y, ref_conv(x, w, None, (1, 1), (1, 1), (0, 0), 1), "float32")
    p = mx.nd.Pooling(_nd(x, "float32"), kernel=(2, 2), cudnn_off=True, p_value=2,
                      layout="NCHW")
    _close(p, ref_pool(x, (2, 2), (1, 1), (0, 0), "max"), "float32")
