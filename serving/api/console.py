"""The supervisor console at ``/console``: server-rendered Jinja2 pages and a little JavaScript.

Sign-in takes the reviewer's own API key; it is checked by a pluggable ``authenticate(key) -> Principal | None``
and kept in an HttpOnly, SameSite=Strict cookie scoped to ``/console`` (never readable by page scripts), checked
again on every request, so revoking the key ends the session. Every write goes through the same review service
as ``/v1/review/*``, with the reviewer's name from the key and the fencing token of their claim.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from returns_triage.errors import Conflict, InvalidInput, NotFound, TriageError
from returns_triage.serving.api.permissions import OVERRIDE_ROLES
from returns_triage.serving.domain import review as rules
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.review import ReviewService
from returns_triage.serving.storage.case_files import SqlCaseFiles
from returns_triage.serving.storage.review_queue import QueueItem, SqlReviewQueue

__all__ = ["Authenticate", "console_router", "COOKIE"]

COOKIE = "triage_console"
_TEMPLATES = Path(__file__).parent / "templates"
_ROLES = ("reviewer", "supervisor", "admin")  # who may use the console: the review roles
_SESSION_SECONDS = 8 * 3600
_OPEN = (rules.PENDING, rules.CLAIMED, rules.AWAITING_INFO)
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


Authenticate = Callable[[str], "Principal | None"]


@functools.cache
def _jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    # Old or partial decision documents lack some keys: show a dash, never fail the page.
    env.filters["pct"] = lambda v: "–" if v is None or isinstance(v, Undefined) else f"{100 * float(v):.0f}%"
    env.filters["when"] = lambda v: ("–" if v is None or isinstance(v, Undefined)
                                     else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return env


def _html(template: str, status: int = 200, **context: Any) -> Response[str]:
    return Response(_jinja().get_template(template).render(**context), status_code=status,
                    media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                             "Content-Security-Policy": "default-src 'self'; style-src 'self'; "
                             "img-src 'self' data:; frame-ancestors 'none'"})


def _redirect(path: str, **query: str | None) -> Redirect:
    q = {k: v for k, v in query.items() if v}
    return Redirect(path + ("?" + urlencode(q) if q else ""), status_code=303)


def _authenticate(state: State) -> Authenticate:
    """The API's own key check: the console accepts exactly the keys the API does, revoked ones included out."""
    return state.ctx.api_keys.authenticate  # type: ignore[no-any-return]


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    principal = _authenticate(request.app.state)(key)
    return principal if principal is not None and principal.role in _ROLES else None


