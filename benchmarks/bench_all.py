"""Every workload of the performance table in one process run, with ratios and targets.

clnet against numpy, PyTorch and tinygrad (each when importable), on the same machine in the
same run:

- SGEMM n = 512, 1024, 2048 (GFLOP/s), through bench_gemm's timers and checks;
- `tanh(a*b+a)` on 4M float32 (GB/s), clnet imperative and through a bound executor (where
  the chain fuses into one kernel); `sum` of 16M float32 (GB/s), through bench_ndarray's,
  with a line under the table on numpy's sum split over every core (what the machine's
  memory gives all cores over one);
- training steps (samples/s, SGD with momentum): an MLP 784-512-512-10 at batch 128 (clnet
  through Module and through a bare executor, numpy hand-written, PyTorch, tinygrad's JIT) and
  LeNet at batch 64 on 1x28x28 images (conv 20 5x5, pool 2, conv 50 5x5, pool 2, fc 500,
  fc 10, tanh activations);
- MLP inference at batch 1 (ms per call, the result read back to the host);
- process start to the first MLP training step done (s), in a new process each: clnet with
  a warm kernel cache and with an empty one (CLNET_CACHE_DIR and POCL_CACHE_DIR pointed at
  new folders), numpy, PyTorch.

In every row but the first-step ones the frameworks take turns in every timed round, so that a
burst of load on a shared machine slows them alike. Ratios are clnet's speed over the peer's
(for ms and s rows, the peer's time over clnet's): above 1, clnet is faster. The target
column repeats the issue's target and says whether it is met.

    python benchmarks/bench_all.py --quick     # under two minutes on 2 cores
    python benchmarks/bench_all.py             # more repeats

tinygrad runs on its OpenCL backend (DEV=CL); where no system libOpenCL exists, the loader
that the pyopencl wheel ships is handed to it through OPENCL_PATH.
"""
from __future__ import annotations

import argparse
import ctypes.util
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

GEMM_SIZES = (512, 1024, 2048)
MLP_BATCH = 128
LENET_BATCH = 64
LR = 0.01
MOMENTUM = 0.9
# The targets: (clnet row, (peer, at least this ratio) or (None, at most this figure))
TARGETS = {"sgemm": ("torch", 0.9), "tanh": ("numpy", 3.0), "sum": ("numpy", 2.0),
           "mlp": ("torch", 1.0), "lenet": ("torch", 1.0), "infer": (None, 0.2),
           "start_warm": (None, 1.3)}


# -- models, one builder per framework ------------------------------------------------------------
def mlp_symbol(mx):
    net = mx.sym.var("data")
    for i, hidden in enumerate((512, 512)):
        net = mx.sym.FullyConnected(net, num_hidden=hidden, name=f"fc{i + 1}")
        net = mx.sym.Activation(net, act_type="relu", name=f"relu{i + 1}")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def lenet_symbol(mx):
    net = mx.sym.var("data")
    for i, filters in enumerate((20, 50)):
        net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=filters, name=f"conv{i + 1}")
        net = mx.sym.Activation(net, act_type="tanh")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


# bench_convnet.py's network: CIFAR-sized images through three 3x3 convolutions (padding 1),
# each followed by relu and a 2x2 max pool, then one fully connected layer
CONVNET_FILTERS = (32, 64, 64)


def convnet_symbol(mx):
    net = mx.sym.var("data")
    for i, filters in enumerate(CONVNET_FILTERS):
        net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=filters,
                                 name=f"conv{i + 1}")
        net = mx.sym.Activation(net, act_type="relu")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


# bench_convnet.py --net separable: the same images through a 3x3 convolution to 32 channels,
# then three depthwise-separable blocks (a depthwise 3x3 convolution with padding 1, relu, a
# pointwise 1x1 convolution, relu, a 2x2 max pool), then one fully connected layer
SEPARABLE_FILTERS = (64, 64, 64)


