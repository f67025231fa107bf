"""``dpqml compare``: the fixed-clip, fixed-budget comparison of quantum and classical models.

With no arguments it runs the ``quick`` preset (two moons and digits 0 vs 1, 4 qubits, 3 seeds,
ε ∈ {1, 4, ∞}) into ``./dpqml-compare-quick`` and prints where the report is.
"""

from __future__ import annotations

import argparse
import sys

from ..argtypes import positive_int

DESCRIPTION = (
    "Train quantum and comparable classical models under the same clip threshold C and the same privacy "
    "budget ε (σ calibrated once per ε and shared by every model; same sample rate, steps, optimizer and "
    "learning rate), over seeds, and write a report (report.html, results.json/csv, plots). Every run is a "
    "job in DIR/results.sqlite: rerunning the same command skips finished jobs and resumes interrupted ones. "
    "With no arguments: the quick preset (two moons and digits 0 vs 1, 4 qubits, 3 seeds, ε in {1, 4, ∞})."
)


def add_compare_parser(sub) -> argparse.ArgumentParser:
    from .config import PRESETS
    from .executors import EXECUTORS
    from .tabular import TABULAR_PRESETS

    c = sub.add_parser("compare", help="the fixed-clip, fixed-budget comparison of quantum and classical models",
                       description=DESCRIPTION)
    which = c.add_mutually_exclusive_group()
    which.add_argument("--config", metavar="FILE", help="protocol file (.toml, .yaml or .yml); see docs/compare.md")
    which.add_argument("--preset", choices=(*PRESETS, *TABULAR_PRESETS),
                       help="a named protocol (default quick); paper-tabular: the paper's own tabular study as "
                            "published (C x B and eps x C grids, quantum, MLP and Lipschitz families, 10 seeds); "
                            "paper-tabular-clean: the same grids with no preprocessing fitted on private data and "
                            "the last epoch's test accuracy as the metric (docs/tabular.md)")
    c.add_argument("--bound-column", action="store_true",
                   help="tabular study only: add the bound-following column to the privacy grid (quantum family: "
                        "each step clips at C_t = G(theta_t), the gradient bound of the current parameters, and "
                        "adds noise sigma*C_t; docs/bounds.md); same as listing 'bound' in "
                        "privacy_grid.max_grad_norm of a --config file")
    c.add_argument("--out", metavar="DIR", help="output directory (default ./dpqml-compare-<protocol name>, "
                                                "with -bound-column appended under --bound-column)")
    c.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local process pool (default) or ray")
    c.add_argument("--workers", type=positive_int("--workers"),
                   help="jobs at a time (default: the machine's cores; ray: the cluster's CPUs)")
    c.add_argument("--address", help="an existing Ray cluster (HOST:PORT, ray://HOST:PORT or auto); "
                                     "default: start a local Ray instance")
    c.add_argument("--show-config", action="store_true", help="print the protocol's settings as JSON and exit")
    c.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the run's summary as JSON (to stdout if no PATH; its directory must exist and "
                        "be writable: checked before any work)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    return c


def cmd_compare(args, write_json) -> int:
    from .config import load_config, preset
    from .runner import run_protocol

    if args.address and args.executor != "ray":
        raise ValueError("--address is for --executor ray")
    from .tabular import TabularConfig, describe_plan, run_tabular

    config = load_config(args.config) if args.config else preset(args.preset or "quick")
    tabular = isinstance(config, TabularConfig)
    bound_column = getattr(args, "bound_column", False)
    if bound_column:
        config = with_bound_column(config)
    if args.show_config:
        write_json(describe_plan(config) if tabular else config.to_dict(), "-")
        return 0
    out = args.out or f"dpqml-compare-{config.name}" + ("-bound-column" if bound_column else "")
    run = run_tabular if tabular else run_protocol
    summary = run(config, out, executor=args.executor, workers=args.workers, address=args.address,
                  progress=not args.no_progress)
    if args.json:
        write_json(summary, args.json)
    failed = summary["failed"]
    print(f"{summary['ran']} job(s) run, {summary['skipped']} already done, {len(failed)} failed, "
          f"in {summary['seconds']:.0f} s", file=sys.stderr)
    for f in failed:
        print(f"  failed: {f['label']} (log: {f['log']})", file=sys.stderr)
    if summary["report"]:
        print(f"report: {summary['report']}")
    if failed:
        print("rerun the same command to retry the failed jobs", file=sys.stderr)
        return 1
    return 0


def with_bound_column(config):
    """``--bound-column``: ``config`` (a tabular study) with ``"bound"`` added to its privacy grid's C axis."""
    import dataclasses

    from ..privacy.config import FOLLOW_BOUND
    from .tabular import TabularConfig

    if not isinstance(config, TabularConfig):
        raise ValueError("--bound-column is for the tabular study (--preset paper-tabular or paper-tabular-clean, "
                         f"or a --config file naming one); protocol {config.name!r} is not one")
    if config.privacy_grid is None:
        raise ValueError("--bound-column adds a column to privacy_grid, and this study has none (privacy_grid = None)")
    clips = list(config.privacy_grid["max_grad_norm"])
    if FOLLOW_BOUND in clips:
        return config
    return dataclasses.replace(config, privacy_grid={**config.privacy_grid, "max_grad_norm": [*clips, FOLLOW_BOUND]})
