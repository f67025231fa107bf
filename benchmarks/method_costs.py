"""Estimated against measured cost of each circuit-differentiation method (the data behind ``auto``).

    python benchmarks/method_costs.py                          # standard model, n = 4..16, L = 1..6
    python benchmarks/method_costs.py --qubits 8 12 --layers 2 --json costs.json

For each configuration: the cost model's estimate (``dpqml.quantum.methods.estimated_seconds``)
and the measured time of one compiled ``vmap(grad)`` call, in microseconds per example, for the
adjoint state vector and the tensor network, plus the network's size (tensors, flops) and the
method ``auto`` picks. The constants of the cost model were fitted to this output on the 2-core
machine (kept in ``benchmarks/results-method-costs.json``, ``docs/engine.md``); rerun it to check
them on another machine.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from dpqml.models import build_model
from dpqml.quantum import expectations
from dpqml.quantum.core import state_program
from dpqml.quantum.methods import auto_method, estimated_seconds
from dpqml.quantum.tensornet import network_for

METHODS = ("adjoint", "tensor-network")


def measure(circuit, method: str, batch: int, min_seconds: float) -> float:
    """Seconds per example of per-example gradients of ``<O_0>`` (steady state, after compiling)."""
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(-np.pi, np.pi, circuit.n_params), jnp.float32)
    x = jnp.asarray(rng.uniform(-np.pi, np.pi, (batch, circuit.n_features)), jnp.float32)
    fn = jax.jit(jax.vmap(jax.grad(lambda t, xi: expectations(circuit, t, xi, method=method)[0]),
                          in_axes=(None, 0)))
    jax.block_until_ready(fn(theta, x))
    calls, t0 = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - t0 < min_seconds:
        jax.block_until_ready(fn(theta, x))
        calls += 1
    return (time.perf_counter() - t0) / calls / batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qubits", type=int, nargs="+", default=[4, 6, 8, 10, 12, 14, 16])
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    p.add_argument("--ansatz", default="hea")
    p.add_argument("--batch", type=int, default=64, help="batch (16 from 14 qubits)")
    p.add_argument("--max-flops", type=float, default=5e7, help="skip networks costlier than this")
    p.add_argument("--max-qubits-adjoint", type=int, default=16, help="skip state vectors wider than this")
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    rows = []
    for n in args.qubits:
        for layers in args.layers:
            circuit = build_model(qubits=n, layers=layers, ansatz=args.ansatz).circuit
            net = network_for(circuit)
            batch = args.batch if n < 14 else min(args.batch, 16)
            row = {"qubits": n, "layers": layers, "ansatz": args.ansatz, "batch": batch,
                   "steps": len(state_program(circuit).steps),
                   "tensors": net.n_tensors if net else None, "flops": net.flops if net else None,
                   "auto": auto_method(circuit),
                   "estimated_us": {k: round(v * 1e6, 1) for k, v in estimated_seconds(circuit).items()},
                   "measured_us": {}}
            for method in METHODS:
                if method == "tensor-network" and (net is None or net.flops > args.max_flops):
                    continue
                if method == "adjoint" and n > args.max_qubits_adjoint:
                    continue
                row["measured_us"][method] = round(measure(circuit, method, batch, args.min_seconds) * 1e6, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
