"""Test-suite configuration: double precision for JAX, unoptimised XLA programs, a fast hypothesis profile."""

import os

import jax
from hypothesis import HealthCheck, settings

# Reference comparisons are made to 1e-6 and tighter: simulate in complex128.
jax.config.update("jax_enable_x64", True)

# The suite compiles hundreds of small XLA programs and runs each a few times: XLA's optimising
# passes cost more than they save (a per-example Jacobian of a 3-qubit circuit compiles ~4x faster
# on a 2-core CPU). The programs compute the same functions, so every check keeps its meaning;
# only run time and floating-point rounding order can differ. `JAX_DISABLE_MOST_OPTIMIZATIONS=0
# pytest` runs the suite with XLA's default optimisations.
if "JAX_DISABLE_MOST_OPTIMIZATIONS" not in os.environ:
    jax.config.update("jax_disable_most_optimizations", True)

settings.register_profile(
    "dpqml",
    deadline=None,  # the first call of a JAX function compiles; timing is not the point
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dpqml")
