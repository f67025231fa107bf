"""``dpqml bound``: the data-free gradient-norm bound of a model, the cost of clipping at C, the
parameter-dependent bound at initialisation, and the bound on a circuit's outputs alone."""

from __future__ import annotations

import argparse
import math

from ..argtypes import int_at_least, nonnegative_float, positive_float, positive_int, probability
from ..cli_common import add_json_arg, add_model_args, nonnegative_int, spec_from_args, write_json
from ..models import ModelSpec, build_model


def add_bound_parser(sub) -> argparse.ArgumentParser:
    """``dpqml bound``."""
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
    bd.add_argument("--model-file", metavar="PATH",
                    help="a model saved by 'dpqml train --save-model' (or dpqml.interop.save_model): bound that "
                         "model (the model flags are ignored), and also give the parameter-dependent bound G(θ) at "
                         "its saved parameters, the threshold --max-grad-norm bound would clip at there")
    bd.add_argument("--classes", type=int_at_least("--classes", 2), default=2,
                    help="number of classes K (default 2: binary head; K > 2: softmax over K readouts)")
    bd.add_argument("--feature-bound", type=positive_float("--feature-bound"), metavar="X",
                    help="every input feature satisfies |x_j| <= X (needed for trainable encodings)")
    bd.add_argument("--loss", choices=("logistic", "cross-entropy"),
                    help="loss (default: logistic for binary, cross-entropy for K-class)")
    bd.add_argument("--head-scale", type=positive_float("--head-scale"), default=1.0, metavar="A",
                    help="declared bound on the head's trainable scale |a| (default 1, its initial value)")
    bd.add_argument("--at-init", type=nonnegative_int("--at-init"), metavar="SEED",
                    help="also the parameter-dependent bound G(θ_0) at the model's initial parameters (init with "
                         "this seed): where training with --max-grad-norm bound starts, over every input and label")
    bd.add_argument("--relaxation", choices=("pairings", "sos"), default="pairings",
                    help="how --at-init and --model-file bound the parameter-dependent G(θ): pairings (default, "
                         "under a second; what --max-grad-norm bound uses) or sos (a few seconds, tighter; real "
                         "encoded states only; docs/bounds.md)")
    ce = bd.add_argument_group("clipping-cost estimate (public quantities only)")
    ce.add_argument("--noise-multiplier", type=nonnegative_float("--noise-multiplier"),
                    help="σ of the planned run, >= 0")
    ce.add_argument("--sample-rate", type=probability("--sample-rate"),
                    help="Poisson sample rate q of the planned run, in (0, 1]")
    ce.add_argument("--n-examples", type=positive_int("--n-examples"), help="training-set size N")
    ce.add_argument("--steps", type=positive_int("--steps"), help="DP-SGD steps T")
    ce.add_argument("--synthetic-norms", action="store_true",
                    help="also measure gradient norms on synthetic inputs (never private data) relative to G")
    add_json_arg(bd)
    bd.set_defaults(func=cmd_bound)
    return bd


def cmd_bound(args) -> int:
    import jax

    from . import gradient_bound

    saved = None
    if args.model_file is not None:  # a trained model and its parameters
        from ..interop import load_model

        if args.model != "flags":
            raise ValueError("give --model-file or --model paper-quantum, not both")
        if args.synthetic_norms:
            raise ValueError("--synthetic-norms is for the standard model the flags build, not --model-file")
        try:
            model, saved = load_model(args.model_file)
        except OSError as exc:
            raise ValueError(f"--model-file: cannot read {args.model_file}: {exc.strerror or exc}") from None
    elif args.model == "paper-quantum":  # the paper's tabular model: amplitude encoding, <Z_k> logits, no head
        from ..models.paper import PaperQuantumModel

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
           "joint_head": b.meta.get("joint_head", False), "parameter_free": b.parameter_free, "suggested_clip": g,
           "worst_case_cut": max(0.0, 1.0 - c / g) if g > 0 else 0.0,
           "loss": b.loss, "feature_bound": b.feature_bound, "head_scale": b.head_scale,
           "assumptions": list(b.assumptions), "n_params": model.n_params(model.init(jax.random.PRNGKey(0)))}
    if any(v is not None for v in (args.noise_multiplier, args.sample_rate, args.n_examples, args.steps)):
        from .cost import clipping_cost

        missing = [f for f, v in (("--noise-multiplier", args.noise_multiplier), ("--sample-rate", args.sample_rate),
                                  ("--n-examples", args.n_examples), ("--steps", args.steps)) if v is None]
        if missing:
            raise ValueError(f"the clipping-cost estimate needs {', '.join(missing)} as well")
        out["cost"] = clipping_cost(g, c, noise_multiplier=args.noise_multiplier, sample_rate=args.sample_rate,
                                    n_examples=args.n_examples, steps=args.steps, n_params=out["n_params"])
    if args.synthetic_norms:
        from .cost import synthetic_norms

        out["synthetic_norms"] = synthetic_norms(model, g)
        if "cost" in out:  # the per-step ratio at the median synthetic gradient (clipped at C)
            median = min(out["synthetic_norms"]["fraction_of_bound"]["0.5"] * g, c)
            out["cost"]["noise_to_signal_typical"] = out["cost"]["noise_norm"] / median if median > 0 else math.inf
    if args.at_init is not None:  # G(θ_0): where max_grad_norm="bound" starts (parameters only, no data)
        from . import parameter_bound

        try:
            g0 = parameter_bound(model, model.init(jax.random.PRNGKey(args.at_init)), loss=args.loss,
                                 relaxation=args.relaxation).total
            out["at_init"] = {"seed": args.at_init, "bound": g0, "relaxation": args.relaxation}
        except ValueError as exc:
            out["at_init"] = {"seed": args.at_init, "unavailable": str(exc)}
    if saved is not None:  # G(θ) at the saved parameters: parameters only, no data
        from . import parameter_bound

        try:
            out["at_saved"] = {"file": str(args.model_file),
                               "bound": parameter_bound(model, saved, loss=args.loss, relaxation=args.relaxation).total,
                               "relaxation": args.relaxation}
        except ValueError as exc:
            out["at_saved"] = {"file": str(args.model_file), "unavailable": str(exc)}
    if args.json:
        write_json(out, args.json)
        return 0
    groups = ", ".join(f"{k} {v:.6g}" for k, v in b.groups.items())
    print(f"gradient-norm bound G = {g:.6g}  ({groups})")
    if out["joint_head"]:
        print("  below the groups' root sum of squares: the head's scale and the first product-state layer share "
              "one bound (docs/bounds.md, step 6)")
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
    if "at_saved" in out:
        a1 = out["at_saved"]
        print(f"at the saved parameters ({a1['file']}): G(θ) = {a1['bound']:.6g}, the threshold --max-grad-norm "
              "bound would clip at there" if "bound" in a1 else f"at the saved parameters: {a1['unavailable']}")
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
    from . import circuit_bound

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
        write_json(out, args.json)
        return 0
    print(f"circuit-output bound: ||d<O>/dθ|| <= {b.total:.6g} (Frobenius norm of the Jacobian)")
    for k, v in b.groups.items():
        print(f"  ||∇θ {k}|| <= {v:.6g}")
    for a in b.assumptions:
        print(f"  assuming {a}")
    return 0
