"""20 concurrent requests with one Idempotency-Key against a live server: exactly one decision, one answer."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import uvicorn
from sqlalchemy import func, select

from returns_triage.serving.api import create_app
from returns_triage.serving.storage.tables import decisions, review_items


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_concurrent_same_key_requests_make_exactly_one_decision(settings, backend, loaded_models, score_body,
                                                                make_api_key) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, models=loaded_models, engine=backend)
    with LiveServer(app) as base, httpx.Client(base_url=base, timeout=60,
                                                     headers=make_api_key(backend)) as http:
        for round_ in range(3):
            body = {**score_body, "case_id": f"RMA-CONC-{round_}"}
            start = threading.Barrier(20)

            def send(_: int) -> httpx.Response:
                start.wait()
                return http.post("/v1/returns/score", json=body, headers={"Idempotency-Key": f"conc-{round_}"})

            with ThreadPoolExecutor(max_workers=20) as pool:
                responses = list(pool.map(send, range(20)))
            assert {r.status_code for r in responses} == {200}, [r.text for r in responses if r.status_code != 200]
            assert len({r.content for r in responses}) == 1  # every caller got the one stored answer
    with backend.connect() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar() == 3
        n_review = conn.execute(select(func.count()).select_from(review_items)).scalar()
        n_routes = conn.execute(select(func.count()).select_from(decisions).where(decisions.c.route == "review")).scalar()
        assert n_review == n_routes
