"""dpqml.engine: per-example gradients of quantum, hybrid and classical models, exact
(:mod:`.per_example`) or from finite shots by the parameter-shift rule (:mod:`.parameter_shift`)."""

from .parameter_shift import (
    GATE_RULES,
    SHIFT_RULES,
    ShiftPlan,
    ShotCost,
    make_parameter_shift_grads,
    parameter_shift_cost,
    parameter_shift_jacobian,
    shift_plan,
)
from .per_example import (
    PER_EXAMPLE_METHODS,
    flatten_per_example,
    make_per_example_grads,
    per_example_grads,
    validate_batch,
)

__all__ = [
    "GATE_RULES",
    "PER_EXAMPLE_METHODS",
    "SHIFT_RULES",
    "ShiftPlan",
    "ShotCost",
    "flatten_per_example",
    "make_parameter_shift_grads",
    "make_per_example_grads",
    "parameter_shift_cost",
    "parameter_shift_jacobian",
    "per_example_grads",
    "shift_plan",
    "validate_batch",
]
