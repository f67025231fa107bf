"""How the comparison protocol's throughput grows with workers (jobs per second, 1 vs 2 ...).

    python benchmarks/compare_scaling.py                         # the paper preset, 1 and 2 workers
    python benchmarks/compare_scaling.py --datasets moons --seeds 2 --json benchmarks/results-compare-scaling.json

Each measurement runs the protocol from scratch in a fresh directory (compilation included, as a
user would see it) and reports wall seconds, jobs per second and the CPU seconds of the whole
process tree (the sweep and its workers, user + system); ``cores_busy`` = CPU seconds / wall
seconds. The speed-up is relative to the first worker count. A single worker already keeps more
than one core busy at times (XLA runs larger operations on several threads), which bounds the
speed-up of more workers on a small machine: ``cores_busy`` shows by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time

from dpqml.protocol import ProtocolConfig, config_from_dict, run_protocol
from dpqml.protocol.config import PRESETS


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished (reaped) children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper", choices=tuple(PRESETS))
    p.add_argument("--datasets", help="comma-separated subset of the preset's data sets (by name)")
    p.add_argument("--seeds", type=int, help="number of seeds instead of the preset's")
    p.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    p.add_argument("--json", metavar="PATH", help="write the measurements here")
    args = p.parse_args()

    raw = dict(PRESETS[args.preset])
    if args.datasets:
        keep = args.datasets.split(",")
        raw["datasets"] = tuple(d for d in raw["datasets"] if d["name"] in keep)
        if not any(d["name"] in ("digits", "mnist", "fashion-mnist") for d in raw["datasets"]):
            raw["models"] = tuple(m for m in ProtocolConfig().models if m != "cnn")  # cnn needs images
    if args.seeds:
        raw["seeds"] = args.seeds
    config = config_from_dict(raw, "benchmark")
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as out:
            t0, c0 = time.perf_counter(), _cpu_seconds()
            summary = run_protocol(config, out, workers=workers, progress=False)
            seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0  # the pool's workers are reaped by now
        row = {"workers": workers, "jobs": summary["jobs"], "seconds": round(seconds, 1),
               "jobs_per_second": round(summary["jobs"] / seconds, 3), "failed": len(summary["failed"]),
               "cpu_seconds": round(cpu, 1), "cores_busy": round(cpu / seconds, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]["jobs_per_second"]
    for row in rows:
        row["speedup"] = round(row["jobs_per_second"] / base, 2)
    result = {"preset": args.preset, "datasets": [d["name"] for d in config.datasets], "seeds": len(config.seeds),
              "epsilons": [str(e) for e in config.epsilons], "models": list(config.models),
              "cpus": os.cpu_count(), "machine": platform.machine(), "measurements": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
