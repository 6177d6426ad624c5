"""Re-deriving a stored decision: the recorded input, the recorded bundles and the recorded policy, run again.

:func:`replay_decision` reads the decision, its case's request (checked against the recorded ``inputs_sha256``)
and its audit entry, finds the model bundles of the recorded versions *and* manifest digests among the given
folders (the serving folder, the local model store, any archive), loads the routing policy of the recorded hash
from ``policy_documents``, and runs the scoring path again with the decision's own clock and id. The result says
whether route, review, reasons, explanation, reason and risk are identical, and lists what differs.

With ``policy_file`` the same evidence is routed by another policy instead: what it would have decided.

Document extractions are taken from the decision as recorded (the files are content-addressed, their extraction
is evidence); the 3-way match over them, the models and the policy all run again. Serving-side code only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, or_, select

from returns_triage.errors import Conflict, ModelUnavailable, NotFound, TriageError
from returns_triage.models.bundle import MANIFEST_NAME, load_manifest
from returns_triage.serving.domain.failsafe import FailsafeBoard, FailsafeState
from returns_triage.serving.domain.model import sha256_of
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.domain.policy_document import PolicyDocument, load_policy_document
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.scoring import ScoringService
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.monitoring import recorded_vetted_inputs, state_from_row
from returns_triage.serving.storage.tables import (
    audit_entries,
    cases,
    decisions,
    failsafe_states,
    outcomes,
    review_decisions,
    review_items,
)

__all__ = ["COMPARED_FIELDS", "ReplayResult", "replay_decision", "find_bundle"]

COMPARED_FIELDS = ("route", "review", "reasons", "explanation", "reason", "risk")
"""The parts of a decision a replay must reproduce exactly."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    decision_id: str
    identical: bool
    what_if: bool  # routed by another policy than the recorded one
    recorded_policy_version: str
    replay_policy_version: str
    bundles: dict[str, str]  # family -> folder the recorded bundle was loaded from
    differences: list[dict[str, Any]] = field(default_factory=list)  # {"field", "recorded", "replayed"}
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bundle_candidates(roots: Sequence[Path], family: str) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        nested = sorted(p for p in (root / family).glob("*") if p.is_dir()) if (root / family).is_dir() else []
        for directory in (root / family, *nested, root):
            if (directory / MANIFEST_NAME).is_file() and directory not in found:
                found.append(directory)
    return found


def find_bundle(roots: Sequence[Path], family: str, version: str, digest: str | None) -> Path:
    """The folder under ``roots`` holding bundle ``family`` at ``version`` whose manifest digest is ``digest``.

    Looks at ``ROOT/FAMILY`` (a serving model folder), ``ROOT/FAMILY/*`` (the local model store's layout) and
    ``ROOT`` itself. Raises :class:`ModelUnavailable` naming the version and digest when none matches.
    """
    for directory in _bundle_candidates(roots, family):
        try:
            manifest = load_manifest(directory, verify=False)
        except TriageError:
            continue
        if manifest.version == version and (digest is None or manifest.digest == digest):
            return directory
    wanted = f"{family} bundle {version}" + (f" (manifest digest {digest[:16]}…)" if digest else "")
    raise ModelUnavailable(f"the {wanted} the decision was made with is not available under "
                            f"{', '.join(str(r) for r in roots) or '(no folder given)'}; restore it from the model "
                            "store or registry and pass its folder with --models", code="bundle_unavailable")


def _load_models(roots: Sequence[Path], versions: dict[str, str], digests: dict[str, str]) -> tuple[
        LoadedModels, dict[str, str]]:
    from returns_triage.models.fraud import FraudScorer
    from returns_triage.models.reason import ReasonModel

    loaded: dict[str, Any] = {}
    where: dict[str, str] = {}
    # Document extractions are replayed from the record, so only the families that run on the request load.
    for family, loader in (("reason", ReasonModel.load), ("fraud", FraudScorer.load)):
        if family not in versions:
            continue
        directory = find_bundle(roots, family, versions[family], digests.get(family))
        loaded[family] = loader(directory)  # verifies every file hash again before use
        where[family] = str(directory)
    models = LoadedModels(reason=loaded.get("reason"), fraud=loaded.get("fraud"),
                          digests={k: v for k, v in digests.items() if k in loaded})
    return models, where


