"""One job of the protocol: train one model on one data set at one ε with one seed.

A job is a plain JSON-able dict (its *spec*) holding everything the run depends on, so that
:func:`job_key` (a hash of the spec) identifies it in the results database and any process, a
local worker or a Ray task on another machine, can run it with :func:`run_job`.

Workers keep the data sets and models they built, so the jobs of one model in one worker trace
and compile once (the trainer caches its compiled pieces per model object).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
import warnings
from pathlib import Path

from ..diagnostics import DIAGNOSTICS_NOTE, PUBLIC_EPOCH_FIELDS
from .config import ProtocolConfig, canonical_json, dataset_label, digest
from .families import MODEL_FAMILIES, applies, build_family


def job_specs(config: ProtocolConfig, sigmas: dict[float, float], datasets: list) -> list[dict]:
    """Every (data set, model, ε, seed) job of ``config``, in a stable order.

    ``sigmas`` maps each ε to its calibrated noise multiplier; ``datasets`` are the loaded
    :class:`~dpqml.data.Dataset` of ``config.datasets`` (to skip models that do not apply).
    """
    shared = {k: getattr(config, k) for k in ("delta", "max_grad_norm", "sample_rate", "epochs", "optimizer",
                                              "learning_rate", "accountant", "data_seed", "max_physical_batch",
                                              "qubits", "layers")}
    shared["steps"] = config.steps
    # the mechanism's randomness: secret (nothing in the spec can replay it) unless reproducible_noise asks
    shared["randomness"] = "seeded" if config.reproducible_noise else config.randomness
    if config.allow_large_delta:
        shared["allow_large_delta"] = True
    specs = []
    for ds_spec, ds in zip(config.datasets, datasets):
        for model in config.models:
            if not applies(model, ds):
                continue
            model_opts = {"noise": config.noise if model.endswith("-noisy") else "none"}
            if model == "mlp-large":
                model_opts["large_mlp_hidden"] = list(config.large_mlp_hidden)
            for eps in config.epsilons:
                for seed in config.seeds:
                    spec = {"dataset": dict(ds_spec), "model": model, **model_opts, **shared,
                            "epsilon": eps, "noise_multiplier": sigmas[eps], "seed": seed}
                    if config.reproducible_noise:
                        spec["noise_seed"] = seed
                    specs.append(spec)
    for mechanism in config.audits:
        for eps in _audit_epsilons(mechanism, config):
            specs.append({"kind": "audit", "mechanism": mechanism, "epsilon": eps, "delta": config.delta,
                          "qubits": config.qubits, "layers": config.layers,
                          "noise": config.noise if mechanism == "device-noise" else "none", "seed": 0})
    return specs


def _audit_epsilons(mechanism: str, config: ProtocolConfig) -> list[float]:
    """The ε each audit job is run at. ``dpsgd``: every finite ε of the grid that the one-run audit
    can certify with its default canaries (at δ = 1e-5 up to about 6; beyond, its 2·m·δ term wins);
    without DP-SGD noise: ε = 1, the question being whether the canaries show more than a meaningful
    budget."""
    from ..audit.pipeline import DEFAULTS, required_canaries

    if mechanism != "dpsgd":
        return [1.0]

    def certifiable(eps):
        try:
            return required_canaries(eps, delta=config.delta) <= DEFAULTS["white-box"]["canaries"]
        except ValueError:
            return False

    return [e for e in config.epsilons if not math.isinf(e) and certifiable(e)]


def job_key(spec: dict) -> str:
    """The job's identity: a hash of its full spec."""
    return digest(spec)


def job_label(spec: dict) -> str:
    """``moons-hea-eps1-seed0`` (``audit-dpsgd-eps1``): a readable name for logs and progress."""
    if spec.get("kind") == "tabular":
        from .tabular import tabular_job_label

        return tabular_job_label(spec)
    eps = "inf" if math.isinf(spec["epsilon"]) else f"{spec['epsilon']:g}"
    if spec.get("kind") == "audit":
        return f"audit-{spec['mechanism']}-eps{eps}"
    return f"{dataset_label(spec['dataset'])}-{spec['model']}-eps{eps}-seed{spec['seed']}"


# -- what a worker keeps between jobs --------------------------------------------------------------
_DATASETS: dict = {}
_MODELS: dict = {}


def load_job_dataset(ds_spec: dict, data_seed: int):
    """The data set of a job's spec (cached per process)."""
    from ..data import load_dataset

    key = canonical_json([ds_spec, data_seed])
    if key not in _DATASETS:
        opts = {k: (tuple(v) if isinstance(v, list) else v) for k, v in ds_spec.items() if k not in ("name", "label")}
        _DATASETS[key] = load_dataset(ds_spec["name"], seed=data_seed, **opts)
    return _DATASETS[key]


