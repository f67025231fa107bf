"""The tabular study's report: intervals, per-cell summaries, paired differences, findings, and the page."""

import base64
import csv
import html
import math
import random
import re

import pytest
import scipy.stats

from dpqml.report.intervals import Interval, t_interval
from dpqml.report.tabular import (
    findings,
    headline,
    paired_differences,
    summarize_cells,
    uncovered_notes,
    write_tabular_report,
)
from dpqml.report.tabular_html import preprocessing_banner
from dpqml.report.tabular_plots import DIAGNOSTIC_CELLS, _nearest_cell, clipping_statistics, curve_cells

from .tabular_rows import VAL_GAIN, make_tabular_protocol, make_tabular_rows
from .test_html import PNG_MAGIC, Page

# Two-sided 95% Student t quantile t_{0.975, 2} from a printed table.
T_975_DF2 = 4.303


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """``(html path, out dir)`` of the report of the standard rows, the Lipschitz runs' preprocessing uncovered."""
    out = tmp_path_factory.mktemp("tabular")
    rows = make_tabular_rows(uncovered=("lipschitz",))
    return write_tabular_report(rows, make_tabular_protocol(), out), out


def _cell(entries, grid, epsilon, clip, batch, **match):
    found = [x for x in entries if (x["grid"], x["epsilon"], x["max_grad_norm"], x["expected_batch_size"])
             == (grid, epsilon, clip, batch) and all(x[k] == v for k, v in match.items())]
    assert len(found) == 1
    return found[0]


# --- t_interval ---------------------------------------------------------------------------------

@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(confidence):
    values = [0.6, 0.7, 0.9, 1.0]
    low, high = scipy.stats.t.interval(confidence, len(values) - 1, loc=0.8, scale=scipy.stats.sem(values))
    interval = t_interval(values, confidence)
    assert interval == Interval(pytest.approx(0.8), pytest.approx(low), pytest.approx(high), 4)
    assert interval.half_width == pytest.approx((high - low) / 2)


def test_t_interval_clips_to_the_range_and_needs_two_values():
    values = [0.96, 0.99, 1.0]
    raw = t_interval(values)
    clipped = t_interval(values, clip=(0.0, 1.0))
    assert raw.high > 1.0 and clipped.high == 1.0 and clipped.low == raw.low and clipped.mean == raw.mean
    single = t_interval([0.7], clip=(0.0, 1.0))
    assert (single.mean, single.low, single.high, single.n) == (0.7, None, None, 1)
    assert not single.excludes(0.0) and "no interval" in single.describe()
    for bad, kwargs in (([], {}), ([0.5, math.nan], {}), ([0.5, 0.6], {"confidence": 1.0})):
        with pytest.raises(ValueError):
            t_interval(bad, **kwargs)


# --- summaries and paired differences -----------------------------------------------------------

def test_summarize_cells_on_hand_checked_numbers():
    summary = summarize_cells(make_tabular_rows(), "test_accuracy")
    assert len(summary) == 8 * 3  # 4 clipping cells + 4 privacy cells, 3 families
    quantum = _cell(summary, "clipping", math.inf, 0.5, 32, family="quantum")
    # seeds give 0.78, 0.80, 0.82: mean 0.80, s = 0.02
    half = T_975_DF2 * 0.02 / math.sqrt(3)
    assert quantum["mean"] == pytest.approx(0.80)
    assert quantum["low"] == pytest.approx(0.80 - half, abs=1e-4)
    assert quantum["high"] == pytest.approx(0.80 + half, abs=1e-4)
    assert quantum["n_seeds"] == 3 and quantum["seeds"] == [0, 1, 2] and quantum["noise_multiplier"] == 0.0
    assert quantum["std"] == pytest.approx(0.02)  # the heatmaps print mean ± std, as the paper does
    best = _cell(summarize_cells(make_tabular_rows(), "best_val_accuracy"), "privacy", 1.0, 1.5, 64,
                 family="classical")
    assert best["mean"] == pytest.approx(0.75 + VAL_GAIN) and best["noise_multiplier"] == 3.1
    one_seed = summarize_cells(make_tabular_rows(seeds=(0,)), "test_accuracy")[0]
    assert one_seed["n_seeds"] == 1 and one_seed["low"] is None and one_seed["half_width"] is None
    assert one_seed["std"] is None