def separable_symbol(mx):
    net = mx.sym.Convolution(mx.sym.var("data"), kernel=(3, 3), pad=(1, 1), num_filter=32,
                             name="conv0")
    net, channels = mx.sym.Activation(net, act_type="relu"), 32
    for i, filters in enumerate(SEPARABLE_FILTERS):
        net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=channels,
                                 num_group=channels, name=f"dw{i + 1}")
        net = mx.sym.Activation(net, act_type="relu")
        net = mx.sym.Convolution(net, kernel=(1, 1), num_filter=filters, name=f"pw{i + 1}")
        net = mx.sym.Activation(net, act_type="relu")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
        channels = filters
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def torch_model(kind: str):
    from torch import nn
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10))
    if kind == "convnet":
        layers, channels = [], 3
        for filters in CONVNET_FILTERS:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = filters
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 16, 10))
    if kind == "separable":
        layers, channels = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU()], 32
        for filters in SEPARABLE_FILTERS:
            layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.ReLU(),
                       nn.Conv2d(channels, filters, 1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = filters
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 16, 10))
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Conv2d(20, 50, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(800, 500), nn.Tanh(), nn.Linear(500, 10))


def tinygrad_model(kind: str):
    from tinygrad import Tensor, nn

    class Model:
        def __init__(self):
            if kind == "mlp":
                self.layers = [nn.Linear(784, 512), Tensor.relu, nn.Linear(512, 512),
                               Tensor.relu, nn.Linear(512, 10)]
            else:
                self.layers = [nn.Conv2d(1, 20, 5), Tensor.tanh, Tensor.max_pool2d,
                               nn.Conv2d(20, 50, 5), Tensor.tanh, Tensor.max_pool2d,
                               lambda x: x.flatten(1), nn.Linear(800, 500), Tensor.tanh,
                               nn.Linear(500, 10)]

        def __call__(self, x):
            return x.sequential(self.layers)
    return Model()


def batch_data(kind: str, batch: int, seed: int = 0):
    """Random inputs (MNIST-sized; CIFAR-sized for the convnets) and integer class labels."""
    rng = np.random.RandomState(seed)
    shape = {"mlp": (batch, 784), "convnet": (batch, 3, 32, 32),
             "separable": (batch, 3, 32, 32)}.get(kind, (batch, 1, 28, 28))
    return rng.uniform(0, 1, shape).astype(np.float32), rng.randint(0, 10, batch)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-12)))


# -- training steps: each returns (step, sync, loss) ----------------------------------------------
def clnet_module_trainer(mx, ctx, symbol, x, y):
    """Module.forward_backward + update on one bound batch."""
    mod = mx.mod.Module(symbol, context=ctx)
    mod.bind(data_shapes=[("data", x.shape)], label_shapes=[("softmax_label", y.shape)])
    mod.init_params(mx.init.Xavier(magnitude=2.0))
    mod.init_optimizer(optimizer="sgd",
                       optimizer_params={"learning_rate": LR, "momentum": MOMENTUM})
    batch = mx.io.DataBatch([mx.nd.array(x, ctx=ctx)], [mx.nd.array(y, ctx=ctx)])

    def step():
        mod.forward_backward(batch)
        mod.update()
    return step, mx.nd.waitall, lambda: cross_entropy(mod.get_outputs()[0].asnumpy(), y)


def clnet_executor(mx, ctx, symbol, x, y, for_training=True):
    """A bare executor with the data bound once, parameters initialised as Module does."""
    inputs = ("data", "softmax_label")
    req = {n: "write" if for_training and n not in inputs else "null"
           for n in symbol.list_arguments()}
    ex = symbol.simple_bind(ctx, grad_req=req, data=x.shape, softmax_label=y.shape)
    init = mx.init.Xavier(magnitude=2.0)
    for name, arr in ex.arg_dict.items():
        if name not in inputs:
            init(mx.init.InitDesc(name), arr)
    ex.arg_dict["data"][:] = x
    ex.arg_dict["softmax_label"][:] = y
    return ex


def clnet_executor_trainer(mx, ctx, symbol, x, y):
    """Executor forward/backward plus the optimizer's fused update per parameter."""
    ex = clnet_executor(mx, ctx, symbol, x, y)
    # rescale_grad as Module sets it: SoftmaxOutput's gradient is summed over the batch
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(
        learning_rate=LR, momentum=MOMENTUM, rescale_grad=1.0 / x.shape[0]))
    params = [(i, ex.arg_dict[n], ex.grad_dict[n]) for i, n in enumerate(ex.arg_names)
              if n in ex.grad_dict]

    def step():
        ex.forward(is_train=True)
        ex.backward()
        for i, weight, grad in params:
            updater(i, grad, weight)
    return step, mx.nd.waitall, lambda: cross_entropy(ex.outputs[0].asnumpy(), y)


