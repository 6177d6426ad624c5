"""Shadow scoring: the challenger models score the same live request as the champion; only stored, never acted on.

Each family the challenger has a model for gets one row per decision with both predictions and whether they
agree (same reason code; same fraud band). `triage shadow report` later joins the rows to outcomes.

The challenger scores off the request path: :class:`ShadowRecorder` queues each decision and one background thread
scores and stores it, so a live request never waits for a second pass through the models. The queue is bounded:
when the challenger falls behind (a peak), decisions beyond ``capacity`` are not shadow-scored, and counted as
``dropped``; the champion's decisions are never held back for the experiment.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from returns_triage.serving.service.models import LoadedModels

__all__ = ["ShadowPredictionStore", "ShadowRecorder", "ShadowStats", "shadow_rows", "record_shadow"]

log = logging.getLogger("returns_triage.shadow")


class ShadowPredictionStore(Protocol):
    def save(self, rows: list[dict[str, Any]]) -> None: ...


def shadow_rows(decision: Mapping[str, Any], request: Mapping[str, Any], champion: LoadedModels,
                challenger: LoadedModels, *, tenant: str) -> list[dict[str, Any]]:
    """The rows to store for one decision (``decision`` as its stored document): one per family both serve."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []

    def row(family: str, champ_version: str, champ: dict[str, Any], chall_version: str, chall: dict[str, Any],
            agree: bool) -> None:
        rows.append({"shadow_id": str(uuid.uuid4()), "tenant": tenant, "decision_id": decision["decision_id"],
                     "family": family, "champion_version": champ_version, "challenger_version": chall_version,
                     "champion": champ, "challenger": chall, "agree": agree, "created_at": now})

    reason = decision.get("reason") or {}
    if challenger.reason is not None and reason:
        (pred,) = challenger.reason.predict([str(request["reason_text"])])
        theirs = {"code": pred.code, "confidence": round(float(pred.confidence), 6), "abstain": bool(pred.abstain)}
        ours = {"code": reason["code"], "confidence": reason["confidence"], "abstain": reason["abstain"]}
        row("reason", reason["model_version"], ours, challenger.reason.version, theirs, ours["code"] == theirs["code"])
    risk = decision.get("risk")
    if challenger.fraud is not None and risk:
        documents = decision.get("documents") or {}
        findings = list(documents.get("findings") or []) if decision.get("documents") else None
        # The champion saw `requested_at` as scored; the challenger must see the same request.
        seen = dict(request) if request.get("requested_at") else {**request, "requested_at": decision["created_at"]}
        raw = challenger.fraud.score(seen, reason_code=reason.get("code"), findings=findings)
        theirs = {"score": round(float(raw["score"]), 6), "band": raw["band"]}
        ours = {"score": risk["score"], "band": risk["band"]}
        row("fraud", risk["model_version"], ours, challenger.fraud.version, theirs, ours["band"] == theirs["band"])
    return rows


def record_shadow(store: ShadowPredictionStore, decision: Mapping[str, Any], request: Mapping[str, Any],
                  champion: LoadedModels, challenger: LoadedModels, *, tenant: str | None = None) -> int:
    """Score ``request`` with the challenger and store the comparison; never fails the live request."""
    try:
        rows = shadow_rows(decision, request, champion, challenger,
                           tenant=tenant or str(decision.get("tenant") or "default"))
        if rows:
            store.save(rows)
        return len(rows)
    except Exception:  # noqa: BLE001 - the challenger is an experiment: its failure must not touch the decision
        log.exception("shadow scoring failed for decision %s", decision.get("decision_id"))
        return 0


@dataclass(slots=True)
class ShadowStats:
    """``queued`` decisions were handed over, ``recorded`` of them scored, ``dropped`` not queued because the queue
    was full."""

    queued: int = 0
    recorded: int = 0
    dropped: int = 0


class ShadowRecorder:
    """Shadow-scores decisions on one background thread (started on first use), at most ``capacity`` waiting."""

    def __init__(self, store: ShadowPredictionStore, *, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.store = store
        self.capacity = capacity
        self.stats = ShadowStats()
        self._jobs: deque[tuple[bytes, Mapping[str, Any], LoadedModels, LoadedModels, str]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, decision_body: bytes, request: Mapping[str, Any], champion: LoadedModels,
               challenger: LoadedModels, *, tenant: str) -> bool:
        """Queue one decision (its response body) for the challenger; False when it was dropped (queue full or
        recorder closed). Never blocks and never raises."""
        with self._cond:
            if self._closed or len(self._jobs) >= self.capacity:
                self.stats.dropped += 1
                if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                    log.warning("shadow scoring is behind: %d decisions not shadow-scored so far", self.stats.dropped)
                return False
            self._jobs.append((decision_body, request, champion, challenger, tenant))
            self.stats.queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shadow-recorder", daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued decision is recorded; False if that took longer than ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Record what is queued (up to ``timeout`` seconds), then stop; later decisions are dropped."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs or self._closed)
                if not self._jobs:
                    return
                body, request, champion, challenger, tenant = self._jobs.popleft()
                self._busy = True
            try:
                record_shadow(self.store, json.loads(body), request, champion, challenger, tenant=tenant)
            except Exception:  # noqa: BLE001 - a malformed body must not stop the recorder
                log.exception("shadow scoring failed")
            with self._cond:
                self._busy = False
                self.stats.recorded += 1
                self._cond.notify_all()
