"""dpqml.train: the DP-SGD trainer, checkpoints, and the one-call API :func:`train_private`."""

from .api import train_private
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .trainer import (
    DIAGNOSTICS_NOTE,
    OPTIMIZERS,
    FunctionModel,
    TrainConfig,
    TrainingDivergedError,
    TrainResult,
    check_inputs,
    train,
)

__all__ = [
    "DIAGNOSTICS_NOTE",
    "CheckpointError",
    "OPTIMIZERS",
    "FunctionModel",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "check_inputs",
    "load_checkpoint",
    "save_checkpoint",
    "train",
    "train_private",
]
