"""``run_protocol``: the fixed-clip, fixed-budget comparison, end to end.

1. Validate everything that can be checked before training: load every data set, build every
   model (and its data-free gradient bound G), refuse one whose simulation cannot fit in memory
   (the trainer's own estimate), calibrate σ once per ε; σ is shared by every model and data set
   (they share C, q, T and δ). Nothing is written before this step has passed.
2. Register one job per (data set, model, ε, seed) in ``DIR/results.sqlite``; jobs already done
   (by an earlier, maybe interrupted, run of the same protocol) are skipped; interrupted ones
   resume from their checkpoint in ``DIR/jobs/<key>/``.
3. Run the rest on the executor, with a progress bar over jobs and a log per job in
   ``DIR/logs/``; each result is committed the moment it arrives.
4. Write the report (``dpqml.report``): ``results.json``, ``results.csv``, ``summary.csv``,
   ``report.html`` and the plots.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from ..train.checkpoint import directory_lock
from ..train.trainer import check_training_memory
from .config import ProtocolConfig, canonical_json, dataset_label
from .executors import make_executor
from .families import MODEL_FAMILIES
from .jobs import OUTCOME_FILE, audit_model, job_key, job_label, job_model, job_specs, load_job_dataset, read_outcome
from .store import ResultStore


def calibrate_sigmas(config: ProtocolConfig, n_examples: int) -> dict[float, float]:
    """σ for each ε of the grid (0 for ε = ∞), at the protocol's q, T and δ."""
    from ..privacy.config import PrivacyConfig

    return {eps: PrivacyConfig.from_target_epsilon(eps, delta=config.delta, sample_rate=config.sample_rate,
                                                   steps=config.steps, max_grad_norm=config.max_grad_norm,
                                                   n_examples=n_examples, accountant=config.accountant,
                                                   allow_large_delta=config.allow_large_delta).noise_multiplier
            for eps in config.epsilons}


def _prepare(config: ProtocolConfig) -> tuple[list[dict], dict]:
    """Everything that can fail before training: load every data set, build every model once (and
    its bound G), check that its simulation fits in memory (as ``train`` would, for the largest
    physical batch; audits too), calibrate σ per ε. Returns the job specs and the protocol record of
    the report."""
    datasets = []
    for i, spec in enumerate(config.datasets):
        try:
            datasets.append(load_job_dataset(spec, config.data_seed))
        except (ValueError, OSError) as e:
            raise ValueError(f"datasets[{i}] ({dataset_label(spec)}): {e}") from None
    if "cnn" in config.models and not any(d.meta.get("grid") for d in datasets):
        raise ValueError("models: cnn runs on image data sets only, and none of the datasets is one")
    if any(not math.isinf(eps) for eps in config.epsilons):  # δ against every data set's size, not the first only
        from ..privacy.accounting import check_delta

        for spec, ds in zip(config.datasets, datasets):
            try:
                check_delta(config.delta, len(ds.x_train), allow_large=config.allow_large_delta)
            except ValueError as e:
                raise ValueError(f"delta: {e} (on {dataset_label(spec)}; in a configuration: "
                                 "allow_large_delta = true)") from None
    sigmas = calibrate_sigmas(config, len(datasets[0].x_train))
    specs = job_specs(config, sigmas, datasets)
    built = set()
    for spec in specs:
        if spec.get("kind") == "audit":
            if ("audit", spec["mechanism"]) not in built:
                built.add(("audit", spec["mechanism"]))
                _check_audit_memory(spec)
            continue
        what = (canonical_json(spec["dataset"]), spec["model"])
        if what not in built:
            built.add(what)
            ds = load_job_dataset(spec["dataset"], spec["data_seed"])
            where = f"model {spec['model']} on {dataset_label(spec['dataset'])}"
            try:
                model, _ = job_model(spec, ds)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            try:
                check_training_memory(model, config.max_physical_batch, len(ds.x_train), double=_double(model),
                                      batch_setting="set in the protocol file")
            except MemoryError as e:
                raise MemoryError(f"{where} (qubits = {config.qubits}): {e}") from None
    protocol = {**config.to_dict(), "fingerprint": config.fingerprint(), "steps": config.steps,
                "sigmas": {str(eps): s for eps, s in sigmas.items()},
                "datasets": [{**spec, "label": dataset_label(spec), "n_classes": ds.n_classes,
                              "n_train": len(ds.x_train), "n_test": len(ds.x_test)}
                             for spec, ds in zip(config.datasets, datasets)]}
    return specs, protocol


def _double(model) -> bool:
    """Whether ``model`` trains in double precision (its parameters' dtype, as the trainer decides)."""
    if getattr(model, "circuit", None) is None:
        return False  # no circuit: no memory estimate to make
    import jax
    from jax.flatten_util import ravel_pytree

    return ravel_pytree(model.init(jax.random.PRNGKey(0)))[0].dtype == jax.numpy.float64


