"""The audit checkpoint worker: signs the decision log's tree head periodically, so no entry stays unsealed long.

A checkpoint is signed when ``every`` entries were appended since the last one, or when any entry is newer than the
last checkpoint and that checkpoint is ``max_age_seconds`` old. Each is stored in the database and written as JSON
to the checkpoint directory (which should be copied or mounted off the database host). Run it with
``triage worker audit``; two workers racing for one tree size store it once (the size is the key).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from returns_triage.serving.domain.audit import Checkpoint
from returns_triage.serving.service.audit import CheckpointSigner, checkpoint_due, make_checkpoint
from returns_triage.serving.storage.audit_log import SqlAuditLog

__all__ = ["CheckpointSchedule", "AuditCheckpointWorker"]

log = logging.getLogger("returns_triage.audit")


@dataclass(frozen=True, slots=True)
class CheckpointSchedule:
    every: int = 1000
    max_age_seconds: float = 60.0


class AuditCheckpointWorker:
    def __init__(self, engine: Engine, signer: CheckpointSigner, *, directory: Path | None,
                 schedule: CheckpointSchedule = CheckpointSchedule()) -> None:
        self.log = SqlAuditLog(engine)
        self.signer = signer
        self.directory = directory
        self.schedule = schedule

    def run_once(self) -> Checkpoint | None:
        """Sign a checkpoint if one is due; the new checkpoint, or None."""
        if not checkpoint_due(self.log, every=self.schedule.every, max_age_seconds=self.schedule.max_age_seconds):
            return None
        try:
            checkpoint = make_checkpoint(self.log, self.signer, directory=self.directory)
        except IntegrityError:
            log.info("another worker signed this tree size first")
            return None
        log.info("signed audit checkpoint at tree size %d", checkpoint.tree_size)
        return checkpoint

    def run(self, stop: threading.Event, *, idle_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a worker keeps going; the next round retries
                log.exception("audit checkpoint round failed")
            stop.wait(idle_seconds)
