"""``dpqml train``: private training of a quantum, hybrid or classical model from the command line.

With no flags it trains the standard 4-qubit classifier on scikit-learn's 8×8 digits (0 vs 1,
pooled to 4 features) at ε = 4, δ = 1e-5, and says what it did.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..argtypes import int_at_least, number, positive_int

DEFAULT_DATASET = "digits"
MODELS = ("quantum", "logistic", "mlp", "cnn")


def _clip_threshold(text: str):
    """``--max-grad-norm``: a number (its range is checked with the privacy configuration), or ``bound``."""
    if text == "bound":
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"--max-grad-norm must be a finite number > 0 or 'bound'; got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def add_train_parser(sub, add_model_args) -> argparse.ArgumentParser:
    t = sub.add_parser(
        "train", help="train a model with DP-SGD at a target epsilon",
        description=("Train a quantum, hybrid or classical classifier with DP-SGD (Poisson sampling, per-example "
                     "clipping to C, Gaussian noise σC, PLD accounting). With no flags: the standard 4-qubit model "
                     "on digits 0 vs 1 at ε=4, δ=1e-5."),
    )
    d = t.add_argument_group("data")
    d.add_argument("--dataset", default=DEFAULT_DATASET,
                   help="moons, circles, xor, blobs, linear, teacher, digits (default), mnist, fashion-mnist")
    d.add_argument("--data-path", help="IDX directory or NPZ file for mnist / fashion-mnist")
    d.add_argument("--n-train", type=positive_int("--n-train"), help="training examples (default: the set's own)")
    d.add_argument("--n-test", type=positive_int("--n-test"), help="test examples (default: the set's own)")
    d.add_argument("--n-features", type=positive_int("--n-features"),
                   help="features after the fixed reduction (default: the number of qubits for quantum models)")
    d.add_argument("--classes", help="image classes, e.g. '0,1' (default) or 'all'")
    m = t.add_argument_group("model")
    m.add_argument("--model", choices=MODELS, default="quantum", help="model family (default quantum)")
    m.add_argument("--hidden", type=_widths, help="MLP hidden widths, e.g. '16' or '32,32' (default: match the "
                                                  "quantum model's parameter count)")
    add_model_args(t)
    p = t.add_argument_group("privacy")
    p.add_argument("--target-epsilon", type=number("--target-epsilon", inf_ok=True),
                   help="ε to reach after all epochs; σ is calibrated (default 4; 'inf' for non-private)")
    p.add_argument("--noise-multiplier", type=float, help="σ directly, instead of --target-epsilon")
    p.add_argument("--delta", type=float, default=1e-5,
                   help="δ (default 1e-5); δ >= 1/N is refused (too weak to protect anyone) unless --allow-large-delta")
    p.add_argument("--allow-large-delta", action="store_true",
                   help="accept δ >= 1/N (with a warning); the result then records allow_large_delta")
    p.add_argument("--max-grad-norm", type=_clip_threshold, default=1.0,
                   help="clip threshold C > 0 (default 1.0), or 'bound': each step clips at G(θ_t), the "
                        "gradient-norm bound of the current parameters (no privacy cost, no gradient ever "
                        "clipped), with noise σ·G(θ_t); quantum models that encode first, without pre/post layers")
    p.add_argument("--accountant", default="pld", help="pld (default, tight) or rdp (fast, conservative)")
    rnd = p.add_mutually_exclusive_group()
    rnd.add_argument("--randomness", choices=("secure", "fast"), default=None,
                     help="where Poisson sampling and the noise draw from: secure (default: the OS CSPRNG every step, "
                          "floating-point-hardened noise) or fast (JAX's generator under a secret seed from the OS, "
                          "kept in the checkpoint only; for large models). Neither can be replayed from --seed")
    rnd.add_argument("--secure-noise", dest="randomness", action="store_const", const="secure",
                     help="the same as --randomness secure (the default)")
    rnd.add_argument("--reproducible-noise", type=int_at_least("--reproducible-noise", 0), metavar="SEED",
                     help="opt-in: draw sampling and noise from SEED, so the run can be replayed. The guarantee then "
                          "does NOT hold against anyone who knows SEED; the output says so. For research and tests")
    o = t.add_argument_group("optimisation")
    o.add_argument("--epochs", type=float, default=10.0, help="passes over the data (default 10)")
    o.add_argument("--sample-rate", type=float, help="Poisson sample rate q (default: batch-size / N)")
    o.add_argument("--expected-batch-size", "--batch-size", dest="batch_size", type=float,
                   help="expected batch size qN of Poisson sampling (default min(64, N), as train_private)")
    o.add_argument("--physical-batch-size", type=positive_int("--physical-batch-size"), default=256,
                   help="most examples per compiled gradient call (memory cap; default 256)")
    o.add_argument("--learning-rate", type=float, default=0.05, help="step size (default 0.05)")
    o.add_argument("--optimizer", default="adam", help="sgd, momentum or adam (default adam)")
    o.add_argument("--seed", type=int_at_least("--seed", 0), default=0,
                   help="seed of the initialisation and the data set's generation or split (default 0); never of the "
                        "privacy mechanism (see --randomness)")
    o.add_argument("--shots", type=int, metavar="N",
                   help="finite shots, the path real hardware takes: every circuit expectation estimated from N "
                        "measurement samples, gradients by the parameter-shift rule (quantum models); the summary "
                        "says how many circuit executions and shots a hardware run would need. Shot noise is not "
                        "privacy: σ is calibrated as without shots (default: exact expectations)")
    o.add_argument("--trajectories", type=int, metavar="M",
                   help="noisy quantum models: every example's expectations averaged over M sampled noise "
                        "trajectories (state vectors, an unbiased Monte Carlo estimate) instead of exact density "
                        "matrices: for registers too wide for them. Sampling noise is not privacy: σ is "
                        "calibrated as without (default: exact expectations)")
    r = t.add_argument_group("run")
    r.add_argument("--device", choices=("cpu", "gpu", "auto"), default="auto",
                   help="where JAX runs (default auto: a GPU if the CUDA extra is installed)")
    r.add_argument("--checkpoint-dir", help="checkpoint and ledger directory; rerun to resume")
    r.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the results as JSON (to stdout if no PATH)")
    r.add_argument("--save-model", metavar="PATH",
                   help="quantum models: write the trained model (circuit, head, parameters) to PATH as JSON "
                        "(dpqml.interop.load_model reads it; format: dpqml/interop/saving.py)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    return t


def _widths(text: str) -> tuple[int, ...]:
    """``--hidden``: comma-separated positive integers."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--hidden must be comma-separated integers >= 1 (the MLP's hidden widths, "
                                         f"e.g. '16' or '32,32'); got {text!r}")
    return widths


