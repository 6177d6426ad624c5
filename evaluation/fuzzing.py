"""Hostile input: Schemathesis against the app's own OpenAPI document, in process (ASGI), with every check.

Each operation gets ``max_examples`` schema-conforming examples and as many schema-violating ones; every response
goes through all of Schemathesis's checks (server errors, status codes, content types, headers and bodies against
the document, acceptance of valid and rejection of invalid data, authentication really enforced, ...). Failures are
collected, not raised, so one run reports them all; the CI test and ``triage bench fuzz`` (a longer run) share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FuzzReport", "fuzz_api", "fuzz_fresh_app"]


@dataclass(slots=True)
class FuzzReport:
    examples: dict[str, int] = field(default_factory=dict)  # "METHOD /path" -> requests sent
    failures: list[dict[str, str]] = field(default_factory=list)
    server_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def min_examples(self) -> int:
        return min(self.examples.values(), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"operations": len(self.examples), "min_examples_per_operation": self.min_examples,
                "requests": sum(self.examples.values()), "failures": len(self.failures),
                "server_errors": self.server_errors, "statuses": dict(sorted(self.statuses.items())),
                "first_failures": self.failures[:20]}


# Every check stays on. Valid data may also meet a 422: a rule the schema cannot state (a fencing token needed
# unless overriding, fields an outcome kind requires, an id that refers to nothing). A 400 on valid data still fails.
_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


# The security scheme's name in the app's OpenAPI document (`serving/api/app.py`).
_AUTH = """
[auth.openapi.bearer]
bearer = "{token}"
"""


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner:
        return "; ".join(_describe(e) for e in inner)
    title = getattr(exc, "title", None)
    message = getattr(exc, "message", None) or str(exc)
    return f"{title}: {message}" if title else f"{type(exc).__name__}: {message}"


def fuzz_api(app: Any, token: str, *, max_examples: int = 100, seed: int = 0,
             operations: set[str] | None = None) -> FuzzReport:
    """Run Schemathesis on ``app`` (an ASGI app serving ``/schema/openapi.json``) with ``token`` as the bearer key.

    The key goes through Schemathesis' own auth for the document's ``bearer`` security scheme, not as a fixed
    header: a negative case that drops the credentials is then sent without them (and must get a 401), instead of
    having the header added back and being reported as an invalid request the API accepted.
    """
    import hypothesis
    import hypothesis.errors
    import schemathesis
    from hypothesis import HealthCheck, Phase
    from schemathesis.config import SchemathesisConfig
    from schemathesis.generation import GenerationMode

    config = SchemathesisConfig.from_str(_CONFIG + _AUTH.format(token=token))
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=config)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        if operations is not None and name not in operations:
            continue
        report.examples[name] = 0
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            seen: set[str] = set()

            @hypothesis.settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                                 phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                                 verbosity=hypothesis.Verbosity.quiet)
            @hypothesis.seed(seed)
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                report.examples[name] += 1
                response = case.call()
                report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    report.server_errors += 1
                try:
                    case.validate_response(response)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # noqa: BLE001 - each failed check (a group) is a finding, not a crash
                    text = _describe(exc)
                    if text not in seen:  # the same failure on many examples is reported once
                        seen.add(text)
                        report.failures.append({"operation": name, "mode": str(mode.value),
                                                "status": str(response.status_code), "failure": text[:2000],
                                                "response": response.text[:500],
                                                "reproduce": case.as_curl_command()[:2000]})

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): that mode has no examples for this operation.
                pass
    return report


def fuzz_fresh_app(home: Path, model_dir: Path, *, max_examples: int) -> FuzzReport:
    """``fuzz_api`` over the real app on a fresh SQLite database under ``home``, serving the bundles in
    ``model_dir``, as an admin with no rate limit (the CI test and ``triage bench fuzz``)."""
    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore
    from returns_triage.settings import Settings

    settings = Settings.from_env({"TRIAGE_HOME": str(home), "TRIAGE_MODEL_DIR": str(model_dir),
                                  "TRIAGE_RATE_LIMITS": "admin=0"})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create("admin")
    # Its own models and engine: the ASGI lifespan Schemathesis starts ends only with the process.
    app = create_app(settings, engine=engine)
    try:
        return fuzz_api(app, token, max_examples=max_examples)
    finally:
        engine.dispose()