class _RecordedDocuments:
    """The document extractions as the decision recorded them, served to the scoring path again."""

    def __init__(self, document: dict[str, Any]) -> None:
        docs = document.get("documents") or {}
        self._by_id = dict(zip(docs.get("document_ids") or [], docs.get("extractions") or [], strict=False))

    def extractions_for(self, ids: list[str], *, tenant: str) -> list[dict[str, Any]]:
        missing = [i for i in ids if i not in self._by_id]
        if missing:
            raise NotFound(f"the decision does not record the extraction of documents {missing}")
        return [self._by_id[i] for i in ids]


def _recorded(engine: Engine, decision_id: str, tenant: str | None) -> tuple[str, dict[str, Any], dict[str, Any],
                                                                            dict[str, Any] | None]:
    query = (select(decisions.c.tenant, decisions.c.document, decisions.c.kind, cases.c.payload)
             .join(cases, cases.c.id == decisions.c.case_ref).where(decisions.c.decision_id == decision_id))
    if tenant is not None:
        query = query.where(decisions.c.tenant == tenant)
    with engine.connect() as conn:
        row = conn.execute(query).first()
        entry = conn.execute(select(audit_entries.c.payload).where(audit_entries.c.kind == "decision",
                                                                   audit_entries.c.subject_id == decision_id)
                             .order_by(audit_entries.c.seq).limit(1)).scalar_one_or_none()
        refusal = _not_a_decision(conn, decision_id, tenant) if row is None else None
    if refusal is not None:
        raise NotFound(refusal, code="not_a_decision")
    if row is None:
        raise NotFound(f"decision {decision_id} not found", code="decision_not_found")
    if row.kind != "return":
        raise NotFound(f"decision {decision_id} is a {row.kind} decision (audit entries of kind {row.kind}); replay "
                       "re-derives the decisions on returns scored by the models and the routing policy only",
                       code="not_a_decision")
    document = row.document if isinstance(row.document, dict) else json.loads(row.document)
    payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    return row.tenant, dict(document), dict(payload), (None if entry is None else json.loads(entry))


def _not_a_decision(conn: Connection, some_id: str, tenant: str | None) -> str | None:
    """Why ``some_id`` cannot be replayed when it names a review decision, a review item or an outcome (the
    facts recorded by ``review_action``, ``override`` and ``outcome`` entries) instead of a decision; else None."""
    for what, kinds, table, id_column in (
        ("a review decision", "review_action or override", review_decisions, review_decisions.c.review_decision_id),
        ("a review item", "review_action or override", review_items, review_items.c.item_id),
        ("an outcome", "outcome", outcomes, outcomes.c.outcome_id),
    ):
        query = select(table.c.decision_id).where(id_column == some_id)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        found = conn.execute(query.limit(1)).first()
        if found is not None:
            about = f"; replay the decision it is about: {found[0]}" if found[0] else ""
            return (f"{some_id} is {what} (audit entries of kind {kinds}), not a decision: replay re-derives "
                    f"decisions made by the models and the policy{about}")
    return None


def _policy(engine: Engine, document: dict[str, Any], evidence: dict[str, Any],
            policy_file: str | Path | None) -> tuple[DocumentPolicy, bool]:
    if policy_file is not None:
        return DocumentPolicy(load_policy_document(policy_file)), True
    version = str(document["policy_version"])
    digest = evidence.get("policy_sha256") or document.get("policy_sha256")
    log = SqlAuditLog(engine)
    content = log.policy_document(sha256=digest) if digest else log.policy_document(version=version)
    if content is None:
        raise NotFound(f"policy version {version} is not stored; it is recorded from the first decision a "
                                "process makes with it (decisions older than that need --policy FILE)",
                                code="policy_unavailable")
    policy = PolicyDocument(name=str(content["policy"]["name"]), content=content, source=f"stored:{version}")
    if policy.version != version:
        raise Conflict(f"the stored policy hashes to {policy.version}, the decision recorded {version}",
                                code="policy_mismatch")
    return DocumentPolicy(policy), False


