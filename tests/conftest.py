"""Test-suite configuration: double precision for JAX, a fast hypothesis profile."""

import jax
from hypothesis import HealthCheck, settings

# Reference comparisons are made to 1e-6 and tighter: simulate in complex128.
jax.config.update("jax_enable_x64", True)

settings.register_profile(
    "dpqml",
    deadline=None,  # the first call of a JAX function compiles; timing is not the point
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dpqml")
