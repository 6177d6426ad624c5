"""The reason encoder's threads per serving process: one per core by default, TRIAGE_ENCODER_THREADS otherwise, and
`triage serve --workers N` shares the cores out among its N workers instead of giving each of them all the cores."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from returns_triage import cli
from returns_triage.serving.service.models import load_models
from returns_triage.settings import Settings


def _encoder_threads(models) -> int:  # type: ignore[no-untyped-def]
    return int(models.reason.encoder._session.get_session_options().intra_op_num_threads)


def test_the_served_encoder_runs_on_the_threads_the_settings_give(model_dir: Path) -> None:
    settings = Settings.from_env({"TRIAGE_ENCODER_THREADS": "1"})
    assert settings.encoder_threads == 1
    one = load_models(model_dir, encoder_threads=settings.encoder_threads)
    default = load_models(model_dir)
    try:
        assert _encoder_threads(one) == 1
        assert _encoder_threads(default) == 0  # onnxruntime's own choice: one per core
        text = ["the box arrived crushed and the screen is cracked"]
        assert one.reason.predict(text)[0].code == default.reason.predict(text)[0].code
    finally:
        one.close()
        default.close()


def test_a_negative_thread_count_fails_at_start_up() -> None:
    from returns_triage.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Settings.from_env({"TRIAGE_ENCODER_THREADS": "-1"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"TRIAGE_ENCODER_WIDE_THREADS": "-1"})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"TRIAGE_SQLITE_CHECKPOINT_SECONDS": "-1"})


def test_served_models_load_the_wide_session_the_settings_ask_for(model_dir: Path) -> None:
    settings = Settings.from_env({"TRIAGE_ENCODER_THREADS": "1", "TRIAGE_ENCODER_WIDE_THREADS": "2"})
    models = load_models(model_dir, encoder_threads=settings.encoder_threads,
                         encoder_wide_threads=settings.encoder_wide_threads)
    try:
        assert _encoder_threads(models) == 1
        assert models.reason.encoder._wide_session.get_session_options().intra_op_num_threads == 2
    finally:
        models.close()


_CORES = os.cpu_count() or 1


@pytest.mark.parametrize(("workers", "runners", "preset", "expected"), [
    (2, "1", None, str(max(1, _CORES // 2))), (1, "1", None, None), (2, "1", "3", "3"),
    # One worker running an encoder call per core: each call gets one core's share.
    (1, "2", None, str(max(1, _CORES // 2))), (2, "2", None, str(max(1, _CORES // 4))),
    # Unset: one encoder call per core in all, single-threaded.
    (1, None, None, "1" if _CORES > 1 else None), (_CORES, None, None, "1" if _CORES > 1 else None)])
def test_serve_shares_the_cores_among_its_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: int,
                                                  runners: str | None, preset: str | None,
                                                  expected: str | None) -> None:
    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    for name in ("TRIAGE_REASON_BATCH_RUNNERS", "TRIAGE_ENCODER_THREADS", "TRIAGE_ENCODER_WIDE_THREADS"):
        # Recorded, so what cmd_serve sets in this process is undone after the test.
        monkeypatch.setenv(name, "")
    if runners is None:
        monkeypatch.delenv("TRIAGE_REASON_BATCH_RUNNERS", raising=False)
    else:
        monkeypatch.setenv("TRIAGE_REASON_BATCH_RUNNERS", runners)
    if preset is None:
        monkeypatch.delenv("TRIAGE_ENCODER_THREADS", raising=False)
    else:
        monkeypatch.setenv("TRIAGE_ENCODER_THREADS", preset)
    # The server itself is not started: what matters is the environment its worker processes inherit.
    monkeypatch.delenv("TRIAGE_ENCODER_WIDE_THREADS", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(
        kw, threads=os.environ.get("TRIAGE_ENCODER_THREADS"), wide=os.environ.get("TRIAGE_ENCODER_WIDE_THREADS")))
    args = argparse.Namespace(host="127.0.0.1", port=0, workers=workers, log_level="warning")
    assert cli.cmd_serve(args) == 0
    assert seen["workers"] == workers and seen["threads"] == expected
    # Narrowed below the core count: a lone request gets a session on every core.
    narrowed = int(expected or 0)
    assert seen["wide"] == (str(_CORES) if 0 < narrowed < _CORES else None)
    if runners is None:
        assert os.environ["TRIAGE_REASON_BATCH_RUNNERS"] == str(max(1, _CORES // workers))
