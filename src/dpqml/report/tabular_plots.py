"""The tabular study's PNG plots: accuracy and paired-difference heatmaps, clipping diagnostics, learning curves.

Drawn like the comparison report's plots (:mod:`dpqml.report.plots`): matplotlib's object API on an
Agg canvas under the default style; a plot without data has ``path=None`` and a ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dpqml.report.files import as_float
from dpqml.report.intervals import ACCURACY_RANGE, t_interval
from dpqml.report.plots import Plot, _figure, _plain, _save, _style, format_epsilon
from dpqml.report.tabular import (
    AXIS_LABELS,
    DIFFERENCE_PAIRS,
    FAMILIES,
    FOLLOW_BOUND,
    GRIDS,
    METRICS,
    cell_of,
    cell_order,
    clip_order,
    clip_text,
    validate_rows,
)

FAMILY_COLOR = {"quantum": "#1f4e8c", "classical": "#c0611b", "lipschitz": "#3a8a3a"}
#: The cell whose learning curves are drawn, as the paper shows them; the nearest cell where it was not run.
CURVE_CELL = {"expected_batch_size": 64.0, "max_grad_norm": 1.5}
MAX_CURVE_PANELS = 4
UNCOVERED_MARK = "†"


def axis_text(key: str, value: float | str) -> str:
    """A tick label: ``∞`` for ε = ∞ (σ = 0), ``G(θ_t)`` for the bound-following column, else the
    shortest ``g`` form."""
    if key == "epsilon":
        return format_epsilon(value)
    return clip_text(value) if key == "max_grad_norm" else f"{value:g}"


def _axis_order(key: str):
    return clip_order if key == "max_grad_norm" else None


def _layout(entries: Sequence[Mapping[str, Any]], grid: str) -> tuple[list, list]:
    axes = GRIDS[grid]
    return (sorted({e[axes.x] for e in entries}, key=_axis_order(axes.x)),
            sorted({e[axes.y] for e in entries}, key=_axis_order(axes.y)))


def _log_distance(value, target: float) -> float:
    """|log(value / target)|; infinite for the bound-following column, ε = ∞ and values ≤ 0."""
    if value == FOLLOW_BOUND or not 0 < value < math.inf:
        return math.inf
    return abs(math.log(value / target))


def _dark_viridis(shade: float) -> bool:
    return shade < 0.55  # viridis is dark at its low end


def _dark_rdbu(shade: float) -> bool:
    return shade < 0.3 or shade > 0.8  # RdBu is dark at both ends


def _draw_map(ax, entries, grid, xs, ys, cmap, norm, text, dark) -> Any:
    # one heatmap: entries placed at their (x, y) cell; empty cells stay blank (masked); white text on dark cells
    import numpy as np

    axes = GRIDS[grid]
    data = np.full((len(ys), len(xs)), np.nan)
    for e in entries:
        i, j = ys.index(e[axes.y]), xs.index(e[axes.x])
        data[i, j] = e["mean"]
        ax.text(j, i, text(e), ha="center", va="center", fontsize=7.5,
                color="white" if dark(norm(e["mean"])) else "black")
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [axis_text(axes.x, x) for x in xs])
    ax.set_yticks(range(len(ys)), [axis_text(axes.y, y) for y in ys])
    ax.set_xlabel(AXIS_LABELS[axes.x])
    ax.set_ylabel(AXIS_LABELS[axes.y])
    return image


def _mark(entry: Mapping[str, Any]) -> str:
    return "" if entry["preprocessing_covered_by_epsilon"] else UNCOVERED_MARK


def _accuracy_text(entry: Mapping[str, Any]) -> str:
    spread = "n=1" if entry.get("std") is None else f"±{entry['std']:.2f}"
    return f"{entry['mean']:.2f}{_mark(entry)}\n{spread}"


def _difference_text(entry: Mapping[str, Any]) -> str:
    star = "*" if entry["verdict"] in ("a higher", "b higher") else ""
    spread = "n=1" if entry["low"] is None else f"±{(entry['high'] - entry['low']) / 2:.2f}"
    return f"{entry['mean']:+.2f}{star}{_mark(entry)}\n{spread}"


def plot_accuracy_heatmaps(summary: Sequence[Mapping[str, Any]], grid: str, metric: str, path: Path) -> Plot:
    """Mean ``metric`` over seeds per cell of ``grid``, one panel per family, ``±`` the standard deviation
    over seeds (as the paper draws them; the intervals are in the tables and the difference maps).

    Takes :func:`~dpqml.report.tabular.summarize_cells` output; one colour scale for all panels.
    """
    entries = [e for e in summary if e["grid"] == grid]
    plot = Plot(path.name, f"{GRIDS[grid].title}: {METRICS[metric]}",
                f"Mean over seeds of the {METRICS[metric]}, per cell of the {GRIDS[grid].title}, one panel per "
                f"family; below each mean, the standard deviation over seeds (n=1: one seed). One colour scale for the "
                f"whole figure. "
                f"{UNCOVERED_MARK}: preprocessing not covered by ε.",
                f"Heatmaps of {metric} over the {grid} grid, one per family")
    if not entries:
        return Plot(**{**plot.__dict__, "reason": f"no run in the {grid} grid"})
    from matplotlib.colors import Normalize

    families = [f for f in FAMILIES if any(e["family"] == f for e in entries)]
    xs, ys = _layout(entries, grid)
    means = [e["mean"] for e in entries]
    norm = Normalize(min(means) - 0.01, max(means) + 0.01)
    with _style():
        fig = _figure(0.6 + 3.4 * len(families), 3.6)
        panels = fig.subplots(1, len(families), squeeze=False)[0]
        for ax, family in zip(panels, families):
            mine = [e for e in entries if e["family"] == family]
            image = _draw_map(ax, mine, grid, xs, ys, "viridis", norm, _accuracy_text, _dark_viridis)
            ax.set_title(f"{family} ({_plain(mine[0]['model'])})", fontsize="medium")
        fig.colorbar(image, ax=list(panels), label="mean accuracy", shrink=0.9)
        fig.suptitle(_plain(METRICS[metric]), fontsize="medium")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def plot_difference_heatmaps(differences: Sequence[Mapping[str, Any]], grid: str, metric: str, path: Path) -> Plot:
    """Mean paired difference per cell of ``grid``, one panel per pair of families, diverging colours centred at 0.

    Takes :func:`~dpqml.report.tabular.paired_differences` output (several pairs). ``*``: the 95%
    interval excludes 0.
    """
    entries = [d for d in differences if d["grid"] == grid]
    plot = Plot(path.name, f"{GRIDS[grid].title}: paired differences, {METRICS[metric]}",
                f"Mean difference of the {METRICS[metric]} between two families, paired by seed, per cell of the "
                f"{GRIDS[grid].title}; blue: the first family higher, red: the second. Below each mean, the half "
                f"width of its 95% t-interval; *: the interval excludes 0. {UNCOVERED_MARK}: preprocessing not "
                f"covered by ε.",
                f"Heatmaps of paired differences of {metric} over the {grid} grid")
    if not entries:
        return Plot(**{**plot.__dict__, "reason": f"no cell of the {grid} grid has two families with a common seed"})
    from matplotlib.colors import TwoSlopeNorm

    pairs = [p for p in DIFFERENCE_PAIRS if any((d["a"], d["b"]) == p for d in entries)]
    xs, ys = _layout(entries, grid)
    reach = max([abs(d["mean"]) for d in entries] + [0.01])
    norm = TwoSlopeNorm(0.0, -reach, reach)
    with _style():
        fig = _figure(0.6 + 3.4 * len(pairs), 3.6)
        panels = fig.subplots(1, len(pairs), squeeze=False)[0]
        for ax, (a, b) in zip(panels, pairs):
            mine = [d for d in entries if (d["a"], d["b"]) == (a, b)]
            image = _draw_map(ax, mine, grid, xs, ys, "RdBu", norm, _difference_text, _dark_rdbu)
            ax.set_title(f"{a} − {b}", fontsize="medium")
        fig.colorbar(image, ax=list(panels), label="mean paired difference", shrink=0.9)
        fig.suptitle(_plain(METRICS[metric]), fontsize="medium")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def _epoch_mean(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [as_float(r.get(key)) for r in records]
    values = [v for v in values if math.isfinite(v)]
    return math.fsum(values) / len(values) if values else None


def clipping_statistics(rows: Sequence[Mapping[str, Any]], grid: str, family: str = "quantum"
                        ) -> dict[float, dict[float, dict[str, float]]]:
    """``{second axis value: {C: {"clipped_fraction": f, "mean_grad_norm": g}}}`` for ``family`` in ``grid``.

    Each value is the mean over epochs, then over seeds, of ``diagnostics_by_epoch``; the second axis
    is B for the clipping grid and ε for the privacy grid. Runs without diagnostics, and those of the
    bound-following column (:func:`bound_column_statistics`), are skipped.
    """
    other = GRIDS[grid].x if GRIDS[grid].x != "max_grad_norm" else GRIDS[grid].y
    per_run: dict[tuple, list[dict[str, float]]] = {}
    for row in rows:
        records = row.get("diagnostics_by_epoch") or []
        if row["grid"] != grid or row["family"] != family or not records:
            continue
        _, eps, clip, batch = cell_of(row)
        if clip == FOLLOW_BOUND:
            continue
        stats = {k: _epoch_mean(records, k) for k in ("clipped_fraction", "mean_grad_norm")}
        if None not in stats.values():
            per_run.setdefault((eps if other == "epsilon" else batch, clip), []).append(stats)
    out: dict[float, dict[float, dict[str, float]]] = {}
    for (line, clip), runs in sorted(per_run.items()):
        out.setdefault(line, {})[clip] = {k: math.fsum(r[k] for r in runs) / len(runs) for k in runs[0]}
    return out


def bound_column_statistics(rows: Sequence[Mapping[str, Any]], grid: str = "privacy", family: str = "quantum"
                            ) -> dict[float, dict[str, float]]:
    """``{ε: {"clip_threshold_mean": ..., "clip_threshold_max": ..., "clipped_fraction": ...,
    "mean_grad_norm": ...}}`` of the bound-following column (``C_t = G(θ_t)``) of ``family`` in
    ``grid``: means over epochs, then over seeds (``clip_threshold_max``: the largest ``C_t`` of any
    step). Empty without such runs or without their diagnostics."""
    per_eps: dict[float, list[dict[str, float]]] = {}
    for row in rows:
        records = row.get("diagnostics_by_epoch") or []
        if row["grid"] != grid or row["family"] != family or not records or cell_of(row)[2] != FOLLOW_BOUND:
            continue
        keys = ("clip_threshold_mean", "clipped_fraction", "mean_grad_norm")
        stats = {k: _epoch_mean(records, k) for k in keys}
        peaks = [as_float(r.get("clip_threshold_max")) for r in records]
        stats["clip_threshold_max"] = max((p for p in peaks if math.isfinite(p)), default=None)
        if None not in stats.values():
            per_eps.setdefault(cell_of(row)[1], []).append(stats)
    out = {}
    for eps, runs in sorted(per_eps.items()):
        out[eps] = {k: math.fsum(r[k] for r in runs) / len(runs) for k in runs[0]}
        out[eps]["clip_threshold_max"] = max(r["clip_threshold_max"] for r in runs)
    return out


def plot_clipping_diagnostics(rows: Sequence[Mapping[str, Any]], grid: str, path: Path,
                              family: str = "quantum") -> Plot:
    """Clipped fraction and mean per-example gradient norm against C for ``family`` in ``grid``.

    One line per B (clipping grid) or ε (privacy grid); the data-free bound G of the family's model is
    drawn as a horizontal line where the rows give ``gradient_bound``; runs of the bound-following
    column are drawn as stars at their mean threshold ``C_t``.
    """
    other = GRIDS[grid].x if GRIDS[grid].x != "max_grad_norm" else GRIDS[grid].y
    plot = Plot(path.name, f"Clipping diagnostics, {family} family, {GRIDS[grid].title}",
                f"Fraction of per-example gradients clipped and mean per-example gradient norm against the clip "
                f"threshold C for the {family} family, averaged over epochs and seeds, one line per "
                f"{AXIS_LABELS[other]}; the dashed line is the data-free bound G where it is known; stars: the "
                f"bound-following column (C_t = G(θ_t)) at its mean threshold, per ε. These "
                f"statistics are computed from the private training data and are not covered by ε.",
                f"Line plots of clipped fraction and mean gradient norm against C, {family} family, {grid} grid")
    stats = clipping_statistics(rows, grid, family)
    follow = bound_column_statistics(rows, grid, family)
    if not stats and not follow:
        return Plot(**{**plot.__dict__, "reason": f"no {family} run in the {grid} grid recorded diagnostics_by_epoch"})
    bounds = sorted({as_float(r["gradient_bound"]) for r in rows if r["grid"] == grid and r["family"] == family
                     and r.get("gradient_bound") is not None})
    with _style():
        fig = _figure(10.5, 3.8)
        fraction, norm = fig.subplots(1, 2)
        for i, (line, points) in enumerate(stats.items()):
            clips = sorted(points)
            label = f"{'ε' if other == 'epsilon' else 'B'} = {axis_text(other, line)}"
            for ax, key in ((fraction, "clipped_fraction"), (norm, "mean_grad_norm")):
                ax.plot(clips, [points[c][key] for c in clips], marker="o", color=f"C{i % 10}", label=label)
        colour = {line: i for i, line in enumerate(stats)} if other == "epsilon" else {}
        for eps, point in follow.items():
            i = colour.setdefault(eps, len(colour))  # the colour of the same ε's line
            label = f"C_t = G(θ_t), ε = {axis_text('epsilon', eps)}"
            for ax, key in ((fraction, "clipped_fraction"), (norm, "mean_grad_norm")):
                ax.plot([point["clip_threshold_mean"]], [point[key]], marker="*", ms=11, ls="none",
                        color=f"C{i % 10}", label=label)
        clips = sorted({c for points in stats.values() for c in points}
                       | {p["clip_threshold_mean"] for p in follow.values()})
        norm.plot(clips, clips, color="0.5", ls=":", label="norm = C (clipped above)")
        for g in bounds:
            norm.axhline(g, color="#d62728", ls="--", lw=1.2, label=f"bound G = {g:.4g}")
        fraction.set_ylabel("clipped fraction")
        fraction.set_ylim(-0.02, 1.02)
        norm.set_ylabel("mean per-example gradient norm")
        values = [p["mean_grad_norm"] for points in stats.values() for p in points.values()] + clips + bounds
        if min(values) > 0 and max(values) / min(values) > 30:  # G may lie far above the observed norms
            norm.set_yscale("log")
        for ax in (fraction, norm):
            if clips[0] > 0 and clips[-1] / clips[0] > 10:
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(clips, [f"{c:.3g}" for c in clips])
            ax.set_xlabel("clip threshold C")
            ax.grid(alpha=0.3)
        fig.legend(*norm.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
        fig.suptitle(f"{family} family, {GRIDS[grid].title} (diagnostics, not covered by ε)", fontsize="medium")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def curve_cells(rows: Sequence[Mapping[str, Any]], grid: str, target: Mapping[str, float] = CURVE_CELL
                ) -> list[tuple]:
    """The cells of ``grid`` whose learning curves are drawn: those nearest ``target`` (B and C) in every
    key it names, at most :data:`MAX_CURVE_PANELS`, sorted."""
    cells = sorted({cell_of(r) for r in rows if r["grid"] == grid}, key=cell_order)
    if not cells:
        return []
    index = {"max_grad_norm": 2, "expected_batch_size": 3}

    def distance(cell: tuple) -> float:
        return sum(_log_distance(cell[index[k]], v) for k, v in target.items())

    best = min(distance(c) for c in cells)
    chosen = [c for c in cells if distance(c) == best]
    if len(chosen) > MAX_CURVE_PANELS:  # keep the extremes of ε (or B), and evenly spaced ones between
        step = (len(chosen) - 1) / (MAX_CURVE_PANELS - 1)
        chosen = [chosen[round(i * step)] for i in range(MAX_CURVE_PANELS)]
    return chosen


def plot_learning_curves(rows: Sequence[Mapping[str, Any]], grid: str, path: Path,
                         target: Mapping[str, float] = CURVE_CELL) -> Plot:
    """Validation accuracy by epoch, mean over seeds with its 95% t-interval band, one line per family,
    one panel per cell of :func:`curve_cells`."""
    cells = curve_cells(rows, grid, target)
    plot = Plot(path.name, f"Learning curves, {GRIDS[grid].title}",
                "Validation accuracy by epoch, mean over seeds with its 95% t-interval as a band (no band with one "
                "seed), per family, in the cells nearest "
                + ", ".join(f"{'B' if k == 'expected_batch_size' else 'C'} = {v:g}" for k, v in target.items())
                + ". The paper's metric is the highest point of each seed's curve.",
                f"Line plots of validation accuracy by epoch in the {grid} grid")
    if not cells:
        return Plot(**{**plot.__dict__, "reason": f"no run in the {grid} grid"})
    with _style():
        fig = _figure(0.6 + 3.4 * len(cells), 3.6)
        panels = fig.subplots(1, len(cells), squeeze=False, sharey=True)[0]
        for ax, cell in zip(panels, cells):
            for family in FAMILIES:
                curves = [[as_float(v) for v in r["val_accuracy_by_epoch"]] for r in rows
                          if cell_of(r) == cell and r["family"] == family and r["val_accuracy_by_epoch"]]
                if not curves:
                    continue
                length = min(len(c) for c in curves)
                bands = [t_interval([c[i] for c in curves], clip=ACCURACY_RANGE) for i in range(length)]
                epochs = list(range(1, length + 1))
                ax.plot(epochs, [b.mean for b in bands], color=FAMILY_COLOR[family], label=family)
                if bands[0].has_interval:
                    ax.fill_between(epochs, [b.low for b in bands], [b.high for b in bands],
                                    color=FAMILY_COLOR[family], alpha=0.2)
            ax.set_title(f"ε = {format_epsilon(cell[1])}, C = {clip_text(cell[2])}, B = {cell[3]:g}",
                         fontsize="medium")
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.grid(alpha=0.3)
        panels[0].set_ylabel("validation accuracy")
        panels[0].legend(fontsize="small", loc="lower right")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def draw_tabular_plots(rows: Sequence[Mapping[str, Any]], summaries: Mapping[str, Sequence[Mapping[str, Any]]],
                       differences: Mapping[str, Sequence[Mapping[str, Any]]], out_dir: Path) -> dict[str, list[Plot]]:
    """Every plot into ``out_dir``, by section: ``"accuracy"``, ``"differences"``, ``"clipping"``, ``"curves"``.

    ``summaries`` and ``differences``: ``{metric: summarize_cells / paired_differences output}``.
    """
    validate_rows(rows)
    grids = [g for g in GRIDS if any(r["grid"] == g for r in rows)]
    plots: dict[str, list[Plot]] = {"accuracy": [], "differences": [], "clipping": [], "curves": []}
    for grid in grids:
        for metric in METRICS:
            plots["accuracy"].append(plot_accuracy_heatmaps(summaries[metric], grid, metric,
                                                            out_dir / f"heatmap_{grid}_{metric}.png"))
            plots["differences"].append(plot_difference_heatmaps(differences[metric], grid, metric,
                                                                 out_dir / f"differences_{grid}_{metric}.png"))
        plots["clipping"].append(plot_clipping_diagnostics(rows, grid, out_dir / f"clipping_{grid}.png"))
        plots["curves"].append(plot_learning_curves(rows, grid, out_dir / f"curves_{grid}.png"))
    plots["clipping"].append(plot_epoch_diagnostics(rows, out_dir / "diagnostics_by_epoch.png"))
    return plots


#: The cells whose per-epoch clipping diagnostics are drawn (as the paper's clipped.ipynb and private.ipynb):
#: C = 1.5 and B = 64, without noise and at ε = 10; the nearest run cell where one was not run.
DIAGNOSTIC_CELLS = (("clipping", {"expected_batch_size": 64.0, "max_grad_norm": 1.5}),
                    ("privacy", {"epsilon": 10.0, "max_grad_norm": 1.5}))
EPOCH_DIAGNOSTICS = (("clipped_fraction", "clipped fraction"), ("mean_grad_norm", "mean gradient norm"),
                     ("max_grad_norm_observed", "max gradient norm"),
                     ("clipping_bias_norm", "‖mean clipped − mean unclipped‖"),
                     ("clipping_cosine", "cosine(clipped, unclipped)"),
                     ("loss_gap", "loss gap, clipped − unclipped step"))


def _nearest_cell(rows, grid: str, target: Mapping[str, float]):
    cells = sorted({cell_of(r) for r in rows if r["grid"] == grid and r.get("diagnostics_by_epoch")},
                   key=cell_order)
    index = {"epsilon": 1, "max_grad_norm": 2, "expected_batch_size": 3}

    def distance(cell):
        return sum(min(_log_distance(cell[index[k]], v), 1e9) for k, v in target.items())

    return min(cells, key=distance) if cells else None


def plot_epoch_diagnostics(rows: Sequence[Mapping[str, Any]], path: Path,
                           cells: Sequence[tuple[str, Mapping[str, float]]] = DIAGNOSTIC_CELLS) -> Plot:
    """Per-epoch clipping diagnostics, mean over seeds, quantum vs classical vs Lipschitz, for the
    chosen cells (one row of panels per cell, one panel per diagnostic)."""
    plot = Plot(path.name, "Clipping diagnostics by epoch",
                "Per epoch, mean over seeds: the fraction of per-example gradients clipped, the mean and largest "
                "per-example gradient norm, the norm of the clipping bias (mean clipped minus mean unclipped "
                "gradient), the cosine between the two, and the loss change of a clipped step minus that of an "
                "unclipped one (at the epoch's first step), per family, in the cells C = 1.5, B = 64 without "
                "noise and at ε = 10 (or the nearest cells run). Diagnostics: computed on the private training "
                "data, not covered by ε.",
                "Line plots of clipping diagnostics by epoch per family")
    chosen = [(grid, c) for grid, target in cells if (c := _nearest_cell(rows, grid, target)) is not None]
    if not chosen:
        return Plot(**{**plot.__dict__, "reason": "no run recorded diagnostics_by_epoch"})
    with _style():
        fig = _figure(2.9 * len(EPOCH_DIAGNOSTICS), 2.7 * len(chosen) + 0.6)
        panels = fig.subplots(len(chosen), len(EPOCH_DIAGNOSTICS), squeeze=False)
        for r, (_, cell) in enumerate(chosen):
            for family in FAMILIES:
                runs = [row["diagnostics_by_epoch"] for row in rows
                        if cell_of(row) == cell and row["family"] == family and row.get("diagnostics_by_epoch")]
                if not runs:
                    continue
                length = min(len(x) for x in runs)
                epochs = list(range(1, length + 1))
                for ax, (key, _) in zip(panels[r], EPOCH_DIAGNOSTICS):
                    means = [_epoch_mean([x[e] for x in runs], key) for e in range(length)]
                    ax.plot(epochs, [math.nan if m is None else m for m in means], color=FAMILY_COLOR[family],
                            label=family)
            for ax, (_, label) in zip(panels[r], EPOCH_DIAGNOSTICS):
                ax.set_title(f"{label}\nε = {format_epsilon(cell[1])}, C = {clip_text(cell[2])}, B = {cell[3]:g}",
                             fontsize="small")
                ax.set_xlabel("epoch")
                ax.grid(alpha=0.3)
        panels[0][0].legend(fontsize="small")
        fig.suptitle("Clipping diagnostics by epoch (computed on private data, not covered by ε)", fontsize="medium")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})

