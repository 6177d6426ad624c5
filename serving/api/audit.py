"""HTTP edge of the decision log, read-only: ``/v1/audit/entries``, per-entry proofs, the latest checkpoint.

An entry's ``payload`` is returned as the exact text that was hashed, so an auditor can recompute ``entry_hash``
and, with ``audit_path``, check it against the signed root without trusting this server.

Roles that see pseudonyms (auditor, data scientist) get the payload with customers' ids and names replaced by keyed
pseudonyms and ``pseudonymised: true``: ``entry_hash``, ``prev_hash`` and the proof still verify the chain and the
checkpoint, but the hash cannot be recomputed from that payload; the full payload is in ``triage audit export``.
Every read is scoped to the caller's tenant.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Router, get
from litestar.datastructures import State
from litestar.params import Parameter
from msgspec import Struct

from returns_triage.errors import NotFound
from returns_triage.serving.api.permissions import sees_pseudonyms
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.audit import entry_proof
from returns_triage.serving.storage.audit_log import SqlAuditLog

__all__ = ["audit_router"]

_PAGE_MAX = 500
_SEQ_MAX = 2**53 - 1  # the largest integer every JSON client reads exactly

Kind = Literal["decision", "review_action", "override", "outcome"]


class EntryOut(Struct, kw_only=True, omit_defaults=True):
    seq: int
    tenant: str
    kind: str
    subject_id: str
    actor: str
    created_at: str
    payload: str
    prev_hash: str
    entry_hash: str
    pseudonymised: bool = False


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


def _entry_out(fields: dict[str, Any], state: State, principal: Principal) -> EntryOut:
    if not sees_pseudonyms(principal):
        return EntryOut(**fields)
    payload = state.ctx.pseudonymiser.apply_json_text(fields["payload"])
    return EntryOut(**{**fields, "payload": payload, "pseudonymised": payload != fields["payload"]})


@get("/entries", sync_to_thread=True, summary="Audit log entries, oldest first", tags=["audit"],
     description="Filter by kind and subject; page with `after_seq` (pass the previous page's `next_after_seq`).")
def list_entries(
    state: State,
    principal: Principal,
    kind: Kind | None = None,
    subject_id: Annotated[str | None, Parameter(max_length=128)] = None,
    after_seq: Annotated[int, Parameter(ge=0, le=_SEQ_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=_PAGE_MAX)] = 100,
) -> EntryPage:
    entries = _log(state).find(tenant=principal.tenant, kind=kind, subject_id=subject_id, after_seq=after_seq,
                               limit=limit)
    items = [_entry_out(e.to_dict(), state, principal) for e in entries]
    return EntryPage(items=items, next_after_seq=items[-1].seq if len(items) == limit else None)


@get("/entries/{seq:int}/proof", sync_to_thread=True, tags=["audit"],
     summary="RFC 6962 inclusion proof of one entry in the latest signed checkpoint")
def get_entry_proof(state: State, principal: Principal, seq: Annotated[int, Parameter(ge=1, le=_SEQ_MAX)]) -> ProofOut:
    log = _log(state)
    entry = log.entry(seq)
    if entry is None or entry.tenant != principal.tenant:
        raise NotFound(f"no audit entry {seq}", code="audit_entry_not_found")
    proof: dict[str, Any] = entry_proof(log, seq)
    return ProofOut(entry=_entry_out(proof["entry"], state, principal), leaf_index=proof["leaf_index"], tree_size=proof["tree_size"],
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
