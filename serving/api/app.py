"""The Litestar application. `create_app(settings)` is the only composition root; nothing happens at import."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import JSONBody
from litestar.plugins import PluginProtocol
from sqlalchemy import Engine

from returns_triage.serving.api.audit import audit_router
from returns_triage.serving.api.console import console_router
from returns_triage.serving.api.documents import document_handlers
from returns_triage.serving.api.idempotency import IdempotencyKey, check_idempotency_key
from returns_triage.serving.api.inspections import inspection_router
from returns_triage.serving.api.kpis import dashboard_router, kpi_router
from returns_triage.serving.api.metrics import MetricsRegistry, default_registry, metrics_handler
from returns_triage.serving.api.permissions import (
    enforce_access,
    provide_principal,
    record_query_parameters,
    sees_pseudonyms,
)
from returns_triage.serving.api.problems import exception_handlers
from returns_triage.serving.api.models import models_router
from returns_triage.serving.api.monitoring import monitoring_collector, monitoring_router
from returns_triage.serving.api.review import review_router
from returns_triage.serving.api.webhooks import webhook_router
from returns_triage.serving.api.schemas import DecisionOut, Health, ScoreRequest
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.domain.failsafe import FailsafeBoard
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.domain.pseudonyms import Pseudonymiser
from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.service.batching import MicroBatchingReasonScorer
from returns_triage.serving.service.documents import DocumentService
from returns_triage.serving.service.model_registry import ModelRegistry, serving_models
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.rate_limit import RateLimiter
from returns_triage.serving.service.scoring import ScoringService
from returns_triage.serving.service.shadow_scoring import ShadowRecorder
from returns_triage.serving.storage.api_keys import SqlApiKeyStore, SqlDocumentOwnership
from returns_triage.serving.storage.decision_writer import GroupCommitDecisionStore
from returns_triage.serving.storage.documents import DocumentStore
from returns_triage.serving.storage.engine import WalCheckpointer, is_sqlite, make_engine
from returns_triage.serving.storage.key_files import load_or_create_secret
from returns_triage.serving.storage.monitoring import SqlMonitoringStore
from returns_triage.serving.storage.repository import SqlDecisionStore
from returns_triage.serving.storage.shadow_predictions import SqlShadowPredictionStore
from returns_triage.settings import Settings

__all__ = ["create_app", "AppContext"]

log = logging.getLogger("returns_triage.api")



@dataclass(slots=True)
class AppContext:
    settings: Settings
    engine: Engine
    models: LoadedModels
    scoring: ScoringService
    documents: DocumentService
    api_keys: ApiKeyService
    rate_limiter: RateLimiter
    pseudonymiser: Pseudonymiser
    registry: ModelRegistry | None = None


def _ctx(state: State) -> AppContext:
    return state.ctx  # type: ignore[no-any-return]


@post(
    "/v1/returns/score",
    sync_to_thread=True,
    status_code=200,
    summary="Score a return and route it",
    description="Classifies the reason, scores risk, applies the policy and stores the decision. "
    "Requires an Idempotency-Key: a repeat with the same body returns the stored response byte for byte.",
    responses={200: ResponseSpec(data_container=DecisionOut, description="The decision (or the stored one again)")},
    tags=["scoring"],
)
def score_return(
    data: JSONBody[ScoreRequest],
    state: State,
    principal: Principal,
    idempotency_key: IdempotencyKey,
) -> Response[bytes]:
    key = check_idempotency_key(idempotency_key)
    result = _ctx(state).scoring.score(principal.tenant, key, data.to_payload())
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(content=result.body, status_code=result.status_code, media_type="application/json",
                    headers=headers)


@get("/v1/decisions/{decision_id:str}", sync_to_thread=True, summary="One stored decision", tags=["decisions"],
     responses={200: ResponseSpec(data_container=DecisionOut, description="The decision as stored")})
def get_decision(decision_id: str, state: State, principal: Principal) -> dict[str, Any]:
    ctx = _ctx(state)
    document = ctx.scoring.get_decision(principal.tenant, decision_id)
    return ctx.pseudonymiser.apply(document) if sees_pseudonyms(principal) else document  # type: ignore[no-any-return]


@get("/healthz", summary="Liveness", tags=["ops"])
async def healthz() -> Health:
    return Health(status="ok", checks={})


@get("/readyz", sync_to_thread=True, summary="Readiness: models loaded and database reachable", tags=["ops"])
def readyz(state: State) -> Response[Health]:
    ctx = _ctx(state)
    models = ctx.registry.current if ctx.registry is not None else ctx.models
    checks: dict[str, Any] = {"models": models.versions(), "model_errors": list(models.load_errors)}
    try:
        checks["database"] = ctx.scoring.store.ping()
    except Exception:  # noqa: BLE001 - readiness reports, it does not raise
        log.warning("database not reachable", exc_info=True)
        checks["database"] = False
    ready = models.ready and checks["database"] is True
    return Response(Health(status="ready" if ready else "not_ready", checks=checks), status_code=200 if ready else 503)


def _served(settings: Settings, models: LoadedModels) -> LoadedModels:
    """``models`` as this deployment serves them: the reason model's cascade on or off
    (TRIAGE_REASON_CASCADE=off: every text takes the full model path, what the cascade is measured against), and
    concurrent requests sharing encoder calls. A copy, so injected models are left as they were."""
    if models.reason is None:
        return models
    if not settings.reason_cascade:
        models = models.full_model_path()
    if not settings.reason_batching:
        return models
    return replace(models, reason=MicroBatchingReasonScorer(models.reason, max_batch=settings.reason_batch_max,
                                                            max_wait_ms=settings.reason_batch_wait_ms,
                                                            runners=settings.reason_batch_runners))


def _with_monitoring(registry: MetricsRegistry) -> MetricsRegistry:
    registry.register(monitoring_collector)
    return registry


class _App(Litestar):
    """Litestar without the Pydantic and attrs plugins it adds whenever those packages are installed (they are, for
    the training side): no handler takes or returns their models, and importing the Pydantic plugin alone took
    ~0.14 s of each worker's start-up (start-up to ready is a target, issue 10)."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        from litestar.plugins.core import MsgspecDIPlugin

        return [*plugins, MsgspecDIPlugin()]


