"""`mx.optimizer` (alias `mx.opt`): MXNet 1.x's optimizers, their registry and the Updater;
`lr_scheduler` holds the learning-rate schedules (`mx.lr_scheduler`)."""
from . import lr_scheduler  # noqa: F401
from .optimizer import (SGD, AdaDelta, AdaGrad, Adam, AdamW, Ftrl, NAG, Optimizer,  # noqa: F401
                        RMSProp, Signum, Updater, ccSGD, create, fused_update, get_updater,
                        register)

__all__ = ["Optimizer", "SGD", "ccSGD", "NAG", "Signum", "Adam", "AdamW", "RMSProp",
           "AdaGrad", "AdaDelta", "Ftrl", "Updater", "get_updater", "create", "register",
           "lr_scheduler"]
