"""``dpqml bench``: per-example-gradient throughput, compile time and peak memory of a model, and the
framework comparison (``--compare``)."""

from __future__ import annotations

import argparse
import sys

from ..argtypes import positive_float, positive_int
from ..cli_common import _MODEL_DEFAULTS, add_json_arg, add_model_args, nonnegative_int, spec_from_args, write_json
from ..models import ModelSpec, build_model
from ..quantum.methods import METHODS


def add_bench_parser(sub) -> argparse.ArgumentParser:
    """``dpqml bench``."""
    b = sub.add_parser(
        "bench",
        help="per-example-gradient throughput of a model",
        description=(
            "Time per-example gradients (all trainable angles, one compiled vmap(grad) call) of "
            "the standard model, the model the flags build, or the paper's tabular model (--model "
            "paper-quantum). With no model flags, runs the quick grid; --grid full runs n in "
            "{4,8,12,16,20} x L in {2,6} noiseless plus noisy n in {4,8,10}. --compare runs the same "
            "model in other frameworks: the standard model (noiseless or one channel after every gate) "
            "or, with --model paper-quantum, the paper's model."
        ),
    )
    add_model_args(b, defaults=False)
    b.add_argument("--model", choices=("flags", "paper-quantum"), default="flags",
                   help="flags: the model the model flags build (default); paper-quantum: the paper's tabular "
                        "model (amplitude encoding of 16 features on 4 qubits, 11 RZ RY RZ layers with a CNOT "
                        "ring, the four <Z_k> as logits; 132 angles), a fixed circuit: the model flags and "
                        "--grid are refused. With --compare, every framework differentiates "
                        "sum_k w_k <Z_k>, w = (1, -0.5, 0.25, 0.75)")
    b.add_argument("--batch", type=positive_int("--batch"), default=64, help="examples per batch (default 64)")
    b.add_argument("--grid", choices=("quick", "full"), help="run a named grid of configurations")
    b.add_argument("--double", action="store_true", help="double precision (default single)")
    b.add_argument("--method", choices=(*METHODS, "all"), default="auto",
                   help="simulation method (default auto: chosen by an estimated cost); all: time every "
                        "exact method that can run each configuration, one row each; trajectories (noisy "
                        "circuits): one sampled trajectory per example, an estimate")
    b.add_argument("--compare", metavar="FRAMEWORKS",
                   help="also run pennylane,tensorcircuit on the same model and print the ratios (the "
                        "standard model, or the paper's with --model paper-quantum; gradients checked to agree)")
    b.add_argument("--loop-steps", type=nonnegative_int("--loop-steps"), default=0,
                   help="with --compare: also time this many batches inside one compiled call (each step "
                        "its own angles and inputs) for every compiled approach, engine throughput without "
                        "the per-call dispatch and host round trip (default 0: off)")
    b.add_argument("--min-seconds", type=positive_float("--min-seconds"), default=1.0,
                   help="time each configuration at least this long, > 0 (default 1)")
    b.add_argument("--memory-budget", type=positive_float("--memory-budget"), default=8.0,
                   help="GiB per configuration, > 0; larger batches are halved to fit (default 8)")
    b.add_argument("--seed", type=nonnegative_int("--seed"), default=0, help="seed of the inputs (default 0)")
    add_json_arg(b)
    b.set_defaults(func=cmd_bench)
    return b