def numpy_mlp_trainer(x, y):
    """A hand-written MLP step: in-place BLAS calls, softmax cross-entropy, SGD momentum."""
    rng = np.random.RandomState(1)
    sizes = (784, 512, 512, 10)
    ws = [(rng.randn(o, i) * np.sqrt(2.0 / (i + o))).astype(np.float32)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, np.float32) for o in sizes[1:]]
    params = ws + bs
    vel = [np.zeros_like(p) for p in params]
    onehot = np.eye(10, dtype=np.float32)[y]
    state = {}

    def step():
        acts = [x]
        for k, (w, b) in enumerate(zip(ws, bs)):
            h = acts[-1] @ w.T
            h += b
            if k < len(ws) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        logits = acts[-1]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits, out=logits)
        probs /= probs.sum(axis=1, keepdims=True)
        state["probs"] = probs.copy()
        delta = (probs - onehot) / len(y)
        grads_w, grads_b = [], []
        for k in range(len(ws) - 1, -1, -1):
            grads_w.insert(0, delta.T @ acts[k])
            grads_b.insert(0, delta.sum(axis=0))
            if k:
                delta = delta @ ws[k]
                delta *= acts[k] > 0
        for p, v, g in zip(params, vel, grads_w + grads_b):
            v *= MOMENTUM
            v -= LR * g
            p += v
    return step, lambda: None, lambda: cross_entropy(state["probs"], y)


