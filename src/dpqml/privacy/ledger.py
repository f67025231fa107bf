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


class PrivacyLedger:
    """Steps spent under one privacy configuration; in memory, or persisted in ``directory``."""

    def __init__(self, config: PrivacyConfig, directory: str | os.PathLike | None = None):
        self.config = config
        self.path = Path(directory) / LEDGER_FILE if directory is not None else None
        self.steps_spent = 0
        self.blocks: list[dict] = []
        if self.path is not None and self.path.exists():
            self._load()
        elif self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"config": config.to_dict(), "created": time.time()})

    @staticmethod
    def read(directory: str | os.PathLike) -> tuple[PrivacyConfig, int]:
        """The configuration and the steps spent recorded in ``directory``'s ledger."""
        path = Path(directory) / LEDGER_FILE
        lines = [json.loads(s) for s in path.read_text().splitlines() if s.strip()]
        config = PrivacyConfig.from_dict(lines[0]["config"])
        return config, sum(int(rec["reserve"]) for rec in lines[1:] if "reserve" in rec)

    def _load(self) -> None:
        stored, spent = self.read(self.path.parent)
        if stored != self.config:
            diff = {k: (v, getattr(self.config, k)) for k, v in stored.to_dict().items()
                    if getattr(self.config, k) != v}
            raise ValueError(
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
