"""One executor per context, each taking a slice of the batch (data parallelism).

Owns splitting batches across contexts (by `work_load_list`), loading them into the bound
arrays, running forward/backward on every device before any host wait, and gathering outputs
in batch order. Aggregating gradients and updating parameters is the Module's job.
"""
from __future__ import annotations

from ..base import MXNetError


def split_batch(batch_size: int, work_load_list) -> list:
    """Slices of the batch per device, proportional to `work_load_list`."""
    total = float(sum(work_load_list))
    bounds, start = [], 0
    for i, w in enumerate(work_load_list):
        stop = batch_size if i == len(work_load_list) - 1 else start + int(
            round(batch_size * w / total))
        bounds.append(slice(start, stop))
        start = stop
    for s in bounds:
        if s.stop <= s.start:
            raise MXNetError(f"batch of {batch_size} cannot be split over "
                             f"{len(work_load_list)} devices with work_load_list "
                             f"{list(work_load_list)}")
    return bounds


class ExecutorGroup:
    """Executors of one symbol on several contexts, sharing nothing but the structure."""

    def __init__(self, symbol, contexts, work_load_list, data_shapes, label_shapes,
                 param_names, for_training, inputs_need_grad, grad_req, fixed_param_names,
                 type_dict=None):
        self.symbol = symbol
        self.contexts = list(contexts)
        self.data_shapes = list(data_shapes)
        self.label_shapes = list(label_shapes or [])
        self.input_names = [d.name for d in self.data_shapes + self.label_shapes]
        self.data_names = [d.name for d in self.data_shapes]
        self.label_names = [d.name for d in self.label_shapes]
        batch = self.data_shapes[0].shape[0]
        self.slices = split_batch(batch, work_load_list or [1] * len(self.contexts))
        arg_names = symbol.list_arguments()
        reqs = {}
        for name in arg_names:
            if name in self.data_names:
                reqs[name] = grad_req if inputs_need_grad and for_training else "null"
            elif name in self.label_names or name in (fixed_param_names or ()):
                reqs[name] = "null"
            else:
                reqs[name] = grad_req if for_training else "null"
        self.grad_req = reqs
        self.execs = []
        for ctx, sl in zip(self.contexts, self.slices):
            shapes = {d.name: (sl.stop - sl.start,) + tuple(d.shape[1:])
                      for d in self.data_shapes + self.label_shapes}
            types = {d.name: d.dtype for d in self.data_shapes + self.label_shapes}
            types.update(type_dict or {})
            self.execs.append(symbol.simple_bind(ctx, grad_req=reqs, type_dict=types,
                                                 **shapes))
        self.param_names = list(param_names)

    def load_batch(self, batch):
        """Copy each device's slice of the batch into its bound inputs (asynchronous)."""
        arrays = list(batch.data) + list(batch.label or [])
        names = self.data_names + (self.label_names if batch.label else [])
        for ex, sl in zip(self.execs, self.slices):
            whole = len(self.execs) == 1
            for name, arr in zip(names, arrays):
                dst = ex.arg_dict[name]
                src = arr if whole else arr[sl]
                if src.shape != dst.shape:
                    raise MXNetError(f"batch input {name!r} has shape {tuple(arr.shape)}, the "
                                     f"module was bound for {self._bound_shape(name)}")
                src.copyto(dst)

    def _bound_shape(self, name):
        for d in self.data_shapes + self.label_shapes:
            if d.name == name:
                return tuple(d.shape)
        return None

    def forward(self, is_train):
        for ex in self.execs:
            ex.forward(is_train=is_train)

    def backward(self, out_grads=None):
        for i, ex in enumerate(self.execs):
            grads = None if out_grads is None else [g[self.slices[i]] if len(self.execs) > 1
                                                    else g for g in out_grads]
            ex.backward(grads)

    def get_outputs(self, merge=True):
        outs = [ex.outputs for ex in self.execs]
        if not merge:
            return [[o[i] for o in outs] for i in range(len(outs[0]))]
        if len(outs) == 1:
            return list(outs[0])
        from ..ndarray import concat
        first = self.contexts[0]
        return [concat(*[o[i].as_in_context(first) for o in outs], dim=0)
                for i in range(len(outs[0]))]

    def get_input_grads(self):
        return [ex.grad_dict.get(n) for n in self.data_names for ex in self.execs[:1]]