def cmd_bench(args) -> int:
    from ..quantum.methods import applicable
    from .run import BenchConfig, bench_circuit, bench_one, fit_batch, grid

    given = [f"--{k}" for k in _MODEL_DEFAULTS if getattr(args, k) is not None]
    explicit_model = bool(given)
    paper = args.model == "paper-quantum"
    if paper and (given or args.grid):
        raise ValueError("--model paper-quantum is a fixed circuit (4 qubits, 11 layers, noiseless); drop "
                         + ", ".join(given + ["--grid"] * bool(args.grid)))
    for k, d in _MODEL_DEFAULTS.items():
        if getattr(args, k) is None:
            setattr(args, k, d)
    base = spec_from_args(args)
    base.validate()
    build_model(base)  # validate the whole model before any work
    if paper:
        specs = [(base, None)]  # the spec is not read: bench_circuit builds the paper model
    elif args.grid or not explicit_model:
        triples = grid(args.grid or "quick", noise=args.noise if args.noise != "none" else "depolarizing")
        specs = [(ModelSpec(**{**base.__dict__, "qubits": n, "layers": L, "noise": nz}), cap)
                 for n, L, nz, cap in triples]
    else:
        specs = [(base, None)]
    frameworks = [f for f in (args.compare or "").split(",") if f]
    if args.loop_steps and not frameworks:
        raise ValueError("--loop-steps times the --compare frameworks in a compiled loop; add --compare "
                         "pennylane,tensorcircuit (or drop --loop-steps)")
    if frameworks:
        from . import compare as cmp

        bad = [f for f in frameworks if f not in cmp.FRAMEWORKS]
        if bad:
            raise ValueError(f"--compare: unknown framework(s) {bad}; valid frameworks are {list(cmp.FRAMEWORKS)}")
        if not paper and not _is_standard(base, noise_ok=True):
            raise ValueError("--compare runs the standard model only (--ansatz hea --encoding angle-y "
                             "--readout z0, noiseless or with one channel after every gate), or the paper's "
                             "model with --model paper-quantum; drop the other model flags")
        if len(specs) == 1 and not paper:
            cmp.parse_peer_noise(base.noise)  # a noise the other frameworks are not built with: refused now
    # choose every batch before the first measurement, so bad sizes fail fast
    plan = []
    budget = int(args.memory_budget * 2**30)
    for spec, cap in specs:
        batch = min(args.batch, cap or args.batch)
        if args.method != "all":
            plan.append((spec, args.method, fit_batch(spec, batch, double=args.double, method=args.method,
                                                      budget_bytes=budget, model=args.model), True))
            continue
        first = True
        for m in applicable(bench_circuit(spec, args.model)[0]):
            try:
                b = fit_batch(spec, batch, double=args.double, method=m, budget_bytes=budget, model=args.model)
            except MemoryError as exc:
                print(f"method {m!r} skipped for n={spec.qubits} L={spec.layers}: {exc}", file=sys.stderr)
                continue
            plan.append((spec, m, b, first))
            first = False
    rows = []
    quiet = args.json == "-"
    for i, (spec, method, b, first) in enumerate(plan, 1):
        label = "paper-quantum (n=4 L=11)" if paper else f"n={spec.qubits} L={spec.layers} noise={spec.noise}"
        print(f"[{i}/{len(plan)}] {label} method={method} batch={b} ...", file=sys.stderr, flush=True)
        row = bench_one(BenchConfig(spec, batch=b, double=args.double, method=method,
                                    min_seconds=args.min_seconds, seed=args.seed, model=args.model))
        if b < args.batch:
            row["batch_note"] = (f"batch reduced from {args.batch} (large circuits use batch "
                                 f"<= 16 in the full grid; others halve to fit {args.memory_budget:g} GiB)")
        rows.append(row)
        # with --method all, the other frameworks run once per configuration (beside the first method)
        if first and frameworks and paper:
            row["compare"] = cmp.compare(cmp.PAPER_QUBITS, cmp.PAPER_LAYERS, b, frameworks=frameworks,
                                         min_seconds=args.min_seconds, seed=args.seed, model="paper",
                                         loop_steps=args.loop_steps)
        elif first and frameworks:
            try:
                if not _is_standard(spec, noise_ok=True):
                    raise ValueError("the frameworks run the standard model only")
                cmp.parse_peer_noise(spec.noise)
            except ValueError as exc:
                row["compare"] = [{"approach": "all", "skipped": str(exc)}]
            else:
                row["compare"] = cmp.compare(spec.qubits, spec.layers, b, frameworks=frameworks,
                                             min_seconds=args.min_seconds, seed=args.seed,
                                             noise=None if spec.noise == "none" else spec.noise,
                                             loop_steps=args.loop_steps)
        if not quiet:
            _print_row(row)
    if args.json:
        write_json(rows[0] if len(rows) == 1 else rows, args.json)
    return 0


def _is_standard(spec: ModelSpec, noise_ok: bool = False) -> bool:
    """The standard model (what ``--compare`` rebuilds in other frameworks), noise aside if ``noise_ok``."""
    return (spec.ansatz, spec.encoding, spec.readout) == ("hea", "angle-y", "z0") and (
        noise_ok or spec.noise == "none")


def _print_row(row) -> None:
    mem = row["peak_memory_bytes"]
    mem_s = f"{mem / 2**20:9.1f} MiB" if mem is not None else "        n/a"
    print(
        ("paper-quantum " if row.get("model") == "paper-quantum" else "")
        + f"n={row['qubits']:<3d} L={row['layers']:<2d} {row['simulation']:<14s} {row['circuit_gradient']:<14s} "
        f"batch={row['batch']:<3d} "
        f"{row['examples_per_second']:>11,.0f} ex/s  compile {row['compile_seconds']:6.2f} s  peak {mem_s}  "
        f"[{row['backend']}, {row['precision']}]",
        flush=True,
    )
    for c in row.get("compare", []):
        if "skipped" in c:
            print(f"    {c['approach']:<22s} skipped: {c['skipped']}")
        else:
            print(
                f"    {c['approach']:<22s} {c['examples_per_second']:>11,.0f} ex/s  compile "
                f"{c['compile_seconds']:6.2f} s  dpqml is {c['ratio_dpqml_over_this']:.1f}x  "
                f"grads agree: {c['agrees']} (max diff {c['max_abs_diff_vs_dpqml']:.1e})",
                flush=True,
            )
            if c.get("loop_examples_per_second") is not None:
                ratio = c.get("ratio_dpqml_over_this_loop")
                print(f"    {'':<22s} {c['loop_examples_per_second']:>11,.0f} ex/s  in a compiled loop of "
                      f"{c['loop_steps']} batches" + (f"  dpqml is {ratio:.1f}x" if ratio is not None else ""),
                      flush=True)