def replay_decision(engine: Engine, decision_id: str, *, model_roots: Sequence[Path],
                    policy_file: str | Path | None = None, tenant: str | None = None) -> ReplayResult:
    """Re-run ``decision_id`` with its recorded input, bundles and policy (or ``policy_file`` instead)."""
    tenant_, document, case_payload, entry = _recorded(engine, decision_id, tenant)
    evidence = entry or {}
    # The logged request first (entries cannot change); the case row's for decisions logged before it was kept.
    candidates = [c for c in (evidence.get("request"), case_payload) if isinstance(c, dict)]
    request = next((c for c in candidates if sha256_of(c) == document["inputs_sha256"]), None)
    if request is None:
        raise Conflict(f"no stored request of decision {decision_id} hashes to the recorded inputs_sha256: "
                       "it was altered", code="input_mismatch")
    versions = dict(evidence.get("model_versions") or document.get("model_versions") or {})
    digests = dict(evidence.get("model_digests") or document.get("model_digests") or {})
    if "reason" not in versions:
        raise ModelUnavailable(f"decision {decision_id} records no reason-model version")
    models, where = _load_models(model_roots, versions, digests)
    policy, what_if = _policy(engine, document, evidence, policy_file)
    policy.failsafe = _recorded_failsafes(engine, tenant_, document)
    created_at = datetime.fromisoformat(document["created_at"])
    service = ScoringService(cast(Any, None), models, policy, documents=cast(Any, _RecordedDocuments(document)),
                             clock=lambda: created_at, new_id=lambda: decision_id)
    replayed = service.decide(tenant_, request).to_document()
    differences = [{"field": name, "recorded": document.get(name), "replayed": replayed.get(name)}
                   for name in COMPARED_FIELDS if not _same(_normal(document.get(name)), _normal(replayed.get(name)))]
    return ReplayResult(
        decision_id=decision_id, identical=not differences, what_if=what_if,
        recorded_policy_version=str(document["policy_version"]), replay_policy_version=policy.version,
        bundles=where, differences=differences,
        recorded={k: document.get(k) for k in COMPARED_FIELDS},
        replayed={k: replayed.get(k) for k in COMPARED_FIELDS},
    )


_FAILSAFE_CLAUSE = re.compile(r"fail-safe ([0-9a-f]{8}) \(")


def _recorded_failsafes(engine: Engine, tenant: str, document: dict[str, Any]) -> FailsafeBoard:
    """The fail-safe states the router applied to this decision, as they were then: the ones its reasons name
    (a hold, or tightened gates it passed), reopened if they have cleared since. A decision that names none was
    routed with none covering its segment, so the replay routes it with none."""
    texts = [str(r) for r in document.get("reasons") or []] + [str(document.get("explanation") or "")]
    prefixes = sorted({m.group(1) for t in texts for m in _FAILSAFE_CLAUSE.finditer(t)})
    states: list[FailsafeState] = []
    if prefixes:
        with engine.connect() as conn:
            rows = conn.execute(select(failsafe_states).where(
                failsafe_states.c.tenant == tenant,
                or_(*(failsafe_states.c.state_id.startswith(p, autoescape=True) for p in prefixes))))
            states = [replace(state_from_row(row), cleared_at=None, cleared_reason=None) for row in rows]
    inputs = recorded_vetted_inputs(engine, tenant, texts)  # the vetted inputs that held it, as published then
    return FailsafeBoard(lambda: states, load_inputs=lambda: inputs, refresh_seconds=float("inf"))


def _normal(value: Any) -> Any:
    """Stored JSON and a fresh document compare as the same JSON (tuples vs lists, key order)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _same(a: Any, b: Any) -> bool:
    """Equal JSON, floats within 1e-6: onnxruntime may group a batch differently, never beyond the stored rounding."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and abs(float(a) - float(b)) <= 1e-6
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
