"""report.html of the tabular study: one self-contained page, built from the comparison report's parts.

The CSS, escaping, number formats, tables and embedded figures are those of
:mod:`dpqml.report.html`; every string from the rows or the protocol is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dpqml.report.html import CSS, _figure, _table, e, num, settings_table
from dpqml.report.plots import Plot, format_epsilon
from dpqml.report.tabular import CLEAN_METRIC, GRIDS, METRICS, clip_text, headline
from dpqml.report.tabular_plots import UNCOVERED_MARK, bound_column_statistics

_SHOWN_ELSEWHERE = ("sigmas", "metric_notes")


def _cell(entry: Mapping[str, Any]) -> list[tuple[str, bool]]:
    return [(e(entry["grid"]), False), (format_epsilon(entry["epsilon"]), True),
            (e(clip_text(entry["max_grad_norm"])), True), (num(entry["expected_batch_size"]), True)]


def _with_interval(entry: Mapping[str, Any] | None, sign: bool = False) -> str:
    if entry is None:
        return "—"
    mark = "" if entry["preprocessing_covered_by_epsilon"] else UNCOVERED_MARK
    mean = f"{entry['mean']:+.3f}" if sign else f"{entry['mean']:.3f}"
    if entry["low"] is None:
        return f"{mean}{mark} <span class=\"ci\">(n = 1: no interval)</span>"
    return f"{mean}{mark} <span class=\"ci\">[{entry['low']:.3f}, {entry['high']:.3f}]</span>"


def cells_table(summaries: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """``<table id="cells">``: per cell and family, both metrics' means with their 95% t-intervals."""
    def key(s: Mapping[str, Any]) -> tuple:
        return (s["grid"], s["family"], s["epsilon"], s["max_grad_norm"], s["expected_batch_size"])

    other = {key(s): s for s in summaries[CLEAN_METRIC]}
    body = [(s["family"], [*_cell(s), (e(s["family"]), False), (e(s["model"]), False),
                           (num(s["noise_multiplier"], 4), True), (str(s["n_seeds"]), True),
                           (_with_interval(s), True), (_with_interval(other.get(key(s))), True),
                           ("yes" if s["preprocessing_covered_by_epsilon"] else "NO", False)])
            for s in summaries["best_val_accuracy"]]
    head = ["grid", "ε", "C", "B", "family", "model", "σ", "seeds", "paper's metric: best val. epoch [95% CI]",
            "clean: last-epoch test [95% CI]", "preprocessing covered by ε"]
    return _table("cells", head, body)


def _verdict(d: Mapping[str, Any] | None) -> str:
    if d is None:
        return "—"
    return {"a higher": f"{d['a']} higher", "b higher": f"{d['b']} higher",
            "inconclusive": "inconclusive (contains 0)", "no interval": "no interval (1 seed)"}[d["verdict"]]