def _same_origin(request: Request[Any, Any, Any]) -> bool:
    """A second line behind SameSite=Strict: a form posted from another site is refused."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:  # not a browser form (browsers send Origin on every POST); the cookie still had to match
        return True
    return urlsplit(origin).netloc == request.headers.get("host")  # "null" or another site: refused


def _reviews(state: State) -> ReviewService:
    return ReviewService(SqlReviewQueue(state.ctx.engine))


def _open_items(service: ReviewService, tenant: str, queue: str | None, status: str, breached: bool | None,
                mine: str | None) -> list[QueueItem]:
    statuses = _OPEN if status == "open" else (None,) if status == "all" else (status,)
    items: list[QueueItem] = []
    for s in statuses:
        items += service.list_items(tenant, queue=queue, status=s, breached=breached, claimed_by=mine, limit=200)
    return sorted(items, key=lambda i: rules.claim_order_key(i.priority, i.sla_due_at, i.created_at, i.item_id))


def _filters(request: Request[Any, Any, Any]) -> dict[str, Any]:
    q = request.query_params
    status = q.get("status") or "open"
    if status not in ("open", "all", *rules.STATUSES):
        raise InvalidInput("unknown status filter", field="status")
    breached = {"yes": True, "no": False}.get(q.get("breached") or "")
    return {"queue": q.get("queue") or None, "status": status, "breached": breached,
            "mine": q.get("mine") == "1"}


def _queue_context(request: Request[Any, Any, Any], principal: Principal) -> dict[str, Any]:
    f = _filters(request)
    service = _reviews(request.app.state)
    items = _open_items(service, principal.tenant, f["queue"], f["status"], f["breached"],
                        principal.actor if f["mine"] else None)
    now = service.clock()
    rows = [{"item": i, "sla": i.sla_state(now), "mine": i.claimed_by == principal.actor} for i in items]
    queues = SqlCaseFiles(request.app.state.ctx.engine).queues(principal.tenant)
    return {"rows": rows, "filters": f, "queues": queues, "principal": principal,
            "claim_queue": f["queue"] or (queues[0] if queues else ""), "now": now,
            "flash": request.query_params.get("flash"), "error": request.query_params.get("error"),
            "query": urlencode({k: v for k, v in request.query_params.items() if k not in ("flash", "error")})}


@get("/", sync_to_thread=False, include_in_schema=False)
def console_home(request: Request[Any, Any, Any]) -> Redirect:
    return _redirect("/console/queue" if _principal(request) else "/console/sign-in")


@get("/sign-in", sync_to_thread=False, include_in_schema=False)
def sign_in_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _html("sign_in.html", error=request.query_params.get("error"))


@post("/sign-in", sync_to_thread=True, status_code=303, include_in_schema=False)
def sign_in(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    if not _same_origin(request):
        return _html("sign_in.html", status=403, error="Sign-in refused: the form came from another site.")
    key = (data.get("key") or "").strip()
    principal = _authenticate(request.app.state)(key) if key else None
    if principal is None or principal.role not in _ROLES:
        return _html("sign_in.html", status=401,
                     error="That key is not valid for the console (it needs the reviewer or supervisor role).")
    response = _redirect("/console/queue")
    response.cookies.append(Cookie(key=COOKIE, value=key, path="/console", httponly=True, samesite="strict",
                                   secure=request.url.scheme == "https", max_age=_SESSION_SECONDS))
    return response


@post("/sign-out", sync_to_thread=False, status_code=303, include_in_schema=False)
def sign_out() -> Redirect:
    response = _redirect("/console/sign-in")
    response.cookies.append(Cookie(key=COOKIE, value="", path="/console", httponly=True, samesite="strict",
                                   max_age=0))
    return response


@get("/queue", sync_to_thread=True, include_in_schema=False)
def queue_page(request: Request[Any, Any, Any]) -> Response[Any]:
    principal = _principal(request)
    if principal is None:
        return _redirect("/console/sign-in")
    return _html("queue.html", **_queue_context(request, principal))


@get("/queue/rows", sync_to_thread=True, include_in_schema=False)
def queue_rows(request: Request[Any, Any, Any]) -> Response[Any]:
    """The queue table's body alone: the page polls it to stay current."""
    principal = _principal(request)
    if principal is None:
        return Response("", status_code=401)
    return _html("_rows.html", **_queue_context(request, principal))


