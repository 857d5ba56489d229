"""Checkpoints in MXNet's layout: `<prefix>-symbol.json` and `<prefix>-<epoch:04d>.params`
(an `mx.nd.save` file whose keys carry MXNet's `arg:` / `aux:` prefixes)."""
from __future__ import annotations

import logging

from .base import MXNetError

__all__ = ["save_checkpoint", "load_checkpoint", "load_params", "BatchEndParam"]

from .callback import BatchEndParam  # noqa: E402,F401  (MXNet keeps it in mx.model)


def save_checkpoint(prefix: str, epoch: int, symbol, arg_params: dict, aux_params: dict,
                    remove_amp_cast: bool = True):
    """Write the symbol (when given) and the parameters of `epoch`."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
    from .ndarray import save
    data = {f"arg:{k}": v.as_in_context(_cpu()) for k, v in arg_params.items()}
    data.update({f"aux:{k}": v.as_in_context(_cpu()) for k, v in aux_params.items()})
    fname = f"{prefix}-{epoch:04d}.params"
    save(fname, data)
    logging.info('Saved checkpoint to "%s"', fname)


def _cpu():
    from .context import cpu
    return cpu()


def load_params(prefix: str, epoch: int):
    """(arg_params, aux_params) of `<prefix>-<epoch:04d>.params`."""
    from .ndarray import load
    fname = f"{prefix}-{epoch:04d}.params"
    loaded = load(fname)
    if not isinstance(loaded, dict):
        raise MXNetError(f"{fname}: holds unnamed arrays; a checkpoint names each one "
                         "'arg:<name>' or 'aux:<name>'")
    arg_params, aux_params = {}, {}
    for key, value in loaded.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg_params[name] = value
        elif kind == "aux":
            aux_params[name] = value
        else:
            raise MXNetError(f"{fname}: key {key!r} has no 'arg:' or 'aux:' prefix")
    return arg_params, aux_params


def load_checkpoint(prefix: str, epoch: int):
    """(symbol, arg_params, aux_params) written by `save_checkpoint`."""
    from .symbol import load
    symbol = load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params
