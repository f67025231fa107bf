"""The report of the paper's tabular study: quantum, classical and Lipschitz models under DP-SGD.

The study trains one model per family over two grids, with several seeds per cell:

* ``"clipping"``: σ = 0 (clipping only, no noise), axes clip threshold C × expected batch size B;
* ``"privacy"``: axes privacy budget ε × C at a fixed B, σ calibrated per (ε, B).

Two accuracy metrics are reported side by side (:data:`METRICS`): the paper's, the best
validation accuracy over epochs (optimistic: it picks an epoch on held-out data), and a clean one,
the last epoch's test accuracy. Per cell, :func:`summarize_cells` gives the mean and Student t
interval over seeds, :func:`paired_differences` the difference of two families paired by seed,
and :func:`findings` plain sentences computed from those intervals::

    from dpqml.report.tabular import write_tabular_report
    html_path = write_tabular_report(rows, protocol, out_dir)

The plots are drawn by :mod:`dpqml.report.tabular_plots`, the page by
:mod:`dpqml.report.tabular_html`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpqml.report.files import as_float, write_csv
from dpqml.report.intervals import ACCURACY_RANGE, DIFFERENCE_RANGE, Interval, t_interval

from ..validation import check_choice


@dataclass(frozen=True)
class GridAxes:
    """The two axes of a grid's heatmaps: row keys (``x``: columns of the map, ``y``: its rows)."""

    x: str
    y: str
    title: str


#: The grids of the study, by name: which row keys span each heatmap.
GRIDS = {
    "clipping": GridAxes("max_grad_norm", "expected_batch_size", "clipping grid (σ = 0): C × B"),
    "privacy": GridAxes("epsilon", "max_grad_norm", "privacy grid: ε × C at fixed B"),
}
FAMILIES = ("quantum", "classical", "lipschitz")
#: The accuracy metrics, with the label every table and plot carries.
METRICS = {
    "best_val_accuracy": "paper's metric: best validation epoch (optimistic: picks an epoch on held-out data)",
    "test_accuracy": "clean: last-epoch test accuracy",
}
#: Short names of the metrics, for sentences.
METRIC_NAMES = {"best_val_accuracy": "paper's metric (best validation epoch)",
                "test_accuracy": "clean metric (last-epoch test accuracy)"}
CLEAN_METRIC = "test_accuracy"
DIFFERENCE_PAIRS = (("quantum", "classical"), ("quantum", "lipschitz"), ("classical", "lipschitz"))
AXIS_LABELS = {"max_grad_norm": "clip threshold C", "expected_batch_size": "expected batch size B",
               "epsilon": "privacy budget ε"}
CELL_KEYS = ("grid", "epsilon", "max_grad_norm", "expected_batch_size")
#: C of the bound-following column (each step clips at ``C_t = G(θ_t)``): the value of
#: :data:`dpqml.privacy.config.FOLLOW_BOUND` (not imported: the report does not load the accountants).
FOLLOW_BOUND = "bound"

REQUIRED_KEYS = (
    "grid", "family", "model", "seed", "epsilon", "noise_multiplier", "max_grad_norm", "expected_batch_size",
    "best_val_accuracy", "test_accuracy", "val_accuracy_by_epoch", "preprocessing_covered_by_epsilon",
)
SUMMARY_COLUMNS = (
    "grid", "family", "model", "epsilon", "max_grad_norm", "expected_batch_size", "noise_multiplier", "metric",
    "n_seeds", "mean", "std", "low", "high", "half_width", "preprocessing_covered_by_epsilon",
)
DIFFERENCE_COLUMNS = (
    "grid", "a", "b", "epsilon", "max_grad_norm", "expected_batch_size", "metric", "n_pairs", "mean", "low",
    "high", "verdict", "unpaired_seeds", "preprocessing_covered_by_epsilon",
)


def epsilon_of(row: Mapping[str, Any]) -> float:
    """The row's ε as a float: ``None`` (a σ = 0 run) and ``"inf"`` give ``math.inf``."""
    value = row["epsilon"]
    return math.inf if value is None else as_float(value)