@post("/claim", sync_to_thread=True, status_code=303, include_in_schema=False)
def claim_next(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    principal = _principal(request)
    if principal is None or not _same_origin(request):
        return _redirect("/console/sign-in")
    queue = data.get("queue") or ""
    if not queue:
        return _redirect("/console/queue", error="Choose a queue to claim from.")
    item = _reviews(request.app.state).claim(principal.tenant, queue, principal.actor)
    if item is None:
        return _redirect("/console/queue", queue=queue, flash=f"Nothing to claim in {queue}.")
    return _redirect(f"/console/items/{item.item_id}")


@get("/items/{item_id:str}", sync_to_thread=True, include_in_schema=False)
def case_page(item_id: str, request: Request[Any, Any, Any]) -> Response[Any]:
    principal = _principal(request)
    if principal is None:
        return _redirect("/console/sign-in")
    service = _reviews(request.app.state)
    try:
        item = service.get_item(principal.tenant, item_id)
    except NotFound:
        return _html("message.html", status=404, principal=principal, message=f"Review item {item_id} not found.")
    case_file = SqlCaseFiles(request.app.state.ctx.engine).case_file(principal.tenant, item_id)
    now = service.clock()
    holder = item.status == rules.CLAIMED and item.claimed_by == principal.actor
    supervisor = principal.role in OVERRIDE_ROLES
    queues = SqlCaseFiles(request.app.state.ctx.engine).queues(principal.tenant) if supervisor else []
    return _html("case.html", principal=principal, item=item, sla=item.sla_state(now), holder=holder,
                 supervisor=supervisor, queues=queues,
                 request_=case_file["request"], decision=case_file["decision"],
                 documents=_documents_view(case_file["decision"]), error=request.query_params.get("error"),
                 flash=request.query_params.get("flash"),
                 history=service.history(principal.tenant, item_id))


@post("/items/{item_id:str}/decision", sync_to_thread=True, status_code=303, include_in_schema=False)
def decide(item_id: str, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    principal = _principal(request)
    if principal is None or not _same_origin(request):
        return _redirect("/console/sign-in")
    fraud = {"yes": True, "no": False}.get(data.get("fraud_confirmed") or "")
    verdict = rules.ReviewVerdict(action=data.get("action") or "", reviewer=principal.actor,
                                  corrected_reason_code=data.get("corrected_reason_code") or None,
                                  fraud_confirmed=fraud, note=(data.get("note") or "").strip() or None)
    try:
        token = int(data.get("token") or "")
        item, _ = _reviews(request.app.state).decide(principal.tenant, item_id, verdict, token=token)
    except (ValueError, TriageError) as exc:
        message = exc.message if isinstance(exc, TriageError) else "the form lost its fencing token; claim again"
        if isinstance(exc, Conflict):
            message = f"Not recorded: {message}"
        return _redirect(f"/console/items/{item_id}", error=message)
    label = {"approve": "Approved", "reject": "Rejected", "request_info": "Asked for information on",
             "escalate": "Escalated"}[verdict.action]
    return _redirect("/console/queue", queue=data.get("return_queue") or None,
                     flash=f"{label} {item.case_id}.")


@post("/items/{item_id:str}/release", sync_to_thread=True, status_code=303, include_in_schema=False)
def release(item_id: str, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    principal = _principal(request)
    if principal is None or not _same_origin(request):
        return _redirect("/console/sign-in")
    service = _reviews(request.app.state)
    try:
        item = service.release(principal.tenant, item_id, principal.actor, token=int(data.get("token") or "-1"))
    except (ValueError, TriageError) as exc:
        return _redirect(f"/console/items/{item_id}", error=getattr(exc, "message", "no claim to release"))
    if data.get("then") == "next":
        nxt = service.claim(principal.tenant, item.queue, principal.actor)
        if nxt is not None and nxt.item_id != item_id:
            return _redirect(f"/console/items/{nxt.item_id}")
        if nxt is not None:  # it was the only one: give it back again
            service.release(principal.tenant, nxt.item_id, principal.actor, token=nxt.fencing_token)
    return _redirect("/console/queue", queue=item.queue, flash=f"Released {item.case_id}.")


_SUPERVISOR_ACTIONS = ("override", "release", "reassign", "escalate")


@post("/items/{item_id:str}/supervise/{action:str}", sync_to_thread=True, status_code=303, include_in_schema=False)
def supervise(item_id: str, action: str, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    """A supervisor's override of the item's holder: decide, release, reassign or escalate without the claim's
    token. Each is recorded on the item's history as an override, by the supervisor's own key; the form must
    carry the confirmation tick, and an overriding decision a note saying why."""
    principal = _principal(request)
    if principal is None or not _same_origin(request):
        return _redirect("/console/sign-in")
    back = f"/console/items/{item_id}"
    if principal.role not in OVERRIDE_ROLES or action not in _SUPERVISOR_ACTIONS:
        return _redirect(back, error="Supervisor actions need the supervisor role.")
    if data.get("confirm") != "yes":
        return _redirect(back, error="Not recorded: tick the box to confirm the supervisor action.")
    note = (data.get("note") or "").strip() or None
    service = _reviews(request.app.state)
    try:
        if action == "override":
            if note is None:
                return _redirect(back, error="Not recorded: an override needs a note saying why.")
            fraud = {"yes": True, "no": False}.get(data.get("fraud_confirmed") or "")
            verdict = rules.ReviewVerdict(action=data.get("action") or "", reviewer=principal.actor,
                                          corrected_reason_code=data.get("corrected_reason_code") or None,
                                          fraud_confirmed=fraud, note=note)
            item, _ = service.decide(principal.tenant, item_id, verdict, token=None, override=True)
            done = f"Override recorded: {verdict.action.replace('_', ' ')} {item.case_id}."
        elif action == "release":
            item = service.release(principal.tenant, item_id, principal.actor, token=None, override=True, note=note)
            done = f"Released {item.case_id} to {item.queue}."
        elif action == "escalate":
            item = service.escalate(principal.tenant, item_id, principal.actor, token=None, override=True,
                                    to_queue=data.get("to_queue") or None, note=note)
            done = f"Escalated {item.case_id} to {item.queue}."
        else:
            item = service.reassign(principal.tenant, item_id, principal.actor, token=None, override=True,
                                    to_reviewer=(data.get("to_reviewer") or "").strip() or None,
                                    to_queue=data.get("to_queue") or None, note=note)
            done = f"Reassigned {item.case_id}" + (f" to {item.claimed_by}" if item.claimed_by else "") + \
                f" in {item.queue}."
    except TriageError as exc:
        return _redirect(back, error=f"Not recorded: {exc.message}")
    return _redirect(back, flash=done)


@get("/static/{name:str}", sync_to_thread=False, include_in_schema=False)
def static(name: str) -> Response[bytes]:
    types = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
    if name not in types:
        return Response(b"", status_code=404)
    return Response((_TEMPLATES / name).read_bytes(), media_type=types[name],
                    headers={"Cache-Control": "no-cache"})


def _documents_view(decision: dict[str, Any]) -> list[dict[str, Any]]:
    """Per document: its fields (value, confidence) and, per page, an SVG viewBox with the fields' boxes."""
    out = []
    docs = decision.get("documents") or {}
    for doc_id, ex in zip(docs.get("document_ids") or [], docs.get("extractions") or [], strict=False):
        fields = ex.get("fields") or {}
        pages: dict[int, list[dict[str, Any]]] = {}
        for name, f in fields.items():
            bbox = f.get("bbox")
            if isinstance(bbox, list) and len(bbox) == 4:
                pages.setdefault(int(f.get("page") or 1), []).append({"name": name, "bbox": bbox,
                                                                    "confidence": f.get("confidence")})
        views = []
        for page, boxes in sorted(pages.items()):
            width = max([595.0, *(b["bbox"][2] + 20 for b in boxes)])
            height = max([842.0, *(b["bbox"][3] + 20 for b in boxes)])
            views.append({"page": page, "width": width, "height": height, "boxes": boxes})
        out.append({"document_id": doc_id, "type": ex.get("document_type"), "error": ex.get("error"),
                    "confidence": ex.get("document_confidence"), "fields": fields, "pages": views,
                    "checks": ex.get("checks") or []})
    return out


def console_router() -> Router:
    """The console's routes, mounted at ``/console`` by ``create_app``. The bearer-key guard treats them as public:
    each handler authenticates the session cookie itself (``_principal``)."""
    return Router(path="/console", include_in_schema=False, route_handlers=[
        console_home, sign_in_page, sign_in, sign_out, queue_page, queue_rows, claim_next, case_page, decide,
        release, supervise, static])
