"""Shadow scoring: the challenger models score the same live request as the champion; only stored, never acted on.

Each family the challenger has a model for gets one row per decision with both predictions and whether they
agree (same reason code; same fraud band). `triage shadow report` later joins the rows to outcomes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from returns_triage.serving.service.models import LoadedModels

__all__ = ["ShadowPredictionStore", "shadow_rows", "record_shadow"]

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
