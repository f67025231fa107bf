"""Aggregation over seeds: one line per (dataset, model, ε), and the quantum-versus-classical findings.

The interval on a mean test accuracy is Student's t interval over seeds,
``mean ± t_{0.975, n−1} · s / √n`` with ``s`` the sample standard deviation (``ddof = 1``). It
treats seeds as independent draws of the whole training run (data order, initialisation, DP
noise); with one seed there is no interval (``s`` is undefined), and none is invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dpqml.report.files import as_float

FAMILIES = ("quantum", "classical")
REQUIRED_KEYS = ("dataset", "model", "family", "seed", "epsilon", "test_accuracy")

# The columns of summary.csv (and of the HTML summary table), in this order.
SUMMARY_COLUMNS = (
    "dataset", "model", "family", "noise", "epsilon", "n_params", "noise_multiplier", "max_grad_norm",
    "gradient_bound", "bound_ratio", "n_seeds", "test_accuracy_mean", "test_accuracy_std", "ci_half_width",
    "ci_low", "ci_high", "clipped_fraction_mean", "noise_to_signal", "epsilon_spent_mean", "randomness",
    "reproducible_noise_warning",
)


def validate_rows(rows: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``ValueError`` naming the row and key when ``rows`` is empty or a row lacks what the report needs."""
    if not rows:
        raise ValueError("rows must hold at least one finished job; got an empty list")
    for i, row in enumerate(rows):
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            raise ValueError(f"rows[{i}] lacks {', '.join(missing)} (every row needs {', '.join(REQUIRED_KEYS)})")
        if row["family"] not in FAMILIES:
            raise ValueError(f"rows[{i}]['family'] must be one of {FAMILIES}; got {row['family']!r}")


def t_quantile(n: int, level: float = 0.95) -> float:
    """The two-sided Student t quantile ``t_{(1+level)/2, n−1}`` for ``n ≥ 2`` samples."""
    from scipy.stats import t  # imported here: scipy.stats is slow to import

    return float(t.ppf(0.5 + level / 2, n - 1))


def mean_confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float | None]:
    """``(mean, sample std, half width)`` of ``values``; std is NaN and half width ``None`` for one value."""
    n = len(values)
    if n == 0:
        raise ValueError("values must not be empty")
    mean = math.fsum(values) / n
    if n == 1:
        return mean, math.nan, None
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, std, t_quantile(n, level) * std / math.sqrt(n)


def _mean(values: list[Any]) -> float | None:
    values = [as_float(v) for v in values if v is not None]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    if any(math.isinf(v) for v in values):
        return math.fsum(v for v in values if math.isinf(v))  # inf (or nan for inf − inf)
    return math.fsum(values) / len(values)


def _first(rows: list[Mapping[str, Any]], key: str) -> Any:
    return next((r[key] for r in rows if r.get(key) is not None), None)


def sort_key(entry: Mapping[str, Any]) -> tuple:
    """Dataset, then ε (∞ last), then family (quantum first), then model."""
    return (str(entry["dataset"]), as_float(entry["epsilon"]), FAMILIES.index(entry["family"]), str(entry["model"]))