def create_app(
    settings: Settings,
    *,
    models: LoadedModels | None = None,
    engine: Engine | None = None,
) -> Litestar:
    """Build the API. ``models`` / ``engine`` may be injected (tests); otherwise they come from ``settings``."""
    checkpointer = None
    if engine is None:
        # SQLite: the write-ahead log is checkpointed beside the requests, not inside one of their commits.
        background = is_sqlite(settings.database_url) and settings.sqlite_checkpoint_seconds > 0
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                             checkpoint_on_commit=not background)
        if background:
            checkpointer = WalCheckpointer(engine, settings.sqlite_checkpoint_seconds).start()
    injected = models is not None
    # Each family's champion from the local model store, else TRIAGE_MODEL_DIR/<family>.
    models = _served(settings, models if models is not None else serving_models(settings))
    batcher = models.reason if isinstance(models.reason, MicroBatchingReasonScorer) else None
    for err in models.load_errors:
        log.error("model bundle not loaded: %s", err)
    # A bad policy document fails here, at start-up, naming the file and line.
    policy = DocumentPolicy.from_file(None if settings.policy_file == "default" else settings.policy_file)
    # Fail-safe states written by `triage monitor` tighten the live policy (never the shadow one).
    monitoring_store = SqlMonitoringStore(engine)
    policy.failsafe = FailsafeBoard(monitoring_store.open_failsafes,
                                    load_inputs=monitoring_store.current_vetted_inputs,
                                    refresh_seconds=settings.failsafe_refresh_seconds)
    shadow = None
    if settings.shadow_policy_file:
        shadow = DocumentPolicy.from_file(
            None if settings.shadow_policy_file == "default" else settings.shadow_policy_file)
    # Hot-swapped models are served the same way as the first ones (cascade setting and batching alike). Models
    # this app loaded are the registry's to close once swapped out; injected ones stay the caller's.
    registry = ModelRegistry.for_settings(settings, initial=models, own_initial=not injected,
                                          prepare=partial(_served, settings))
    documents = DocumentService(DocumentStore(settings.documents_dir), lambda: registry.current.documents,
                                max_bytes=settings.max_document_bytes, owners=SqlDocumentOwnership(engine))
    if not injected:
        registry.start_polling(settings.model_poll_seconds)
    pseudonym_key = (bytes.fromhex(settings.pseudonym_key) if settings.pseudonym_key
                     else load_or_create_secret(settings.home / "keys" / "pseudonym.key"))
    # Concurrent requests' decisions commit together, in one transaction per group (each still before its reply).
    decision_store = GroupCommitDecisionStore(SqlDecisionStore(engine))
    shadow_recorder = ShadowRecorder(SqlShadowPredictionStore(engine))
    ctx = AppContext(settings=settings, engine=engine, models=models, documents=documents,
                     api_keys=ApiKeyService(SqlApiKeyStore(engine)),
                     rate_limiter=RateLimiter(settings.role_rate_limits()),
                     pseudonymiser=Pseudonymiser(pseudonym_key),
                     scoring=ScoringService(decision_store, models, policy, documents=documents,
                                            shadow_policy=shadow, registry=registry,
                                            shadow=shadow_recorder),
                     registry=registry)

    def _dispose() -> None:
        shadow_recorder.close()  # before the models it scores with are closed
        registry.close()  # closes the models it serves now, the first ones too when this app loaded them
        if injected:
            if batcher is not None:
                batcher.close()
            models.close()
        decision_store.close()
        if checkpointer is not None:
            checkpointer.close()
        engine.dispose()

    app = _App(
        guards=[enforce_access],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        route_handlers=[score_return, get_decision, healthz, readyz, *document_handlers(settings.max_document_bytes),
                        review_router(), audit_router(), webhook_router(), models_router(), monitoring_router(),
                        console_router(), inspection_router(), kpi_router(), dashboard_router(),
                        metrics_handler],
        # `metrics` holds the collectors GET /metrics runs (serving/api/metrics.py); register more on it here.
        state=State({"ctx": ctx, "metrics": _with_monitoring(default_registry())}),
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        on_shutdown=[_dispose],
        openapi_config=OpenAPIConfig(
            title="returns-triage",
            version="1",
            description="Triage of product returns: scoring, review, outcomes and audit.",
            path="/schema",
            components=Components(security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API key"),
            }),
        ),
        debug=False,
    )
    # The OpenAPI document is built and marked on its first request (permissions.document_access).
    record_query_parameters(app)
    return app
