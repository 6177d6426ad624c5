"""HTTP edge of the decision log, read-only: ``/v1/audit/entries``, per-entry proofs, the latest checkpoint.

An entry's ``payload`` is returned as the exact text that was hashed, so an auditor can recompute ``entry_hash``
and, with ``audit_path``, check it against the signed root without trusting this server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter
from msgspec import Struct

from returns_triage.errors import NotFound
from returns_triage.serving.service.audit import entry_proof
from returns_triage.serving.storage.audit_log import SqlAuditLog

__all__ = ["audit_router"]

# Until API keys carry a tenant, every request acts for the default one (as the scoring endpoint does).
_TENANT = "default"
_PAGE_MAX = 500

Kind = Literal["decision", "review_action", "override", "outcome"]


class EntryOut(Struct, kw_only=True):
    seq: int
    tenant: str
    kind: str
    subject_id: str
    actor: str
    created_at: str
    payload: str
    prev_hash: str
    entry_hash: str


class EntryPage(Struct, kw_only=True):
    items: list[EntryOut]
    next_after_seq: int | None


class CheckpointOut(Struct, kw_only=True):
    tree_size: int
    root_hash: str
    last_entry_hash: str
    created_at: str
    key_id: str
    signature: str


class ProofOut(Struct, kw_only=True):
    entry: EntryOut
    leaf_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]
    checkpoint: CheckpointOut


def _log(state: State) -> SqlAuditLog:
    return SqlAuditLog(state.ctx.engine)


@get("/entries", sync_to_thread=True, summary="Audit log entries, oldest first", tags=["audit"],
     description="Filter by kind and subject; page with `after_seq` (pass the previous page's `next_after_seq`).")
def list_entries(
    state: State,
    kind: Kind | None = None,
    subject_id: Annotated[str | None, Parameter(max_length=128)] = None,
    after_seq: Annotated[int, Parameter(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=_PAGE_MAX)] = 100,
) -> EntryPage:
    entries = _log(state).find(tenant=_TENANT, kind=kind, subject_id=subject_id, after_seq=after_seq, limit=limit)
    items = [EntryOut(**e.to_dict()) for e in entries]
    return EntryPage(items=items, next_after_seq=items[-1].seq if len(items) == limit else None)


@get("/entries/{seq:int}/proof", sync_to_thread=True, tags=["audit"],
     summary="RFC 6962 inclusion proof of one entry in the latest signed checkpoint")
def get_entry_proof(state: State, seq: Annotated[int, Parameter(ge=1, le=2**62)]) -> ProofOut:
    log = _log(state)
    entry = log.entry(seq)
    if entry is None or entry.tenant != _TENANT:
        raise NotFound(f"no audit entry {seq}", code="audit_entry_not_found")
    proof: dict[str, Any] = entry_proof(log, seq)
    return ProofOut(entry=EntryOut(**proof["entry"]), leaf_index=proof["leaf_index"], tree_size=proof["tree_size"],
                    leaf_hash=proof["leaf_hash"], audit_path=proof["audit_path"],
                    checkpoint=CheckpointOut(**proof["checkpoint"]))


@get("/checkpoints/latest", sync_to_thread=True, tags=["audit"], summary="The latest signed checkpoint")
def latest_checkpoint(state: State) -> CheckpointOut:
    checkpoint = _log(state).latest_checkpoint()
    if checkpoint is None:
        raise NotFound("no audit checkpoint has been signed yet", code="no_checkpoint")
    return CheckpointOut(**checkpoint.to_dict())


def audit_router() -> Router:
    """The auditor's read-only routes, mounted under ``/v1/audit`` by ``create_app``."""
    return Router(path="/v1/audit", route_handlers=[list_entries, get_entry_proof, latest_checkpoint])