def _select_device(device: str) -> None:
    import jax

    if device == "auto":
        return
    try:
        backend = jax.devices("gpu" if device == "gpu" else "cpu")
    except RuntimeError:
        backend = []
    if not backend:
        raise ValueError(f"--device {device}: no such JAX backend here; install the CUDA extra (pip install "
                         "'dpqml[cuda]') for gpu, or use --device cpu")
    jax.config.update("jax_default_device", backend[0])


def build_from_args(args, ds):
    """The model the train flags describe, for data set ``ds``."""
    from ..models import ModelSpec, build_classical, build_model
    from ..models.classical import MLP

    n_classes = ds.n_classes
    if args.model == "quantum":
        spec = ModelSpec(qubits=args.qubits, layers=args.layers, ansatz=args.ansatz, encoding=args.encoding,
                         readout=args.readout, noise=args.noise, n_classes=n_classes,
                         input_dim=ds.n_features if ds.n_features != args.qubits else None)
        return build_model(spec)
    if args.model == "mlp":
        if args.hidden:
            return build_classical("mlp", ds.n_features, n_classes, hidden=args.hidden)
        quantum = build_model(ModelSpec(qubits=args.qubits, layers=args.layers, ansatz=args.ansatz,
                                        encoding=args.encoding, readout=args.readout, n_classes=n_classes,
                                        input_dim=ds.n_features if ds.n_features != args.qubits else None))
        import jax

        target = quantum.n_params(quantum.init(jax.random.PRNGKey(0)))
        return MLP.matched(ds.n_features, n_classes, target)
    if args.model == "cnn" and not ds.meta.get("grid"):
        raise ValueError(f"--model cnn needs an image data set (digits, mnist, fashion-mnist); {ds.name} is not one")
    return build_classical(args.model, ds.n_features, n_classes)


