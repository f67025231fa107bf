"""dpqml.protocol: the fixed-clip, fixed-budget comparison of quantum and classical models.

::

    from dpqml.protocol import preset, run_protocol
    summary = run_protocol(preset("quick"), "out")      # out/report.html, results.json, ...

:class:`ProtocolConfig` fixes every setting before any private data is touched (presets
``quick`` and ``paper``, or :func:`load_config` for a TOML/YAML file); :func:`run_protocol`
calibrates σ once per ε, runs one job per (data set, model, ε, seed) on a local process pool or
Ray, keeps every result in ``results.sqlite`` (a rerun skips finished jobs and resumes
interrupted ones) and writes the report (:mod:`dpqml.report`).
"""

from .config import PRESETS, ProtocolConfig, config_from_dict, load_config, preset
from .executors import EXECUTORS, LocalExecutor, RayExecutor, make_executor
from .families import MODEL_FAMILIES
from .jobs import job_key, job_specs, run_job
from .runner import calibrate_sigmas, run_protocol
from .store import ResultStore

__all__ = [
    "EXECUTORS",
    "MODEL_FAMILIES",
    "PRESETS",
    "LocalExecutor",
    "ProtocolConfig",
    "RayExecutor",
    "ResultStore",
    "calibrate_sigmas",
    "config_from_dict",
    "job_key",
    "job_specs",
    "load_config",
    "make_executor",
    "preset",
    "run_job",
    "run_protocol",
]
