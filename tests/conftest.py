"""Test-suite configuration: double precision for JAX, fast-compiling XLA settings, a fast hypothesis profile."""

import os
import subprocess
import sys
import zlib

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Reference comparisons are made to 1e-6 and tighter: simulate in complex128.
jax.config.update("jax_enable_x64", True)

# Fast compilation. The suite compiles hundreds of small XLA programs and runs each only a few
# times, so compiling is most of its run time; these settings make XLA:CPU compile them several
# times faster (a per-example Jacobian of a 3-qubit circuit: ~6 s -> ~1 s on a 2-core machine):
# most optimisation passes off, the older (non-"fusion emitter") code generator, and one LLVM
# module instead of 32 compiled in parallel. The programs compute the same functions, so every
# check keeps its meaning; only run time and the order of floating-point rounding can differ.
# `DPQML_TEST_XLA_DEFAULTS=1 pytest` runs the suite with XLA's default settings instead.
# Set in the environment, so that Python subprocesses started by tests (training runs that are
# killed and resumed, the console script) inherit them.
FAST_COMPILE_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1"


def _xla_accepts(flags: str) -> bool:
    """Whether this jaxlib knows ``flags`` (XLA aborts the whole process on an unknown flag in
    XLA_FLAGS, so ask a throw-away interpreter, ~1 s)."""
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(), "JAX_PLATFORMS": "cpu"}
    probe = [sys.executable, "-c", "import jax; jax.devices()"]
    try:
        return subprocess.run(probe, env=env, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


if os.environ.get("DPQML_TEST_XLA_DEFAULTS", "0") in ("", "0"):
    if "JAX_DISABLE_MOST_OPTIMIZATIONS" not in os.environ:
        os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
        jax.config.update("jax_disable_most_optimizations", True)
    if FAST_COMPILE_XLA_FLAGS not in os.environ.get("XLA_FLAGS", "") and _xla_accepts(FAST_COMPILE_XLA_FLAGS):
        # before the first computation creates the backend, which reads XLA_FLAGS
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_XLA_FLAGS}".strip()

settings.register_profile(
    "dpqml",
    deadline=None,  # the first call of a JAX function compiles; timing is not the point
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dpqml")


@pytest.fixture(autouse=True)
def _repeatable_secret_entropy(request, monkeypatch):
    """The mechanism's secret bytes (:func:`dpqml.privacy.entropy.secret_bytes`, ``os.urandom`` in
    the library) come from a stream seeded by the test's name, so that a test's outcome never
    depends on a draw it cannot repeat (a threshold checked at parameters that secret noise moved
    once failed CI on one machine and passed on another). Successive draws within a test still
    differ, so tests that two secret runs differ keep their meaning. Training in a subprocess
    keeps the operating system's bytes. A test marked ``os_entropy`` keeps them too."""
    if request.node.get_closest_marker("os_entropy"):
        return
    from dpqml.privacy import entropy

    stream = np.random.Generator(np.random.PCG64(zlib.crc32(request.node.nodeid.encode())))
    monkeypatch.setattr(entropy, "secret_bytes", stream.bytes)


#: Most worker processes ``pytest -n auto`` starts (``addopts`` in pyproject.toml). Each worker is a
#: JAX process that compiles its own programs and holds PennyLane, Qiskit and Ray once imported
#: (about 1 GB); XLA runs each program on every core, so more workers than cores only contend.
MAX_TEST_WORKERS = 4


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per available core, at most :data:`MAX_TEST_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_TEST_WORKERS))