def load_from_args(args):
    from ..data import load_dataset

    kw = {"seed": args.seed}
    for flag in ("n_train", "n_test", "n_features", "classes"):
        v = getattr(args, flag)
        if v is not None:
            kw[flag] = v
    if args.data_path:
        kw["path"] = args.data_path
    if "n_features" not in kw and args.model == "quantum" and args.dataset in ("digits", "mnist", "fashion-mnist"):
        kw["n_features"] = args.qubits
    if args.model == "cnn" and "n_features" not in kw and args.dataset in ("digits", "mnist", "fashion-mnist"):
        kw["n_features"] = 64 if args.dataset == "digits" else 784  # the full image
    return load_dataset(args.dataset, **kw)


def cmd_train(args, write_json) -> int:
    from ..train.api import default_expected_batch_size, privacy_config
    from ..train.trainer import TrainConfig, train

    if args.target_epsilon is None and args.noise_multiplier is None:
        args.target_epsilon = 4.0
    if args.target_epsilon is not None and args.noise_multiplier is not None:
        raise ValueError("give --target-epsilon or --noise-multiplier, not both")
    if args.shots is not None and args.model != "quantum":
        raise ValueError(f"--shots (finite-shot parameter-shift gradients) needs --model quantum; got --model "
                         f"{args.model}, which has no circuit")
    if args.trajectories is not None and args.model != "quantum":
        raise ValueError(f"--trajectories (sampled noise trajectories) needs --model quantum; got --model "
                         f"{args.model}, which has no circuit")
    if args.trajectories is not None and args.shots is not None:
        raise ValueError("give --shots (parameter-shift gradients from finite shots) or --trajectories (sampled "
                         "noise trajectories), not both")
    if args.save_model is not None and args.model != "quantum":
        raise ValueError(f"--save-model writes quantum models (circuit and parameters); got --model {args.model}")
    if args.hidden is not None and args.model != "mlp":
        raise ValueError(f"--hidden (the MLP's widths) needs --model mlp; got --model {args.model}")
    _select_device(args.device)
    ds = load_from_args(args)
    model = build_from_args(args, ds)
    batch = args.batch_size if args.sample_rate is None and args.batch_size is not None else None
    if args.sample_rate is None and batch is None:
        batch = default_expected_batch_size(ds.n_train)  # the API's default too
    privacy = privacy_config(ds.n_train, target_epsilon=args.target_epsilon, noise_multiplier=args.noise_multiplier,
                             delta=args.delta, max_grad_norm=args.max_grad_norm, epochs=args.epochs,
                             sample_rate=args.sample_rate, expected_batch_size=batch, accountant=args.accountant,
                             allow_large_delta=args.allow_large_delta)
    config = TrainConfig(learning_rate=args.learning_rate, optimizer=args.optimizer,
                         max_physical_batch=args.physical_batch_size, seed=args.seed,
                         randomness=args.randomness, noise_seed=args.reproducible_noise,
                         checkpoint_dir=args.checkpoint_dir,
                         progress=not args.no_progress and args.json != "-",
                         method=("parameter-shift" if args.shots is not None else
                                 "trajectories" if args.trajectories is not None else "vmap"),
                         shots=args.shots, trajectories=args.trajectories)
    what = _describe(args, ds, model, privacy)
    print(what, file=sys.stderr, flush=True)
    result = train(model, ds.x_train, ds.y_train, privacy, config, x_test=ds.x_test, y_test=ds.y_test)
    out = result.to_dict()
    if args.save_model is not None:
        from ..interop import save_model

        save_model(args.save_model, model, result.params,
                   meta={"epsilon": out["epsilon"], "delta": out["delta"], "dataset": ds.name, "noise": args.noise})
        print(f"wrote the trained model to {args.save_model}", file=sys.stderr)
    out.update({"dataset": ds.name, "model": args.model, "family": getattr(model, "family", "quantum"),
                "n_train": ds.n_train, "n_test": ds.n_test, "n_features": ds.n_features,
                "target_epsilon": None if args.target_epsilon is None else
                ("inf" if math.isinf(args.target_epsilon) else args.target_epsilon)})
    snapshot = getattr(getattr(model, "circuit", None), "meta", {}).get("device_snapshot")
    if snapshot:  # --noise device:<name>: which calibration the noise came from
        out["device_snapshot"] = snapshot
    eps = "inf (not private)" if math.isinf(result.epsilon) else f"{result.epsilon:.3f}"
    summary = (f"done: {result.steps_spent} steps in {result.seconds:.1f} s; test accuracy "
               f"{_pct(result.test_accuracy)}, train accuracy {_pct(result.train_accuracy)} (diagnostic); "
               f"ε spent {eps} at δ={privacy.delta:g}")
    print(summary, file=sys.stderr)
    if result.hardware_cost is not None:
        print(_describe_hardware(result.hardware_cost), file=sys.stderr)
    if args.json:
        write_json(out, args.json)
    return 0


