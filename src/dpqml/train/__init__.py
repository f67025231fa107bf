"""dpqml.train: the DP-SGD trainer, checkpoints, and the one-call API :func:`train_private`."""

from .api import train_private
from .checkpoint import load_checkpoint, save_checkpoint
from .trainer import DIAGNOSTICS_NOTE, OPTIMIZERS, FunctionModel, TrainConfig, TrainResult, train

__all__ = [
    "DIAGNOSTICS_NOTE",
    "OPTIMIZERS",
    "FunctionModel",
    "TrainConfig",
    "TrainResult",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "train_private",
]
