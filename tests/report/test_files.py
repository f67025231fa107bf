"""results.json, results.csv and summary.csv: infinity written as "inf", NaN as null, no history in CSV."""

import csv
import json
import math
import subprocess
import sys

import numpy as np

from dpqml.report import SUMMARY_COLUMNS, as_float, summarize
from dpqml.report.files import ROW_COLUMNS, write_csv, write_json

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
    assert list(lines[0]) == list(ROW_COLUMNS)  # every scalar key, in order; history left out
    assert [line["epsilon"] for line in lines[:9]] == ["1.0"] * 3 + ["4.0"] * 3 + ["inf"] * 3
    assert float(lines[6]["epsilon_spent"]) == math.inf
    classical = [line for line in lines if line["family"] == "classical"]
    assert all(line["gradient_bound"] == "" for line in classical)
    assert float(lines[0]["test_accuracy"]) == rows[0]["test_accuracy"]  # full precision


def test_summary_csv_has_one_line_per_dataset_model_epsilon(tmp_path):
    path = write_csv(summarize(make_rows()), tmp_path / "summary.csv", SUMMARY_COLUMNS)
    with path.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 2 * 3 * 3 and list(lines[0]) == list(SUMMARY_COLUMNS)
    assert lines[0]["dataset"] == "digits" and lines[0]["model"] == "hea" and lines[0]["epsilon"] == "1.0"
    assert lines[6]["epsilon"] == "inf" and lines[6]["epsilon_spent_mean"] == "inf"
    assert lines[2]["gradient_bound"] == ""  # logistic: no bound


def test_importing_the_report_package_loads_no_heavy_module():
    code = ("import sys, dpqml.report; "
            "print(sorted(m for m in ('jax', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