def differences_table(differences: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """``<table id="differences">``: per cell and pair of families, the paired difference under both metrics."""
    def key(d: Mapping[str, Any]) -> tuple:
        return (d["grid"], d["a"], d["b"], d["epsilon"], d["max_grad_norm"], d["expected_batch_size"])

    clean = {key(d): d for d in differences[CLEAN_METRIC]}
    body = []
    for d in differences["best_val_accuracy"]:
        c = clean.get(key(d))
        body.append(("", [*_cell(d), (e(f"{d['a']} − {d['b']}"), False), (str(d["n_pairs"]), True),
                          (_with_interval(d, sign=True), True), (e(_verdict(d)), False),
                          (_with_interval(c, sign=True), True), (e(_verdict(c)), False)]))
    head = ["grid", "ε", "C", "B", "difference", "pairs", "paper's metric [95% CI]", "verdict",
            "clean metric [95% CI]", "verdict"]
    return _table("differences", head, body)


def bound_column_html(rows: Sequence[Mapping[str, Any]], follow: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The bound-following column (``C_t = G(θ_t)``, quantum only): what its thresholds were, and
    ``<table id="bound-column">`` with its paired difference to each constant C under both metrics.
    Empty when the study has no such column."""
    if not follow.get(CLEAN_METRIC):
        return ""
    stats = bound_column_statistics(rows)
    lines = "".join(f"<li>ε = {format_epsilon(eps)}: mean C_t {num(st['clip_threshold_mean'], 4)}, largest C_t "
                    f"{num(st['clip_threshold_max'], 4)}, clipped fraction {num(st['clipped_fraction'], 3)}, mean "
                    f"per-example gradient norm {num(st['mean_grad_norm'], 3)}</li>" for eps, st in stats.items())

    def key(d: Mapping[str, Any]) -> tuple:
        return (d["grid"], d["epsilon"], d["max_grad_norm"], d["expected_batch_size"])

    clean = {key(d): d for d in follow[CLEAN_METRIC]}
    body = []
    for d in follow["best_val_accuracy"]:
        c = clean.get(key(d))
        body.append(("", [*_cell(d), (str(d["n_pairs"]), True), (_with_interval(d, sign=True), True),
                          (e(_verdict(d)), False), (_with_interval(c, sign=True), True),
                          (e(_verdict(c)), False)]))
    head = ["grid", "ε", "constant C", "B", "pairs", "paper's metric: bound − C [95% CI]", "verdict",
            "clean metric: bound − C [95% CI]", "verdict"]
    return ("<h2>The bound-following column</h2>"
            "<p>In this column the quantum model clips every step at C_t = G(θ_t), the parameter-dependent bound on "
            "every per-example gradient norm at the current parameters, so clipping never changes a gradient, and "
            "adds noise σ·C_t. C_t is computed from the released parameters alone (post-processing): the accounting "
            "is that of every other cell. Its learning rate is the study's rule at C = G(θ_0). Thresholds and "
            "norms below are means over epochs and seeds (diagnostics, computed on private data, not covered by "
            f"ε):</p><ul>{lines}</ul>"
            "<p>Its accuracy minus that of each constant C at the same ε, paired by seed:</p>"
            + _table("bound-column", head, body))


def sigma_table_html(sigmas: Sequence[Mapping[str, Any]]) -> str:
    """``<table id="sigmas">``: σ per (ε, B), the PLD value used and the RDP value for reference."""
    def ratio(s: Mapping[str, Any]) -> str:
        pld, rdp = s.get("noise_multiplier"), s.get("noise_multiplier_rdp")
        return num(rdp / pld, 4) if isinstance(pld, (int, float)) and isinstance(rdp, (int, float)) and pld else ""

    body = [("", [(num(s.get("epsilon")), True), (num(s.get("batch_size")), True), (num(s.get("sample_rate"), 4), True),
                  (num(s.get("noise_multiplier"), 5), True), (num(s.get("noise_multiplier_rdp"), 5), True),
                  (ratio(s), True)]) for s in sigmas]
    head = ["ε", "B", "sample rate q", "σ (PLD, used)", "σ (RDP, reference)", "RDP / PLD"]
    return _table("sigmas", head, body)


def preprocessing_banner(rows: Sequence[Mapping[str, Any]], notes: Sequence[str]) -> str:
    """A warning when some run's preprocessing is not covered by ε (empty string when all are covered)."""
    uncovered = sum(not r["preprocessing_covered_by_epsilon"] for r in rows)
    if not uncovered:
        return ""
    items = "".join(f"<li>{e(n)}</li>" for n in notes)
    return (f'<div class="warning" id="preprocessing-not-covered"><p><strong>Preprocessing not covered by ε.</strong> '
            f"In {uncovered} of {len(rows)} runs the preprocessing (for instance a scaler fitted on the training "
            f"data) is not covered by the privacy budget ε, so the (ε, δ) guarantee does not hold for the whole "
            f"pipeline of those runs. Results that include them are marked {UNCOVERED_MARK}.</p><ul>{items}</ul></div>")


def _notes(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, Mapping):
        return "<ul>" + "".join(f"<li><strong>{e(k)}</strong>: {e(v)}</li>" for k, v in value.items()) + "</ul>"
    if isinstance(value, (list, tuple)):
        return "<ul>" + "".join(f"<li>{e(v)}</li>" for v in value) + "</ul>"
    return f"<p>{e(value)}</p>"


def answer_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The answer first: does the headline hold under the paper's metric, under the clean one, or under
    neither (one sentence per metric, computed from the paired intervals)."""
    items = "".join(f"<li><strong>{e(METRICS[m])}: {e(headline(rows, m)[0])}.</strong> {e(headline(rows, m)[1])}</li>"
                    for m in METRICS)
    return f'<div class="answer"><p>Does the quantum model keep more accuracy than the classical one under the ' \
           f'same DP-SGD budget?</p><ul>{items}</ul></div>'


def findings_html(findings: Mapping[str, Sequence[str]]) -> str:
    """The findings: per metric, a list of sentences; the last (the headline) is set apart."""
    parts = []
    for metric, sentences in findings.items():
        parts.append(f"<h3>{e(METRICS[metric])}</h3>")
        parts.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in sentences[:-1]) + "</ul>")
        parts.append(f'<p class="answer" id="headline-{e(metric)}">{e(sentences[-1])}</p>')
    return "\n".join(parts)


INTRO = (
    "<p>Quantum, classical and Lipschitz models trained with DP-SGD over two grids: the clipping grid (σ = 0, "
    "clipping only: clip threshold C × expected batch size B) and the privacy grid (privacy budget ε × C at a fixed "
    "B). Each cell is run with several seeds; every figure is a mean over seeds with a 95% Student t interval "
    "(clipped to [0, 1] for accuracies, to [−1, 1] for differences; none with one seed). Two metrics are shown "
    "side by side: the <strong>paper's metric</strong>, the best validation accuracy over epochs, is optimistic "
    "because it picks an epoch on held-out data; the <strong>clean metric</strong> is the test accuracy of the last "
    "epoch, with no choice made on evaluation data.</p>")

NOTES = """<ul>
<li>Differences between families are paired by seed: the difference is taken per seed, then averaged, and its
t-interval is over those per-seed differences. A difference is called “higher” only when its 95% interval excludes
0; “inconclusive” does not mean equal.</li>
<li>The headline is judged on the finite-ε cells: it holds when quantum is higher in more than half of them and
classical in none, and is reversed in the opposite case.</li>
<li>The clipping diagnostics (clipped fraction, gradient norms) are computed from the private training data and are
<strong>not covered by ε</strong>. G is the data-free bound on every per-example gradient norm of the quantum
model, computed from its circuit alone.</li>
</ul>"""


def render_tabular_html(protocol: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                        summaries: Mapping[str, Sequence[Mapping[str, Any]]],
                        differences: Mapping[str, Sequence[Mapping[str, Any]]], findings: Mapping[str, Sequence[str]],
                        sigmas: Sequence[Mapping[str, Any]], uncovered_notes: Sequence[str],
                        plots: Mapping[str, Sequence[Plot]],
                        follow: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> str:
    """The whole page as a string, from the outputs of :mod:`dpqml.report.tabular` and the drawn plots
    (``follow``: :func:`~dpqml.report.tabular.bound_column_differences` per metric, if any)."""
    name = e(protocol.get("name", "unnamed"))
    settings = {k: v for k, v in protocol.items() if k not in _SHOWN_ELSEWHERE}
    grids = ", ".join(GRIDS[g].title for g in GRIDS if any(r["grid"] == g for r in rows))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dpqml tabular study: {name}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>The paper's tabular study: protocol “{name}”</h1>",
        answer_html(rows),
        preprocessing_banner(rows, uncovered_notes),
        INTRO, f"<p>Grids in this report: {e(grids)}.</p>", _notes(protocol.get("metric_notes")),
        "<h2>Settings</h2>", settings_table(settings),
        "<h2>Findings</h2>", findings_html(findings),
        "<h2>Accuracy per cell</h2>", *(_figure(p) for p in plots.get("accuracy", ())),
        cells_table(summaries),
        "<h2>Paired differences between families</h2>", *(_figure(p) for p in plots.get("differences", ())),
        differences_table(differences),
        bound_column_html(rows, follow or {}),
        "<h2>Noise multiplier σ per (ε, B)</h2>",
        "<p>σ is calibrated with the PLD accountant and used in training; the RDP accountant's σ for the same "
        "(ε, δ, q, T) is shown for reference.</p>", sigma_table_html(sigmas),
        "<h2>Clipping diagnostics</h2>", *(_figure(p) for p in plots.get("clipping", ())),
        "<h2>Learning curves</h2>", *(_figure(p) for p in plots.get("curves", ())),
        "<h2>Notes</h2>", NOTES, "</body>", "</html>", ""])
