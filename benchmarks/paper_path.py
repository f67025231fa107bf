"""Per-example gradients of the paper's tabular quantum model: dpqml against PennyLane, side by side.

The model of ``--preset paper-tabular`` (amplitude encoding of 16 features on 4 qubits, 11 layers of
RZ RY RZ with a CNOT ring, the four <Z_k> as logits, cross-entropy; 132 angles). Every approach
computes the per-example gradients of one batch (what DP-SGD clips); the script checks that they
agree with dpqml's to ``--atol`` and reports examples per second (median of ``--repeats`` timed
calls after a warm-up call, so compilation is not timed) and dpqml's speed-up over each.

Approaches:

* ``dpqml adjoint``: ``PaperQuantumModel.per_example_grads`` (one forward and one backward sweep of
  the batch's states; what the tabular study trains with);
* ``dpqml vmap(grad)``: ``jit(vmap(grad))`` of the same model's closed form;
* ``pennylane jax vmap``: a PennyLane ``default.qubit`` QNode of the same circuit
  (``AmplitudeEmbedding``, ``RZ``, ``RY``, ``CNOT``), JAX interface, ``jit(vmap(grad))``: the fastest
  way PennyLane offers where it runs (reported as skipped, with PennyLane's error, where it does not);
* ``pennylane jax loop``: the same QNode's jitted gradient, one example at a time;
* ``pennylane autograd loop``: the same circuit under PennyLane's autograd interface, one example
  at a time: the paper's own path (its notebooks run the QNode under torch autograd, one example at
  a time, inside Opacus; torch is not a dependency of dpqml, autograd is PennyLane's own).

Example::

    python benchmarks/paper_path.py --batch 64 --json paper_path.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


def _time(fn, repeats: int) -> float:
    """Median seconds per call after a warm-up call (compilation is not timed)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _paper_qnode(n_qubits: int, n_layers: int, n_classes: int, interface: str):
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(dev, interface=interface, diff_method="backprop")
    def circuit(theta, x):
        qml.AmplitudeEmbedding(x, wires=range(n_qubits), normalize=True, pad_with=0.0)
        for layer in range(n_layers):
            for i in range(n_qubits):
                base = (i * n_layers + layer) * 3
                qml.RZ(theta[base], wires=i)
                qml.RY(theta[base + 1], wires=i)
                qml.RZ(theta[base + 2], wires=i)
            for i in range(n_qubits):
                qml.CNOT(wires=[i, (i + 1) % n_qubits])
        return [qml.expval(qml.PauliZ(k)) for k in range(n_classes)]

    return circuit


def autograd_grad(n_qubits: int, n_layers: int, n_classes: int):
    """One example's gradient under PennyLane's autograd interface (the paper's kind of path)."""
    import pennylane as qml
    from pennylane import numpy as pnp

    circuit = _paper_qnode(n_qubits, n_layers, n_classes, "autograd")

    def loss(theta, x, y):
        logits = pnp.stack(circuit(theta, x))
        shifted = logits - pnp.max(logits)
        return -(shifted[y] - pnp.log(pnp.sum(pnp.exp(shifted))))

    grad = qml.grad(loss, argnums=0)

    def one(theta, x, y):
        return np.asarray(grad(pnp.array(np.asarray(theta, np.float64), requires_grad=True), np.asarray(x), int(y)))

    return one


def pennylane_grads(n_qubits: int, n_layers: int, n_classes: int):
    """``grads(theta, xs, ys) -> (B, P)`` of a PennyLane QNode of the paper's circuit (``jit(vmap(grad))``),
    and its one-example gradient for the loop approach."""
    circuit = _paper_qnode(n_qubits, n_layers, n_classes, "jax")

    def loss(theta, x, y):
        logits = jnp.stack(circuit(theta, x))
        return -jax.nn.log_softmax(logits)[y]

    one = jax.jit(jax.grad(loss))
    batched = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    return batched, one


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--loop-examples", type=int, default=8,
                        help="examples timed for the one-at-a-time PennyLane loop (its rate is per example)")
    parser.add_argument("--layers", default="auto",
                        help="circuit layers (default auto: 11, the paper's; fewer for a quick check)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    from dpqml.models.paper import PaperQuantumModel

    model = PaperQuantumModel(layers=args.layers if args.layers == "auto" else int(args.layers))
    rng = np.random.default_rng(0)
    params = model.init(jax.random.PRNGKey(0))
    xs = jnp.asarray(rng.normal(size=(args.batch, model.n_features)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, model.n_classes, args.batch), jnp.int32)

    adjoint = jax.jit(lambda p, x, y: model.per_example_grads(p, x, y)[1]["theta"])
    vmapped = jax.jit(jax.vmap(jax.grad(lambda p, x, y: model.loss(p, x, y)), in_axes=(None, 0, 0)))
    reference = np.asarray(adjoint(params, xs, ys))
    rows = []

    def record(name, fn, n_examples, grads):
        steady = _time(fn, args.repeats)
        diff = float(np.max(np.abs(np.asarray(grads) - reference[: len(grads)])))
        rows.append({"approach": name, "batch": n_examples, "examples_per_second": n_examples / steady,
                     "max_abs_diff_vs_adjoint": diff, "agrees": diff <= args.atol})

    record("dpqml adjoint", lambda: adjoint(params, xs, ys), args.batch, reference)
    record("dpqml vmap(grad)", lambda: vmapped(params, xs, ys)["theta"], args.batch,
           vmapped(params, xs, ys)["theta"])
    try:
        batched, one = pennylane_grads(model.n_qubits, model.n_layers, model.n_classes)
        slow = autograd_grad(model.n_qubits, model.n_layers, model.n_classes)
    except ImportError as e:
        rows.append({"approach": "pennylane", "skipped": f"PennyLane is not installed ({e})"})
    else:
        theta = params["theta"]
        try:
            got = batched(theta, xs, ys)
        except Exception as e:  # noqa: BLE001 - PennyLane's vmap does not take every circuit
            rows.append({"approach": "pennylane jax vmap", "skipped": f"{type(e).__name__}: {str(e)[:160]}"})
        else:
            record("pennylane jax vmap", lambda: batched(theta, xs, ys), args.batch, got)
        k = min(args.loop_examples, args.batch)

        def loop():
            return jnp.stack([one(theta, xs[i], ys[i]) for i in range(k)])

        record("pennylane jax loop", loop, k, loop())

        def slow_loop():
            return np.stack([slow(theta, xs[i], ys[i]) for i in range(k)])

        record("pennylane autograd loop", slow_loop, k, slow_loop())
    peers = [r["examples_per_second"] for r in rows if "skipped" not in r and r["approach"].startswith("pennylane")]
    fastest = max(peers) if peers else None
    ours = rows[0]["examples_per_second"]
    print(f"paper quantum model, batch {args.batch}, {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__}")
    for r in rows:
        if "skipped" in r:
            print(f"  {r['approach']:<18} skipped: {r['skipped']}")
            continue
        r["dpqml_adjoint_over_this"] = ours / r["examples_per_second"]
        print(f"  {r['approach']:<18} {r['examples_per_second']:>12,.0f} ex/s  "
              f"max|diff| {r['max_abs_diff_vs_adjoint']:.1e} {'agrees' if r['agrees'] else 'DISAGREES'}  "
              f"dpqml adjoint / this = {r['dpqml_adjoint_over_this']:.2f}")
    if fastest:
        print(f"dpqml adjoint against the fastest PennyLane approach: {ours / fastest:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "machine": platform.platform(), "rows": rows}, f, indent=1)
    return 0 if all(r.get("agrees", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