def _describe_hardware(hc: dict) -> str:
    per = hc["per_example"]
    shifted = per["circuit_evaluations"] - 1
    return (f"  on hardware: {hc['circuit_executions']:,.0f} circuit executions and {hc['shots_total']:,.0f} shots "
            f"expected (q·N·T = {hc['expected_examples']:,.1f} examples × {per['executions_per_example']} executions "
            f"of {per['shots']} shots: 1 unshifted + {shifted} shifted circuits for {per['shifted_angles']} angles, "
            f"× {per['measurement_settings']} measurement setting(s)); this run's sampled batches: "
            f"{hc['circuit_executions_realized']:,} executions, {hc['shots_total_realized']:,} shots "
            f"(diagnostic, not covered by ε)")


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _describe(args, ds, model, privacy) -> str:
    import jax

    n_params = model.n_params(model.init(jax.random.PRNGKey(0)))
    if args.model == "quantum":
        m = (f"{args.qubits}-qubit {args.ansatz} model, {args.layers} layers, {args.encoding} encoding, "
             f"readout {args.readout}, noise {args.noise}")
        snap = model.circuit.meta.get("device_snapshot")
        if snap:
            m += f" (calibration snapshot {snap['name']} {snap['backend_version']}, {snap['last_update']})"
    else:
        m = f"classical {args.model}"
    sigma = f"σ={privacy.noise_multiplier:.4g}" + (" (calibrated)" if args.noise_multiplier is None else "")
    clip_text = (f"C={privacy.max_grad_norm:g}" if privacy.clips_at_constant
                 else "C=G(θ_t) (the gradient bound of the current parameters)")
    target = ("non-private (σ=0, clipping kept)" if not privacy.private else
              f"target ε={args.target_epsilon:g}" if args.target_epsilon is not None else "σ given")
    grads = ("" if args.shots is None else
             f"\n  gradients: parameter-shift rule, every circuit expectation from {args.shots} shots")
    if args.trajectories is not None:
        grads += (f"\n  gradients: every circuit expectation averaged over {args.trajectories} sampled noise "
                  "trajectories (unbiased Monte Carlo estimate)")
    if args.reproducible_noise is not None:
        grads += (f"\n  WARNING: reproducible noise (--reproducible-noise {args.reproducible_noise}): anyone who knows "
                  "this seed can replay the sampling and the noise; the guarantee does not hold against them")
    return (f"dpqml train: {m} ({n_params} parameters) on {ds.name} ({ds.n_train} train / {ds.n_test} test, "
            f"{ds.n_features} features, {ds.n_classes} classes)\n"
            f"  DP-SGD: {target}, δ={privacy.delta:g}, {clip_text}, {sigma}, "
            f"q={privacy.sample_rate:.4g} (expected batch {privacy.expected_batch_size:.1f}), "
            f"{privacy.steps} steps, accountant {privacy.accountant}, sampling and noise "
            f"{'seeded (reproducible)' if args.reproducible_noise is not None else args.randomness or 'secure'}"
            f"{grads}")
