"""report.html: self-contained, escaped, and its findings say only what the intervals show."""

import base64
import math
import re
from html.parser import HTMLParser

from dpqml.report import compare_families, render_html, summarize, write_report
from dpqml.report.html import findings_section

from .rows import ACCURACY, make_protocol, make_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Tags with their attributes, and the cells of every table by id."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.tables, self._table, self._cell = [], {}, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_report_is_self_contained(report):
    paths, out = report
    text = paths["report.html"].read_text(encoding="utf-8")
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert not any(tag in ("script", "link", "iframe") for tag, _ in page.tags)
    links = [a[k] for _, a in page.tags for k in ("src", "href") if k in a]
    assert not [u for u in links if re.match(r"\s*(https?:)?//", u, re.I)]
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) == len([p for p in paths if p.endswith(".png")]) == 5
    for img in images:
        assert img["src"].startswith("data:image/png;base64,") and img["alt"]
        assert base64.b64decode(img["src"].split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "http://" not in text and "https://" not in text


def test_settings_and_summary_tables(report):
    paths, _ = report
    page = Page(paths["report.html"].read_text(encoding="utf-8"))
    settings = dict(page.tables["settings"][1:])
    assert settings["name"] == "quick" and settings["max_grad_norm (C)"] == "1"
    assert settings["tuning"] == "none (fixed in the configuration)"  # unknown keys are shown too
    assert settings["epsilons (ε)"] == "1, 4, ∞"
    summary = page.tables["summary"]
    assert len(summary) == 1 + 18
    assert summary[1][:5] == ["digits", "hea", "quantum", "none", "1"]
    assert summary[1][11:13] == ["0.800", "±0.025 [0.775, 0.825]"]


def test_strings_from_rows_and_protocol_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    rows = make_rows(datasets=(evil,), history=False)
    for row in rows:
        row["model"] = row["model"] + '"&<b>'
    paths = write_report(rows, make_protocol(name=evil, comment="<img src=x onerror=alert(1)>"), tmp_path)
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "<script" not in text and "<b>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "hea&quot;&amp;&lt;b&gt;" in text
    assert all(p.parent == tmp_path and "<" not in p.name for p in paths.values())


def _findings(comparisons):
    page = Page(findings_section(comparisons))
    return {(row[0], row[1]): row for row in page.tables["findings"][1:]}, page


def test_findings_name_the_best_models_and_say_when_they_overlap():
    rows, page = _findings(compare_families(summarize(make_rows())))
    assert set(rows) == {(d, e) for d in ("digits", "moons") for e in ("1", "4")}  # finite ε only
    separated = rows[("moons", "1")]
    assert separated[2].startswith("hea: 0.800") and separated[3].startswith("logistic: 0.700")
    assert separated[4] == "+0.100" and separated[5].startswith("quantum higher")
    assert separated[6] == "hea: +0.100" and separated[7] == "logistic: +0.250"
    overlapping = rows[("moons", "4")]
    assert overlapping[2].startswith("reuploading: 0.880") and overlapping[4] == "+0.020"
    assert overlapping[5].startswith("not distinguishable at this number of seeds")
    text = findings_section(compare_families(summarize(make_rows())))
    assert "the best quantum model is higher in 2" in text and "the best classical model is higher in 0" in text
    assert "not distinguishable at this number of seeds in 2" in text


def test_findings_when_classical_wins_or_intervals_are_missing():
    accuracy = {**ACCURACY, **{("logistic", e): 0.97 for e in (1.0, 4.0)}}
    rows, _ = _findings(compare_families(summarize(make_rows(accuracy=accuracy))))
    assert all(row[3].startswith("logistic: 0.970") and row[5].startswith("classical higher")
               for row in rows.values())
    rows, _ = _findings(compare_families(summarize(make_rows(seeds=(0,), epsilons=(1.0,)))))
    cell = rows[("moons", "1")]
    assert "no interval (1 seed)" in cell[2] and cell[5].startswith("no conclusion: one seed")
    assert cell[6] == "hea: no ε = ∞ run"
    only_inf = findings_section(compare_families(summarize(make_rows(epsilons=(math.inf,)))))
    assert "No finite ε was run" in only_inf and "<table" not in only_inf


def test_skipped_plots_are_explained(tmp_path):
    paths = write_report(make_rows(epsilons=(math.inf,), history=False), make_protocol(), tmp_path)
    assert sorted(p for p in paths if p.endswith(".png")) == ["accuracy_vs_epsilon_digits.png",
                                                            "accuracy_vs_epsilon_moons.png"]
    assert not (tmp_path / "epsilon_vs_steps.png").exists() and not (tmp_path / "grad_norms_moons.png").exists()
    text = paths["report.html"].read_text(encoding="utf-8")
    assert "not drawn: every run is non-private (ε = ∞)" in text
    assert "not drawn: no run on moons recorded gradient-norm quantiles" in text
    assert text.count("<img ") == 2


def test_page_renders_without_plots():
    summary = summarize(make_rows())
    text = render_html({"name": "bare"}, summary, compare_families(summary), [])
    assert "protocol “bare”" in text and 'id="summary"' in text
