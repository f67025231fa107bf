"""report.html: one self-contained HTML5 page (inline CSS, PNGs as base64 data URIs, no script).

Every string that comes from the rows or the protocol goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from dpqml.report.files import to_jsonable
from dpqml.report.plots import Plot, format_epsilon

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1240px;margin:2em auto;
padding:0 1.2em;color:#1a1a1a;line-height:1.5}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #d0d0d0;padding:.25em .55em;vertical-align:top}
th{background:#f2f2f2;text-align:left}tbody tr:nth-child(even){background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto}.settings td:first-child{font-weight:600;white-space:nowrap}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;max-width:60em}.skipped{color:#8a4b00}
.answer{background:#f5f8fc;border-left:4px solid #4a78b0;padding:.6em 1em}
tr.new-eps td{border-top:2px solid #aaa}tr.new-dataset td{border-top:3px solid #666}
#summary{font-size:.8em}#summary th,#summary td{padding:.2em .35em}
#summary td:nth-child(2),#findings td:nth-child(3),#findings td:nth-child(4){white-space:nowrap}
.ci{color:#555;font-size:.92em}
.warning{background:#fdf0ef;border-left:4px solid #b0302a;padding:.6em 1em}
tr.quantum td:nth-child(3){color:#1f4e8c}tr.classical td:nth-child(3){color:#8c4a1f}
"""

_KNOWN = ("name", "fingerprint", "datasets", "models", "epsilons", "sigmas", "delta", "max_grad_norm",
          "sample_rate", "steps", "epochs", "seeds", "optimizer", "learning_rate", "noise")
_LABELS = {"epsilons": "epsilons (ε)", "sigmas": "noise multiplier σ per ε", "delta": "delta (δ)",
           "max_grad_norm": "max_grad_norm (C)", "sample_rate": "sample_rate (q)", "steps": "steps (T)",
           "noise": "device noise of the noisy quantum models"}


def e(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A number for a table: ``∞`` for infinity, blank for ``None``/NaN, ``digits`` significant figures."""
    if value is None or isinstance(value, str) and value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def acc(value: float | None) -> str:
    """An accuracy with three decimals (``0.873``)."""
    return "" if value is None else f"{value:.3f}"


def _value(value: Any) -> str:
    # settings values: lists and dicts flattened into one readable line
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) and "name" in v for v in value):
            return "; ".join(f"{v['name']} ({_value({k: x for k, x in v.items() if k != 'name'})})"
                             if len(v) > 1 else str(v["name"]) for v in value)
        return ", ".join(_value(v) for v in value)
    if isinstance(value, float):
        return num(value, 6)
    if isinstance(value, str) and value in ("inf", "Infinity"):
        return "∞"
    return str(to_jsonable(value))


def _table(table_id: str, head: Sequence[str], body: Sequence[tuple[str, Sequence[tuple[str, bool]]]]) -> str:
    # body: (row class, [(escaped cell html, numeric?)]); head is escaped here
    lines = [f'<div class="scroll"><table id="{table_id}">', "<thead><tr>"
             + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for cls, cells in body:
        tds = "".join(f'<td class="num">{c}</td>' if numeric else f"<td>{c}</td>" for c, numeric in cells)
        lines.append(f'<tr class="{e(cls)}">{tds}</tr>')
    return "\n".join(lines + ["</tbody></table></div>"])


def settings_table(protocol: Mapping[str, Any]) -> str:
    """The protocol's settings, known keys first then the others sorted, as an HTML table."""
    keys = [k for k in _KNOWN if k in protocol] + sorted(k for k in protocol if k not in _KNOWN)
    body = []
    for k in keys:
        value = protocol[k]
        if k == "sigmas" and isinstance(value, Mapping):
            value = {f"ε = {_value(eps)}": sig for eps, sig in value.items()}
        body.append(("", [(e(_LABELS.get(k, k)), False), (e(_value(value)), False)]))
    return _table("settings", ["setting", "value"], body).replace("<table", '<table class="settings"', 1)


def _interval(entry: Mapping[str, Any]) -> str:
    if entry["ci_half_width"] is None:
        return "none (1 seed)"
    return f"±{entry['ci_half_width']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _separator(summary: Sequence[Mapping[str, Any]], i: int) -> str:
    # a heavier rule where the data set changes, a lighter one where ε changes
    if i == 0:
        return ""
    if summary[i]["dataset"] != summary[i - 1]["dataset"]:
        return " new-dataset"
    return " new-eps" if summary[i]["epsilon"] != summary[i - 1]["epsilon"] else ""


def summary_table(summary: Sequence[Mapping[str, Any]]) -> str:
    """The summary lines of :func:`~dpqml.report.summarize` as ``<table id="summary">``."""
    head = ["dataset", "model", "family", "noise", "ε", "params", "σ", "C", "G", "G/C", "seeds",
            "test accuracy (mean)", "95% CI", "clipped fraction", "noise/signal", "ε spent"]
    body = [(s["family"] + _separator(summary, i), [
        (e(s["dataset"]), False), (e(s["model"]), False), (e(s["family"]), False),
        (e(s["noise"] or "").replace("+", "+<wbr>"), False),  # long noise presets may break after a "+"
        (num(s["epsilon"]), True), (e(num(s["n_params"])), True), (e(num(s["noise_multiplier"], 4)), True),
        (e(num(s["max_grad_norm"])), True), (e(num(s["gradient_bound"], 4)), True), (num(s["bound_ratio"]), True),
        (str(s["n_seeds"]), True), (acc(s["test_accuracy_mean"]), True), (_interval(s), True),
        (num(s["clipped_fraction_mean"]), True), (num(s["noise_to_signal"]), True),
        (num(s["epsilon_spent_mean"], 4), True)]) for i, s in enumerate(summary)]
    return _table("summary", head, body)


def _figure(plot: Plot) -> str:
    if plot.path is None:
        return f'<p class="skipped">Plot “{e(plot.title)}” not drawn: {e(plot.reason)}.</p>'
    data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{e(plot.alt)}">'
            f"<figcaption><strong>{e(plot.title)}.</strong> {e(plot.caption)}</figcaption></figure>")


