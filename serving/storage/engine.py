"""Engines for the two supported backends: SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

__all__ = ["make_engine", "is_sqlite", "reading", "WalCheckpointer"]

# Execution option of the engines :func:`reading` returns: their transactions only read.
_READ_ONLY = "triage_read_only"

log = logging.getLogger("returns_triage.storage")


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _normalise_url(url: str) -> str:
    # Plain postgresql:// would pick psycopg2, which is not installed; we ship psycopg 3.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def make_engine(url: str, *, pool_size: int = 5, connect_args: dict[str, Any] | None = None,
                checkpoint_on_commit: bool = True) -> Engine:
    """An engine for ``url``. SQLite only: ``checkpoint_on_commit=False`` leaves the write-ahead log to a
    :class:`WalCheckpointer` the caller runs (SQLite's default is to checkpoint in the commit that crosses 1,000
    pages, and that commit waits for the copy and its fsync)."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, connect_args or {}, checkpoint_on_commit)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        connect_args=connect_args or {},
    )


def _sqlite_engine(url: str, connect_args: dict[str, Any], checkpoint_on_commit: bool = True) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30, **connect_args})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so we can BEGIN IMMEDIATE (below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if not checkpoint_on_commit:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads, then writes, can fail
        # with SQLITE_BUSY without waiting when another writer got in between. A transaction that only reads
        # (see `reading`) needs no lock: under WAL it reads a snapshot and neither waits for writers nor
        # makes them wait.
        # On the driver's cursor: a full exec_driver_sql cost more CPU than the BEGIN itself, on every transaction.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")
        finally:
            cursor.close()

    return engine


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read (same pool). On SQLite they do not take the write lock, so a
    hot read (an idempotency key, an API key) never queues behind the writers; elsewhere it is ``engine``."""
    return engine.execution_options(**{_READ_ONLY: True}) if engine.dialect.name == "sqlite" else engine


class WalCheckpointer:
    """Checkpoints an SQLite database's write-ahead log every ``interval`` seconds on a thread of its own, for an
    engine made with ``checkpoint_on_commit=False``.

    A passive checkpoint copies what it can without waiting for readers or writers (SQLite runs it beside both; the
    thread gives up the GIL while SQLite copies and syncs), so no request's commit waits for it. Other processes
    on the same file keep SQLite's own checkpoints on commit; the log stays bounded either way."""

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("only SQLite has a write-ahead log to checkpoint")
        self.engine = engine
        self.interval = interval
        self.checkpoints = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint now: (busy, frames in the log, frames checkpointed), as SQLite reports them."""
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                busy, frames, done = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                cursor.close()
        self.checkpoints += 1
        return int(busy), int(frames), int(done)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # noqa: BLE001 - retried next interval; a failure here loses no data
                self.failures += 1
                log.warning("WAL checkpoint failed", exc_info=True)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread, then checkpoint once more so the log does not outlive the process by much."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.checkpoint()
        except Exception:  # noqa: BLE001 - the next process's checkpoints take over
            log.warning("final WAL checkpoint failed", exc_info=True)