def test_paired_differences_pair_by_seed():
    rows = make_tabular_rows()
    diffs = paired_differences(rows, "test_accuracy")
    assert len(diffs) == 8
    d = _cell(diffs, "privacy", 8.0, 0.5, 64)
    # per seed: (0.78 − 0.74, 0.80 − 0.75, 0.82 − 0.76) = (0.04, 0.05, 0.06): mean 0.05, s = 0.01. Unpaired
    # intervals (quantum ± 0.050, classical ± 0.025) would overlap; the paired one excludes 0.
    half = T_975_DF2 * 0.01 / math.sqrt(3)
    assert (d["a"], d["b"], d["n_pairs"], d["unpaired_seeds"]) == ("quantum", "classical", 3, 0)
    assert d["mean"] == pytest.approx(0.05)
    assert (d["low"], d["high"]) == (pytest.approx(0.05 - half, abs=1e-4), pytest.approx(0.05 + half, abs=1e-4))
    assert d["verdict"] == "a higher"
    reverse = _cell(paired_differences(rows, "test_accuracy", "classical", "quantum"), "privacy", 8.0, 0.5, 64)
    assert reverse["mean"] == pytest.approx(-0.05) and reverse["verdict"] == "b higher"

    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    again = paired_differences(shuffled, "test_accuracy")
    assert [v for x in again for v in (x["mean"], x["low"], x["high"])] == pytest.approx(
        [v for x in diffs for v in (x["mean"], x["low"], x["high"])])

    # a seed that only one family ran is left unpaired
    partial = [r for r in rows if not (r["family"] == "classical" and r["seed"] == 2 and r["grid"] == "privacy"
                                       and r["epsilon"] == 8.0 and r["max_grad_norm"] == 0.5)]
    d = _cell(paired_differences(partial, "test_accuracy"), "privacy", 8.0, 0.5, 64)
    assert (d["n_pairs"], d["seeds"], d["unpaired_seeds"]) == (2, [0, 1], 1)
    assert d["mean"] == pytest.approx(0.045)


# --- findings -----------------------------------------------------------------------------------

def test_findings_follow_the_data():
    better = findings(make_tabular_rows())
    assert "Quantum − classical in the privacy grid (4 cells): quantum is higher in 4, classical in 0, " \
           "inconclusive (95% interval contains 0) in 0." in better["test_accuracy"]
    assert headline(make_tabular_rows())[0] == "holds"
    assert " holds: quantum is higher in 4 and classical in 0 of the 4 finite-ε cells" in better["test_accuracy"][-1]

    worse = make_tabular_rows(base={"quantum": 0.70, "classical": 0.80, "lipschitz": 0.70})
    verdict, sentence = headline(worse)
    assert verdict == "reversed" and "quantum is higher in 0 and classical in 4" in sentence
    assert "Quantum − classical in the clipping grid (4 cells): quantum is higher in 0, classical in 4" \
           in findings(worse)["best_val_accuracy"][0]

    # equal means, seed-to-seed differences (−0.01, 0, 0.01): every interval contains 0
    tie = make_tabular_rows(base={"quantum": 0.75, "classical": 0.75, "lipschitz": 0.70})
    assert headline(tie)[0] == "not shown"
    assert "inconclusive (95% interval contains 0) in 4." in findings(tie)["test_accuracy"][1]

    # the paper's metric alone favours quantum: the headline holds for it, not for the clean metric
    for row in tie:
        if row["family"] == "quantum":
            row["best_val_accuracy"] += 0.1
    assert headline(tie, "best_val_accuracy")[0] == "holds" and headline(tie, "test_accuracy")[0] == "not shown"

    uncovered = headline(make_tabular_rows(uncovered=("classical",)))[1]
    assert "in 4 of these cells the preprocessing is not covered by ε" in uncovered
    assert "not covered" not in headline(make_tabular_rows(uncovered=("lipschitz",)))[1]

    only_clipping = make_tabular_rows(grids=("clipping",))
    assert headline(only_clipping)[0] == "not checked"


# --- validation, preprocessing banner -----------------------------------------------------------

def test_missing_or_bad_keys_raise(tmp_path):
    rows = make_tabular_rows(grids=("privacy",))
    del rows[5]["test_accuracy"]
    with pytest.raises(ValueError, match=r"rows\[5\] lacks the key 'test_accuracy'"):
        write_tabular_report(rows, make_tabular_protocol(), tmp_path)
    assert not (tmp_path / "report.html").exists()
    with pytest.raises(ValueError, match="grid"):
        summarize_cells([{**make_tabular_rows()[0], "grid": "other"}], "test_accuracy")
    with pytest.raises(ValueError, match=r"rows\[0\]\['best_val_accuracy'\] must be an accuracy in \[0, 1\]"):
        summarize_cells([{**make_tabular_rows()[0], "best_val_accuracy": None}], "test_accuracy")
    with pytest.raises(ValueError, match="metric"):
        summarize_cells(make_tabular_rows(), "accuracy")
    twice = make_tabular_rows()
    with pytest.raises(ValueError, match="one run per family, cell and seed"):
        paired_differences(twice + twice[:1], "test_accuracy")


