"""What a training run reports that ε does not cover: the diagnostics, named in one place.

DP-SGD's guarantee covers the released parameters (and everything computed from them and public
settings alone). Statistics computed from the private training data during training (train
accuracy, per-epoch loss, realised batch sizes, per-example gradient norms, the clipped fraction)
are **not** covered: publishing them leaks information that ε does not account for. Every file
that carries them labels them with :data:`DIAGNOSTICS_NOTE` and the names of the fields
(:func:`diagnostic_fields`). Test accuracy is computed on held-out data, not the training set, and is
not a diagnostic in this sense.

This module imports nothing heavy, so the report writers can use it without loading JAX.
"""

from __future__ import annotations

from collections.abc import Iterable

DIAGNOSTICS_NOTE = (
    "diagnostics: computed from the private training data and NOT covered by epsilon "
    "(per-epoch loss and accuracy, realised batch sizes, gradient-norm statistics, clipped fraction, "
    "train accuracy)"
)

#: Fields of a training result (a ``dpqml compare`` row) computed from the private training data.
#: An aggregate of one, named ``<field>_<statistic>`` (``clipped_fraction_mean``), is one too.
DIAGNOSTIC_FIELDS = ("train_accuracy", "clipped_fraction", "history", "diagnostics_by_epoch")

#: The keys of a per-epoch record (``history``, the ``epoch`` lines of a log) that are public: every
#: other key (loss, accuracy, examples_seen, grad_norm_*, clipped_fraction, ...) is a diagnostic.
PUBLIC_EPOCH_FIELDS = ("epoch", "step", "epsilon_spent")


def is_diagnostic(name: str) -> bool:
    """Whether the field or column ``name`` is a diagnostic (:data:`DIAGNOSTIC_FIELDS` or an aggregate of one)."""
    return any(name == f or name.startswith(f + "_") for f in DIAGNOSTIC_FIELDS)


def diagnostic_fields(names: Iterable[str]) -> list[str]:
    """The diagnostics among ``names``, in their order (``["train_accuracy", "clipped_fraction"]``)."""
    return [n for n in names if is_diagnostic(n)]
