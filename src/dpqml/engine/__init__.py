"""dpqml.engine: per-example gradients of quantum, hybrid and classical models."""

from .per_example import (
    PER_EXAMPLE_METHODS,
    flatten_per_example,
    make_per_example_grads,
    per_example_grads,
    validate_batch,
)

__all__ = [
    "PER_EXAMPLE_METHODS",
    "flatten_per_example",
    "make_per_example_grads",
    "per_example_grads",
    "validate_batch",
]
