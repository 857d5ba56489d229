"""Module: a symbol bound for training on one or more devices, with its parameters and
optimizer (MXNet's `mx.mod.Module`).

Owns parameter initialisation and transfer and how updates run, as MXNet's Module does: with
a kvstore ('local', 'device', 'dist_sync', ... or a KVStore) gradients are summed by the store,
which also runs the optimizer when `update_on_kvstore` (weights pulled back to every device),
else every device runs the optimizer on the summed gradient. One device and a local kvstore
name need no store. Executors are the executor group's; the training loop is BaseModule's;
summing and the optimizer on the store are `clnet.kvstore`'s.
"""
from __future__ import annotations

import logging
import warnings

from ..base import MXNetError, env_int
from ..context import Context, cpu
from .base_module import BaseModule
from .executor_group import ExecutorGroup


def _create_kvstore(kvstore, num_device: int, arg_params: dict):
    """(KVStore or None, update_on_kvstore) for Module's `kvstore` argument, as MXNet's
    `model._create_kvstore`: a local type on one device needs no store; a local store keeps
    the updates on the devices when a parameter exceeds 16M elements; CLNET_UPDATE_ON_KVSTORE=0
    keeps them there always."""
    from .. import kvstore as kvs
    update_on_kvstore = env_int("CLNET_UPDATE_ON_KVSTORE", 1) != 0
    if kvstore is None:
        kv = None
    elif isinstance(kvstore, kvs.KVStore):
        kv = kvstore
    elif isinstance(kvstore, str):
        if num_device == 1 and "dist" not in kvstore:
            kv = None
        else:
            kv = kvs.create(kvstore)
            if kvstore == "local" and arg_params and max(
                    v.size for v in arg_params.values()) > 1024 * 1024 * 16:
                update_on_kvstore = False
    else:
        raise MXNetError(f"Module: kvstore must be a KVStore, a str or None, got "
                         f"{type(kvstore).__name__}")
    if kv is None:
        return None, False
    return kv, update_on_kvstore and kv.is_capable(kv.OPTIMIZER)


def _as_descs(shapes, default_names=()):
    from ..io import DataDesc
    if shapes is None:
        return []
    out = []
    for item in shapes:
        if isinstance(item, DataDesc):
            out.append(item)
        else:
            name, shape = item
            out.append(DataDesc(name, tuple(shape)))
    return out


