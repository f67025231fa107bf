"""results.json, results.csv and summary.csv: the rows as files, with ε = ∞ written as ``"inf"``.

JSON has no infinity: Python's ``json`` would write the non-standard token ``Infinity``, which
strict parsers (JavaScript's ``JSON.parse``, ``jq``) reject. Every infinite float is therefore
written as the string ``"inf"`` (``"-inf"``), every NaN as ``null``, in JSON and CSV alike.
:func:`as_float` reads those strings back.

Fields that ε does not cover (:mod:`dpqml.diagnostics`: train accuracy, clipped fraction, the
per-epoch history, and their aggregates) are labelled in the file itself, so that a reader of one
file alone sees it: every JSON row and every CSV line gets the :data:`LABEL_COLUMNS`,
``diagnostics`` (the names of that row's or file's diagnostic fields; ``;``-separated in CSV) and
``diagnostics_note`` (:data:`dpqml.diagnostics.DIAGNOSTICS_NOTE`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dpqml.diagnostics import DIAGNOSTICS_NOTE, diagnostic_fields

# The scalar columns of results.csv, in this order; other scalar keys follow, sorted.
ROW_COLUMNS = (
    "job", "dataset", "model", "family", "noise", "seed",
    "epsilon", "epsilon_spent", "delta", "noise_multiplier", "max_grad_norm", "sample_rate", "steps", "epochs",
    "learning_rate", "optimizer", "n_train", "n_test",
    "test_accuracy", "train_accuracy", "n_params", "gradient_bound", "clipped_fraction", "noise_to_signal",
    "seconds",
)
#: The columns that say which fields of a row ε does not cover, and why (last in a CSV, first in a JSON row).
LABEL_COLUMNS = ("diagnostics", "diagnostics_note")


def as_float(value: Any) -> float:
    """A float from a number or from the strings ``"inf"``/``"-inf"``/``"nan"`` (as written here).

    ``None`` becomes NaN. Raises ``ValueError`` for anything else.
    """
    if value is None:
        return math.nan
    if isinstance(value, str):
        try:
            return float(value)  # float() accepts "inf", "-inf", "nan" and numerals
        except ValueError:
            raise ValueError(f"expected a number or 'inf'; got {value!r}") from None
    return float(value)


def to_jsonable(value: Any) -> Any:
    """``value`` with inf → ``"inf"``, NaN → ``None``, tuples → lists, numpy scalars → Python scalars."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar or 0-d array
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if hasattr(value, "tolist"):  # numpy arrays
        return to_jsonable(value.tolist())
    return str(value)


def format_cell(value: Any) -> str:
    """One CSV cell: inf → ``"inf"``, NaN and ``None`` → empty, floats at full precision (``repr``)."""
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_json(rows: Sequence[Mapping[str, Any]], path: Path, *, label: bool = True) -> Path:
    """Write ``rows`` (history kept) as a JSON list to ``path``; strict JSON (no Infinity/NaN tokens).

    With ``label`` (default) every row starts with the :data:`LABEL_COLUMNS`: ``diagnostics``, the list
    of its keys that ε does not cover, and ``diagnostics_note``. ``label=False`` is for rows that hold
    nothing computed from the private training data (the audits' results).
    """
    if label:
        rows = [{"diagnostics": diagnostic_fields(r), "diagnostics_note": DIAGNOSTICS_NOTE,
                 **{k: v for k, v in r.items() if k not in LABEL_COLUMNS}} for r in rows]
    text = json.dumps(to_jsonable(list(rows)), indent=1, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def scalar_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The flat columns of ``rows``: :data:`ROW_COLUMNS` present in any row, then other scalar keys sorted.

    A key is scalar when no row holds a dict or list under it (so ``history`` is left out).
    """
    rows = list(rows)
    nested = {k for r in rows for k, v in r.items() if isinstance(v, (Mapping, list, tuple))}
    present = {k for r in rows for k in r} - nested - set(LABEL_COLUMNS)
    return [c for c in ROW_COLUMNS if c in present] + sorted(present - set(ROW_COLUMNS))


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path, columns: Sequence[str] | None = None, *,
              label: bool = True) -> Path:
    """Write one line per row with the given ``columns`` (default :func:`scalar_columns`) to ``path``.

    With ``label`` (default) the :data:`LABEL_COLUMNS` follow: on every line, ``diagnostics`` names the
    columns of this file that ε does not cover (``train_accuracy;clipped_fraction``) and
    ``diagnostics_note`` says why.
    """
    columns = [c for c in (columns if columns is not None else scalar_columns(rows)) if c not in LABEL_COLUMNS]
    labels = [";".join(diagnostic_fields(columns)), DIAGNOSTICS_NOTE] if label else []
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns + (list(LABEL_COLUMNS) if label else []))
        for row in rows:
            writer.writerow([format_cell(row.get(c)) for c in columns] + labels)
    return path
