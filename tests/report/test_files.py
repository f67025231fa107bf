"""results.json, results.csv and summary.csv: infinity written as "inf", NaN as null, no history in CSV, and
the fields that ε does not cover labelled in every file."""

import csv
import json
import math
import subprocess
import sys

import numpy as np

from dpqml.report import SUMMARY_COLUMNS, as_float, summarize
from dpqml.report.files import LABEL_COLUMNS, ROW_COLUMNS, write_csv, write_json

from .rows import make_rows


def test_json_writes_inf_as_a_string_and_nan_as_null(tmp_path):
    rows = make_rows(datasets=("moons",))
    rows[0]["train_accuracy"] = math.nan
    rows[1]["n_params"] = np.int64(24)
    rows[1]["seconds"] = np.float32(2.5)
    text = write_json(rows, tmp_path / "results.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    back = json.loads(text, parse_constant=lambda token: (_ for _ in ()).throw(ValueError(token)))
    assert back[0]["train_accuracy"] is None
    assert back[1]["n_params"] == 24 and back[1]["seconds"] == 2.5
    non_private = [r for r in back if r["epsilon"] == "inf"]
    assert len(non_private) == 3 * 3  # 3 models × 3 seeds
    assert all(r["epsilon_spent"] == "inf" and r["noise_multiplier"] == 0.0 for r in non_private)
    assert non_private[0]["history"][-1]["epsilon_spent"] == "inf"
    assert back[0]["history"][0]["grad_norm_quantiles"]["0.5"] > 0  # history kept
    assert as_float(back[-1]["epsilon"]) == math.inf


def test_csv_is_flat_with_inf_as_a_string(tmp_path):
    rows = make_rows(datasets=("moons",))
    path = write_csv(rows, tmp_path / "results.csv")
    with path.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(rows)
    assert list(lines[0]) == [*ROW_COLUMNS, *LABEL_COLUMNS]  # every scalar key, in order; history left out
    assert [line["epsilon"] for line in lines[:9]] == ["1.0"] * 3 + ["4.0"] * 3 + ["inf"] * 3
    assert float(lines[6]["epsilon_spent"]) == math.inf
    classical = [line for line in lines if line["family"] == "classical"]
    assert all(line["gradient_bound"] == "" for line in classical)
    assert float(lines[0]["test_accuracy"]) == rows[0]["test_accuracy"]  # full precision


def test_summary_csv_has_one_line_per_dataset_model_epsilon(tmp_path):
    path = write_csv(summarize(make_rows()), tmp_path / "summary.csv", SUMMARY_COLUMNS)
    with path.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 2 * 3 * 3 and list(lines[0]) == [*SUMMARY_COLUMNS, *LABEL_COLUMNS]
    assert lines[0]["dataset"] == "digits" and lines[0]["model"] == "hea" and lines[0]["epsilon"] == "1.0"
    assert lines[6]["epsilon"] == "inf" and lines[6]["epsilon_spent_mean"] == "inf"
    assert lines[2]["gradient_bound"] == ""  # logistic: no bound


def _csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_file_names_the_fields_that_epsilon_does_not_cover(report):
    _, out = report
    rows = json.loads((out / "results.json").read_text())
    assert rows and all(r["diagnostics"] == ["train_accuracy", "clipped_fraction", "history"] for r in rows)
    assert all("NOT covered by epsilon" in r["diagnostics_note"] for r in rows)
    assert list(rows[0])[:2] == ["diagnostics", "diagnostics_note"]  # before the values they label
    for name, named in (("results.csv", "train_accuracy;clipped_fraction"), ("summary.csv", "clipped_fraction_mean")):
        lines = _csv(out / name)
        assert lines, name
        for line in lines:  # every line, so a filtered or sorted copy keeps its label
            assert line["diagnostics"] == named and "NOT covered by epsilon" in line["diagnostics_note"], name
        assert all(column in lines[0] for column in named.split(";"))  # it names columns of this very file
        assert "test_accuracy" not in named and "test_accuracy_mean" not in named  # held-out: not a diagnostic


def test_rows_read_back_from_results_json_are_written_again_with_one_label(report, tmp_path):
    _, out = report
    rows = json.loads((out / "results.json").read_text())
    again = json.loads(write_json(rows, tmp_path / "again.json").read_text())
    assert again == rows
    header = list(_csv(write_csv(rows, tmp_path / "again.csv"))[0])
    assert header.count("diagnostics") == 1 and header.count("diagnostics_note") == 1 and header[-2:] == list(
        LABEL_COLUMNS)


def test_unlabelled_files_on_request(tmp_path):
    rows = [{"mechanism": "none", "epsilon_lower": 3.2}]
    assert json.loads(write_json(rows, tmp_path / "audit.json", label=False).read_text()) == rows
    assert list(_csv(write_csv(rows, tmp_path / "audit.csv", label=False))[0]) == ["epsilon_lower", "mechanism"]


def test_importing_the_report_package_loads_no_heavy_module():
    code = ("import sys, dpqml.report; "
            "print(sorted(m for m in ('jax', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
