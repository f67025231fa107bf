"""The report's PNG plots: accuracy against ε, per-example gradient norms, ε spent against steps.

Figures are drawn with matplotlib's object API on an Agg canvas (no ``pyplot``, so no backend
switch and no global figure registry in a user's session) under matplotlib's default style,
restored afterwards. A plot whose data is absent is not drawn: its :class:`Plot` has ``path=None``
and a ``reason``, which the HTML shows instead.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpqml.report.files import as_float

QUANTILE_KEYS = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
LINESTYLE = {"quantum": "-", "classical": "--"}
BOX_COLOR = {"quantum": "#9ecae1", "classical": "#fdd0a2"}


@dataclass(frozen=True)
class Plot:
    """One plot of the report: ``path`` of the PNG, or ``None`` with the ``reason`` it was skipped."""

    name: str  # the file name, e.g. "accuracy_vs_epsilon_moons.png"
    title: str
    caption: str
    alt: str
    path: Path | None = None
    reason: str | None = None


def safe_name(text: str) -> str:
    """``text`` usable in a file name: other characters than ``[A-Za-z0-9._-]`` become ``_``, and a
    short hash of ``text`` is appended whenever anything was replaced (so names stay distinct)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    if clean == text and text:
        return text
    return f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def format_epsilon(epsilon: float) -> str:
    """``"∞"`` for infinity, else the shortest ``g`` form (``1``, ``0.5``)."""
    return "∞" if math.isinf(epsilon) else f"{epsilon:g}"


def chance_level(protocol: Mapping[str, Any], dataset: str) -> float:
    """1/K for a dataset with K classes, read from the protocol's dataset entry (matched by ``label``,
    else ``name``; ``n_classes``, or
    ``classes``: a list of labels, or ``"all"`` for the ten digits); 1/2 when the options do not say."""
    for spec in protocol.get("datasets") or []:
        if isinstance(spec, Mapping) and spec.get("label", spec.get("name")) == dataset:
            if isinstance(spec.get("n_classes"), int) and spec["n_classes"] >= 2:
                return 1.0 / spec["n_classes"]
            classes = spec.get("classes")
            if classes == "all":
                return 0.1
            if isinstance(classes, (list, tuple)) and len(classes) >= 2:
                return 1.0 / len(classes)
    return 0.5


def _plain(text: Any) -> str:
    # matplotlib reads text between two "$" as mathtext (and fails on bad TeX): show names literally
    return str(text).replace("$", r"\$")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, format="png", metadata={"Software": None})
    fig.clear()  # Figure objects outside pyplot are not registered anywhere: clearing frees them
    return path


def _style():
    import matplotlib.style

    return matplotlib.style.context("default")


def plot_accuracy_vs_epsilon(summary: Sequence[Mapping[str, Any]], dataset: str, path: Path,
                             chance: float = 0.5) -> Plot:
    """Mean test accuracy (95% t-interval bars) against ε, one line per model, for ``dataset``.

    Takes :func:`~dpqml.report.summarize` output. Finite ε on a log axis; ε = ∞ at a separate tick
    on the right. Quantum models solid, classical dashed. Writes ``path`` and returns its :class:`Plot`.
    """
    entries = [e for e in summary if e["dataset"] == dataset]
    plot = Plot(path.name, f"Test accuracy against ε — {dataset}",
                f"Mean test accuracy over seeds against the privacy budget ε on {dataset}, with 95% t-intervals "
                f"(no bar where there is one seed). Solid: quantum models; dashed: classical. The dotted "
                f"line is chance ({chance:.2g}).",
                f"Line plot of test accuracy against epsilon for each model on {dataset}")
    if not entries:
        return Plot(**{**plot.__dict__, "reason": f"no results for {dataset}"})
    finite = sorted({e["epsilon"] for e in entries if not math.isinf(e["epsilon"])})
    lo, hi = (finite[0], finite[-1]) if finite else (1.0, 1.0)
    x_inf = hi * 10 ** max(0.6, 0.35 * math.log10(hi / lo))  # ∞ sits apart, right of the largest ε
    decades = math.log10(x_inf / lo) + 0.6
    models = list(dict.fromkeys(e["model"] for e in sorted(entries, key=lambda e: (e["family"] != "quantum",
                                                                                    e["model"]))))
    with _style():
        fig = _figure(8.0, 4.6)
        ax = fig.add_subplot()
        for i, model in enumerate(models):
            pts = sorted((e for e in entries if e["model"] == model), key=lambda e: e["epsilon"])
            family = pts[0]["family"]
            dodge = 10 ** (0.012 * decades * (i - (len(models) - 1) / 2))  # keeps bars of models apart
            xs = [(x_inf if math.isinf(e["epsilon"]) else e["epsilon"]) * dodge for e in pts]
            ys = [e["test_accuracy_mean"] for e in pts]
            err = [e["ci_half_width"] or 0.0 for e in pts]
            color = f"C{i % 10}"
            n_fin = sum(not math.isinf(e["epsilon"]) for e in pts)
            ax.errorbar(xs[:n_fin] or xs, ys[:n_fin] or ys, yerr=err[:n_fin] or err, color=color, marker="o",
                        ls=LINESTYLE[family], capsize=3, label=f"{_plain(model)} ({family})")
            if 0 < n_fin < len(pts):  # the non-private point, joined by a faint dotted segment
                ax.errorbar(xs[n_fin:], ys[n_fin:], yerr=err[n_fin:], color=color, marker="o", ls="", capsize=3)
                ax.plot(xs[n_fin - 1:n_fin + 1], ys[n_fin - 1:n_fin + 1], color=color, ls=":", alpha=0.5)
        ax.set_xscale("log")
        ax.set_xlim(lo / 10 ** 0.3, x_inf * 10 ** 0.3)
        ticks = finite + ([x_inf] if any(math.isinf(e["epsilon"]) for e in entries) else [])
        ax.set_xticks(ticks, [format_epsilon(t) for t in finite] + ["∞ (non-private)"] * (len(ticks) - len(finite)))
        ax.minorticks_off()
        if finite and len(ticks) > len(finite):
            ax.axvline(math.sqrt(hi * x_inf), color="0.75", lw=1, ls=(0, (2, 2)))
        low = min([chance] + [e["ci_low"] if e["ci_low"] is not None else e["test_accuracy_mean"] for e in entries])
        ax.set_ylim(max(0.0, low - 0.05), 1.01)
        ax.axhline(chance, color="0.5", ls=":", lw=1, label=f"chance ({chance:.2g})")
        ax.set_xlabel("privacy budget ε (log scale)" if finite else "privacy budget ε")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{_plain(dataset)}: test accuracy against ε (mean, 95% CI over seeds)")
        ax.grid(alpha=0.3)
        fig.legend(loc="outside right upper", title="model (family)", fontsize="small")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def _last_quantiles(row: Mapping[str, Any]) -> tuple[int, dict[float, float]] | None:
    for record in reversed(row.get("history") or []):
        raw = record.get("grad_norm_quantiles")
        if not raw:
            continue
        q = {float(k): as_float(v) for k, v in raw.items()}
        if all(k in q and math.isfinite(q[k]) for k in QUANTILE_KEYS):
            return record.get("epoch"), q
    return None


