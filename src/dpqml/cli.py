"""The ``dpqml`` command line.

Subcommands (``dpqml COMMAND --help`` for each):

* ``bench``: per-example-gradient throughput, compile time and peak memory of a model (:mod:`dpqml.bench.cli`);
* ``circuit``: print the circuit a set of model flags builds, gate by gate;
* ``bound``: a data-free bound G on every per-example gradient norm, and what clipping at C costs
  (:mod:`dpqml.bounds.cli`);
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
import math
import re
import sys

from . import __version__
from .argtypes import (
    check_output_dir,
    check_output_file,
)
from .bench.cli import add_bench_parser
from .bounds.cli import add_bound_parser
from .cli_common import add_json_arg, add_model_args, nonnegative_int, spec_from_args, write_json  # noqa: F401 - shared
from .models import build_model
from .protocol.cli import add_compare_parser, cmd_compare
from .train.cli import add_train_parser, cmd_train


# ---------------------------------------------------------------------------------------
def cmd_circuit(args) -> int:
    model = build_model(spec_from_args(args))
    print(model.circuit)
    counts = ", ".join(f"{k}: {v}" for k, v in model.circuit.count_ops().items())
    print(f"operations: {counts}")
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
        write_json(out, args.json)
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
        write_json(out, args.json)
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
    add_json_arg(p)


# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dpqml",
        description="Differentially private training of hybrid quantum-classical models.",
    )
    p.add_argument("--version", action="version", version=f"dpqml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_bench_parser(sub)

    c = sub.add_parser("circuit", help="print the circuit the model flags build",
                       description="Print the circuit description gate by gate, as the simulator runs it.")
    add_model_args(c)
    c.set_defaults(func=cmd_circuit)
    add_bound_parser(sub)

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
    a.add_argument("--steps", type=nonnegative_int("--steps"), required=True,
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
    k.add_argument("--steps", type=nonnegative_int("--steps"), required=True,
                   help="number of noisy steps T; at most 10^6 with pld, 10^9 with rdp")
    _add_privacy_args(k)
    k.set_defaults(func=cmd_calibrate)

    t = add_train_parser(sub, add_model_args)
    t.set_defaults(func=lambda args: _privacy_wrapped(cmd_train, args, write_json))

    cmp = add_compare_parser(sub)
    cmp.set_defaults(func=lambda args: cmd_compare(args, write_json))

    from .audit.cli import add_audit_parser, cmd_audit
    add_audit_parser(sub, add_model_args).set_defaults(
        func=lambda args: _privacy_wrapped(cmd_audit, args, write_json, spec_from_args, accountant_flag=False))
    return p


def _privacy_wrapped(cmd, *args, accountant_flag: bool = True):
    try:
        return cmd(*args)
    except ValueError as exc:
        raise _privacy_error(exc, accountant_flag=accountant_flag) from None


#: Every output path a command writes (attribute of the parsed arguments, flag, file or directory),
#: checked before any work so that a long run never fails at its last write.
_OUTPUT_PATHS = (("checkpoint_dir", "--checkpoint-dir", "dir"), ("out", "--out", "dir"), ("json", "--json", "file"),
                 ("save_model", "--save-model", "file"))


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
