"""Per-example gradient throughput, dpqml against PennyLane and TensorCircuit: the standard model, the paper's.

Example::

    python benchmarks/compare_frameworks.py --qubits 4 8 12 --layers 2 6 --batch 64 \\
        --timeout 180 --json compare.json
    python benchmarks/compare_frameworks.py --noise depolarizing:0.01 amplitude-damping:0.01 \\
        --qubits 4 6 8 10 --layers 2 6 --timeout 240 --json noisy.json
    python benchmarks/compare_frameworks.py --models paper --batch 64 --timeout 600 --json paper.json

``--models`` picks what runs: ``standard`` (the default), the standard model over the
``--qubits`` x ``--layers`` x ``--noise`` grid; ``paper``, one grid point, the paper's tabular model
(4 qubits, 11 layers, noiseless; gradient of ``sum_k w_k <Z_k>``, see :mod:`dpqml.bench.compare`);
``--models standard paper`` runs both. Each JSON row carries its ``model``.

Needs the optional frameworks: ``pip install 'dpqml[compare]'`` (missing ones are reported as
skipped). ``examples/s`` is the batch timed divided by the median steady-state seconds per call;
``compile s`` is the first call minus a steady one; ``dpqml/this`` > 1 means dpqml is faster.
``--loop-steps R`` adds ``loop ex/s``: ``R`` batches inside one compiled call, each with its own
angles and inputs, so the per-call cost of JAX's dispatch and host transfers (about 100 µs a call
on 2 CPU cores, the same for every framework) is spread over ``R`` steps as in a compiled training loop.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys

from dpqml.bench.compare import ATOL, FRAMEWORKS, MODELS, PAPER_LAYERS, PAPER_QUBITS, compare

COLUMNS = (("model", 8), ("noise", 22), ("qubits", 6), ("layers", 6), ("approach", 19), ("batch", 5),
           ("examples/s", 12), ("compile s", 9), ("max|diff|", 9), ("agrees", 6), ("dpqml/this", 10))
LOOP_COLUMNS = (("loop ex/s", 12), ("loop dpqml/this", 15))


def _format_row(row: dict, loop: bool = False) -> str:
    head = [row.get("model", "standard"), row.get("noise", "none"), str(row["qubits"]), str(row["layers"]),
            row["approach"], str(row["batch"])]
    if "skipped" in row:
        cells = head
        tail = f"skipped: {row['skipped']}"
    else:
        cells = head + [f"{row['examples_per_second']:,.0f}", f"{row['compile_seconds']:.2f}",
                        f"{row['max_abs_diff_vs_dpqml']:.1e}", "yes" if row["agrees"] else "NO",
                        f"{row['ratio_dpqml_over_this']:.2f}"]
        tail = row.get("note", "")
        if loop:
            eps, ratio = row.get("loop_examples_per_second"), row.get("ratio_dpqml_over_this_loop")
            cells += [f"{eps:,.0f}" if eps is not None else "-", f"{ratio:.2f}" if ratio is not None else "-"]
    widths = [w for _, w in COLUMNS + LOOP_COLUMNS][: len(cells)]
    pairs = enumerate(zip(cells, widths, strict=True))
    padded = [c.ljust(w) if i in (0, 1, 4) else c.rjust(w) for i, (c, w) in pairs]
    line = "  ".join(padded)
    return f"{line}  {tail}".rstrip()


def _header(loop: bool = False) -> str:
    columns = COLUMNS + LOOP_COLUMNS if loop else COLUMNS
    names = [name.ljust(w) if i in (0, 1, 4) else name.rjust(w) for i, (name, w) in enumerate(columns)]
    return "  ".join(names) + "\n" + "-" * (sum(w for _, w in columns) + 2 * (len(columns) - 1))


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 6])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frameworks", nargs="+", default=["pennylane", "tensorcircuit"],
                        help=f"any of {', '.join(FRAMEWORKS)} (dpqml, the reference, always runs)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="steady-state timing per approach")
    parser.add_argument("--loop-batch", type=int, default=None,
                        help="examples timed for the Python-loop approach (default: the whole batch)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per approach and configuration; each runs in a subprocess and "
                             "is reported as skipped when it does not finish")
    parser.add_argument("--noise", nargs="+", default=["none"],
                        help="device noise, one channel after every gate: none, depolarizing:p, "
                             "amplitude-damping:g (each setting runs the whole grid)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["standard"],
                        help="standard: the --qubits x --layers x --noise grid (default); paper: the paper's "
                             f"tabular model, one point ({PAPER_QUBITS} qubits, {PAPER_LAYERS} layers, noiseless)")
    parser.add_argument("--loop-steps", type=int, default=0,
                        help="also time this many batches inside one compiled call (jax.lax.map, each step "
                             "its own angles and inputs) for every compiled approach: engine throughput "
                             "without the per-call dispatch and host round trip (default 0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write all rows as JSON")
    args = parser.parse_args(argv)
    if args.loop_steps < 0:
        parser.error(f"--loop-steps must be an integer >= 0; got {args.loop_steps}")

    try:
        import jax

        backend = jax.default_backend()
    except Exception:  # pragma: no cover
        backend = "?"
    print(f"per-example gradients (standard: <Z_0>; paper: sum_k w_k <Z_k>), float32; agreement with dpqml "
          f"to atol {ATOL:g}; JAX backend {backend}; {platform.processor() or platform.machine()}")
    loop = args.loop_steps > 0
    print(_header(loop), flush=True)
    points = []  # (model, qubits, layers, noise)
    if "standard" in args.models:
        points += [("standard", n, layers, None if noise == "none" else noise)
                   for noise in args.noise for n in args.qubits for layers in args.layers]
    if "paper" in args.models:
        points.append(("paper", PAPER_QUBITS, PAPER_LAYERS, None))
    rows: list[dict] = []
    for model, n, layers, noise in points:
        new = compare(n, layers, args.batch, frameworks=tuple(args.frameworks), min_seconds=args.min_seconds,
                      seed=args.seed, loop_batch=args.loop_batch, timeout=args.timeout, noise=noise, model=model,
                      loop_steps=args.loop_steps)
        for row in new:
            print(_format_row(row, loop), flush=True)
        rows += new
        if args.json:  # written after every configuration: a killed run keeps what it measured
            with open(args.json, "w") as fh:
                json.dump([{k: _json_safe(v) for k, v in r.items()} for r in rows], fh, indent=2)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([{k: _json_safe(v) for k, v in r.items()} for r in rows], fh, indent=2)
    disagreements = [r for r in rows if r.get("agrees") is False]
    if disagreements:
        print(f"\n{len(disagreements)} approach(es) disagree with dpqml beyond atol {ATOL:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
