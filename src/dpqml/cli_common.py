"""What every command of the ``dpqml`` command line shares: the model flags, the model they build,
and JSON output."""

from __future__ import annotations

import argparse
import json
import sys

from .argtypes import int_at_least, positive_int
from .models import ENCODINGS, MODEL_ANSATZE, NOISE_PRESETS, READOUTS, ModelSpec
from .report.files import to_jsonable

_MODEL_DEFAULTS = {"qubits": 4, "layers": 2, "ansatz": "hea", "encoding": "angle-y", "readout": "z0",
                   "noise": "none"}


def add_model_args(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """The model flags shared by every command that builds a model.

    With ``defaults=False`` unset flags stay ``None`` (so a command can tell whether the user
    named a model); :data:`_MODEL_DEFAULTS` then fills them in.
    """
    d = _MODEL_DEFAULTS if defaults else dict.fromkeys(_MODEL_DEFAULTS)
    g = p.add_argument_group("model (defaults: the standard model)")
    g.add_argument("--qubits", type=positive_int("--qubits"), default=d["qubits"],
                   help="number of qubits n (default 4)")
    g.add_argument("--layers", type=positive_int("--layers"), default=d["layers"], help="ansatz layers L (default 2)")
    g.add_argument("--ansatz", choices=MODEL_ANSATZE, default=d["ansatz"], help="trainable layers (default hea)")
    g.add_argument("--encoding", choices=ENCODINGS, default=d["encoding"], help="feature encoding (default angle-y)")
    g.add_argument("--readout", default=d["readout"],
                   help=f"measured observables, one of {', '.join(READOUTS)} (default z0)")
    g.add_argument("--noise", default=d["noise"],
                   help=f"device-noise preset: {', '.join(NOISE_PRESETS)}; join with '+' (default none)")


def spec_from_args(args) -> ModelSpec:
    return ModelSpec(qubits=args.qubits, layers=args.layers, ansatz=args.ansatz, encoding=args.encoding,
                     readout=args.readout, noise=args.noise)


def write_json(obj, dest: str) -> None:
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)  # inf -> "inf", NaN -> null, as in results.json
    if dest == "-":
        print(text)
    else:
        with open(dest, "w") as fh:
            fh.write(text + "\n")
        print(f"wrote {dest}", file=sys.stderr)


def nonnegative_int(name):
    return int_at_least(name, 0)


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json [PATH]``: machine-readable output, to stdout or to a file checked before any work."""
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="machine-readable output: to stdout, or to PATH (its directory must exist and be "
                        "writable: checked before any work)")
