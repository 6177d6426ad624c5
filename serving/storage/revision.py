"""Whether a database is at the newest migration, asked without SQLAlchemy or Alembic (standard library, and
psycopg for PostgreSQL). ``triage serve`` asks before it starts its workers: importing SQLAlchemy and Alembic to
find nothing to migrate cost the start-up about 0.35 s. Any doubt answers False, and the caller migrates."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote

__all__ = ["head_revision", "database_revision", "at_head"]

_VERSIONS = Path(__file__).parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(?:\"([^\"]*)\"|'([^']*)'|None)\s*$", re.M)


def head_revision(versions: Path = _VERSIONS) -> str | None:
    """The one revision no other migration names as its ``down_revision`` (None if that is not exactly one)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found = {m.group(1): m.group(2) or m.group(3) for m in _ASSIGNMENT.finditer(path.read_text())}
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


def database_revision(url: str) -> str | None:
    """The revision recorded in the database at ``url`` (SQLAlchemy form), or None if it has none or is not
    reachable this way."""
    scheme, _, rest = url.partition("://")
    try:
        if scheme.startswith("sqlite"):
            path = unquote(rest[1:].split("?", 1)[0]) if rest.startswith("/") else ""
            if not path or path == ":memory:" or not Path(path).is_file():
                return None
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return str(row[0]) if row else None
        if scheme.split("+", 1)[0] in ("postgresql", "postgres"):
            import psycopg

            with psycopg.connect(f"postgresql://{rest}", connect_timeout=5) as conn:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return str(row[0]) if row else None
    except Exception:  # noqa: BLE001 - any doubt means "migrate", which then reports a real error properly
        return None
    return None


def at_head(url: str) -> bool:
    head = head_revision()
    return head is not None and database_revision(url) == head
