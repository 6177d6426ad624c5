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

import io
import json

from litestar import Response, Router, get
from litestar.datastructures import State
from litestar.params import Parameter
from msgspec import Struct

from returns_triage.errors import InvalidInput, NotFound
from returns_triage.serving.api.permissions import sees_pseudonyms
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.audit import consistency_between, entry_proof
from returns_triage.serving.storage.audit_log import SqlAuditLog

__all__ = ["audit_router"]

_PAGE_MAX = 500
_SEQ_MAX = 2**53 - 1  # the largest integer every JSON client reads exactly

# Every kind the log holds: return decisions, reviewers' actions and supervisors' overrides, outcomes, and the
# entries of inspections (disposition decisions) and supplier claims.
Kind = Literal["decision", "review_action", "override", "outcome", "disposition", "supplier_claim"]


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


class ConsistencyOut(Struct, kw_only=True):
    old: CheckpointOut
    new: CheckpointOut
    proof: list[str]


@get("/checkpoints", sync_to_thread=True, tags=["audit"], summary="Every signed checkpoint, oldest first")
def list_checkpoints(state: State) -> list[CheckpointOut]:
    return [CheckpointOut(**cp.to_dict()) for cp in _log(state).checkpoints()]


@get("/checkpoints/consistency", sync_to_thread=True, tags=["audit"],
     summary="RFC 6962 consistency proof between two signed checkpoints",
     description="Proves the tree at `old_size` is a prefix of the tree at `new_size` (default: the latest "
                 "checkpoint). Both sizes must be signed checkpoints.")
def get_consistency(
    state: State,
    old_size: Annotated[int, Parameter(ge=1, le=_SEQ_MAX)],
    new_size: Annotated[int | None, Parameter(ge=1, le=_SEQ_MAX)] = None,
) -> ConsistencyOut:
    result = consistency_between(_log(state), old_size, new_size)
    return ConsistencyOut(old=CheckpointOut(**result["old"]), new=CheckpointOut(**result["new"]),
                          proof=result["proof"])


_EXPORT_MAX = 100_000


def _export_rows(state: State, principal: Principal, after_seq: int, limit: int) -> tuple[
        list[dict[str, Any]], dict[str, str]]:
    log = _log(state)
    checkpoint = log.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("no audit checkpoint has been signed yet", code="no_checkpoint")
    entries = [e for e in log.find(tenant=principal.tenant, after_seq=after_seq, limit=limit)
               if e.seq <= checkpoint.tree_size]
    headers = {"Audit-Checkpoint": json.dumps(checkpoint.to_dict(), separators=(",", ":"))}
    if len(entries) == limit:
        headers["Audit-Next-After-Seq"] = str(entries[-1].seq)
    rows = []
    for e in entries:
        out = _entry_out(e.to_dict(), state, principal)
        rows.append({"seq": out.seq, "tenant": out.tenant, "kind": out.kind, "subject_id": out.subject_id,
                     "actor": out.actor, "created_at": out.created_at, "payload": out.payload,
                     "prev_hash": out.prev_hash, "entry_hash": out.entry_hash, "pseudonymised": out.pseudonymised})
    return rows, headers


_EXPORT_DESCRIPTION = ("The caller's tenant's entries covered by the latest signed checkpoint, oldest first; the "
                       "checkpoint they match is in the `Audit-Checkpoint` header. Page with `after_seq` and the "
                       "`Audit-Next-After-Seq` header. Each entry is provable with `/entries/{seq}/proof`; the whole "
                       "chain of all tenants is `triage audit export`.")


@get("/export/jsonl", sync_to_thread=True, tags=["audit"], media_type="application/x-ndjson",
     summary="Export the caller's entries as JSON lines", description=_EXPORT_DESCRIPTION)
def export_jsonl_entries(
    state: State,
    principal: Principal,
    after_seq: Annotated[int, Parameter(ge=0, le=_SEQ_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=_EXPORT_MAX)] = _EXPORT_MAX,
) -> Response[bytes]:
    rows, headers = _export_rows(state, principal, after_seq, limit)
    body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows).encode()
    return Response(content=body, media_type="application/x-ndjson", headers=headers)


@get("/export/parquet", sync_to_thread=True, tags=["audit"], media_type="application/vnd.apache.parquet",
     summary="Export the caller's entries as Parquet",
     description=_EXPORT_DESCRIPTION + " The checkpoint is also in the file's key-value metadata. Needs pyarrow in "
                                       "the API's environment (422 `parquet_unavailable` otherwise).")
def export_parquet_entries(
    state: State,
    principal: Principal,
    after_seq: Annotated[int, Parameter(ge=0, le=_SEQ_MAX)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=_EXPORT_MAX)] = _EXPORT_MAX,
) -> Response[bytes]:
    try:
        import pyarrow as pa  # optional in the serving profile: only this route needs it
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInput("Parquet export needs pyarrow in the API's environment; use /v1/audit/export/jsonl or "
                           "`triage audit export --format parquet`",
                           code="parquet_unavailable") from None
    rows, headers = _export_rows(state, principal, after_seq, limit)
    schema = pa.schema(
        [("seq", pa.int64()), *((n, pa.string()) for n in ("tenant", "kind", "subject_id", "actor", "created_at",
                                                           "payload", "prev_hash", "entry_hash")),
         ("pseudonymised", pa.bool_())],
        metadata={b"returns_triage.audit.checkpoint": headers["Audit-Checkpoint"].encode()})
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    return Response(content=sink.getvalue(), media_type="application/vnd.apache.parquet", headers=headers)


def audit_router() -> Router:
    """The auditor's read-only routes, mounted under ``/v1/audit`` by ``create_app``."""
    return Router(path="/v1/audit", route_handlers=[list_entries, get_entry_proof, latest_checkpoint,
                                                    list_checkpoints, get_consistency, export_jsonl_entries,
                                                    export_parquet_entries])