def _best(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "—"
    interval = "no interval (1 seed)" if entry["ci_half_width"] is None else \
        f"[{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
    return f"{e(entry['model'])}: {acc(entry['test_accuracy_mean'])}<br><span class=\"ci\">{interval}</span>"


_CONCLUSION = {
    "quantum higher": "quantum higher (95% intervals do not overlap)",
    "classical higher": "classical higher (95% intervals do not overlap)",
    "not distinguishable": "not distinguishable at this number of seeds (95% intervals overlap)",
    "no interval": "no conclusion: one seed gives no interval",
    "one family only": "no comparison: only one family was run",
}


def _drop(entry: Mapping[str, Any] | None, drop: float | None) -> str:
    if entry is None:
        return "—"
    if drop is None:
        return f"{e(entry['model'])}: no ε = ∞ run"
    return f"{e(entry['model'])}: {drop:+.3f}"


def findings_section(comparisons: Sequence[Mapping[str, Any]]) -> str:
    """The "Findings" HTML from :func:`~dpqml.report.compare_families`: an answer paragraph that only
    counts what the intervals show, then ``<table id="findings">`` with one row per dataset and finite ε."""
    private = [c for c in comparisons if not math.isinf(c["epsilon"])]
    if not private:
        return ("<p class=\"answer\">No finite ε was run, so these results say nothing about accuracy under "
                "privacy.</p>")
    count = {v: sum(c["verdict"] == v for c in private) for v in _CONCLUSION}
    parts = [f"the best quantum model is higher in {count['quantum higher']}",
             f"the best classical model is higher in {count['classical higher']}",
             f"the two are not distinguishable at this number of seeds in {count['not distinguishable']}"]
    if count["no interval"]:
        parts.append(f"{count['no interval']} have a single seed and no interval")
    if count["one family only"]:
        parts.append(f"{count['one family only']} have only one family")
    answer = (f"<p class=\"answer\"><strong>Does the quantum model keep more accuracy under privacy?</strong> "
              f"Of the {len(private)} comparisons at finite ε (best model of each family by mean test accuracy, "
              f"per dataset and ε), {'; '.join(parts)}. “Higher” means the two 95% intervals do not overlap, "
              f"a conservative criterion; overlapping intervals do not show that the accuracies are equal. The "
              f"drops from ε = ∞ are differences of means, without intervals.</p>")
    body = [("", [(e(c["dataset"]), False), (format_epsilon(c["epsilon"]), True), (_best(c["quantum"]), False),
                  (_best(c["classical"]), False),
                  ("—" if c["difference"] is None else f"{c['difference']:+.3f}", True),
                  (_CONCLUSION[c["verdict"]], False),
                  (_drop(c["quantum"], c.get("quantum_drop")), False),
                  (_drop(c["classical"], c.get("classical_drop")), False)]) for c in private]
    head = ["dataset", "ε", "best quantum: accuracy [95% CI]", "best classical: accuracy [95% CI]",
            "difference (quantum − classical)", "conclusion", "quantum: drop from ε = ∞", "classical: drop from ε = ∞"]
    return answer + "\n" + _table("findings", head, body) + (
        "\n<p>A drop is the model's mean accuracy at ε = ∞ minus its mean accuracy at the given ε "
        "(positive: privacy costs accuracy).</p>")


def _reproducible_noise_warning(protocol: Mapping[str, Any], summary: Sequence[Mapping[str, Any]]) -> str:
    """A banner when the sweep drew its sampling and noise from public seeds (an opt-in for research)."""
    if not (protocol.get("reproducible_noise") or any(s.get("reproducible_noise_warning") for s in summary)):
        return ""
    return ('<p class="warning" id="reproducible-noise"><strong>Reproducible noise.</strong> This sweep drew the '
            "Poisson sampling and the Gaussian noise of every job from the job's seed (listed in results.json), so "
            "that it can be replayed. The (ε, δ) guarantees below do <strong>not</strong> hold against anyone who "
            "knows those seeds: use these results for research, never to release models trained on real private "
            "data.</p>")


def _protocol_paragraph(protocol: Mapping[str, Any]) -> str:
    def get(key: str, default: str = "?") -> str:
        return e(_value(protocol[key])) if key in protocol else default

    seeds = protocol.get("seeds")
    n_seeds = len(seeds) if isinstance(seeds, (list, tuple)) else None
    return (
        f"<p>Every model, quantum and classical, is trained under the same clip threshold C = {get('max_grad_norm')} "
        f"and, for each privacy budget ε ({get('epsilons')}), the same noise multiplier σ: σ is calibrated once "
        f"per ε (δ = {get('delta')}, sample rate q = {get('sample_rate')}, T = {get('steps')} steps) and shared by "
        f"every model and data set. The sampling rate, number of steps, optimizer ({get('optimizer')}) and "
        f"learning rate ({get('learning_rate')}) are also the same for all. Hyperparameters are fixed in the "
        f"configuration, not tuned on the private data: tuning on private data spends privacy that the reported "
        f"ε would not cover. Each (data set, model, ε) is run with "
        f"{n_seeds if n_seeds is not None else 'several'} seed{'s' if n_seeds != 1 else ''}; accuracies are "
        f"means over seeds with 95% Student t intervals.</p>")


NOTES = """<ul>
<li>The per-epoch statistics (clipped fraction, per-example gradient norms, train accuracy) are
diagnostics computed from the private training data. They are <strong>not covered by ε</strong>: publishing
them outside a trusted setting leaks information that the privacy guarantee does not account for.</li>
<li>G is the data-independent bound on every per-example gradient norm of a quantum model, computed from its
circuit alone (<code>dpqml bound</code>). When G ≤ C the quantum model is never clipped: its clipped fraction
is zero by construction, not by chance. Classical models have no such bound (G blank).</li>
<li>The noise-to-signal ratio is σ·C·√p / (q·N·min(C, G)), with p the number of parameters, q the sample
rate, N the training-set size and G = ∞ for classical models: the norm of the noise added to the privatised
mean gradient over the largest possible norm of its signal, per step. It is a lower bound on how noisy a step
is, computed from public quantities only.</li>
<li>The 95% intervals are Student t intervals over seeds, mean ± t<sub>0.975, n−1</sub>·s/√n; with one seed
there is no interval. With few seeds they are wide; an accuracy lies in [0, 1], so its interval is cut to
[0, 1] (the ± half width is the uncut one).</li>
</ul>"""


def audit_section(audits: Sequence[Mapping[str, Any]]) -> str:
    """The privacy audits: claimed ε against the measured lower bound, per mechanism."""
    intro = ("<p>Empirical lower bounds on ε from the membership game against dpqml's own trainer "
             "(<code>dpqml audit</code>, docs/audit.md): canaries each included with probability ½, one run, a "
             "lower bound at the stated confidence. Mechanisms without DP-SGD noise (σ = 0: device noise, shots "
             "or nothing) claim no guarantee (ε = ∞); their bound is limited only by the number of canaries. A "
             "bound above the claim means a broken guarantee.</p>")
    body = []
    for a in audits:
        claimed = a.get("epsilon_claimed")
        broken = bool(a.get("broken"))
        body.append(("broken" if broken else "", [
            (e(a.get("mechanism")), False), (e(a.get("threat_model", "")), False),
            ("∞ (none)" if claimed is None else num(claimed), True), (num(a.get("epsilon_lower")), True),
            (num(a.get("confidence"), 2), True), (e(a.get("canaries")), True), (num(a.get("auroc")), True),
            (e(("BROKEN GUARANTEE: " if broken else "") + str(a.get("verdict", ""))), False)]))
    head = ["mechanism", "threat model", "ε claimed", "ε lower bound", "confidence", "canaries", "AUROC", "verdict"]
    return intro + _table("audits", head, body)


def render_html(protocol: Mapping[str, Any], summary: Sequence[Mapping[str, Any]],
                comparisons: Sequence[Mapping[str, Any]], plots: Sequence[Plot],
                audits: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole report page as a string. Takes the protocol dict, :func:`~dpqml.report.summarize` and
    :func:`~dpqml.report.compare_families` output, and the drawn :class:`Plot` list (PNGs read from disk)."""
    name = e(protocol.get("name", "unnamed"))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dpqml comparison report: {name}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>Quantum versus classical under differential privacy: protocol “{name}”</h1>",
        _reproducible_noise_warning(protocol, summary),
        _protocol_paragraph(protocol),
        "<h2>Settings</h2>", settings_table(protocol),
        "<h2>Findings</h2>", findings_section(comparisons),
        "<h2>Summary</h2>",
        "<p>One line per data set, model and ε, over seeds. σ: noise multiplier; C: clip threshold; G: gradient "
        "bound of quantum models; clipped fraction, noise/signal and ε spent are means over seeds.</p>",
        summary_table(summary),
        "<h2>Plots</h2>", *(_figure(p) for p in plots),
        *(["<h2>Auditing: device noise is not privacy</h2>", audit_section(audits)] if audits else []),
        "<h2>Notes</h2>", NOTES, "</body>", "</html>", ""])

