"""The comparison report of the fixed-clip, fixed-budget protocol (``dpqml compare``).

Quantum and classical models are trained under the same clip threshold C and, per privacy
budget ε, the same noise multiplier σ, over several seeds. :func:`write_report` turns the finished
rows (one dict per job) into files::

    from dpqml.report import write_report
    paths = write_report(rows, protocol, out_dir)   # {"report.html": Path(...), ...}

Parts: :func:`summarize` (mean test accuracy and Student t interval over seeds per dataset, model
and ε), :func:`compare_families` (best quantum versus best classical model), the plots
(:mod:`dpqml.report.plots`), the page (:mod:`dpqml.report.html`) and the JSON/CSV writers
(:mod:`dpqml.report.files`, ε = ∞ written as ``"inf"``).

The report of the paper's tabular study (grids of C, B and ε; quantum, classical and Lipschitz
families; two accuracy metrics) is :func:`dpqml.report.tabular.write_tabular_report`. Importing
this package loads neither JAX nor matplotlib nor scipy; they are imported when a report is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dpqml.report.files import as_float, to_jsonable, write_csv, write_json
from dpqml.report.html import render_html
from dpqml.report.intervals import Interval, t_interval
from dpqml.report.plots import Plot, draw_plots
from dpqml.report.summary import SUMMARY_COLUMNS, compare_families, mean_confidence_interval, summarize
from dpqml.report.tabular import paired_differences, summarize_cells, write_tabular_report

__all__ = ["write_report", "summarize", "compare_families", "mean_confidence_interval", "render_html",
           "draw_plots", "Plot", "SUMMARY_COLUMNS", "as_float", "to_jsonable", "write_tabular_report",
           "summarize_cells", "paired_differences", "t_interval", "Interval"]


def write_report(rows: Sequence[Mapping[str, Any]], protocol: Mapping[str, Any],
                 out_dir: str | Path, audits: Sequence[Mapping[str, Any]] = ()) -> dict[str, Path]:
    """Write the comparison report of ``rows`` into ``out_dir`` (created if needed).

    ``rows``: one dict per finished job (``dataset``, ``model``, ``family``, ``seed``, ``epsilon``,
    ``test_accuracy`` required; the other keys of :data:`dpqml.report.files.ROW_COLUMNS` and the per-epoch
    ``history`` are used where present); ``protocol``: the protocol's JSON-able
    settings. Writes ``results.json``, ``results.csv``, ``summary.csv`` (each row labelled with the
    names of its fields that ε does not cover, ``diagnostics``, and ``diagnostics_note``), the plots
    (``accuracy_vs_epsilon_<dataset>.png``, ``grad_norms_<dataset>.png``, ``epsilon_vs_steps.png``;
    a plot without data is skipped and the page says why) and ``report.html`` (self-contained).
    ``audits``: results of privacy audits (``dpqml.audit.AuditResult.to_dict()`` rows), written to
    ``audit.json`` and shown in the page's auditing section.
    Returns ``{file name: path}`` for every file written. Raises ``ValueError`` on invalid rows.
    """
    summary = summarize(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results.json": write_json(rows, out / "results.json"),
        "results.csv": write_csv(rows, out / "results.csv"),
        "summary.csv": write_csv(summary, out / "summary.csv", SUMMARY_COLUMNS),
    }
    if audits:  # games on synthetic canaries: nothing in them comes from the private training data
        paths["audit.json"] = write_json(audits, out / "audit.json", label=False)
    plots = draw_plots(rows, summary, protocol, out)
    paths.update({p.name: p.path for p in plots if p.path is not None})
    page = render_html(protocol, summary, compare_families(summary), plots, audits)
    (out / "report.html").write_text(page, encoding="utf-8")
    paths["report.html"] = out / "report.html"
    return paths
