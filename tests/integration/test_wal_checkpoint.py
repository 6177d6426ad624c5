"""SQLite's write-ahead log checkpointed beside the requests: serving engines leave it to a background thread
(no commit copies the log into the database), the thread keeps the log from growing, and other engines on the same
file keep SQLite's own checkpoints."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

from returns_triage.serving.storage.engine import WalCheckpointer, make_engine

_rows = Table("rows", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text))


def _fill(engine, pages: int) -> None:  # type: ignore[no-untyped-def]
    # ~1 page (4 KiB) per row, one transaction per row: each commit appends its pages to the log.
    for _ in range(pages):
        with engine.begin() as conn:
            conn.execute(insert(_rows), {"body": "x" * 4000})


def test_without_checkpoint_on_commit_the_log_grows_until_the_checkpointer_runs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", checkpoint_on_commit=False)
    _rows.create(engine)
    _fill(engine, 1200)  # past SQLite's 1,000-page threshold: no commit checkpointed
    checkpointer = WalCheckpointer(engine, interval=3600)
    busy, log, done = checkpointer.checkpoint()
    assert busy == 0 and log >= 1200 and done == log  # everything copied, by the checkpointer
    engine.dispose()


def test_the_default_engine_keeps_sqlites_checkpoints_on_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    _rows.create(engine)
    _fill(engine, 1200)
    # The commit that crossed 1,000 pages checkpointed and the log restarted from its beginning.
    _, log, _ = WalCheckpointer(engine).checkpoint()
    assert log < 1000
    engine.dispose()


def test_the_background_thread_checkpoints_and_closes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}", checkpoint_on_commit=False)
    _rows.create(engine)
    checkpointer = WalCheckpointer(engine, interval=0.05).start()
    _fill(engine, 50)
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert checkpointer.checkpoints >= 3 and checkpointer.failures == 0
    checkpointer.close()
    assert checkpointer._thread is not None and not checkpointer._thread.is_alive()
    _, log, done = checkpointer.checkpoint()
    assert done == log  # nothing left behind in the log
    engine.dispose()