def test_banner_iff_preprocessing_is_not_covered():
    covered = make_tabular_rows()
    assert uncovered_notes(covered) == [] and preprocessing_banner(covered, []) == ""
    rows = make_tabular_rows(uncovered=("quantum",))
    notes = uncovered_notes(rows)
    assert notes == ["StandardScaler fitted on the private training set"]
    banner = preprocessing_banner(rows, notes)
    assert "Preprocessing not covered by ε" in banner and notes[0] in banner and "In 24 of 72 runs" in banner


# --- plots' data and the page -------------------------------------------------------------------

def test_clipping_statistics_and_curve_cells():
    rows = make_tabular_rows()
    stats = clipping_statistics(rows, "clipping")
    # mean over epochs 1..3 of 1 + 0.1·epoch = 1.2; clipped 0.8 below the norm, 0.1 above
    assert stats[32][0.5] == pytest.approx({"clipped_fraction": 0.8, "mean_grad_norm": 1.2})
    assert stats[64][1.5]["clipped_fraction"] == pytest.approx(0.1)
    assert set(clipping_statistics(rows, "privacy")) == {1.0, 8.0}
    assert curve_cells(rows, "privacy") == [("privacy", 1.0, 1.5, 64), ("privacy", 8.0, 1.5, 64)]
    assert curve_cells(rows, "clipping") == [("clipping", math.inf, 1.5, 64)]
    # the per-epoch diagnostics are drawn for C = 1.5, B = 64 without noise and at the ε nearest 10
    assert _nearest_cell(rows, "clipping", DIAGNOSTIC_CELLS[0][1]) == ("clipping", math.inf, 1.5, 64)
    assert _nearest_cell(rows, "privacy", DIAGNOSTIC_CELLS[1][1]) == ("privacy", 8.0, 1.5, 64)


def test_report_writes_a_self_contained_page(report):
    path, out = report
    assert path == out / "report.html"
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    pngs = sorted(p.name for p in out.glob("*.png"))
    # per grid: 2 accuracy maps, 2 difference maps, clipping diagnostics, learning curves; and the epoch diagnostics
    assert len(pngs) == 13 and "diagnostics_by_epoch.png" in pngs
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) == 13 and not any(tag in ("script", "link", "iframe") for tag, _ in page.tags)
    assert all(base64.b64decode(i["src"].split(",", 1)[1]).startswith(PNG_MAGIC) for i in images)
    assert not re.search(r"(src|href)=\"\s*(https?:)?//", text)
    unescaped = html.unescape(text)
    assert "paper's metric: best validation epoch (optimistic: picks an epoch on held-out data)" in unescaped
    assert "clean: last-epoch test accuracy" in unescaped
    with (out / "summary.csv").open(encoding="utf-8") as f:
        summary = list(csv.DictReader(f))
    assert len(summary) == 2 * 24 and {s["metric"] for s in summary} == {"best_val_accuracy", "test_accuracy"}
    assert len((out / "differences.csv").read_text(encoding="utf-8").splitlines()) == 1 + 2 * 8 * 3


def test_page_tables_banner_and_marks(report, tmp_path):
    path, _ = report
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert 'id="preprocessing-not-covered"' in text
    cells = page.tables["cells"][1:]
    assert all(("†" in c[8]) == (c[4] == "lipschitz") and (c[10] == "NO") == (c[4] == "lipschitz") for c in cells)
    sigmas = page.tables["sigmas"][1:]
    assert [s[:5] for s in sigmas] == [["1", "64", "0.064", "3.1", "3.4"], ["8", "64", "0.064", "0.9", "1"]]
    differences = {(d[0], d[1], d[2], d[3], d[4]): d for d in page.tables["differences"][1:]}
    d = differences[("privacy", "8", "0.5", "64", "quantum − classical")]
    assert d[6].startswith("+0.050 [") and d[7] == "quantum higher" and d[9] == "quantum higher"
    assert "holds" in page_text(text, "headline-test_accuracy")
    # the answer comes first, one verdict per metric
    assert text.index('class="answer"') < text.index('id="preprocessing-not-covered"')
    answer = html.unescape(re.search(r'class="answer">(.*?)</div>', text, re.S).group(1))
    assert "best validation epoch" in answer and "last-epoch test accuracy" in answer and answer.count(": holds.") == 2

    plain = write_tabular_report(make_tabular_rows(grids=("privacy",)), make_tabular_protocol(name="<b>x</b>"),
                                 tmp_path)
    plain_text = plain.read_text(encoding="utf-8")
    assert "preprocessing-not-covered" not in plain_text
    assert not any("†" in cell for row in Page(plain_text).tables["cells"] for cell in row)
    assert "<b>x</b>" not in plain_text and "&lt;b&gt;x&lt;/b&gt;" in plain_text


def page_text(text, element_id):
    """The text of the element with ``element_id`` (one line, tags stripped)."""
    match = re.search(rf'id="{element_id}">(.*?)</p>', text, re.S)
    assert match, element_id
    return re.sub(r"<[^>]+>", "", match.group(1))