class Module(BaseModule):
    """A trainable model: `Module(symbol, data_names, label_names, context=ctx or list)`."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        context = context if context is not None else cpu()
        self._contexts = [Context(c) for c in (context if isinstance(context, (list, tuple))
                                               else [context])]
        self._work_load_list = work_load_list
        self._symbol = symbol
        arg_names = symbol.list_arguments()
        self._data_names = list(data_names or [])
        self._label_names = [n for n in (label_names or []) if n in arg_names]
        for name in self._data_names:
            if name not in arg_names:
                raise MXNetError(f"Module: data name {name!r} is not an argument of the "
                                 f"symbol; its arguments are {arg_names}")
        inputs = set(self._data_names) | set(self._label_names)
        self._param_names = [n for n in arg_names if n not in inputs]
        self._fixed_param_names = list(fixed_param_names or [])
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._arg_params = None
        self._aux_params = None
        self._group = None
        self._optimizer = None
        self._updater = None
        self._kvstore = None
        self._update_on_kvstore = False
        self._compression_params = compression_params
        self._data_shapes = self._label_shapes = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def symbol(self):
        return self._symbol

    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        shapes = dict(zip(self._output_names, [o.shape for o in self._group.execs[0].outputs]))
        batch = self._data_shapes[0].shape[0]
        return [(n, (batch,) + tuple(s[1:])) for n, s in shapes.items()]

    # -- binding and parameters -----------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._data_shapes = _as_descs(data_shapes)
        self._label_shapes = _as_descs(label_shapes) if label_shapes else []
        self._group = ExecutorGroup(self._symbol, self._contexts, self._work_load_list,
                                    self._data_shapes, self._label_shapes, self._param_names,
                                    for_training, inputs_need_grad, grad_req,
                                    self._fixed_param_names)
        self.binded = True
        if self.params_initialized:
            self._push_params()

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialise parameters: from arg_params/aux_params where given, else by
        `initializer` (Uniform(0.01) by default, as MXNet)."""
        if self.params_initialized and not force_init:
            self.logger.warning("Parameters already initialized and force_init=False. "
                                "init_params call ignored.")
            return
        if not self.binded:
            raise MXNetError("init_params: call bind() first")
        from .. import initializer as init_mod
        from ..ndarray import zeros
        initializer = initializer if initializer is not None else init_mod.Uniform(0.01)
        ex = self._group.execs[0]
        attrs = self._symbol.attr_dict()
        self._arg_params = {}
        self._aux_params = {}
        for names, given, target, arrays in (
                (self._param_names, arg_params, self._arg_params, ex.arg_dict),
                (self._aux_names, aux_params, self._aux_params, ex.aux_dict)):
            for name in names:
                arr = zeros(arrays[name].shape, cpu(), arrays[name].dtype)
                if given is not None and name in given:
                    if given[name].shape != arr.shape:
                        raise MXNetError(f"init_params: {name!r} given with shape "
                                         f"{given[name].shape}, the module needs {arr.shape}")
                    given[name].copyto(arr)
                elif given is not None and not allow_missing:
                    raise MXNetError(f"init_params: {name!r} is missing from the given "
                                     "params; pass allow_missing=True to initialise it")
                else:
                    initializer(init_mod.InitDesc(name, attrs.get(name, {})), arr)
                target[name] = arr
        if not allow_extra:
            for given, names in ((arg_params, self._param_names), (aux_params, self._aux_names)):
                extra = sorted(set(given or {}) - set(names))
                if extra:
                    raise MXNetError(f"init_params: {extra} are not parameters of this module; "
                                     "pass allow_extra=True to ignore them")
        self.params_initialized = True
        self._push_params()

    def _push_params(self):
        for ex in self._group.execs:
            for name, value in self._arg_params.items():
                if ex.arg_dict[name].shape != value.shape:
                    raise MXNetError(
                        f"inputs of shapes {[tuple(d.shape) for d in self._data_shapes]} need "
                        f"parameter {name!r} of shape {ex.arg_dict[name].shape}, the module's "
                        f"is {value.shape}")
                value.copyto(ex.arg_dict[name])
            for name, value in self._aux_params.items():
                value.copyto(ex.aux_dict[name])
        if self._update_on_kvstore:
            for name, value in self._arg_params.items():
                self._kvstore._assign(name, value)  # the store's weights are the ones updated

    def get_params(self):
        """(arg_params, aux_params) as arrays on cpu(0), synced from the first device."""
        if not self.params_initialized:
            raise MXNetError("get_params: parameters are not initialized")
        ex = self._group.execs[0]
        for name, value in self._arg_params.items():
            ex.arg_dict[name].copyto(value)
        for name, value in self._aux_params.items():
            ex.aux_dict[name].copyto(value)
        return dict(self._arg_params), dict(self._aux_params)

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    # -- optimizer ------------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Set up the optimizer and how updates run.

        Parameters
        ----------
        kvstore : str, KVStore or None
            'local', 'device', 'dist_sync', 'dist_device_sync' or a KVStore: gradients are
            summed by the store, which also runs the optimizer when update_on_kvstore (the
            default; CLNET_UPDATE_ON_KVSTORE=0 turns it off). None: no store; each device
            updates its copy with its own gradient (as in MXNet, copies then drift apart).
        optimizer : str or Optimizer
        optimizer_params : dict or pairs
            For an optimizer name; rescale_grad defaults to 1 / (batch size x workers of a
            dist_sync store).
        """
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        if not self.binded or not self.params_initialized:
            raise MXNetError("init_optimizer: call bind() and init_params() first")
        from .. import optimizer as opt
        kv, update_on_kvstore = _create_kvstore(kvstore, len(self._contexts),
                                                self._arg_params)
        batch = self._data_shapes[0].shape[0]
        if kv is not None and "dist" in kv.type and "_sync" in kv.type:
            batch *= kv.num_workers
        rescale_grad = 1.0 / batch
        ndev = len(self._contexts)
        if update_on_kvstore:
            idx2name = dict(enumerate(self._param_names))
        else:
            idx2name = {i * ndev + k: name for i, name in enumerate(self._param_names)
                        for k in range(ndev)}
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", rescale_grad)
            optimizer = opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name,
                                   **params)
        elif isinstance(optimizer, opt.Optimizer):
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn(f"Optimizer created manually outside Module but rescale_grad is "
                              f"not normalized to 1.0/batch_size/num_workers "
                              f"({optimizer.rescale_grad} vs. {rescale_grad}). Is this "
                              "intended?", stacklevel=2)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        else:
            raise MXNetError(f"init_optimizer: optimizer must be a name or an "
                             f"mx.optimizer.Optimizer, got {type(optimizer).__name__}")
        self._optimizer = optimizer
        self._kvstore = kv
        self._update_on_kvstore = update_on_kvstore
        self._updater = None
        if kv is not None:
            if self._compression_params:
                kv.set_gradient_compression(self._compression_params)
            if update_on_kvstore:
                kv.set_optimizer(optimizer)
            self._initialize_kvstore()
        if not update_on_kvstore:
            self._updater = opt.get_updater(optimizer)
        self.optimizer_initialized = True
        states = getattr(self, "_preload_opt_states", None)
        if states:
            self.load_optimizer_states(states)
            self._preload_opt_states = None

    def _param_arrays(self, names, which="arg_dict"):
        """For each name, its array on every device (the group's param/grad arrays)."""
        return [[getattr(ex, which)[name] for ex in self._group.execs] for name in names]

    def _initialize_kvstore(self):
        """Key each parameter by name in the store, initialised from the first device's copy
        (worker 0's, in a distributed store), and pull that value to every device, so all
        devices and workers start equal."""
        names = self._param_names
        if not names:
            return
        first = self._group.execs[0].arg_dict
        self._kvstore.init(list(names), [first[n] for n in names])
        self._kvstore.pull(list(names), out=self._param_arrays(names))

    # -- computation ----------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        if not self.binded or not self.params_initialized:
            raise MXNetError("forward: call bind() and init_params() first")
        is_train = self.for_training if is_train is None else is_train
        self._match_batch_shapes(data_batch)
        self._group.load_batch(data_batch)
        self._group.forward(is_train)

    def _match_batch_shapes(self, batch):
        """Rebind for a batch of another shape (as MXNet's Module.forward does), keeping the
        parameters; groups are kept per shape, so alternating shapes rebind once each."""
        shapes = tuple(tuple(a.shape) for a in batch.data)
        bound = tuple(tuple(d.shape) for d in self._data_shapes)
        if shapes == bound:
            return
        from ..io import DataDesc
        self.get_params()  # sync the host copies from the current group
        cache = self.__dict__.setdefault("_groups", {})
        old = cache[bound] = (self._group, self._data_shapes, self._label_shapes)
        if shapes in cache:
            self._group, self._data_shapes, self._label_shapes = cache[shapes]
        else:
            batch_size = shapes[0][0]
            self._data_shapes = [DataDesc(d.name, s, d.dtype)
                                 for d, s in zip(self._data_shapes, shapes)]
            self._label_shapes = [DataDesc(d.name, (batch_size,) + tuple(d.shape[1:]), d.dtype)
                                  for d in self._label_shapes]
            self._group = ExecutorGroup(self._symbol, self._contexts, self._work_load_list,
                                        self._data_shapes, self._label_shapes,
                                        self._param_names, self.for_training,
                                        self.inputs_need_grad, "write",
                                        self._fixed_param_names)
        try:
            self._push_params()
        except MXNetError:
            cache.pop(shapes, None)
            self._group, self._data_shapes, self._label_shapes = old  # the module stays usable
            raise
        cache[shapes] = (self._group, self._data_shapes, self._label_shapes)

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError("backward: the module was bound with for_training=False")
        self._group.backward(out_grads)

    def update(self):
        """Apply the optimizer to the gradients of the last backward: through the kvstore
        (summed over devices and workers; updated on the store and pulled back when
        update_on_kvstore, else summed back into each device's gradient and updated there)."""
        if not self.optimizer_initialized:
            raise MXNetError("update: call init_optimizer() first")
        first = self._group.execs[0].grad_dict
        indexed = [(i, n) for i, n in enumerate(self._param_names) if first.get(n) is not None]
        if not indexed:
            return
        names = [n for _, n in indexed]
        grads = self._param_arrays(names, "grad_dict")
        weights = self._param_arrays(names)
        if self._update_on_kvstore:
            self._kvstore.pushpull(names, grads, out=weights)
            return
        if self._kvstore is not None:
            self._kvstore.pushpull(names, grads)
        ndev = len(self._group.execs)
        for (index, _), grad_list, weight_list in zip(indexed, grads, weights):
            for k, (g, w) in enumerate(zip(grad_list, weight_list)):
                self._updater(index * ndev + k, g, w)

    def get_outputs(self, merge_multi_context=True):
        return self._group.get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True")
        return self._group.get_input_grads()

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        eval_metric.update(labels, self.get_outputs())

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        from ..model import save_checkpoint
        arg, aux = self.get_params()
        save_checkpoint(prefix, epoch, self._symbol, arg, aux, remove_amp_cast)
        if save_optimizer_states:
            self.save_optimizer_states(f"{prefix}-{epoch:04d}.states")

    def save_optimizer_states(self, fname):
        """Write the optimizer states (the kvstore's when it runs the optimizer) atomically."""
        if not self.optimizer_initialized:
            raise MXNetError("save_optimizer_states: call init_optimizer() first")
        if self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname)
        else:
            from ..kvstore.kvstore import write_atomic
            write_atomic(fname, self._updater.get_states())

    def load_optimizer_states(self, fname):
        if not self.optimizer_initialized:
            raise MXNetError("load_optimizer_states: call init_optimizer() first")
        if self._update_on_kvstore:
            self._kvstore.load_optimizer_states(fname)
        else:
            with open(fname, "rb") as f:
                self._updater.set_states(f.read())

    def save_params(self, fname):
        from ..ndarray import save
        arg, aux = self.get_params()
        data = {f"arg:{k}": v for k, v in arg.items()}
        data.update({f"aux:{k}": v for k, v in aux.items()})
        save(fname, data)

    def load_params(self, fname):
        from ..ndarray import load
        loaded = load(fname)
        arg = {k[4:]: v for k, v in loaded.items() if k.startswith("arg:")}
        aux = {k[4:]: v for k, v in loaded.items() if k.startswith("aux:")}
        self.set_params(arg, aux)

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module of a checkpoint: bind it, and its parameters are the saved ones."""
        from ..model import load_checkpoint
        sym, args, auxs = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._arg_params, mod._aux_params = args, auxs
        mod.params_initialized = True
        if load_optimizer_states:
            mod._preload_opt_states = f"{prefix}-{epoch:04d}.states"
        return mod
