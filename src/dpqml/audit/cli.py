"""``dpqml audit``: an empirical ε lower bound for dpqml's trainer, against the ε it claims.

With no flags it audits DP-SGD at ε = 1 (δ = 1e-5) with 10,000 white-box gradient canaries; with
``--mechanism none`` the same game is played without DP-SGD noise (σ = 0), and with
``--mechanism device-noise|shots`` the game is played on the (noisy) model itself; at σ = 0 the lower
bound is limited only by the number of canaries. A lower bound above the claim is printed as
``BROKEN GUARANTEE`` (and the command exits with status 3).
"""

from __future__ import annotations

import argparse
import sys

from dpqml.argtypes import number, positive_int
from dpqml.audit.pipeline import FAULTS, MECHANISMS, METHODS, SCORES, THREAT_MODELS

EXIT_BROKEN = 3


def add_audit_parser(sub, add_model_args) -> argparse.ArgumentParser:
    a = sub.add_parser(
        "audit", help="empirical lower bound on epsilon: canaries against the trainer",
        description=("Play the membership game against dpqml's DP-SGD trainer: canaries, each included with "
                     "probability 1/2, one training run, an epsilon lower bound at the stated confidence (Steinke, "
                     "Nasr & Jagielski 2023; or Clopper-Pearson over the canaries' independent games, Nasr et al. "
                     "2021), compared with the accountant's epsilon. Default: white-box Dirac gradient canaries, "
                     "every privatized update observed. See docs/audit.md."),
    )
    add_model_args(a)
    g = a.add_argument_group("audit")
    g.add_argument("--mechanism", choices=MECHANISMS, default="dpsgd",
                   help="dpsgd (sigma calibrated to --epsilon; default), or none / device-noise / shots (sigma = 0, "
                        "no formal guarantee)")
    g.add_argument("--epsilon", type=number("--epsilon"), default=1.0,
                   help="target epsilon of dpsgd, and the epsilon the canaries must be able to certify (default 1)")
    g.add_argument("--canaries", type=positive_int("--canaries"),
                   help="canaries m, each included with probability 1/2 (default 10000 white-box, 500 "
                        "white-box-model, 200 black-box)")
    g.add_argument("--confidence", type=number("--confidence"), default=0.95,
                   help="confidence of the lower bound, in (0, 1) (default 0.95)")
    g.add_argument("--threat-model", choices=THREAT_MODELS,
                   help="white-box (Dirac gradient canaries, every update seen; default for none and dpsgd), "
                        "white-box-model (canaries are inputs to the model itself, every update seen; default for "
                        "device-noise and shots) or black-box (mislabelled canaries scored on the final model)")
    g.add_argument("--method", choices=METHODS, default="one-run",
                   help="one-run (default) or multi-run (Clopper-Pearson, white-box only)")
    g.add_argument("--shots", type=positive_int("--shots"), default=1000,
                   help="measurement samples per circuit evaluation of --mechanism shots (finite-shot "
                        "parameter-shift training in the black-box game; default 1000)")
    g.add_argument("--score", choices=SCORES, default="loss", help="black-box membership score (default loss)")
    g.add_argument("--fault", choices=[f for f in FAULTS if f], default=None,
                   help="deliberately break the trainer (half-noise: sigma/2; no-clip: clipping off) while "
                        "claiming the original epsilon, to check that the audit catches it")
    g.add_argument("--seed", type=int, default=0, help="seed of the coins, sampling and noise (default 0)")
    d = a.add_argument_group("audited DP-SGD configuration")
    d.add_argument("--delta", type=number("--delta"), default=1e-5, help="delta of the claim (default 1e-5)")
    d.add_argument("--sample-rate", type=number("--sample-rate"),
                   help="Poisson sample rate q (default 1: every step sees every example; 0.1 black-box)")
    d.add_argument("--steps", type=positive_int("--steps"),
                   help="DP-SGD steps T (default 4 white-box, 60 white-box-model, 200 black-box)")
    d.add_argument("--max-grad-norm", type=number("--max-grad-norm"), default=1.0, help="clip norm C (default 1)")
    a.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="machine-readable output: to stdout, or to PATH (its directory must exist and be "
                        "writable: checked before any work)")
    return a


def cmd_audit(args, write_json, spec_from_args) -> int:
    from dpqml.audit.pipeline import audit_pipeline
    from dpqml.models import build_model

    model = build_model(spec_from_args(args))  # validates the model flags, noise preset included
    result = audit_pipeline(model, mechanism=args.mechanism, epsilon=args.epsilon, canaries=args.canaries,
                            confidence=args.confidence, seed=args.seed, threat_model=args.threat_model,
                            method=args.method, delta=args.delta, sample_rate=args.sample_rate, steps=args.steps,
                            max_grad_norm=args.max_grad_norm, fault=args.fault, score=args.score,
                            shots=args.shots)
    claimed = "inf (no guarantee)" if result.to_dict()["epsilon_claimed"] is None else f"{result.epsilon_claimed:.4g}"
    tprs = ", ".join(f"{float(f):g}: {t:.3f}" for f, t in result.tpr_at_fpr.items())
    print(f"dpqml audit: {result.mechanism}, {result.threat_model} {result.method}, {result.canaries} canaries, "
          f"σ={result.noise_multiplier:.4g}, C={result.max_grad_norm:g}, q={result.sample_rate:g}, "
          f"T={result.steps}, δ={result.delta:g}" + (f", FAULT {result.fault}" if result.fault else ""),
          file=sys.stderr)
    print(f"  ε claimed {claimed}; ε lower bound {result.epsilon_lower:.4f} at confidence {result.confidence:g}; "
          f"AUROC {result.auroc:.3f}; TPR at FPR {{{tprs}}}; {result.seconds:.1f} s", file=sys.stderr)
    print(("  " if not result.broken else "") + result.verdict, file=sys.stderr)
    if args.json:
        write_json(result.to_dict(), args.json)
    return EXIT_BROKEN if result.broken else 0