def job_model(spec: dict, dataset):
    """``(model, info)`` for a job; ``info`` has ``family``, ``gradient_bound`` (quantum models:
    the data-free bound G of :func:`dpqml.bounds.gradient_bound`, else None) and its assumptions."""
    key = canonical_json([spec["dataset"], spec["data_seed"], spec["model"], spec["noise"], spec["qubits"],
                          spec["layers"], spec.get("large_mlp_hidden")])
    if key not in _MODELS:
        model = build_family(spec["model"], dataset, qubits=spec["qubits"], layers=spec["layers"],
                             noise=spec["noise"], large_mlp_hidden=spec.get("large_mlp_hidden", ()))
        info = {"family": MODEL_FAMILIES[spec["model"]].family, "gradient_bound": None,
                "gradient_bound_assumptions": None}
        if info["family"] == "quantum":
            from ..bounds import gradient_bound

            lo, hi = dataset.feature_range
            bound = gradient_bound(model, feature_bound=max(abs(lo), abs(hi)))
            info["gradient_bound"] = float(bound.total)
            info["gradient_bound_assumptions"] = "; ".join(bound.assumptions)
        _MODELS[key] = (model, info)
    return _MODELS[key]


def run_job(spec: dict, work_dir: str | None = None, log_path: str | None = None) -> dict:
    """Train the job ``spec`` describes; returns ``{"row": ..., "log": [lines]}``.

    ``work_dir`` holds the run's checkpoints and privacy ledger: a job interrupted midway resumes
    there, and its ε covers every step ever taken. ``log_path`` (optional) receives the log as it
    is written.
    """
    from ..bounds.cost import clipping_cost
    from ..privacy.config import PrivacyConfig
    from ..train.trainer import TrainConfig, train

    log = _Log(log_path)
    log(log_header(spec))
    log(f"job {job_key(spec)} {job_label(spec)}")
    log("spec " + canonical_json(spec))
    if spec.get("kind") == "audit":
        return _run_audit(spec, log)
    if spec.get("kind") == "tabular":
        from .tabular import run_tabular_job

        return run_tabular_job(spec, work_dir, log)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_job_dataset(spec["dataset"], spec["data_seed"])
        model, info = job_model(spec, ds)
        n = len(ds.x_train)
        privacy = PrivacyConfig(spec["noise_multiplier"], spec["max_grad_norm"], spec["sample_rate"], spec["steps"],
                                spec["delta"], n, spec["accountant"],
                                allow_large_delta=spec.get("allow_large_delta", False))
        config = TrainConfig(learning_rate=spec["learning_rate"], optimizer=spec["optimizer"], seed=spec["seed"],
                             randomness=spec.get("randomness", "secure"), noise_seed=spec.get("noise_seed"),
                             checkpoint_dir=work_dir, max_physical_batch=spec["max_physical_batch"])
        result = train(model, ds.x_train, ds.y_train, privacy, config, x_test=ds.x_test, y_test=ds.y_test,
                       log=lambda rec: log("epoch " + json.dumps(rec)))
    for w in caught:
        log(f"warning: {w.category.__name__}: {w.message}")
    seen = sum(r["examples_seen"] for r in result.history)
    clipped = sum(r["clipped_fraction"] * r["examples_seen"] for r in result.history)
    bound = info["gradient_bound"]
    cost = clipping_cost(bound if bound else spec["max_grad_norm"], spec["max_grad_norm"],
                         noise_multiplier=spec["noise_multiplier"], sample_rate=spec["sample_rate"],
                         n_examples=n, steps=spec["steps"], n_params=result.n_params)
    row = {
        "job": job_key(spec), "dataset": dataset_label(spec["dataset"]), "dataset_options": spec["dataset"],
        "model": spec["model"], "family": info["family"], "noise": spec["noise"], "seed": spec["seed"],
        "epsilon": spec["epsilon"], "epsilon_spent": result.epsilon, "delta": spec["delta"],
        "noise_multiplier": spec["noise_multiplier"], "max_grad_norm": spec["max_grad_norm"],
        "sample_rate": spec["sample_rate"], "steps": spec["steps"], "steps_spent": result.steps_spent,
        "epochs": spec["epochs"], "learning_rate": spec["learning_rate"], "optimizer": spec["optimizer"],
        "n_train": n, "n_test": len(ds.x_test), "test_accuracy": result.test_accuracy,
        "train_accuracy": result.train_accuracy, "n_params": result.n_params,
        "gradient_bound": bound, "gradient_bound_assumptions": info["gradient_bound_assumptions"],
        "clipped_fraction": clipped / seen if seen else 0.0,
        "noise_to_signal": cost["noise_to_signal"], "seconds": time.perf_counter() - t0,
        "resumed_from": result.resumed_from, "history": result.history,
    }
    published = result.to_dict()  # the mechanism's source; a seed only when reproducible noise was asked for
    row.update({k: published[k] for k in ("randomness", "noise_seed", "reproducible_noise_warning") if k in published})
    if result.steps_spent < spec["steps"]:  # the trainer's ledger never shrinks; never report such a row
        raise RuntimeError(f"the ledger counts {result.steps_spent} steps for a job of {spec['steps']}")
    log(f"done: test accuracy {result.test_accuracy:.4f}, epsilon spent {result.epsilon:.4g}, "
        f"{row['seconds']:.1f} s" + (f", resumed from step {result.resumed_from}" if result.resumed_from else ""))
    return {"row": row, "log": log.lines}


