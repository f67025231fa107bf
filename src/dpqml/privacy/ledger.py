"""The privacy ledger: every DP-SGD step ever taken, written down *before* it is taken.

A ledger lives in a run's checkpoint directory as ``ledger.jsonl``: the first line is the run's
:class:`~dpqml.privacy.config.PrivacyConfig`, every further line reserves a block of steps and is
flushed and ``fsync``-ed before those steps run. If the process dies inside a block, the
checkpoint rolls the model back to the block's start, but the ledger still counts the block:
a resumed run redoes those steps and the reported ε covers both the lost and the redone ones.
So the ε a run reports always covers every step ever taken, crashes included, and a ledger
never shrinks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .config import PrivacyConfig

LEDGER_FILE = "ledger.jsonl"
#: How to start over after a refusal; the checkpoint's errors say the same.
START_OVER = ("to start over, use a new checkpoint directory (the steps already taken still count against this "
               "data's privacy budget)")


class LedgerError(ValueError):
    """A ledger that is missing, unreadable or shorter than the run it belongs to; names the file."""


class PrivacyLedger:
    """Steps spent under one privacy configuration; in memory, or persisted in ``directory``.

    Args:
        config: the run's :class:`PrivacyConfig`.
        directory: where ``ledger.jsonl`` lives (``None``: in memory only). An existing ledger is
            continued; its configuration must equal ``config``.
        at_least: the steps a checkpoint in ``directory`` proves were spent. A ledger that is
            missing, empty, unreadable or counts fewer steps is refused (:class:`LedgerError`),
            never replaced by a fresh one whose ε would leave those steps out.
    """

    def __init__(self, config: PrivacyConfig, directory: str | os.PathLike | None = None, *,
                 at_least: int | None = None):
        self.config = config
        self.path = Path(directory) / LEDGER_FILE if directory is not None else None
        self.steps_spent = 0
        self.blocks: list[dict] = []
        if at_least is not None and (self.path is None or not self.path.exists()):
            raise LedgerError(
                f"{self.path} is missing, but the checkpoint beside it records {at_least} steps already spent: "
                "the privacy ledger of this run is lost, and a fresh one would report an epsilon that leaves "
                f"those steps out; {START_OVER}")
        if self.path is not None and self.path.exists():
            self._load()
            if at_least is not None and self.steps_spent < at_least:
                raise LedgerError(
                    f"{self.path} counts {self.steps_spent} steps, but the checkpoint beside it records {at_least} "
                    f"steps already spent: the ledger was truncated or replaced; {START_OVER}")
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"config": config.to_dict(), "created": time.time()})

    @staticmethod
    def read(directory: str | os.PathLike) -> tuple[PrivacyConfig, int]:
        """The configuration and the steps spent recorded in ``directory``'s ledger; a missing,
        empty, unreadable or malformed ledger raises :class:`LedgerError` naming the file (and line)."""
        path = Path(directory) / LEDGER_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(f"{path} cannot be read ({type(exc).__name__}: {exc}); {START_OVER}") from None
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not (("config" in rec) if not records else ("reserve" in rec)):
                    raise ValueError("not a ledger record")
                if not records:
                    config = PrivacyConfig.from_dict(rec["config"])
                else:
                    steps = rec["reserve"]
                    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                        raise ValueError(f"reserve must be an integer >= 1, got {steps!r}")
            except (ValueError, TypeError) as exc:
                raise LedgerError(f"{path}, line {number}, is damaged ({exc}): {line[:80]!r}; the ledger cannot be "
                                  f"trusted; {START_OVER}") from None
            records.append(rec)
        if not records:
            raise LedgerError(f"{path} is empty: it does not even hold the run's privacy configuration; "
                              f"{START_OVER}")
        return config, sum(int(rec["reserve"]) for rec in records[1:])

    def _load(self) -> None:
        stored, spent = self.read(self.path.parent)
        if stored != self.config:
            diff = {k: (v, getattr(self.config, k)) for k, v in stored.to_dict().items()
                    if getattr(self.config, k) != v}
            raise LedgerError(
                f"{self.path} belongs to a run with a different privacy configuration "
                f"(stored vs requested: {diff}); use a new checkpoint directory or the same settings"
            )
        self.steps_spent = spent

    def _append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def reserve(self, n_steps: int, from_step: int) -> None:
        """Record ``n_steps`` steps starting at ``from_step`` before they run."""
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1; got {n_steps}")
        record = {"reserve": int(n_steps), "from_step": int(from_step), "time": time.time()}
        self.blocks.append(record)
        self.steps_spent += int(n_steps)
        if self.path is not None:
            self._append(record)

    def epsilon(self) -> float:
        """ε covering every step in the ledger (0 before the first step)."""
        return self.config.epsilon(self.steps_spent)
