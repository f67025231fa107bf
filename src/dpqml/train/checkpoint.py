"""Atomic checkpoints of a training run: parameters, optimizer state, step and history.

``state.npz`` holds the leaves of ``(params, opt_state)``; ``state.json`` holds the step, the
run's settings and its history. Both are written to a temporary name and renamed, so a crash
leaves either the old checkpoint or the new one, never half of one. The tree structure is not
stored: the trainer rebuilds it from the model and optimizer (a template), which also checks
that a checkpoint belongs to the same model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np

ARRAYS_FILE = "state.npz"
META_FILE = "state.json"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(directory, tree, meta: dict) -> None:
    """Write the pytree ``tree`` (e.g. ``(params, opt_state)``) and the JSON-able ``meta``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
    _atomic_write(d / ARRAYS_FILE, lambda f: np.savez(f, *leaves))
    _atomic_write(d / META_FILE, lambda f: f.write(json.dumps(meta, indent=1).encode()))


def has_checkpoint(directory) -> bool:
    return directory is not None and (Path(directory) / META_FILE).exists()


def load_checkpoint(directory, template):
    """Read a checkpoint into the structure of ``template``; returns ``(tree, meta)``."""
    d = Path(directory)
    meta = json.loads((d / META_FILE).read_text())
    with np.load(d / ARRAYS_FILE) as z:
        leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(leaves) != len(t_leaves) or any(a.shape != np.shape(b) for a, b in zip(leaves, t_leaves)):
        raise ValueError(f"the checkpoint in {d} does not match this model's parameters; "
                         "use a new checkpoint directory for a different model")
    leaves = [np.asarray(a, dtype=np.asarray(b).dtype) for a, b in zip(leaves, t_leaves)]
    return jax.tree_util.tree_unflatten(treedef, leaves), meta
