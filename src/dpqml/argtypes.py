"""argparse types shared by every ``dpqml`` command: each error names the flag and the valid range;
and the checks of output paths that every command runs before any work."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def number(name: str, *, inf_ok: bool = False):
    """Any number (``inf`` parses too; ``inf_ok`` only says so in the error message)."""
    hint = " (or 'inf')" if inf_ok else ""

    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number{hint}; got {text!r}") from None

    return parse


def int_at_least(name: str, minimum: int):
    """An integer >= ``minimum``."""

    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}; got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= {minimum}; got {v}")
        return v

    return parse


def positive_int(name: str):
    return int_at_least(name, 1)


def _float_in(name: str, allowed: str, ok):
    """A float for which ``ok(value)`` holds; the error says ``{name} must be {allowed}``."""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {allowed}; got {text!r}") from None
        if not ok(v):  # comparisons with nan are false: nan is refused too
            raise argparse.ArgumentTypeError(f"{name} must be {allowed}; got {text}")
        return v

    return parse


def positive_float(name: str):
    """A finite number > 0."""
    return _float_in(name, "a finite number > 0", lambda v: 0 < v < math.inf)


def nonnegative_float(name: str):
    """A finite number >= 0."""
    return _float_in(name, "a finite number >= 0", lambda v: 0 <= v < math.inf)


def probability(name: str):
    """A number in (0, 1], such as a sample rate."""
    return _float_in(name, "a number in (0, 1]", lambda v: 0 < v <= 1)


# --- output paths: checked before any work, so a long run never fails at its last write -------------
def check_output_file(path: str, flag: str, *, created_dirs: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` naming ``flag`` unless ``path`` can be written as a file later.

    The path must not be a directory; an existing file must be writable; otherwise its directory must
    exist (or lie in one of ``created_dirs``, directories the command creates itself, already checked
    with :func:`check_output_dir`) and be writable. Nothing is created.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file path")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise ValueError(f"{flag} {path}: the file exists and is not writable")
        return
    parent = p.parent
    if not parent.exists():
        if any(_within(parent, d) for d in created_dirs):
            return
        raise ValueError(f"{flag} {path}: the directory {parent} does not exist; create it first or choose "
                         f"another path")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: the directory {parent} is not writable")


def check_output_dir(path: str, flag: str) -> None:
    """Raise ``ValueError`` naming ``flag`` unless ``path`` is a writable directory or can be created
    (its nearest existing ancestor is a writable directory). Nothing is created."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"{flag} {path}: exists and is not a directory")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{flag} {path}: the directory is not writable")
        return
    ancestor = p.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{flag} {path}: cannot be created: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: cannot be created: the directory {ancestor} is not writable")


def _within(path: Path, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or inside it (lexically, after making both absolute)."""
    a, d = Path(os.path.abspath(path)), Path(os.path.abspath(directory))
    return a == d or d in a.parents