def _chosen_run(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    # the non-private run if there is one, else the largest ε; then the lowest seed
    return min(rows, key=lambda r: (-as_float(r["epsilon"]), r["seed"]))


def plot_grad_norms(rows: Sequence[Mapping[str, Any]], dataset: str, path: Path) -> Plot:
    """Box plots of per-example gradient norms per model on ``dataset``, from the last epoch's quantiles.

    One run per model (:func:`_chosen_run`): whiskers at the 5% and 95% quantiles, box at the
    quartiles, the minimum and maximum as points; a line at C and, for quantum models, a mark at
    the bound G. Writes ``path`` and returns its :class:`Plot` (skipped when no run has quantiles).
    """
    plot = Plot(path.name, f"Per-example gradient norms — {dataset}",
                f"Per-example gradient norms in the last epoch on {dataset}, one run per model (the non-private "
                f"run where there is one, else the largest ε; the lowest seed). Box: quartiles; whiskers: 5% and "
                f"95% quantiles; points: minimum and maximum. Dashed line: clip threshold C; red marks: the "
                f"data-independent bound G of each quantum model. These norms are diagnostics computed from "
                f"private data, not covered by ε.",
                f"Box plots of per-example gradient norms for each model on {dataset}")
    mine = [r for r in rows if r["dataset"] == dataset]
    stats, families, bounds = [], [], []
    quantum = {r["model"] for r in mine if r["family"] == "quantum"}
    for model in sorted({r["model"] for r in mine}, key=lambda m: (m not in quantum, m)):  # quantum first
        run = _chosen_run([r for r in mine if r["model"] == model])
        found = _last_quantiles(run)
        if found is None:
            continue
        epoch, q = found
        stats.append({"whislo": q[0.05], "q1": q[0.25], "med": q[0.5], "q3": q[0.75], "whishi": q[0.95],
                      "fliers": [q[0.0], q[1.0]],
                      "label": f"{_plain(model)}\nε={format_epsilon(as_float(run['epsilon']))}, seed {run['seed']}"})
        families.append(run["family"])
        g = run.get("gradient_bound")
        bounds.append(as_float(g) if run["family"] == "quantum" and g is not None else None)
    if not stats:
        return Plot(**{**plot.__dict__, "reason": f"no run on {dataset} recorded gradient-norm quantiles"})
    clip = as_float(_first_value(mine, "max_grad_norm"))
    values = [v for s in stats for v in (s["whislo"], s["whishi"], *s["fliers"])]
    values += [clip] + [g for g in bounds if g is not None and math.isfinite(g)]
    positive = [v for v in values if math.isfinite(v)]
    with _style():
        fig = _figure(min(11.0, max(6.0, 1.2 * len(stats) + 2.5)), 4.8)
        ax = fig.add_subplot()
        boxes = ax.bxp(stats, showfliers=True, patch_artist=True, widths=0.55,
                       flierprops={"marker": "o", "markersize": 4}, medianprops={"color": "black"})
        for patch, family in zip(boxes["boxes"], families):
            patch.set_facecolor(BOX_COLOR[family])
        if math.isfinite(clip):
            ax.axhline(clip, color="black", ls="--", lw=1.2, label=f"clip threshold C = {clip:g}")
        labelled = False
        for pos, g in enumerate(bounds, start=1):
            if g is not None and math.isfinite(g):
                ax.plot([pos], [g], marker="v", color="#d62728", ls="", markersize=9,
                        label=None if labelled else "bound G (quantum models)")
                labelled = True
        if positive and min(positive) > 0 and max(positive) / min(positive) > 30:
            ax.set_yscale("log")
        from matplotlib.patches import Patch

        handles, _ = ax.get_legend_handles_labels()
        handles += [Patch(facecolor=BOX_COLOR[f], edgecolor="black", label=f"{f} model")
                    for f in ("quantum", "classical") if f in families]
        ax.legend(handles=handles, fontsize="small", loc="best")
        ax.set_ylabel("per-example gradient norm (L2)")
        ax.set_title(f"{_plain(dataset)}: per-example gradient norms, last epoch\n"
                     "(diagnostics from private data, not covered by ε)", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelsize="small")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def _first_value(rows: Sequence[Mapping[str, Any]], key: str) -> Any:
    return next((r[key] for r in rows if r.get(key) is not None), math.nan)


def plot_epsilon_vs_steps(rows: Sequence[Mapping[str, Any]], path: Path) -> Plot:
    """ε spent against the DP-SGD step, one line per finite target ε, with the targets dotted.

    Uses the history of one job per target ε (the lowest seed): jobs with the same target share σ,
    q and T, so their ε curves are the same. Skipped when every ε is infinite or no history has ε.
    """
    plot = Plot(path.name, "Privacy spent against steps",
                "ε spent (as the accountant reports it) against the DP-SGD step, one job per target ε "
                "(all jobs with the same target share σ, q and T, so their curves coincide). Dotted lines: "
                "the target ε. The curve should end at or just below its target.",
                "Line plot of epsilon spent against training steps for each target epsilon")
    finite = [r for r in rows if math.isfinite(as_float(r["epsilon"]))]
    if not finite:
        return Plot(**{**plot.__dict__, "reason": "every run is non-private (ε = ∞): no privacy spent to plot"})
    curves = {}
    for target in sorted({as_float(r["epsilon"]) for r in finite}):
        for run in sorted((r for r in finite if as_float(r["epsilon"]) == target),
                          key=lambda r: (r["seed"], str(r.get("job")))):
            pts = [(h["step"], as_float(h["epsilon_spent"])) for h in run.get("history") or []
                   if h.get("step") is not None and h.get("epsilon_spent") is not None]
            pts = [(s, e) for s, e in pts if math.isfinite(e)]
            if pts:
                curves[target] = ([(0, 0.0)] if pts[0][0] > 0 else []) + pts
                break
    if not curves:
        return Plot(**{**plot.__dict__, "reason": "no finite-ε run has a per-epoch history with ε spent"})
    delta = _first_value(finite, "delta")
    with _style():
        fig = _figure(7.0, 4.2)
        ax = fig.add_subplot()
        for i, (target, pts) in enumerate(curves.items()):
            ax.plot([s for s, _ in pts], [e for _, e in pts], color=f"C{i % 10}", marker=".",
                    label=f"target ε = {target:g}")
            ax.axhline(target, color=f"C{i % 10}", ls=":", lw=1.2)
        ax.set_xlabel("DP-SGD step")
        ax.set_ylabel("ε spent" + (f" (δ = {as_float(delta):g})" if delta is not None else ""))
        ax.set_ylim(bottom=0)
        ax.set_title("Privacy spent against steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
        return Plot(**{**plot.__dict__, "path": _save(fig, path)})


def draw_plots(rows: Sequence[Mapping[str, Any]], summary: Sequence[Mapping[str, Any]],
               protocol: Mapping[str, Any], out_dir: Path) -> list[Plot]:
    """Every plot of the report into ``out_dir``: per dataset (sorted) accuracy against ε and gradient
    norms, then ε against steps. Returns the :class:`Plot` list, skipped ones included, in that order."""
    plots = []
    for dataset in sorted({str(r["dataset"]) for r in rows}):
        name = safe_name(dataset)
        plots.append(plot_accuracy_vs_epsilon(summary, dataset, out_dir / f"accuracy_vs_epsilon_{name}.png",
                                              chance_level(protocol, dataset)))
        plots.append(plot_grad_norms(rows, dataset, out_dir / f"grad_norms_{name}.png"))
    plots.append(plot_epsilon_vs_steps(rows, out_dir / "epsilon_vs_steps.png"))
    return plots