def validate_rows(rows: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``ValueError`` naming the row and key when ``rows`` is empty, a row lacks one of
    :data:`REQUIRED_KEYS`, names an unknown grid or family, or a cell holds a seed twice for a family."""
    if not rows:
        raise ValueError("rows must hold at least one training run; got an empty list")
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            raise ValueError(f"rows[{i}] lacks the key {missing[0]!r} (every row needs {', '.join(REQUIRED_KEYS)})")
        if row["grid"] not in GRIDS:
            raise ValueError(f"rows[{i}]['grid'] must be one of {tuple(GRIDS)}; got {row['grid']!r}")
        if row["family"] not in FAMILIES:
            raise ValueError(f"rows[{i}]['family'] must be one of {FAMILIES}; got {row['family']!r}")
        for metric in METRICS:
            value = row[metric]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"rows[{i}][{metric!r}] must be an accuracy in [0, 1]; got {value!r}")
        key = (*cell_of(row), row["family"], row["seed"])
        if key in seen:
            raise ValueError(f"rows[{seen[key]}] and rows[{i}] are both seed {row['seed']!r} of family "
                             f"{row['family']!r} in the same cell: one run per family, cell and seed")
        seen[key] = i


def clip_of(row: Mapping[str, Any]) -> float | str:
    """The row's C as a float, or :data:`FOLLOW_BOUND` for a run of the bound-following column."""
    value = row["max_grad_norm"]
    return FOLLOW_BOUND if value == FOLLOW_BOUND else as_float(value)


def clip_order(clip: float | str) -> tuple[int, float]:
    """A sort key of C values: the numbers in order, then the bound-following column."""
    return (1, 0.0) if clip == FOLLOW_BOUND else (0, float(clip))


def clip_text(clip: float | str) -> str:
    """C for a label: the shortest ``g`` form, or ``G(θ_t)`` for the bound-following column."""
    return "G(θ_t)" if clip == FOLLOW_BOUND else f"{clip:g}"


def cell_order(cell: tuple) -> tuple:
    """A sort key of a cell ``(grid, ε, C, B)`` (:func:`cell_of`): C by :func:`clip_order`."""
    return cell[0], cell[1], clip_order(cell[2]), cell[3]


def _cell_key(entry: Mapping[str, Any]) -> tuple:
    """The cell ``(grid, ε, C, B)`` of a summary or difference dict."""
    return tuple(entry[k] for k in CELL_KEYS)


def cell_of(row: Mapping[str, Any]) -> tuple[str, float, float | str, float | int]:
    """``(grid, ε, C, B)`` of a row, ε as a float (∞ for σ = 0), C as :func:`clip_of` gives it, B an int
    when it is a whole number."""
    batch = as_float(row["expected_batch_size"])
    return (row["grid"], epsilon_of(row), clip_of(row), int(batch) if batch.is_integer() else batch)


def _covered(group: Sequence[Mapping[str, Any]]) -> bool:
    return all(bool(r["preprocessing_covered_by_epsilon"]) for r in group)


def _cell_dict(cell: tuple) -> dict[str, Any]:
    return dict(zip(CELL_KEYS, cell))


def summarize_cells(rows: Sequence[Mapping[str, Any]], metric: str, confidence: float = 0.95) -> list[dict[str, Any]]:
    """One dict per (grid, ε, C, B, family) over the seeds of ``rows``, sorted by grid, family, then cell.

    Each dict: the cell keys (:data:`CELL_KEYS`, ε a float), ``family``, ``model``, ``noise_multiplier``
    (σ of the first seed), ``metric``, ``seeds`` (sorted), ``n_seeds``, ``interval`` (an
    :class:`~dpqml.report.intervals.Interval` of ``metric`` clipped to [0, 1]), its ``mean``, ``low``,
    ``high``, ``half_width`` and the standard deviation over seeds ``std`` (``None`` with one seed),
    and ``preprocessing_covered_by_epsilon`` (false if
    any seed's preprocessing is not covered). Raises ``ValueError`` on invalid rows or an unknown metric.
    """
    check_choice(metric, "metric", METRICS)
    validate_rows(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((*cell_of(row), row["family"]), []).append(row)
    out = []
    for (*cell, family), group in groups.items():
        interval = t_interval([as_float(r[metric]) for r in group], confidence, ACCURACY_RANGE)
        out.append({**_cell_dict(tuple(cell)), "family": family, "model": group[0]["model"],
                    "noise_multiplier": group[0]["noise_multiplier"], "metric": metric,
                    "seeds": sorted(r["seed"] for r in group), "n_seeds": len(group), "interval": interval,
                    "mean": interval.mean, "low": interval.low, "high": interval.high,
                    "half_width": interval.half_width, "std": _std([as_float(r[metric]) for r in group]),
                    "preprocessing_covered_by_epsilon": _covered(group)})
    return sorted(out, key=lambda s: (s["grid"], FAMILIES.index(s["family"]), *cell_order(_cell_key(s))[1:]))


def _std(values: Sequence[float]) -> float | None:
    """The sample standard deviation over seeds (``None`` with one seed)."""
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _verdict(interval: Interval) -> str:
    if not interval.has_interval:
        return "no interval"
    if interval.low > 0:
        return "a higher"
    return "b higher" if interval.high < 0 else "inconclusive"


def paired_differences(rows: Sequence[Mapping[str, Any]], metric: str, a: str = "quantum", b: str = "classical",
                       confidence: float = 0.95) -> list[dict[str, Any]]:
    """Per cell, ``metric`` of family ``a`` minus that of family ``b``, paired by seed.

    Only seeds run by both families in a cell are paired; a cell with no common seed is left out.
    Each dict: the cell keys, ``a``, ``b``, ``metric``, ``seeds`` (the paired seeds), ``n_pairs``,
    ``interval`` (t interval of the mean difference, clipped to [−1, 1]), ``mean``, ``low``, ``high``,
    ``verdict`` (``"a higher"`` when the interval lies above 0, ``"b higher"`` below, ``"inconclusive"``
    when it contains 0, ``"no interval"`` with one pair), ``unpaired_seeds`` (how many runs had no partner)
    and ``preprocessing_covered_by_epsilon``. Sorted by grid then cell.
    """
    check_choice(metric, "metric", METRICS)
    for name in (a, b):
        if name not in FAMILIES:
            raise ValueError(f"families must be among {FAMILIES}; got {name!r}")
    if a == b:
        raise ValueError(f"a and b must be two different families; got {a!r} twice")
    validate_rows(rows)
    by_cell: dict[tuple, dict[str, dict[Any, Mapping[str, Any]]]] = {}
    for row in rows:
        if row["family"] in (a, b):
            by_cell.setdefault(cell_of(row), {a: {}, b: {}})[row["family"]][row["seed"]] = row
    out = []
    for cell, runs in by_cell.items():
        seeds = sorted(set(runs[a]) & set(runs[b]), key=str)
        if not seeds:
            continue
        pairs = [(runs[a][s], runs[b][s]) for s in seeds]
        interval = t_interval([as_float(ra[metric]) - as_float(rb[metric]) for ra, rb in pairs], confidence,
                              DIFFERENCE_RANGE)
        out.append({**_cell_dict(cell), "a": a, "b": b, "metric": metric, "seeds": seeds, "n_pairs": len(seeds),
                    "interval": interval, "mean": interval.mean, "low": interval.low, "high": interval.high,
                    "verdict": _verdict(interval), "unpaired_seeds": len(runs[a]) + len(runs[b]) - 2 * len(seeds),
                    "preprocessing_covered_by_epsilon": _covered([r for p in pairs for r in p])})
    return sorted(out, key=lambda d: cell_order(_cell_key(d)))


def count_verdicts(differences: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many cells have each verdict of :func:`paired_differences`, plus ``"cells"`` (all of them)."""
    counts = {v: sum(d["verdict"] == v for d in differences)
              for v in ("a higher", "b higher", "inconclusive", "no interval")}
    return {"cells": len(differences), **counts}


def headline(rows: Sequence[Mapping[str, Any]], metric: str = CLEAN_METRIC) -> tuple[str, str]:
    """Whether "quantum keeps more accuracy than classical under the same DP-SGD budget" holds for ``metric``.

    Judged on the cells with finite ε (the privacy grid): ``"holds"`` when quantum is higher (paired
    interval above 0) in more than half of them and classical in none; ``"reversed"`` when classical is
    higher in more than half and quantum in none; ``"mixed"`` when each family is higher in some cells;
    ``"not shown"`` otherwise (too few cells where either interval excludes 0); ``"not checked"`` without a
    finite-ε cell run by both families. Returns ``(verdict, sentence)``.
    """
    private = [d for d in paired_differences(rows, metric) if math.isfinite(d["epsilon"])]
    label = METRIC_NAMES[metric]
    claim = "“quantum keeps more accuracy than classical under the same DP-SGD budget”"
    if not private:
        return "not checked", (f"Under the {label} the headline {claim} cannot be checked: no cell with a finite ε "
                               "has both a quantum and a classical run.")
    c = count_verdicts(private)
    q, k, n = c["a higher"], c["b higher"], c["cells"]
    counts = (f"quantum is higher in {q} and classical in {k} of the {n} finite-ε cells (paired 95% interval "
              f"excluding 0)")
    uncovered = sum(not d["preprocessing_covered_by_epsilon"] for d in private)
    if uncovered:
        counts += f", and in {uncovered} of these cells the preprocessing is not covered by ε"
    if q > n / 2 and k == 0:
        return "holds", f"Under the {label} the headline {claim} holds: {counts}."
    if k > n / 2 and q == 0:
        return "reversed", f"Under the {label} the headline {claim} is reversed: {counts}."
    if q and k:
        return "mixed", (f"Under the {label} the headline {claim} holds in some cells and is reversed in others: "
                         f"{counts}.")
    return "not shown", (f"Under the {label} the headline {claim} is not shown: {counts}; the rule asks for more "
                         "than half of the cells one way and none the other.")


BOUND_COLUMNS = ("grid", "family", "epsilon", "max_grad_norm", "expected_batch_size", "metric", "n_pairs", "mean",
                 "low", "high", "verdict", "preprocessing_covered_by_epsilon")


def bound_column_differences(rows: Sequence[Mapping[str, Any]], metric: str, family: str = "quantum",
                             confidence: float = 0.95) -> list[dict[str, Any]]:
    """The bound-following column against each constant C of its grid: per (grid, ε, B) where ``family``
    ran with ``C_t = G(θ_t)``, and per constant C of that ε and B, ``metric`` at the bound minus
    ``metric`` at C, paired by seed.

    Each dict: ``grid``, ``family``, ``epsilon``, ``max_grad_norm`` (the constant C), ``expected_batch_size``,
    ``metric``, ``seeds``, ``n_pairs``, ``interval`` (clipped to [−1, 1]), ``mean``, ``low``, ``high`` and
    ``verdict`` (``"a higher"``: the bound-following column; ``"b higher"``: the constant C;
    ``"inconclusive"``; ``"no interval"``), ``preprocessing_covered_by_epsilon``, and the labels ``a``
    (``"G(θ_t)"``) and ``b`` (``"C = …"``). Empty without a bound-following run. Sorted by cell.
    """
    check_choice(metric, "metric", METRICS)
    validate_rows(rows)
    by_cell: dict[tuple, dict[Any, Mapping[str, Any]]] = {}
    for row in rows:
        if row["family"] == family:
            by_cell.setdefault(cell_of(row), {})[row["seed"]] = row
    out = []
    for (grid, eps, clip, batch), follow in by_cell.items():
        if clip != FOLLOW_BOUND:
            continue
        for (g2, e2, c2, b2), fixed in by_cell.items():
            if (g2, e2, b2) != (grid, eps, batch) or c2 == FOLLOW_BOUND:
                continue
            seeds = sorted(set(follow) & set(fixed), key=str)
            if not seeds:
                continue
            interval = t_interval([as_float(follow[s][metric]) - as_float(fixed[s][metric]) for s in seeds],
                                  confidence, DIFFERENCE_RANGE)
            out.append({"grid": grid, "family": family, "epsilon": eps, "max_grad_norm": c2,
                        "expected_batch_size": batch, "metric": metric, "seeds": seeds, "n_pairs": len(seeds),
                        "interval": interval, "mean": interval.mean, "low": interval.low, "high": interval.high,
                        "verdict": _verdict(interval),
                        "preprocessing_covered_by_epsilon": _covered([r[s] for r in (follow, fixed) for s in seeds]),
                        "a": clip_text(FOLLOW_BOUND), "b": f"C = {clip_text(c2)}"})
    return sorted(out, key=lambda d: cell_order(_cell_key(d)))


def _bound_column_sentences(rows: Sequence[Mapping[str, Any]], metric: str) -> list[str]:
    out = []
    diffs = bound_column_differences(rows, metric)
    for eps in sorted({d["epsilon"] for d in diffs}):
        mine = [d for d in diffs if d["epsilon"] == eps]
        parts = []
        for d in mine:
            word = {"a higher": "higher", "b higher": "lower", "inconclusive": "inconclusive",
                    "no interval": "no interval"}[d["verdict"]]
            span = f" [{d['low']:+.3f}, {d['high']:+.3f}]" if d["low"] is not None else ""
            parts.append(f"C = {clip_text(d['max_grad_norm'])}: {d['mean']:+.3f}{span} ({word})")
        eps_text = "∞" if math.isinf(eps) else f"{eps:g}"
        out.append(f"Bound-following column (quantum, C_t = G(θ_t)) at ε = {eps_text}, minus each constant C, paired "
                   f"by seed: " + "; ".join(parts) + ".")
    return out


def findings(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Plain sentences per metric, computed from :func:`paired_differences`: for each grid and pair of
    families, in how many cells each family is higher (interval excluding 0) and how many are inconclusive;
    then :func:`headline`. Returns ``{metric: [sentence, ...]}``."""
    out: dict[str, list[str]] = {}
    grids = [g for g in GRIDS if any(r["grid"] == g for r in rows)]
    for metric in METRICS:
        sentences = []
        for a, b in DIFFERENCE_PAIRS:
            for grid in grids:
                diffs = [d for d in paired_differences(rows, metric, a, b) if d["grid"] == grid]
                if not diffs:
                    continue
                c = count_verdicts(diffs)
                text = (f"{a.capitalize()} − {b} in the {grid} grid ({c['cells']} cells): {a} is higher in "
                        f"{c['a higher']}, {b} in {c['b higher']}, inconclusive (95% interval contains 0) in "
                        f"{c['inconclusive']}")
                if c["no interval"]:
                    text += f"; {c['no interval']} with a single paired seed have no interval"
                sentences.append(text + ".")
        sentences += _bound_column_sentences(rows, metric)
        sentences.append(headline(rows, metric)[1])
        out[metric] = sentences
    return out


def sigma_table(rows: Sequence[Mapping[str, Any]], protocol: Mapping[str, Any]) -> list[dict[str, Any]]:
    """σ per (ε, B): the protocol's ``sigmas`` entries, or, without them, the distinct finite-ε values of the rows.

    Each dict: ``epsilon``, ``batch_size``, ``sample_rate``, ``noise_multiplier`` (PLD, used) and
    ``noise_multiplier_rdp`` (RDP, for reference); sorted by ε then B.
    """
    entries = [dict(s) for s in protocol.get("sigmas") or []]
    if not entries:
        seen = {}
        for r in rows:
            if math.isfinite(epsilon_of(r)):
                seen.setdefault((epsilon_of(r), as_float(r["expected_batch_size"])), {
                    "epsilon": epsilon_of(r), "batch_size": r["expected_batch_size"],
                    "sample_rate": r.get("sample_rate"), "noise_multiplier": r["noise_multiplier"],
                    "noise_multiplier_rdp": r.get("noise_multiplier_rdp")})
        entries = list(seen.values())
    return sorted(entries, key=lambda s: (as_float(s.get("epsilon")), as_float(s.get("batch_size"))))


def uncovered_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct ``preprocessing_note`` of the rows whose preprocessing ε does not cover (empty if none)."""
    notes = [str(r.get("preprocessing_note") or "no note given") for r in rows
             if not r["preprocessing_covered_by_epsilon"]]
    return list(dict.fromkeys(notes))


def _csv_lines(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in ("interval", "seeds")} for e in entries]


def write_tabular_report(rows: Sequence[Mapping[str, Any]], protocol: Mapping[str, Any],
                         out_dir: str | Path) -> Path:
    """Write the tabular study's report of ``rows`` into ``out_dir`` (created if needed); return report.html.

    ``rows``: one dict per training run (:data:`REQUIRED_KEYS` required; ``noise_multiplier_rdp``,
    ``sample_rate``, ``gradient_bound``, ``diagnostics_by_epoch`` and ``preprocessing_note`` used where
    present). ``protocol``: the study's JSON-able settings (``name``, ``grids``, ``sigmas``,
    ``metric_notes``, ...). Writes ``summary.csv`` (one line per cell, family and metric),
    ``differences.csv`` (one line per cell, pair and metric), ``bound_column.csv`` when the privacy grid
    has a bound-following column (:func:`bound_column_differences`), the PNG plots and ``report.html``
    (self-contained: the plots are embedded). Raises ``ValueError`` on invalid rows.
    """
    from dpqml.report.tabular_html import render_tabular_html
    from dpqml.report.tabular_plots import draw_tabular_plots

    validate_rows(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {m: summarize_cells(rows, m) for m in METRICS}
    differences = {m: [d for a, b in DIFFERENCE_PAIRS for d in paired_differences(rows, m, a, b)] for m in METRICS}
    write_csv(_csv_lines([s for m in METRICS for s in summaries[m]]), out / "summary.csv", SUMMARY_COLUMNS)
    write_csv(_csv_lines([d for m in METRICS for d in differences[m]]), out / "differences.csv",
              DIFFERENCE_COLUMNS)
    follow = {m: bound_column_differences(rows, m) for m in METRICS}
    if follow[CLEAN_METRIC]:
        write_csv(_csv_lines([d for m in METRICS for d in follow[m]]), out / "bound_column.csv", BOUND_COLUMNS)
    plots = draw_tabular_plots(rows, summaries, differences, out)
    page = render_tabular_html(protocol, rows, summaries, differences, findings(rows),
                               sigma_table(rows, protocol), uncovered_notes(rows), plots, follow)
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