def summarize(rows: Sequence[Mapping[str, Any]], level: float = 0.95) -> list[dict[str, Any]]:
    """One dict per (dataset, model, ε) over the seeds of ``rows``, sorted by :func:`sort_key`.

    Each dict has the keys of :data:`SUMMARY_COLUMNS` plus ``seeds`` (sorted list): family and noise
    of the model, ``n_params``, σ (``noise_multiplier``), C (``max_grad_norm``), G (``gradient_bound``,
    ``None`` for classical models) and ``bound_ratio`` G/C, ``n_seeds``, the test-accuracy mean, sample
    std, half width and ends of the t interval at ``level`` (``None`` with one seed), and the means of
    the clipped fraction, the noise-to-signal ratio and ε spent. ε values are floats (``math.inf``).
    """
    validate_rows(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["model"], as_float(row["epsilon"])), []).append(row)
    out = []
    for (dataset, model, epsilon), group in groups.items():
        mean, std, half = mean_confidence_interval([as_float(r["test_accuracy"]) for r in group], level)
        clip = _first(group, "max_grad_norm")
        bound = _first(group, "gradient_bound") if group[0]["family"] == "quantum" else None
        out.append({
            "dataset": dataset, "model": model, "family": group[0]["family"], "noise": _first(group, "noise"),
            "epsilon": epsilon, "n_params": _first(group, "n_params"),
            "noise_multiplier": _first(group, "noise_multiplier"), "max_grad_norm": clip,
            "gradient_bound": bound,
            "bound_ratio": as_float(bound) / as_float(clip) if bound is not None and clip else None,
            "n_seeds": len(group), "seeds": sorted(r["seed"] for r in group),
            "test_accuracy_mean": mean, "test_accuracy_std": std, "ci_half_width": half,
            # an accuracy lies in [0, 1], and so does every interval of one (the t interval cut to it)
            "ci_low": None if half is None else max(0.0, mean - half),
            "ci_high": None if half is None else min(1.0, mean + half),
            "clipped_fraction_mean": _mean([r.get("clipped_fraction") for r in group]),
            "noise_to_signal": _mean([r.get("noise_to_signal") for r in group]),
            "epsilon_spent_mean": _mean([r.get("epsilon_spent") for r in group]),
            "randomness": _first(group, "randomness"),
            "reproducible_noise_warning": _first(group, "reproducible_noise_warning"),
        })
    return sorted(out, key=sort_key)


def intervals_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    """Whether the accuracy intervals of two summary lines overlap; ``None`` when either has none."""
    if a["ci_half_width"] is None or b["ci_half_width"] is None:
        return None
    return a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]


def _best(entries: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    # highest mean accuracy; ties go to the first model name, so the choice is deterministic
    return min(entries, key=lambda e: (-e["test_accuracy_mean"], str(e["model"])), default=None)


def _drop(summary: Sequence[Mapping[str, Any]], entry: Mapping[str, Any] | None) -> float | None:
    if entry is None:
        return None
    base = [e for e in summary if e["dataset"] == entry["dataset"] and e["model"] == entry["model"]
            and math.isinf(e["epsilon"])]
    return base[0]["test_accuracy_mean"] - entry["test_accuracy_mean"] if base else None


def compare_families(summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Best quantum versus best classical model (by mean test accuracy) per dataset and ε.

    Takes the output of :func:`summarize`. Returns one dict per (dataset, ε), in summary order, with
    ``quantum`` and ``classical`` (the best summary line of each family, or ``None``), ``difference``
    (quantum − classical mean accuracy), ``overlap`` (:func:`intervals_overlap`), ``verdict`` (one of
    ``"quantum higher"``, ``"classical higher"``, ``"not distinguishable"``, ``"no interval"``,
    ``"one family only"``) and, for finite ε, ``quantum_drop``/``classical_drop``: the accuracy of
    that best model at ε = ∞ minus its accuracy at ε (``None`` without a non-private run).
    """
    cells: dict[tuple, list[Mapping[str, Any]]] = {}
    for e in summary:
        cells.setdefault((e["dataset"], e["epsilon"]), []).append(e)
    out = []
    for (dataset, epsilon), entries in cells.items():
        best = {f: _best([e for e in entries if e["family"] == f]) for f in FAMILIES}
        q, c = best["quantum"], best["classical"]
        cell: dict[str, Any] = {"dataset": dataset, "epsilon": epsilon, "quantum": q, "classical": c,
                                "difference": None, "overlap": None, "verdict": "one family only"}
        if q is not None and c is not None:
            cell["difference"] = q["test_accuracy_mean"] - c["test_accuracy_mean"]
            cell["overlap"] = intervals_overlap(q, c)
            if cell["overlap"] is None:
                cell["verdict"] = "no interval"
            elif cell["overlap"]:
                cell["verdict"] = "not distinguishable"
            else:
                cell["verdict"] = "quantum higher" if cell["difference"] > 0 else "classical higher"
        if not math.isinf(epsilon):
            cell["quantum_drop"], cell["classical_drop"] = _drop(summary, q), _drop(summary, c)
        out.append(cell)
    return out
