"""Which model bundles this process serves, and the admin's hot reload after a promotion."""

from __future__ import annotations

from typing import Any

from litestar import Router, get, post
from litestar.datastructures import State

from returns_triage.errors import ModelUnavailable

__all__ = ["models_router"]


def _registry(state: State) -> Any:
    registry = state.ctx.registry
    if registry is None:
        raise ModelUnavailable("this process serves fixed models: there is no model registry to reload")
    return registry


@get("/", sync_to_thread=True, summary="The bundle versions served now (champion, and challenger in shadow)")
def served_models(state: State) -> dict[str, Any]:
    return {"served": _registry(state).versions()}


@post("/reload", sync_to_thread=True, status_code=200, summary="Re-read the model aliases and hot-swap the models",
      description="Loads the bundles the local model store's `champion` aliases name (hashes and, when configured, "
      "signatures verified) and swaps them in; requests already running finish on the old models. A bundle that "
      "fails verification is refused and the current models keep serving.")
def reload_models(state: State) -> dict[str, Any]:
    registry = _registry(state)
    changed = registry.reload(force=True)
    return {"reloaded": changed, "served": registry.versions()}


def models_router() -> Router:
    return Router("/v1/models", route_handlers=[served_models, reload_models], tags=["models"])
