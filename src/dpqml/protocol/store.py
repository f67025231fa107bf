"""The results database: one SQLite file per output directory, one protocol per database.

Table ``meta`` records the protocol (its fingerprint and settings) and which fields of the results
ε does not cover (``diagnostics``, ``diagnostics_note``); table ``jobs`` has one row
per job, keyed by the hash of the job's full spec, with its status (``pending``, ``running``,
``done``, ``failed``), result and timing. Only the process that runs the sweep writes to it, and
every change is committed at once, so killing the sweep loses nothing that had finished.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

from ..diagnostics import DIAGNOSTIC_FIELDS, DIAGNOSTICS_NOTE
from .config import canonical_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL
);
"""


def _decode(text: str):
    """JSON with ``"inf"`` turned back into ``math.inf`` where the protocol writes numbers."""
    def fix(obj):
        if isinstance(obj, dict):
            return {k: fix(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        return math.inf if obj == "inf" else obj

    return fix(json.loads(text))


class ResultStore:
    """``DIR/results.sqlite`` for one protocol (refuses a database of another)."""

    def __init__(self, path, fingerprint: str, protocol: dict):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
                self.db.execute("INSERT INTO meta VALUES ('protocol', ?)", (canonical_json(protocol),))
                self.db.execute("INSERT INTO meta VALUES ('created', ?)", (time.strftime("%Y-%m-%d %H:%M:%S"),))
        elif row[0] != fingerprint:
            other = self.db.execute("SELECT value FROM meta WHERE key = 'protocol'").fetchone()
            name = _decode(other[0]).get("name", "?") if other else "?"
            self.db.close()
            raise ValueError(
                f"{self.path} holds the results of a different protocol ({name!r}, fingerprint {row[0]}; this one is "
                f"{fingerprint}); refusing to mix them: use another --out directory or remove that one")
        with self.db:  # on every open: a database written before the label (or its wording) gets it too
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                [("diagnostics", json.dumps(list(DIAGNOSTIC_FIELDS))),
                                 ("diagnostics_note", DIAGNOSTICS_NOTE)])

    def close(self) -> None:
        self.db.close()

    # -- jobs ----------------------------------------------------------------------------------
    def add_jobs(self, jobs: list[tuple[str, str, dict]]) -> None:
        """Register ``(key, label, spec)`` jobs; ones already known are left as they are."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO jobs (key, label, spec) VALUES (?, ?, ?)",
                                [(k, label, canonical_json(spec)) for k, label, spec in jobs])

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM jobs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())

    def mark_running(self, key: str) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'running', attempts = attempts + 1, started = ? WHERE key = ?",
                            (time.time(), key))

    def mark_done(self, key: str, row: dict) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'done', result = ?, error = NULL, finished = ? WHERE key = ?",
                            (canonical_json(row), time.time(), key))

    def mark_failed(self, key: str, error: str) -> None:
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE key = ?",
                            (error, time.time(), key))

    def job(self, key: str) -> dict | None:
        """A job's record: ``key label spec status result error attempts started finished``."""
        cur = self.db.execute("SELECT key, label, spec, status, result, error, attempts, started, finished "
                              "FROM jobs WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        rec = dict(zip([c[0] for c in cur.description], row))
        rec["spec"] = _decode(rec["spec"])
        rec["result"] = _decode(rec["result"]) if rec["result"] else None
        return rec

    def rows(self, keys=None) -> list[dict]:
        """The result rows of finished jobs (all, or those in ``keys``), in the order given."""
        done = dict(self.db.execute("SELECT key, result FROM jobs WHERE status = 'done'").fetchall())
        order = keys if keys is not None else sorted(done)
        return [_decode(done[k]) for k in order if k in done]