def _check_audit_memory(spec: dict) -> None:
    """The audit job ``spec``'s training fits in memory (``MemoryError`` naming the audit if not)."""
    from ..audit.pipeline import check_audit_memory

    model = audit_model(spec)
    try:
        check_audit_memory(model, mechanism=spec["mechanism"], double=_double(model))
    except MemoryError as e:
        raise MemoryError(f"audits: {spec['mechanism']} trains the quantum model at qubits = {spec['qubits']}: {e}; "
                          f"use fewer qubits or leave {spec['mechanism']} out of audits") from None


def output_directory(out_dir) -> Path:
    """``--out`` as a path, refused if it exists and is not a directory."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory")
    return out


def harvest_outcomes(store, tasks) -> int:
    """Mark done the jobs of ``tasks`` (``(key, spec, work_dir, log_path)``) that finished in a worker
    before an earlier sweep was killed (their ``outcome.json``); a recorded failure is removed so that
    the job runs again. Returns how many were harvested."""
    harvested = 0
    for key, _, work_dir, _ in tasks:
        if store.status(key) != "done":
            outcome = read_outcome(work_dir)
            if outcome is not None and "row" in outcome:
                store.mark_done(key, outcome["row"])
                harvested += 1
            elif outcome is not None:
                Path(work_dir, OUTCOME_FILE).unlink()  # a failure: the job runs again
    return harvested


def register_jobs(store, out: Path, specs: list[dict]) -> tuple[list[str], list[tuple]]:
    """Register ``specs`` as jobs in ``store`` (ones already known are left as they are); returns their
    keys and tasks ``(key, spec, work_dir, log_path)``: ``out/jobs/<key>`` and ``out/logs/<label>-<key>.log``."""
    keys = [job_key(s) for s in specs]
    store.add_jobs([(k, job_label(s), s) for k, s in zip(keys, specs)])
    tasks = [(k, s, str((out / "jobs" / k).resolve()), str((out / "logs" / f"{job_label(s)}-{k[:8]}.log").resolve()))
             for k, s in zip(keys, specs)]
    return keys, tasks


def dispatch(runner, store, chunks: list[list[tuple]], commit, bar, stream, n_jobs: int) -> None:
    """Run ``chunks`` of tasks ``(key, spec, work_dir, log_path)`` on ``runner``, at most one chunk per
    worker at a time, and call ``commit(key, outcome)`` once per job the moment its outcome is known
    (a chunk's result, a job finished inside a chunk still running, or what a dead worker left). A
    worker that ran on another machine leaves no log here: its outcome's log is written to the task's
    log path first. Interrupted, it kills the workers (their jobs resume from their checkpoints), says
    so and re-raises; done, it closes ``runner``."""
    reported = set()
    log_of = {task[0]: Path(task[3]) for chunk in chunks for task in chunk}

    def report(key, outcome):
        reported.add(key)
        log = log_of[key]
        if not log.exists():  # the worker ran on another machine: keep its log here
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("\n".join(outcome.get("log", [])) + "\n")
        commit(key, outcome)

    pending = list(chunks)
    running = {}
    try:
        while pending or running:
            while pending and len(running) < runner.workers:
                chunk = pending.pop(0)
                for key, *_ in chunk:
                    store.mark_running(key)
                running[runner.submit(chunk)] = chunk
            for handle in runner.wait(list(running), timeout=1.0):
                chunk = running.pop(handle)
                try:
                    results = runner.result(handle)
                except Exception as e:  # noqa: BLE001 - the worker itself died (killed, out of memory)
                    died = {"error": f"the worker running this job died: {type(e).__name__}: {e}"}
                    results = [(t[0], read_outcome(t[2]) or died) for t in chunk]
                for key, outcome in results:
                    if key not in reported:
                        report(key, outcome)
            for chunk in running.values():  # jobs that finished inside chunks still running
                for key, _, work_dir, _ in chunk:
                    if key not in reported and (outcome := read_outcome(work_dir)) is not None:
                        report(key, outcome)
    except BaseException:
        runner.close(cancel=True)
        if bar:
            bar.close()
        print(f"interrupted: {store.counts().get('done', 0)} of {n_jobs} jobs done and saved in "
              f"{store.path}; run the same command again to resume", file=stream)
        raise
    runner.close()  # the workers go before the report is drawn
    if bar:
        bar.close()


def run_protocol(config: ProtocolConfig, out_dir, *, executor: str = "local", workers: int | None = None,
                 address: str | None = None, progress: bool = True, stream=None) -> dict:
    """Run (or resume) the protocol ``config`` into ``out_dir``; returns a summary dict with
    ``out``, ``report`` (the HTML path), ``files``, ``jobs``, ``ran``, ``skipped``, ``failed`` (labels
    and log paths), ``seconds`` and ``executor``. Bad settings raise ``ValueError`` before any job runs.
    """
    stream = stream or sys.stderr
    t0 = time.perf_counter()
    out = output_directory(out_dir)
    specs, protocol = _prepare(config)
    busy = f"another dpqml compare is running on {out}; wait for it or use another --out"
    with directory_lock(out, busy):
        store = ResultStore(out / "results.sqlite", config.fingerprint(), protocol)
        try:
            runner = make_executor(executor, workers, address)  # a dead Ray address fails here: nothing touched
            try:
                return _sweep(config, specs, store, protocol, out, runner, progress, stream, t0)
            finally:
                runner.close()
        finally:
            store.close()


#: Rough seconds per job on one core, measured on the quick preset (10 epochs, 2 cores): the first job of
#: a chunk compiles the model, the others reuse it; training time scales with epochs. Audit jobs: their
#: defaults' measured durations. Only the order of chunks depends on these figures, never a result.
_COMPILE_SECONDS = {"quantum-noisy": 15.0, "quantum": 9.0, "classical": 4.0}
_JOB_SECONDS = {"quantum-noisy": 1.8, "quantum": 0.4, "classical": 0.3}
_AUDIT_SECONDS = {"device-noise": 60.0, "shots": 40.0}
_AUDIT_DEFAULT_SECONDS = 5.0


def estimated_seconds(chunk: list[tuple]) -> float:
    """A rough estimate of one chunk's run time on one worker (for scheduling only)."""
    spec = chunk[0][1]
    if spec.get("kind") == "audit":
        return sum(_AUDIT_SECONDS.get(task[1]["mechanism"], _AUDIT_DEFAULT_SECONDS) for task in chunk)
    kind = MODEL_FAMILIES[spec["model"]].family
    if kind == "quantum" and spec["model"].endswith("-noisy"):
        kind = "quantum-noisy"
    per_job = _JOB_SECONDS[kind] * float(spec.get("epochs", 10.0)) / 10.0
    return _COMPILE_SECONDS[kind] + per_job * len(chunk)


def _chunks(todo: list[tuple], workers: int) -> list[list[tuple]]:
    """Jobs grouped by (data set, model), so one worker compiles a model once for all its budgets and
    seeds; a group is split when there are too few groups to keep every worker busy. Chunks are handed
    out longest first (by :func:`estimated_seconds`; the long audits among them), so that the sweep
    does not end waiting on one long chunk."""
    groups: dict = {}
    for task in todo:
        spec = task[1]
        group = ("audit", spec["mechanism"]) if spec.get("kind") == "audit" else (
            canonical_json(spec["dataset"]), spec["model"])
        groups.setdefault(group, []).append(task)
    per_group = max(1, -(-2 * workers // len(groups))) if groups else 1
    chunks = []
    for tasks in groups.values():
        size = -(-len(tasks) // per_group)
        chunks += [tasks[i:i + size] for i in range(0, len(tasks), size)]
    return sorted(chunks, key=lambda c: -estimated_seconds(c))


def _sweep(config, specs, store, protocol, out, runner, progress, stream, t0) -> dict:
    keys, tasks = register_jobs(store, out, specs)
    harvested = harvest_outcomes(store, tasks)
    todo = [t for t in tasks if store.status(t[0]) != "done"]
    skipped = len(specs) - len(todo)
    sigmas = ", ".join(f"ε={'∞' if math.isinf(float(e)) else f'{float(e):g}'}: {s:.3f}"
                       for e, s in protocol["sigmas"].items())
    print(f"dpqml compare ({config.name}): {len(specs)} jobs, {skipped} already done, {len(todo)} to run on "
          f"{runner.description}; σ per ε: {sigmas}", file=stream)
    bar = _bar(len(specs), skipped, progress, stream)
    failed = []
    log_of = {t[0]: t[3] for t in todo}

    def commit(key, outcome):
        label = store.job(key)["label"]
        if "row" in outcome:
            store.mark_done(key, outcome["row"])
        else:
            store.mark_failed(key, outcome.get("error", "unknown error"))
            failed.append({"job": key, "label": label, "log": log_of[key]})
        if bar:
            bar.set_postfix_str(label, refresh=False)
            bar.update(1)

    dispatch(runner, store, _chunks(todo, runner.workers), commit, bar, stream, len(specs))
    from ..report import write_report

    rows = store.rows(keys)
    audits = [r for r in rows if r.get("kind") == "audit"]
    rows = [r for r in rows if r.get("kind") != "audit"]
    files = write_report(rows, protocol, out, audits=audits) if rows else {}
    return {
        "out": str(out), "report": str(files["report.html"]) if "report.html" in files else None,
        "files": {k: str(v) for k, v in files.items()}, "jobs": len(specs), "ran": len(todo) - len(failed),
        "skipped": skipped, "harvested": harvested, "failed": failed,
        "seconds": round(time.perf_counter() - t0, 1), "executor": runner.description,
    }


def _bar(total, initial, enabled, stream):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="job", desc="jobs", file=stream, dynamic_ncols=True)
