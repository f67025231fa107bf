"""The bound-following column of the paper grid: heatmap 2 (ε × C at B = 64) with one more column,
``max_grad_norm = "bound"``: every step clips at ``C_t = G(θ_t)``, the parameter-dependent
gradient bound of the current parameters (``dpqml.bounds.compiled``; ``--relaxation``: the tracked
sum-of-squares bound the study uses, or the pairings' bound), so clipping never changes a
gradient, and the noise is ``σ·C_t``. Quantum family only (the bound covers the paper's quantum
model); everything else is the preset's: data, split, scaler, σ per ε by PLD, epochs, momentum,
weight decay, Poisson sampling, the vectorised trainer. The jobs are the study's own
(``plan`` and ``run_tabular_job`` of ``dpqml compare --bound-column``), run in this process
without the result store.

The learning rate: the preset's rule evaluated at ``C = G(θ_0)`` of each run's initial parameters
(public: a function of the initialisation seed only), since the rule takes one constant C.

Prints, per ε, the mean and 95% t-interval over seeds of the last-epoch test accuracy and of the
best validation accuracy, the mean threshold ``C_t`` over training, the largest per-example norm
seen (a diagnostic of the private data) and the clipped fraction (0 by construction).

    python benchmarks/bound_column.py --seeds 0 1 2 3 --json benchmarks/results-bound-column.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


class _Printer:
    """The job log: lines printed as they come and kept (``run_tabular_job`` returns them)."""

    def __init__(self, prefix: str):
        self.prefix, self.lines = prefix, []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        print(f"{self.prefix} {line}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper-tabular-clean", choices=("paper-tabular", "paper-tabular-clean"))
    ap.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 5.0, 10.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's 100 epochs (smoke tests)")
    ap.add_argument("--clips", type=float, nargs="*", default=[1.5, 4.5],
                    help="constant-C columns re-run with the same seeds, for paired differences (bound - C)")
    ap.add_argument("--relaxation", default="sos", choices=("sos", "pairings"),
                    help="the bound C_t: the tracked sum-of-squares bound (the study's) or the pairings' bound")
    ap.add_argument("--json", help="write every run's row and the summary here")
    args = ap.parse_args(argv)

    import jax

    from dpqml.bounds.compiled import compiled_parameter_bound
    from dpqml.protocol.tabular import job_model, plan, run_learning_rate, run_tabular_job, tabular_preset
    from dpqml.report.intervals import t_interval

    overrides = {"families": ("quantum",), "seeds": tuple(args.seeds), "clipping_grid": None,
                 "privacy_grid": {"epsilon": args.epsilons, "max_grad_norm": [*args.clips, "bound"],
                                  "batch_size": 64}}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = tabular_preset(args.preset, **overrides)
    jobs, protocol = plan(config)
    if args.relaxation == "pairings":  # the pairings' C_t, and the learning-rate rule at its G(θ_0)
        model = job_model(jobs[0], 16, 4)
        g = jax.jit(compiled_parameter_bound(model))
        for spec in (s for s in jobs if s.get("follow_bound")):
            spec["bound_relaxation"] = "pairings"
            for run in spec["runs"]:
                c0 = float(g(model.init(jax.random.PRNGKey(run["seed"]))["theta"])[0])
                run.update(clip_at_init=c0,
                           learning_rate=run_learning_rate(config, "quantum", c0, run["noise_multiplier"],
                                                           run["noise_multiplier_rdp"], spec["batch_size"]))
    rows = []
    t0 = time.perf_counter()
    for i, spec in enumerate(jobs):
        log = _Printer(f"[job {i + 1}/{len(jobs)}]")
        rows += run_tabular_job(spec, None, log)["row"]["rows"]
    summary = []
    for eps in args.epsilons:
        cell = [r for r in rows if r["epsilon"] == eps and r["max_grad_norm"] == "bound"]
        paired = {}
        for c in args.clips:
            other = {r["seed"]: r["test_accuracy"] for r in rows if r["epsilon"] == eps and r["max_grad_norm"] == c}
            diffs = [r["test_accuracy"] - other[r["seed"]] for r in cell]
            paired[f"C={c:g}"] = {"constant_test_accuracy": t_interval(list(other.values()), clip=(0.0, 1.0)).__dict__,
                                  "bound_minus_constant": t_interval(diffs, clip=(-1.0, 1.0)).__dict__}
        diag = [d for r in cell for d in r["diagnostics_by_epoch"]]
        summary.append({
            "epsilon": eps, "seeds": [r["seed"] for r in cell],
            "test_accuracy": t_interval([r["test_accuracy"] for r in cell], clip=(0.0, 1.0)).__dict__,
            "best_val_accuracy": t_interval([r["best_val_accuracy"] for r in cell], clip=(0.0, 1.0)).__dict__,
            "clip_threshold_mean": float(np.mean([d["clip_threshold_mean"] for d in diag])),
            "clip_threshold_max": float(np.max([d["clip_threshold_max"] for d in diag])),
            "max_grad_norm_observed": float(np.max([d["max_grad_norm_observed"] for d in diag])),
            "clipped_fraction": float(np.max([d["clipped_fraction"] for d in diag])),
            "noise_multiplier": cell[0]["noise_multiplier"], "epsilon_spent": max(r["epsilon_spent"] for r in cell),
            "paired_with_constant_clip": paired,
        })
    print(f"\n{config.name}, quantum, B = 64, max_grad_norm = 'bound' ({args.relaxation}), seeds {args.seeds}, "
          f"{time.perf_counter() - t0:.0f} s")
    def fmt(iv):
        return f"{iv['mean']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}]" if iv["low"] is not None else f"{iv['mean']:.3f}"

    print("| ε | σ | test accuracy (last epoch) | best val accuracy | mean C_t | max C_t | max norm seen | clipped |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for s in summary:
        print(f"| {s['epsilon']:g} | {s['noise_multiplier']:.3f} | {fmt(s['test_accuracy'])} "
              f"| {fmt(s['best_val_accuracy'])} | {s['clip_threshold_mean']:.2f} "
              f"| {s['clip_threshold_max']:.2f} | {s['max_grad_norm_observed']:.2f} | {s['clipped_fraction']:g} |")
    if args.clips:
        print("\nPaired by seed, last-epoch test accuracy: the constant-C column, and bound minus it (95% t-intervals)")
        print("| ε | " + " | ".join(f"C = {c:g} | bound − C = {c:g}" for c in args.clips) + " |")
        print("|---|" + "---|---|" * len(args.clips))
        for s in summary:
            cells = [f"{fmt(v['constant_test_accuracy'])} | {fmt(v['bound_minus_constant'])}"
                     for v in s["paired_with_constant_clip"].values()]
            print(f"| {s['epsilon']:g} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            kept = [{k: v for k, v in r.items() if k != "diagnostics_by_epoch"}
                    | {"clip_threshold_mean_by_epoch": [d["clip_threshold_mean"] for d in r["diagnostics_by_epoch"]]}
                    for r in rows]
            json.dump({"preset": args.preset, "seeds": args.seeds, "clips": args.clips,
                       "relaxation": args.relaxation, "summary": summary,
                       "rows": kept, "protocol": {k: protocol[k] for k in ("sigmas", "n_train", "n_test")}},
                      fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
