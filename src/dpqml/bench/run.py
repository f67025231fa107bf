"""``dpqml bench``: per-example-gradient throughput, compile time and peak memory.

What is timed: per-example gradients of the model's circuit output ``<O>`` with respect to
all trainable angles, for a batch of ``B`` random examples, as one jitted
``vmap(grad)`` call (see :mod:`dpqml.engine`). Reported per configuration:

* ``examples_per_second``: ``B`` divided by the median steady-state call time;
* ``compile_seconds``: tracing, lowering and XLA compilation of the batched gradient;
* ``peak_memory_bytes``: on CPU, XLA's buffer assignment of the compiled computation
  (arguments + outputs + temporaries, the memory the computation holds at its peak); on GPU,
  the device allocator's peak; ``peak_rss_bytes`` is the whole process's peak RSS so far.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..models import ModelSpec, build_model
from ..quantum import estimate_memory_bytes, expectations, trajectory_expectations
from ..quantum.methods import REGISTRY, resolve_method, simulation_kind
from .timing import peak_rss_bytes, time_call

#: The issue's benchmark grid: n x L, noiseless; noisy (density matrix) for n <= 10.
FULL_QUBITS = (4, 8, 12, 16, 20)
FULL_LAYERS = (2, 6)
NOISY_QUBITS = (4, 8, 10)
QUICK = ((4, 2, "none"), (8, 2, "none"), (4, 2, "depolarizing"))

#: Memory budget per configuration when choosing a batch size.
DEFAULT_MEMORY_BUDGET = 8 * 2**30


@dataclass(frozen=True)
class BenchConfig:
    spec: ModelSpec
    batch: int = 64
    double: bool = False
    method: str = "auto"
    min_seconds: float = 1.0
    seed: int = 0
    model: str = "flags"  # one of BENCH_MODELS


#: What ``dpqml bench --model`` times: the model the flags build, or the paper's tabular quantum model.
BENCH_MODELS = ("flags", "paper-quantum")


def bench_circuit(spec: ModelSpec, model: str = "flags"):
    """``(circuit, summary)``: the circuit bench times and the row's ``model, qubits, layers, ansatz,
    noise``. ``"flags"``: the model ``spec`` describes; ``"paper-quantum"``: the paper's
    :class:`~dpqml.models.paper.PaperQuantumModel` (4 qubits, 11 layers, 132 angles; ``spec`` unused)."""
    if model == "paper-quantum":
        from ..models.paper import PaperQuantumModel

        m = PaperQuantumModel()
        return m.circuit, {"model": model, "qubits": m.n_qubits, "layers": m.n_layers, "ansatz": "rz-ry-rz-ring",
                           "noise": "none"}
    if model != "flags":
        raise ValueError(f"unknown model {model!r}; valid models are {list(BENCH_MODELS)}")
    return build_model(spec).circuit, {"model": model, "qubits": spec.qubits, "layers": spec.layers,
                                       "ansatz": spec.ansatz, "noise": spec.noise}


def fit_batch(spec: ModelSpec, batch: int, *, double: bool = False, method: str = "auto",
              budget_bytes: int = DEFAULT_MEMORY_BUDGET, model: str = "flags") -> int:
    """The largest batch ``<= batch`` (halving) whose memory estimate fits ``budget_bytes``."""
    circuit = bench_circuit(spec, model)[0]
    b = batch
    while b > 1 and estimate_memory_bytes(circuit, b, double=double, method=method) > budget_bytes:
        b //= 2
    if estimate_memory_bytes(circuit, b, double=double, method=method) > budget_bytes:
        raise MemoryError(
            f"{circuit.n_qubits} qubits ({simulation_kind(circuit, method).replace('-', ' ')}) "
            f"need about {estimate_memory_bytes(circuit, 1, double=double, method=method) / 2**30:.1f} GiB "
            f"for a single example, more than the {budget_bytes / 2**30:.1f} GiB budget"
        )
    return b


def _xla_peak_bytes(compiled) -> int | None:
    try:
        m = compiled.memory_analysis()
    except Exception:  # pragma: no cover - backend without analysis
        return None
    if m is None:  # pragma: no cover
        return None
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               - getattr(m, "alias_size_in_bytes", 0))


def _device_peak_bytes() -> int | None:
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats()
    except Exception:  # pragma: no cover
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def bench_one(cfg: BenchConfig) -> dict:
    """Benchmark one configuration; returns a JSON-ready dict."""
    circuit, summary = bench_circuit(cfg.spec, cfg.model)
    dtype = jnp.float64 if cfg.double else jnp.float32
    if cfg.double and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(cfg.seed)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params), dtype)
    x = jnp.asarray(rng.uniform(0, np.pi, (cfg.batch, circuit.n_features)), dtype)

    sampled = not REGISTRY[resolve_method(circuit, cfg.method)].exact
    if sampled:  # an estimator (trajectories): one sampled trajectory per example, keys by example
        keys = jax.random.split(jax.random.PRNGKey(cfg.seed), cfg.batch)

        def output(th, xi, key):
            return jnp.sum(trajectory_expectations(circuit, th, xi, key=key, trajectories=1))

        fn = jax.jit(jax.vmap(jax.grad(output), in_axes=(None, 0, 0)))
        args = (theta, x, keys)
    else:
        def output(th, xi):
            return jnp.sum(expectations(circuit, th, xi, method=cfg.method))

        fn = jax.jit(jax.vmap(jax.grad(output), in_axes=(None, 0)))
        args = (theta, x)
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_seconds = time.perf_counter() - t0
    timing = time_call(lambda: compiled(*args), min_seconds=cfg.min_seconds)
    backend = jax.default_backend()
    peak = _device_peak_bytes() if backend != "cpu" else _xla_peak_bytes(compiled)
    return {
        **summary,
        "simulation": simulation_kind(circuit, cfg.method),
        "circuit_gradient": resolve_method(circuit, cfg.method),
        "batch": cfg.batch,
        "n_params": circuit.n_params,
        "precision": "double" if cfg.double else "single",
        "method": cfg.method,
        **({"trajectories_per_example": 1} if sampled else {}),
        "examples_per_second": cfg.batch / timing.seconds_per_call,
        "seconds_per_batch": timing.seconds_per_call,
        "compile_seconds": compile_seconds,
        "peak_memory_bytes": peak,
        "peak_rss_bytes": peak_rss_bytes(),
        "backend": backend,
        "device": str(jax.devices()[0].device_kind),
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
    }


#: In the full grid, state vectors of this many qubits or more use batch 16 (the issue's n=20
#: memory target is stated for batch 16; at batch 64 one call takes minutes on 2 cores).
LARGE_QUBITS = 16
LARGE_BATCH = 16


def grid(name: str, noise: str = "depolarizing") -> list[tuple[int, int, str, int | None]]:
    """``(qubits, layers, noise, batch cap or None)`` of a named grid (``quick`` or ``full``)."""
    if name == "quick":
        return [(n, L, nz, None) for n, L, nz in QUICK]
    if name == "full":
        out = [(n, L, "none", LARGE_BATCH if n >= LARGE_QUBITS else None) for n in FULL_QUBITS for L in FULL_LAYERS]
        out += [(n, L, noise, None) for n in NOISY_QUBITS for L in FULL_LAYERS]
        return out
    raise ValueError(f"unknown grid {name!r}; valid grids are ['quick', 'full']")
