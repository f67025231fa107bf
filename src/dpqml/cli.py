"""The ``dpqml`` command line.

Subcommands (``dpqml COMMAND --help`` for each):

* ``bench``: per-example-gradient throughput, compile time and peak memory of a model;
* ``circuit``: print the circuit a set of model flags builds, gate by gate;
* ``bound``: a data-free bound G on every per-example gradient norm, and what clipping at C costs;
* ``account``: the (ε, δ) privacy guarantee of DP-SGD with given sample rate, noise and steps;
* ``calibrate``: the smallest noise multiplier that meets a target ε;
* ``train``: DP-SGD training of a quantum, hybrid or classical model at a target ε;
* ``compare``: the fixed-clip, fixed-budget comparison of quantum and classical models (the main job);
* ``audit``: an empirical lower bound on ε (canaries against the trainer), compared with the claimed ε.

Every command that builds a model takes the same model flags (``--qubits --layers
--ansatz --encoding --readout --noise``); their defaults give the standard model.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

from . import __version__
from .argtypes import (
    check_output_dir,
    check_output_file,
    int_at_least,
    nonnegative_float,
    positive_float,
    positive_int,
    probability,
)
from .models import ENCODINGS, MODEL_ANSATZE, NOISE_PRESETS, READOUTS, ModelSpec, build_model
from .protocol.cli import add_compare_parser, cmd_compare
from .quantum.methods import METHODS
from .report.files import to_jsonable
from .train.cli import add_train_parser, cmd_train

_MODEL_DEFAULTS = {"qubits": 4, "layers": 2, "ansatz": "hea", "encoding": "angle-y", "readout": "z0",
                   "noise": "none"}


def add_model_args(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """The model flags shared by every command that builds a model.

    With ``defaults=False`` unset flags stay ``None`` (so a command can tell whether the user
    named a model); :data:`_MODEL_DEFAULTS` then fills them in.
    """
    d = _MODEL_DEFAULTS if defaults else dict.fromkeys(_MODEL_DEFAULTS)
    g = p.add_argument_group("model (defaults: the standard model)")
    g.add_argument("--qubits", type=positive_int("--qubits"), default=d["qubits"],
                   help="number of qubits n (default 4)")
    g.add_argument("--layers", type=positive_int("--layers"), default=d["layers"], help="ansatz layers L (default 2)")
    g.add_argument("--ansatz", choices=MODEL_ANSATZE, default=d["ansatz"], help="trainable layers (default hea)")
    g.add_argument("--encoding", choices=ENCODINGS, default=d["encoding"], help="feature encoding (default angle-y)")
    g.add_argument("--readout", default=d["readout"],
                   help=f"measured observables, one of {', '.join(READOUTS)} (default z0)")
    g.add_argument("--noise", default=d["noise"],
                   help=f"device-noise preset: {', '.join(NOISE_PRESETS)}; join with '+' (default none)")


def spec_from_args(args) -> ModelSpec:
    return ModelSpec(qubits=args.qubits, layers=args.layers, ansatz=args.ansatz, encoding=args.encoding,
                     readout=args.readout, noise=args.noise)


def _write_json(obj, dest: str) -> None:
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)  # inf -> "inf", NaN -> null, as in results.json
    if dest == "-":
        print(text)
    else:
        with open(dest, "w") as fh:
            fh.write(text + "\n")
        print(f"wrote {dest}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
def cmd_bench(args) -> int:
    from .bench.run import BenchConfig, bench_circuit, bench_one, fit_batch, grid
    from .quantum.methods import applicable

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
    if frameworks:
        from .bench import compare as cmp

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
                                         min_seconds=args.min_seconds, seed=args.seed, model="paper")
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
                                             noise=None if spec.noise == "none" else spec.noise)
        if not quiet:
            _print_row(row)
    if args.json:
        _write_json(rows[0] if len(rows) == 1 else rows, args.json)
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


def cmd_circuit(args) -> int:
    model = build_model(spec_from_args(args))
    print(model.circuit)
    counts = ", ".join(f"{k}: {v}" for k, v in model.circuit.count_ops().items())
    print(f"operations: {counts}")
    return 0


def cmd_bound(args) -> int:
    import jax

    from .bounds import gradient_bound

    if args.model == "paper-quantum":  # the paper's tabular model: amplitude encoding, <Z_k> logits, no head
        from .models.paper import PaperQuantumModel

        if args.synthetic_norms:
            raise ValueError("--synthetic-norms is for the standard model the flags build, not --model paper-quantum")
        model = PaperQuantumModel()
    else:
        spec = spec_from_args(args)
        model = build_model(ModelSpec(**{**spec.__dict__, "n_classes": args.classes}))
    if args.circuit_only:
        return _circuit_only_bound(args, model)
    if args.clip is None:
        raise ValueError("--clip is required (the clip norm C to compare the bound with), unless --circuit-only")
    try:
        b = gradient_bound(model, feature_bound=args.feature_bound, loss=args.loss, head_scale=args.head_scale)
    except ValueError as exc:
        msg = str(exc).replace("feature_bound is required", "--feature-bound is required")
        raise ValueError(msg) from None
    g, c = b.total, args.clip
    out = {"bound": g, "clip": c, "clipping_free": g <= c, "groups": b.groups,
           "parameter_free": b.parameter_free, "suggested_clip": g,
           "worst_case_cut": max(0.0, 1.0 - c / g) if g > 0 else 0.0,
           "loss": b.loss, "feature_bound": b.feature_bound, "head_scale": b.head_scale,
           "assumptions": list(b.assumptions), "n_params": model.n_params(model.init(jax.random.PRNGKey(0)))}
    if any(v is not None for v in (args.noise_multiplier, args.sample_rate, args.n_examples, args.steps)):
        from .bounds.cost import clipping_cost

        missing = [f for f, v in (("--noise-multiplier", args.noise_multiplier), ("--sample-rate", args.sample_rate),
                                  ("--n-examples", args.n_examples), ("--steps", args.steps)) if v is None]
        if missing:
            raise ValueError(f"the clipping-cost estimate needs {', '.join(missing)} as well")
        out["cost"] = clipping_cost(g, c, noise_multiplier=args.noise_multiplier, sample_rate=args.sample_rate,
                                    n_examples=args.n_examples, steps=args.steps, n_params=out["n_params"])
    if args.synthetic_norms:
        from .bounds.cost import synthetic_norms

        out["synthetic_norms"] = synthetic_norms(model, g)
        if "cost" in out:  # the per-step ratio at the median synthetic gradient (clipped at C)
            median = min(out["synthetic_norms"]["fraction_of_bound"]["0.5"] * g, c)
            out["cost"]["noise_to_signal_typical"] = out["cost"]["noise_norm"] / median if median > 0 else math.inf
    if args.at_init is not None:  # G(θ_0): where max_grad_norm="bound" starts (parameters only, no data)
        from .bounds import parameter_bound

        try:
            g0 = parameter_bound(model, model.init(jax.random.PRNGKey(args.at_init)), loss=args.loss).total
            out["at_init"] = {"seed": args.at_init, "bound": g0}
        except ValueError as exc:
            out["at_init"] = {"seed": args.at_init, "unavailable": str(exc)}
    if args.json:
        _write_json(out, args.json)
        return 0
    groups = ", ".join(f"{k} {v:.6g}" for k, v in b.groups.items())
    print(f"gradient-norm bound G = {g:.6g}  ({groups})")
    for a in b.assumptions:
        print(f"  assuming {a}")
    if g <= c:
        print(f"clip C = {c:g} >= G: clipping never happens and costs nothing")
    else:
        print(f"clip C = {c:g} < G: clipping can cut up to {100 * out['worst_case_cut']:.1f}% of a gradient's norm")
    print(f"suggested clip (chosen without data, so free of privacy cost): C = {g:.6g}")
    if "at_init" in out:
        a0 = out["at_init"]
        print(f"at the initial parameters (seed {a0['seed']}): G(θ_0) = {a0['bound']:.6g}, where "
              "--max-grad-norm bound starts" if "bound" in a0 else f"at the initial parameters: {a0['unavailable']}")
    if "cost" in out:
        k = out["cost"]
        print(f"noise on the mean gradient: norm {k['noise_norm']:.4g} (std {k['noise_std']:.3g} per parameter) "
              f"against a signal of at most {k['signal_bound']:.4g}: noise-to-signal >= {k['noise_to_signal']:.3g} "
              f"per step, about {k['noise_to_signal_averaged']:.3g} averaged over {args.steps} steps")
        print(f"  {k['verdict']}")
    if "synthetic_norms" in out:
        f = out["synthetic_norms"]["fraction_of_bound"]
        print("gradient norms on synthetic inputs (no private data) as a fraction of G: "
              + ", ".join(f"q{float(q) * 100:g} {v:.3f}" for q, v in f.items()))
        if "cost" in out:
            print(f"  noise-to-signal per step at the median synthetic gradient: "
                  f"{out['cost']['noise_to_signal_typical']:.3g}")
    return 0


def _circuit_only_bound(args, model) -> int:
    from .bounds import circuit_bound

    extra = [flag for flag, v in (("--clip", args.clip), ("--at-init", args.at_init),
                                  ("--noise-multiplier", args.noise_multiplier), ("--sample-rate", args.sample_rate),
                                  ("--n-examples", args.n_examples), ("--steps", args.steps),
                                  ("--loss", args.loss)) if v is not None]
    if args.synthetic_norms:
        extra.append("--synthetic-norms")
    if extra:
        raise ValueError(f"--circuit-only bounds the circuit's outputs without head and loss; drop {', '.join(extra)}")
    try:
        b = circuit_bound(model, feature_bound=args.feature_bound)
    except ValueError as exc:
        raise ValueError(str(exc).replace("feature_bound is required", "--feature-bound is required")) from None
    out = {"circuit_bound": b.total, "per_output": b.groups, "feature_bound": b.feature_bound,
           "assumptions": list(b.assumptions), "n_angles": model.circuit.n_params}
    if args.json:
        _write_json(out, args.json)
        return 0
    print(f"circuit-output bound: ||d<O>/dθ|| <= {b.total:.6g} (Frobenius norm of the Jacobian)")
    for k, v in b.groups.items():
        print(f"  ||∇θ {k}|| <= {v:.6g}")
    for a in b.assumptions:
        print(f"  assuming {a}")
    return 0


_PRIVACY_FLAGS = ("sample_rate", "noise_multiplier", "steps", "delta", "target_epsilon", "max_grad_norm",
                  "learning_rate", "epochs", "expected_batch_size", "optimizer", "accountant", "seed", "shots",
                  "trajectories", "epsilon", "confidence")
_FLAG_NAMES = {"max_physical_batch": "physical-batch-size"}


def _privacy_error(exc: ValueError, *, accountant_flag: bool = True) -> ValueError:
    """The library names Python parameters (``sample_rate``); name the flag (``--sample-rate``), and
    (for commands with ``--accountant``) say ``--accountant rdp`` for the library's ``accountant='rdp'``
    (likewise ``--neighboring``)."""
    msg = str(exc)
    if accountant_flag:
        msg = re.sub(r"\b(accountant|neighboring)='([\w-]+)'", r"--\1 \2", msg)
    for name in (*_PRIVACY_FLAGS, *_FLAG_NAMES):
        if msg.startswith(name + " "):
            return ValueError("--" + _FLAG_NAMES.get(name, name.replace("_", "-")) + msg[len(name):])
    return exc if msg == str(exc) else ValueError(msg)


def cmd_account(args) -> int:
    from .privacy import compute_epsilon

    try:
        eps = compute_epsilon(args.sample_rate, args.noise_multiplier, args.steps, args.delta,
                              accountant=args.accountant, neighboring=args.neighboring)
    except ValueError as exc:
        raise _privacy_error(exc) from None
    out = {"epsilon": eps, "delta": args.delta, "accountant": args.accountant, "neighboring": args.neighboring,
           "sample_rate": args.sample_rate, "noise_multiplier": args.noise_multiplier, "steps": args.steps}
    if math.isinf(eps):
        out["epsilon_note"] = _infinite_epsilon_note(args)
    if args.json:
        _write_json(out, args.json)
    else:
        print(f"epsilon = {eps:.6g} at delta = {args.delta:g}  ({args.accountant} accountant, "
              f"{args.neighboring} neighbours)")
        print(f"  sample rate q = {args.sample_rate:g}, noise multiplier sigma = {args.noise_multiplier:g}, "
              f"steps T = {args.steps}")
        if "epsilon_note" in out:
            print(f"  epsilon is infinite: {out['epsilon_note']}")
    return 0


def _infinite_epsilon_note(args) -> str:
    """Why ``compute_epsilon`` gave ``inf``: no noise, or δ below what the accountant can certify."""
    from .privacy.accounting import _ceil_sig, smallest_delta

    if args.noise_multiplier == 0:
        return "noise multiplier 0 adds no noise, so there is no privacy guarantee"
    floor = smallest_delta(args.sample_rate, args.noise_multiplier, args.steps, accountant=args.accountant,
                           neighboring=args.neighboring)
    if args.delta <= floor:
        return (f"delta = {args.delta:g} is below the smallest delta the {args.accountant} accountant can certify "
                f"for this run, {floor:.2g} (its discretization treats that much privacy-loss mass, the truncated "
                f"tail, as infinite loss); use --delta {_ceil_sig(floor):.2g} or more"
                + (", or --accountant rdp (a finite, looser epsilon at any delta > 0)"
                   if args.accountant == "pld" else ""))
    return f"the {args.accountant} accountant found no finite epsilon at delta = {args.delta:g}"  # pragma: no cover


def _round_up(x: float, digits: int = 6) -> float:
    """``x`` rounded *up* to ``digits`` significant digits: a printed σ must not be smaller."""
    if x <= 0:
        return x
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale) / scale


def cmd_calibrate(args) -> int:
    from .privacy import calibrate_noise_multiplier, compute_epsilon

    try:
        sigma = calibrate_noise_multiplier(args.target_epsilon, args.delta, args.sample_rate, args.steps,
                                           accountant=args.accountant, neighboring=args.neighboring)
    except ValueError as exc:
        raise _privacy_error(exc) from None
    eps = compute_epsilon(args.sample_rate, sigma, args.steps, args.delta, accountant=args.accountant,
                          neighboring=args.neighboring)
    out = {"noise_multiplier": sigma, "epsilon": eps, "target_epsilon": args.target_epsilon, "delta": args.delta,
           "accountant": args.accountant, "neighboring": args.neighboring, "sample_rate": args.sample_rate,
           "steps": args.steps}
    if args.json:
        _write_json(out, args.json)
    else:
        print(f"noise multiplier sigma = {_round_up(sigma):.6g} meets epsilon <= {args.target_epsilon:g} at "
              f"delta = {args.delta:g}  (achieved epsilon = {eps:.6g}; {args.accountant} accountant, "
              f"{args.neighboring} neighbours)")
        print(f"  sample rate q = {args.sample_rate:g}, steps T = {args.steps}")
    return 0


def _add_privacy_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``account`` and ``calibrate`` (besides q, σ or target ε, T)."""
    from .privacy import ACCOUNTANTS, NEIGHBORING_RELATIONS

    p.add_argument("--delta", type=float, required=True,
                   help="delta of the (epsilon, delta) guarantee, in (0, 1); keep it well below 1/N for N "
                        "training examples (e.g. 1e-5). pld certifies no finite epsilon below about 1.5e-15")
    p.add_argument("--accountant", choices=tuple(ACCOUNTANTS), default="pld",
                   help="; ".join(f"{k}: {v}" for k, v in ACCOUNTANTS.items()).replace("%", "%%") + " (default pld)")
    p.add_argument("--neighboring", choices=tuple(NEIGHBORING_RELATIONS), default="add-remove",
                   help="neighbouring datasets differ by adding/removing one example (default) or by "
                        "replacing one (pld only)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="machine-readable output: to stdout, or to PATH (its directory must exist and be "
                        "writable: checked before any work)")


def _nonnegative_int(name):
    return int_at_least(name, 0)


# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dpqml",
        description="Differentially private training of hybrid quantum-classical models.",
    )
    p.add_argument("--version", action="version", version=f"dpqml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

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
    b.add_argument("--min-seconds", type=positive_float("--min-seconds"), default=1.0,
                   help="time each configuration at least this long, > 0 (default 1)")
    b.add_argument("--memory-budget", type=positive_float("--memory-budget"), default=8.0,
                   help="GiB per configuration, > 0; larger batches are halved to fit (default 8)")
    b.add_argument("--seed", type=_nonnegative_int("--seed"), default=0, help="seed of the inputs (default 0)")
    b.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="machine-readable output: to stdout, or to PATH (its directory must exist and be "
                        "writable: checked before any work)")
    b.set_defaults(func=cmd_bench)

    c = sub.add_parser("circuit", help="print the circuit the model flags build",
                       description="Print the circuit description gate by gate, as the simulator runs it.")
    add_model_args(c)
    c.set_defaults(func=cmd_circuit)

    bd = sub.add_parser(
        "bound",
        help="data-free bound on every per-example gradient norm; the cost of clipping at C",
        description=(
            "Bound the per-example gradient norm G of the model the flags build, from its circuit alone "
            "(no data, so choosing C = G costs no privacy budget), and compare it with a clip norm C. "
            "Derivation: docs/bounds.md."
        ),
    )
    add_model_args(bd)
    bd.add_argument("--clip", type=positive_float("--clip"),
                    help="clip norm C (max_grad_norm), > 0; required unless --circuit-only")
    bd.add_argument("--circuit-only", action="store_true",
                    help="bound the circuit's outputs alone (the Jacobian of the <O_k> in the angles), without "
                         "head and loss")
    bd.add_argument("--model", choices=("flags", "paper-quantum"), default="flags",
                    help="flags: the model the model flags build (default); paper-quantum: the paper's tabular "
                         "model (amplitude encoding of 16 features on 4 qubits, 11 RZ RY RZ layers with a CNOT "
                         "ring, the four <Z_k> as logits; the model flags are ignored)")
    bd.add_argument("--classes", type=int_at_least("--classes", 2), default=2,
                    help="number of classes K (default 2: binary head; K > 2: softmax over K readouts)")
    bd.add_argument("--feature-bound", type=positive_float("--feature-bound"), metavar="X",
                    help="every input feature satisfies |x_j| <= X (needed for trainable encodings)")
    bd.add_argument("--loss", choices=("logistic", "cross-entropy"),
                    help="loss (default: logistic for binary, cross-entropy for K-class)")
    bd.add_argument("--head-scale", type=positive_float("--head-scale"), default=1.0, metavar="A",
                    help="declared bound on the head's trainable scale |a| (default 1, its initial value)")
    bd.add_argument("--at-init", type=_nonnegative_int("--at-init"), metavar="SEED",
                    help="also the parameter-dependent bound G(θ_0) at the model's initial parameters (init with "
                         "this seed): where training with --max-grad-norm bound starts, over every input and label")
    ce = bd.add_argument_group("clipping-cost estimate (public quantities only)")
    ce.add_argument("--noise-multiplier", type=nonnegative_float("--noise-multiplier"),
                    help="σ of the planned run, >= 0")
    ce.add_argument("--sample-rate", type=probability("--sample-rate"),
                    help="Poisson sample rate q of the planned run, in (0, 1]")
    ce.add_argument("--n-examples", type=positive_int("--n-examples"), help="training-set size N")
    ce.add_argument("--steps", type=positive_int("--steps"), help="DP-SGD steps T")
    ce.add_argument("--synthetic-norms", action="store_true",
                    help="also measure gradient norms on synthetic inputs (never private data) relative to G")
    bd.add_argument("--json", nargs="?", const="-", metavar="PATH",
                    help="machine-readable output: to stdout, or to PATH (its directory must exist and be "
                         "writable: checked before any work)")
    bd.set_defaults(func=cmd_bound)

    a = sub.add_parser(
        "account",
        help="the (epsilon, delta) guarantee of DP-SGD",
        description=(
            "Compute epsilon at the given delta for DP-SGD: Poisson sampling with rate q, Gaussian noise "
            "of standard deviation sigma*C on the sum of gradients clipped to norm C, composed over T steps "
            "(Google's dp-accounting; an upper bound, never a CLT approximation)."
        ),
    )
    a.add_argument("--sample-rate", type=float, required=True,
                   help="Poisson sampling probability q of each example per step, in (0, 1] "
                        "(expected batch size / N)")
    a.add_argument("--noise-multiplier", type=float, required=True,
                   help="sigma: noise standard deviation divided by the clip norm, >= 0 (pld: >= 0.1, and "
                        "runs whose epsilon the rdp accountant bounds above 1000 are refused: use rdp there)")
    a.add_argument("--steps", type=_nonnegative_int("--steps"), required=True,
                   help="number of noisy steps T (epochs * N / expected batch size); at most 10^6 with pld "
                        "(about 3 s at most), 10^9 with rdp")
    _add_privacy_args(a)
    a.set_defaults(func=cmd_account)

    k = sub.add_parser(
        "calibrate",
        help="the smallest noise multiplier that meets a target epsilon",
        description=(
            "Find the smallest noise multiplier sigma (within 0.1%, always on the safe side) for which "
            "DP-SGD with sample rate q over T steps is (target epsilon, delta)-DP."
        ),
    )
    k.add_argument("--target-epsilon", type=float, required=True, help="the epsilon to meet, > 0")
    k.add_argument("--sample-rate", type=float, required=True,
                   help="Poisson sampling probability q of each example per step, in (0, 1]")
    k.add_argument("--steps", type=_nonnegative_int("--steps"), required=True,
                   help="number of noisy steps T; at most 10^6 with pld, 10^9 with rdp")
    _add_privacy_args(k)
    k.set_defaults(func=cmd_calibrate)

    t = add_train_parser(sub, add_model_args)
    t.set_defaults(func=lambda args: _privacy_wrapped(cmd_train, args, _write_json))

    cmp = add_compare_parser(sub)
    cmp.set_defaults(func=lambda args: cmd_compare(args, _write_json))

    from .audit.cli import add_audit_parser, cmd_audit
    add_audit_parser(sub, add_model_args).set_defaults(
        func=lambda args: _privacy_wrapped(cmd_audit, args, _write_json, spec_from_args, accountant_flag=False))
    return p


def _privacy_wrapped(cmd, *args, accountant_flag: bool = True):
    try:
        return cmd(*args)
    except ValueError as exc:
        raise _privacy_error(exc, accountant_flag=accountant_flag) from None


#: Every output path a command writes (attribute of the parsed arguments, flag, file or directory),
#: checked before any work so that a long run never fails at its last write.
_OUTPUT_PATHS = (("checkpoint_dir", "--checkpoint-dir", "dir"), ("out", "--out", "dir"), ("json", "--json", "file"))


def _check_output_paths(args) -> None:
    created = []
    for attr, flag, kind in _OUTPUT_PATHS:
        path = getattr(args, attr, None)
        if path is None or (kind == "file" and path == "-"):
            continue
        if kind == "dir":
            check_output_dir(path, flag)
            created.append(path)
        else:
            check_output_file(path, flag, created_dirs=tuple(created))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .train.trainer import TrainingDivergedError

    try:
        _check_output_paths(args)
        return args.func(args)
    except (ValueError, MemoryError, OSError) as exc:
        print(f"dpqml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDivergedError as exc:  # a run that failed (its steps still count), not a bad request
        print(f"dpqml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
