"""Where the time of noisy (density-matrix) per-example gradients goes: steps, passes over ρ, forward vs gradient.

For the standard model with a depolarizing channel after every gate, prints per n: the lowered
program's steps (each a full read and write of every example's density matrix), the forward
pass's and the per-example gradient's throughput, and the memory traffic the forward pass implies
(steps × 2 × 4**n × 8 bytes × batch per batch; complex64). A step-count or traffic figure far above
a peer's says the engine makes too many passes over ρ.

Example::

    python benchmarks/noisy_profile.py --qubits 4 6 8
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np

from dpqml.models import build_model
from dpqml.quantum.core import program_for


def _rate(fn, batch: int, seconds: float) -> float:
    jax.block_until_ready(fn())
    t0, calls = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        jax.block_until_ready(fn())
        calls += 1
    return batch * calls / (time.perf_counter() - t0)


def profile(n: int, layers: int, noise: str, seconds: float) -> str:
    """One line: the program's steps, forward and per-example gradient throughput, ρ traffic."""
    model = build_model(qubits=n, layers=layers, noise=noise)
    program = program_for(model.circuit, True)
    kinds = dict(Counter(step[0] for step in program.steps))
    batch = 64 if n < 8 else 16
    rng = np.random.default_rng(0)
    params = model.init(jax.random.PRNGKey(0))
    x = jnp.asarray(rng.uniform(0, np.pi, (batch, n)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, batch))
    forward = jax.jit(jax.vmap(lambda xi: model.apply(params, xi)))
    grads = jax.jit(jax.vmap(jax.grad(lambda p, xi, yi: model.loss(p, xi, yi)), in_axes=(None, 0, 0)))
    f_rate = _rate(lambda: forward(x), batch, seconds)
    g_rate = _rate(lambda: grads(params, x, y), batch, seconds)
    traffic = len(program.steps) * 2 * 4**n * 8 * batch
    return (f"n={n} L={layers} batch={batch}: {len(program.steps)} steps {kinds}; forward {f_rate:,.0f} ex/s "
            f"({traffic / 1e6:.1f} MB of ρ traffic per batch, {traffic * f_rate / batch / 1e9:.2f} GB/s); "
            f"per-example gradients {g_rate:,.0f} ex/s ({f_rate / g_rate:.1f}x the forward time)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 6, 8])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--noise", default="depolarizing:0.01")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    for n in args.qubits:
        print(profile(n, args.layers, args.noise, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
