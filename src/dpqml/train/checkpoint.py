"""Atomic checkpoints of a training run: parameters, optimizer state, step and history.

``state.npz`` holds the leaves of ``(params, opt_state)``; ``state.json`` holds the step, the
run's settings, its history, a fingerprint of its training data and (``randomness="fast"``) the
secret of its mechanism. Both are written to a temporary name and renamed, so a crash leaves
either the old checkpoint or the new one, never half of one. The tree structure is not stored:
the trainer rebuilds it from the model and optimizer (a template), which also checks that a
checkpoint belongs to the same model.

A checkpoint directory is as secret as the training data: it holds per-epoch diagnostics computed
from the data, the data's fingerprint and possibly the mechanism's secret.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import zipfile
from pathlib import Path

import jax
import numpy as np

from ..privacy.ledger import START_OVER

ARRAYS_FILE = "state.npz"
META_FILE = "state.json"
LOCK_FILE = ".lock"
#: Keys every ``state.json`` has.
META_KEYS = ("step", "history", "train_config", "steps_spent")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not belong to this run; the message names the file."""


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
    """Whether ``directory`` holds a checkpoint, or any part of one (a damaged checkpoint counts:
    :func:`load_checkpoint` then says what is wrong)."""
    return directory is not None and any((Path(directory) / f).exists() for f in (META_FILE, ARRAYS_FILE))


def read_meta(directory) -> dict:
    """``state.json`` of the checkpoint in ``directory``; a missing, unreadable or malformed file
    raises :class:`CheckpointError` naming it."""
    d = Path(directory)
    path = d / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing but {d / ARRAYS_FILE} exists: the checkpoint is damaged; "
                              f"{START_OVER}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc}); the checkpoint is damaged; "
                              f"{START_OVER}") from None
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it is not a dpqml checkpoint, or it is damaged; "
                              f"{START_OVER}")
    return meta


def load_checkpoint(directory, template):
    """Read a checkpoint into the structure of ``template``; returns ``(tree, meta)``.

    Raises :class:`CheckpointError` (a ``ValueError``) naming the file for a missing, unreadable
    or damaged part, or for one written for a different model.
    """
    d = Path(directory)
    meta = read_meta(d)
    path = d / ARRAYS_FILE
    try:
        with np.load(path) as z:
            leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing but {d / META_FILE} exists: the checkpoint is damaged; "
                              f"{START_OVER}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc}); the checkpoint is damaged; "
                              f"{START_OVER}") from None
    t_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(leaves) != len(t_leaves) or any(a.shape != np.shape(b) for a, b in zip(leaves, t_leaves)):
        raise CheckpointError(f"the checkpoint in {d} does not match this model's parameters; "
                              "use a new checkpoint directory for a different model")
    leaves = [np.asarray(a, dtype=np.asarray(b).dtype) for a, b in zip(leaves, t_leaves)]
    return jax.tree_util.tree_unflatten(treedef, leaves), meta


@contextlib.contextmanager
def directory_lock(directory, busy_message: str):
    """Hold an exclusive lock on ``directory`` (created if needed) for the ``with`` block; if another
    process holds it, raise ``ValueError(busy_message)`` at once. The lock goes with the process,
    so a killed run never leaves a directory locked."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    handle = (d / LOCK_FILE).open("w")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(busy_message) from None
        yield
    finally:
        handle.close()