def numpy_lenet_trainer(x, y):
    """A hand-written LeNet step: im2col convolutions on BLAS, 2x2 max pooling."""
    from numpy.lib.stride_tricks import sliding_window_view
    rng = np.random.RandomState(1)

    def glorot(*shape):
        fan_in, fan_out = np.prod(shape[1:]), shape[0] * np.prod(shape[2:])
        return (rng.randn(*shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(np.float32)
    params = [glorot(20, 1, 5, 5), np.zeros(20, np.float32), glorot(50, 20, 5, 5),
              np.zeros(50, np.float32), glorot(500, 800), np.zeros(500, np.float32),
              glorot(10, 500), np.zeros(10, np.float32)]
    vel = [np.zeros_like(p) for p in params]
    onehot = np.eye(10, dtype=np.float32)[y]
    state = {}

    def conv(a, w, b):
        n, c, h, wd = a.shape
        cols = sliding_window_view(a, (5, 5), axis=(2, 3))  # n, c, oh, ow, 5, 5
        oh, ow = h - 4, wd - 4
        cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * 25)
        out = cols @ w.reshape(len(w), -1).T + b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2), cols

    def conv_back(dout, a_shape, cols, w):
        n, c, h, wd = a_shape
        f, oh, ow = dout.shape[1], h - 4, wd - 4
        d2 = dout.transpose(0, 2, 3, 1).reshape(-1, f)
        dw = (d2.T @ cols).reshape(w.shape)
        dcols = (d2 @ w.reshape(f, -1)).reshape(n, oh, ow, c, 5, 5)
        da = np.zeros(a_shape, np.float32)
        for i in range(5):
            for j in range(5):
                da[:, :, i:i + oh, j:j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return da, dw, d2.sum(axis=0)

    def pool(a):
        n, c, h, w = a.shape
        blocks = a.reshape(n, c, h // 2, 2, w // 2, 2)
        out = blocks.max(axis=(3, 5))
        return out, blocks == out[:, :, :, None, :, None]

    def pool_back(dout, mask):
        n, c, h2, _, w2, _ = mask.shape
        return (mask * dout[:, :, :, None, :, None]).reshape(n, c, h2 * 2, w2 * 2)

    def step():
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        c1, cols1 = conv(x, w1, b1)
        t1 = np.tanh(c1)
        p1, m1 = pool(t1)
        c2, cols2 = conv(p1, w2, b2)
        t2 = np.tanh(c2)
        p2, m2 = pool(t2)
        f0 = p2.reshape(len(x), -1)
        t3 = np.tanh(f0 @ w3.T + b3)
        logits = t3 @ w4.T + b4
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        state["probs"] = probs
        d4 = (probs - onehot) / len(y)
        dw4, db4 = d4.T @ t3, d4.sum(axis=0)
        d3 = (d4 @ w4) * (1 - t3 * t3)
        dw3, db3 = d3.T @ f0, d3.sum(axis=0)
        dp2 = (d3 @ w3).reshape(p2.shape)
        dc2 = pool_back(dp2, m2) * (1 - t2 * t2)
        dp1, dw2, db2 = conv_back(dc2, p1.shape, cols2, w2)
        dc1 = pool_back(dp1, m1) * (1 - t1 * t1)
        _, dw1, db1 = conv_back(dc1, x.shape, cols1, w1)
        for p, v, g in zip(params, vel, (dw1, db1, dw2, db2, dw3, db3, dw4, db4)):
            v *= MOMENTUM
            v -= LR * g
            p += v
    return step, lambda: None, lambda: cross_entropy(state["probs"], y)


def torch_trainer(kind, x, y):
    import bench_ndarray as bn
    import torch
    model = torch_model(kind).to(bn.TORCH_DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    tx, ty = bn.to_torch(x), bn.to_torch(y.astype(np.int64))
    state = {}

    def step():
        opt.zero_grad()
        out = model(tx)
        loss = torch.nn.functional.cross_entropy(out, ty)
        loss.backward()
        opt.step()
        state["loss"] = loss
    return step, bn.torch_sync, lambda: float(state["loss"].detach())


def tinygrad_trainer(kind, x, y):
    from tinygrad import Context, Device, Tensor, TinyJit, nn
    model = tinygrad_model(kind)
    opt = nn.optim.SGD(nn.state.get_parameters(model), lr=LR, momentum=MOMENTUM)
    tx, ty = Tensor(x).realize(), Tensor(y.astype(np.int32)).realize()

    @TinyJit
    def jit_step(xb, yb):
        with Context(TRAINING=1):
            opt.zero_grad()
            loss = model(xb).sparse_categorical_crossentropy(yb).backward()
            opt.step()
            return loss.realize()
    state = {}

    def step():
        state["loss"] = jit_step(tx, ty)
    return (step, Device[Device.DEFAULT].synchronize,
            lambda: float(state["loss"].numpy()))


# -- timing -------------------------------------------------------------------------------------
def _prepared(make):
    """A trainer after one step, with its loss then: (step, sync, loss, first loss)."""
    step, sync, loss = make()
    step()
    sync()
    return step, sync, loss, loss()


def train_rates(makers: dict, batch: int, steps: int, repeats: int, warmup: int) -> dict:
    """samples/s of each trainer (median over blocks of `steps` steps, each block synchronised,
    the trainers taking turns), after checking that training lowers its loss on the batch."""
    import bench_ndarray as bn
    trainers = {name: bn._attempt(lambda m=make: _prepared(m)) for name, make in makers.items()}
    blocks = {}
    for name, got in trainers.items():
        if not isinstance(got, str):
            def block(step=got[0], sync=got[1]):
                for _ in range(steps):
                    step()
                sync()
            blocks[name] = block
    seconds = bn.taking_turns(blocks, repeats, warmup)
    out = {}
    for name, got in trainers.items():
        if isinstance(got, str) or isinstance(seconds[name], str):
            out[name] = got if isinstance(got, str) else seconds[name]
            continue
        first, last = got[3], bn._attempt(got[2])
        if isinstance(last, str) or not last < first:
            out[name] = f"ValueError: training does not lower the loss ({first:.4g} -> {last})"
        else:
            out[name] = batch * steps / seconds[name]
    return out


# -- workloads ----------------------------------------------------------------------------------
def tinygrad_call(compute, *hosts):
    """A call of `compute(*tensors)` on tinygrad tensors of the `hosts` arrays (realised
    once), realised and synchronised like clnet's and PyTorch's timed calls."""
    from tinygrad import Device, Tensor
    tensors = [Tensor(h).realize() for h in hosts]

    def run():
        compute(*tensors).realize()
        Device[Device.DEFAULT].synchronize()
    return run


def bench_sgemm(peers, ctx, repeats, sizes=GEMM_SIZES) -> dict:
    """{n: {framework: GFLOP/s}}: per size, blocks of products (about 0.1 s each) with the
    frameworks taking turns, after checking clnet's product against numpy's."""
    import bench_ndarray as bn
    out = {}
    for n in sizes:
        calls, syncs, gflop = bn.dot_calls(n, ctx)
        if "tinygrad" in peers:
            rng = np.random.RandomState(0)
            calls["tinygrad"] = tinygrad_call(lambda a, b: a @ b, *(
                rng.uniform(-1, 1, (n, n)).astype(np.float32) for _ in range(2)))
        out[n] = bn.rates_in_turns(calls, gflop, repeats, warmup=1, syncs=syncs)
    return out


def bench_tanh(peers, ctx, repeats, warmup):
    """(imperative figures, executor figures) of `tanh(a*b+a)`, every framework taking turns;
    clnet's bound executor runs the chain as one fused kernel, the peers' figures in its row
    are their imperative ones."""
    import bench_ndarray as bn

    calls, gbytes = bn.elemwise_calls(ctx)
    if "tinygrad" in peers:
        rng = np.random.RandomState(0)
        calls["tinygrad"] = tinygrad_call(lambda a, b: (a * b + a).tanh(), *(
            rng.uniform(-1, 1, bn.ELEMWISE_N).astype(np.float32) for _ in range(2)))
    bn.settle(0.5)
    imperative = bn.rates_in_turns(calls, gbytes, repeats, warmup)
    return imperative, dict(imperative, clnet=imperative.pop("clnet executor"))


# The sum row's extra turn: numpy's sum split over every core, which reads this machine's
# memory with all its cores (the sum row's figures are bound by it, not by arithmetic).
NUMPY_ALL_CORES = "numpy, all cores"


def numpy_all_cores_sum(host: np.ndarray):
    """A call summing `host` with numpy on os.cpu_count() threads, one slice each (numpy
    releases the GIL inside a reduction)."""
    from concurrent.futures import ThreadPoolExecutor
    slices = np.array_split(host, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(len(slices))
    return lambda: sum(pool.map(np.sum, slices))


def bench_sum(peers, ctx, repeats, warmup):
    """{name: GB/s} of the sum row, with NUMPY_ALL_CORES beside the peers."""
    import bench_ndarray as bn
    host = bn.sum_host()
    calls, gbytes = bn.sum_calls(ctx, host)
    if "tinygrad" in peers:
        calls["tinygrad"] = tinygrad_call(lambda a: a.sum(), host)
    calls[NUMPY_ALL_CORES] = numpy_all_cores_sum(host)
    bn.settle(0.5)
    return bn.rates_in_turns(calls, gbytes, repeats, warmup)


def memory_note(summed: dict) -> str:
    """What a second core adds to numpy's sum in this run: the ceiling of the sum row's ratio
    to numpy on one thread."""
    alone, all_cores = summed.get("numpy"), summed.get(NUMPY_ALL_CORES)
    if not (isinstance(alone, float) and isinstance(all_cores, float)):
        return ""
    return (f"sum 16M, memory: numpy split over {os.cpu_count()} threads read "
            f"{all_cores:.1f} GB/s, {all_cores / alone:.2f}x numpy on one thread")


def bench_training(kind, peers, ctx, repeats, warmup, steps):
    """(Module figures, executor figures) in samples/s for the MLP or LeNet."""
    import clnet as mx
    batch = MLP_BATCH if kind == "mlp" else LENET_BATCH
    x, y = batch_data(kind, batch)
    symbol = (mlp_symbol if kind == "mlp" else lenet_symbol)(mx)
    makers = {"module": lambda: clnet_module_trainer(mx, ctx, symbol, x, y),
              "executor": lambda: clnet_executor_trainer(mx, ctx, symbol, x, y),
              "numpy": lambda: (numpy_mlp_trainer if kind == "mlp" else numpy_lenet_trainer)(
                  x, y),
              "torch": lambda: torch_trainer(kind, x, y),
              "tinygrad": lambda: tinygrad_trainer(kind, x, y)}
    rates = train_rates({k: m for k, m in makers.items() if k in ("module", "executor")
                         or k in peers}, batch, steps, repeats, warmup)
    peer_rates = {fw: rates[fw] for fw in peers}
    return ({"clnet": rates["module"], **peer_rates},
            {"clnet": rates["executor"], **peer_rates})


def bench_inference(peers, ctx, repeats, warmup, calls):
    """ms per MLP forward at batch 1 with the result read back to the host."""
    import bench_ndarray as bn

    import clnet as mx
    x, y = batch_data("mlp", 1)
    ex = clnet_executor(mx, ctx, mlp_symbol(mx), x, y, for_training=False)
    forwards = {"clnet": lambda: ex.forward(is_train=False)[0].asnumpy()}
    if "numpy" in peers:
        rng = np.random.RandomState(1)
        ws = [rng.randn(o, i).astype(np.float32) * 0.05 for i, o in ((784, 512), (512, 512),
                                                                     (512, 10))]

        def numpy_forward():
            h = x
            for k, w in enumerate(ws):
                h = h @ w.T
                if k < 2:
                    h = np.maximum(h, 0)
            e = np.exp(h - h.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        forwards["numpy"] = numpy_forward
    if "torch" in peers:
        import torch

        def torch_forward(model=torch_model("mlp").to(bn.TORCH_DEVICE), tx=bn.to_torch(x)):
            with torch.no_grad():
                return torch.softmax(model(tx), dim=1).cpu().numpy()
        forwards["torch"] = torch_forward
    if "tinygrad" in peers:
        from tinygrad import Tensor, TinyJit
        model, tx = tinygrad_model("mlp"), Tensor(x).realize()
        jit_forward = TinyJit(lambda xb: model(xb).softmax().realize())
        forwards["tinygrad"] = lambda: jit_forward(tx).numpy()

    def block(fn):
        def run():
            for _ in range(calls):
                fn()
        return run
    seconds = bn.taking_turns({fw: block(fn) for fw, fn in forwards.items()}, repeats, warmup)
    return {fw: t if isinstance(t, str) else t / calls * 1e3 for fw, t in seconds.items()}


def first_step_seconds(framework: str, ctx_text: str, env: dict) -> float:
    """Seconds from starting a new Python process to its first MLP training step done."""
    start = time.time()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--first-step", framework,
                           "--ctx", ctx_text], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    return float(proc.stdout.split()[-1]) - start


def run_first_step(framework: str, ctx_text: str) -> None:
    """The child process of first_step_seconds: imports only its framework."""
    x, y = batch_data("mlp", MLP_BATCH)
    if framework == "clnet":
        import clnet as mx
        kind, _, index = ctx_text.partition(":")
        step, sync, _ = clnet_module_trainer(mx, mx.Context(kind, int(index or 0)),
                                             mlp_symbol(mx), x, y)
    elif framework == "numpy":
        step, sync, _ = numpy_mlp_trainer(x, y)
    else:
        step, sync, _ = torch_trainer("mlp", x, y)
    step()
    sync()
    print(repr(time.time()))


def bench_start(peers, ctx_text, runs):
    """(warm-cache figures, empty-cache figures): median of `runs` processes each."""
    import statistics

    import bench_ndarray as bn
    warm, empty = {}, {}
    with tempfile.TemporaryDirectory(prefix="clnet-bench-") as tmp:
        env = dict(os.environ, CLNET_CACHE_DIR=os.path.join(tmp, "clnet"),
                   POCL_CACHE_DIR=os.path.join(tmp, "pocl"))
        bn.settle(0.5)
        empty["clnet"] = bn._attempt(lambda: first_step_seconds("clnet", ctx_text, env))
        warm["clnet"] = bn._attempt(lambda: statistics.median(
            first_step_seconds("clnet", ctx_text, env) for _ in range(runs)))
    for fw in [p for p in peers if p in ("numpy", "torch")]:
        warm[fw] = empty[fw] = bn._attempt(lambda fw=fw: statistics.median(
            first_step_seconds(fw, ctx_text, dict(os.environ)) for _ in range(runs)))
    return warm, empty


# -- the table ----------------------------------------------------------------------------------
def target_text(key, figures) -> str:
    """The issue's target for a clnet row and whether this run meets it."""
    if key not in TARGETS:
        return "report"
    peer, bound = TARGETS[key]
    got = figures.get("clnet")
    if peer is None:
        unit = "ms" if key == "infer" else "s"
        verdict = "" if not isinstance(got, float) else (" met" if got <= bound else " MISSED")
        return f"<= {bound:g} {unit}{verdict}"
    want = figures.get(peer)
    verdict = ""
    if isinstance(got, float) and isinstance(want, float):
        verdict = " met" if got / want >= bound else " MISSED"
    return f">= {bound:g}x {peer}{verdict}"


def _tinygrad_importable() -> bool:
    os.environ.setdefault("DEV", "CL")
    if "OPENCL_PATH" not in os.environ:
        import pyopencl
        libs = glob.glob(os.path.join(os.path.dirname(pyopencl.__file__), ".libs",
                                      "libOpenCL*.so*"))
        if libs and ctypes.util.find_library("OpenCL") is None:
            os.environ["OPENCL_PATH"] = libs[0]
    try:
        import tinygrad  # noqa: F401
    except ImportError:
        return False
    return True


GROUPS = ("sgemm", "tanh", "sum", "mlp", "lenet", "infer", "start")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 2 minutes)")
    parser.add_argument("--ctx", default="cpu", help="cpu, gpu or gpu:i")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated workload groups to run, of {','.join(GROUPS)}")
    parser.add_argument("--first-step", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if only - set(GROUPS):
        parser.error(f"--only: unknown groups {sorted(only - set(GROUPS))}; choose of {GROUPS}")
    if args.first_step:
        run_first_step(args.first_step, args.ctx)
        return 0
    import bench_ndarray as bn
    ctx = bn.parse_ctx(args.ctx)
    bn.keep_freed_memory()
    bn.use_torch_device(ctx)
    peers = ["numpy"] + (["torch"] if bn.torch is not None else [])
    peers += ["tinygrad"] if _tinygrad_importable() else []
    repeats, warmup = (5, 1) if args.quick else (15, 3)
    steps = 5 if args.quick else 20
    print(bn.describe(ctx) + ("; tinygrad (OpenCL)" if "tinygrad" in peers else ""))
    print(f"median of {repeats} timed runs after {warmup} warm-up run(s); load average "
          f"{os.getloadavg()[0]:.2f} at start\n", flush=True)
    rows, notes = [], []
    if "sgemm" in only:
        sgemm = bench_sgemm(peers, ctx, repeats)
        rows += [(f"SGEMM n={n}", "GFLOP/s", f, target_text("sgemm", f))
                 for n, f in sgemm.items()]
    if "tanh" in only:
        imperative, fused = bench_tanh(peers, ctx, repeats, warmup)
        rows += [("tanh(a*b+a) 4M, imperative", "GB/s", imperative,
                  target_text("tanh", imperative)),
                 ("tanh(a*b+a) 4M, bound executor", "GB/s", fused, target_text("tanh", fused))]
    if "sum" in only:
        summed = bench_sum(peers, ctx, repeats, warmup)
        notes.append(memory_note(summed))
        summed.pop(NUMPY_ALL_CORES)
        rows.append(("sum 16M", "GB/s", summed, target_text("sum", summed)))
    for kind, name, batch in (("mlp", "MLP train", MLP_BATCH), ("lenet", "LeNet train",
                                                                 LENET_BATCH)):
        if kind not in only:
            continue
        module, executor = bench_training(kind, peers, ctx, repeats, warmup, steps)
        rows += [(f"{name} b{batch}, Module", "samples/s", module, target_text(kind, module)),
                 (f"{name} b{batch}, executor", "samples/s", executor,
                  target_text(kind, executor))]
    if "infer" in only:
        infer = bench_inference(peers, ctx, repeats, warmup, calls=20 if args.quick else 100)
        rows.append(("MLP inference b1, executor", "ms", infer, target_text("infer", infer)))
    if "start" in only:
        warm, empty = bench_start(peers, args.ctx, runs=1 if args.quick else 3)
        rows += [("start to first MLP step, warm cache", "s", warm,
                  target_text("start_warm", warm)),
                 ("start to first MLP step, empty cache", "s", empty, "report")]
    print(bn.format_table(rows, peers))
    for note in filter(None, notes):
        print(note)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
