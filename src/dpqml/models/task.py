"""What every classifier of dpqml shares: its task, its per-example loss, its prediction.

Quantum, hybrid and classical models all inherit :class:`Classifier`, so the trainer sees one
interface and the losses are written once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# The losses, with the task each one needs.
LOSS_TASKS = {"logistic": "binary", "cross-entropy": "multiclass", "squared": "binary"}
LOSSES = tuple(LOSS_TASKS)


def per_example_loss(out, y, loss: str, task: str):
    """The loss of ONE example from the model's output ``out``.

    ``out`` is a scalar logit (``task="binary"``, label ``y`` in {0, 1}) or logits ``(K,)``
    (``task="multiclass"``, integer label ``y``). With the signed label ``t = 2y - 1``:

    * ``logistic`` (binary): ``softplus(-t · logit)`` = ``-log σ(t · logit)``;
    * ``squared`` (binary): ``(logit - t)² / 2``;
    * ``cross-entropy`` (K-class): ``-log softmax(logits)[y]``.
    """
    if loss not in LOSS_TASKS:
        raise ValueError(f"unknown loss {loss!r}; valid losses are {list(LOSS_TASKS)}")
    if task not in ("binary", "multiclass"):
        raise ValueError(f"task must be 'binary' or 'multiclass'; got {task!r}")
    if LOSS_TASKS[loss] != task:
        raise ValueError(
            f"loss {loss!r} needs a {LOSS_TASKS[loss]} model; this model is {task} "
            f"(valid losses: {[name for name, t in LOSS_TASKS.items() if t == task]})"
        )
    if loss == "logistic":
        return jax.nn.softplus(-(2.0 * y - 1.0) * out)
    if loss == "squared":
        return 0.5 * (out - (2.0 * y - 1.0)) ** 2
    return -jax.nn.log_softmax(out)[jnp.asarray(y).astype(jnp.int32)]


def predicted_class(out, task: str):
    """The class a model's output predicts: ``out > 0`` for a binary task (one logit per example),
    the largest logit (last axis) for K classes. Works on one example or a batch."""
    return (out > 0).astype(jnp.int32) if task == "binary" else jnp.argmax(out, axis=-1)


class Classifier:
    """Mixin for a model with ``n_classes`` and ``apply(params, x)`` (logit, or ``(K,)`` logits)."""

    @property
    def task(self) -> str:
        return "binary" if self.n_classes == 2 else "multiclass"

    @property
    def default_loss(self) -> str:
        return "logistic" if self.task == "binary" else "cross-entropy"

    @property
    def n_outputs(self) -> int:
        return 1 if self.task == "binary" else self.n_classes

    def n_params(self, params) -> int:
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))

    def loss(self, params, x, y, loss: str | None = None):
        """Per-example loss of one example ``x`` with label ``y``: :func:`per_example_loss` of
        :meth:`apply` (default: ``logistic`` for binary, ``cross-entropy`` for K-class)."""
        return per_example_loss(self.apply(params, x), y, loss or self.default_loss, self.task)

    def predict(self, params, x):
        """Predicted class of one example."""
        return predicted_class(self.apply(params, x), self.task)