def audit_model(spec: dict):
    """The quantum model an audit job trains: ``qubits``, ``layers`` and ``noise`` of its spec."""
    from ..models import build_model

    return build_model(qubits=spec["qubits"], layers=spec["layers"], noise=spec["noise"])


def _run_audit(spec: dict, log) -> dict:
    """An audit job: the membership game of :func:`dpqml.audit.audit_pipeline` at its defaults, for
    the protocol's quantum model (noisy for ``device-noise``)."""
    from ..audit import audit_pipeline

    t0 = time.perf_counter()
    model = audit_model(spec)
    result = audit_pipeline(model, mechanism=spec["mechanism"], epsilon=spec["epsilon"], delta=spec["delta"],
                            seed=spec["seed"])
    row = {"job": job_key(spec), "kind": "audit", **result.to_dict(), "seconds": time.perf_counter() - t0}
    log(f"done: {result.verdict}")
    return {"row": row, "log": log.lines}


def run_job_safely(spec: dict, work_dir: str | None = None, log_path: str | None = None) -> dict:
    """:func:`run_job`, with a failure returned as ``{"error": traceback, "log": [...]}`` (so one bad
    job never takes a sweep down and its traceback reaches the job's log)."""
    try:
        return run_job(spec, work_dir, log_path)
    except Exception:  # noqa: BLE001 - reported per job, the sweep goes on
        tb = traceback.format_exc()
        _Log(log_path, append=True)("failed:\n" + tb)
        return {"error": tb, "log": [log_header(spec), f"job {job_key(spec)} {job_label(spec)}", "failed:", tb]}


def log_header(spec: dict) -> str:
    """The first line of a job's log: which of its lines and fields ε does not cover."""
    if spec.get("kind") == "audit":
        return "diagnostics: none in this log (an audit trains on its own synthetic canaries, not on the data sets)"
    return (f"{DIAGNOSTICS_NOTE}: in this log, every field of the 'epoch' lines except "
            f"{', '.join(PUBLIC_EPOCH_FIELDS)}, and the 'warning' lines")


OUTCOME_FILE = "outcome.json"


def run_chunk(chunk: list[tuple]) -> list[tuple[str, dict]]:
    """Run ``[(key, spec, work_dir, log_path), ...]`` one after another in this process (jobs of one
    model share its compiled code); each outcome is also written to ``work_dir/outcome.json``
    the moment it is known, so that a finished job survives the sweep being killed."""
    results = []
    for key, spec, work_dir, log_path in chunk:
        outcome = run_job_safely(spec, work_dir, log_path)
        if work_dir is not None:
            save_outcome(Path(work_dir), outcome)
        results.append((key, outcome))
    return results


def save_outcome(work_dir: Path, outcome: dict) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / (OUTCOME_FILE + ".tmp")
    tmp.write_text(canonical_json(outcome))
    os.replace(tmp, work_dir / OUTCOME_FILE)  # atomic: a reader sees all of it or nothing


def read_outcome(work_dir) -> dict | None:
    """The outcome a worker left in ``work_dir`` (None if there is none)."""
    path = Path(work_dir) / OUTCOME_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class _Log:
    """Lines kept in memory and, when a path is given, appended to that file as they come."""

    def __init__(self, path: str | None, append: bool = False):
        self.lines: list[str] = []
        self.path = Path(path) if path else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not append:
                self.path.write_text("")

    def __call__(self, line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        self.lines.append(stamped)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(stamped + "\n")
