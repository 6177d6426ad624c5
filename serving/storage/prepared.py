"""Statements compiled once and run straight on the driver's cursor, for the hot write path.

``Connection.execute`` does more per call than SQLite does to insert a row: it looks the statement up in the
compiled cache, builds an execution context, runs the column types' bind processors and wraps a result. The
scoring path writes about eight statements per group of decisions, so that bookkeeping was most of the write's
CPU (profiled: ~0.8 of 1.7 ms per decision on SQLite). :class:`PreparedStatement` does the part that depends only
on the statement (compiling it for the engine's dialect, finding each parameter's bind processor) once, and per
call only converts the values and executes on the DBAPI cursor of the caller's SQLAlchemy connection, inside its
transaction. What reaches the database is exactly what ``Connection.execute`` would send: the same SQL text and the
same processed values.

Only for statements whose parameters are all given by the caller: no column defaults, no expanding ``IN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

__all__ = ["PreparedStatement"]


class PreparedStatement:
    """``statement`` compiled for ``dialect``; :meth:`execute` runs it with one or many parameter mappings.

    For an INSERT, ``keys`` are the columns the caller supplies (every other column takes its server default or
    NULL); the statement is refused if SQLAlchemy would have to compute a value itself (a Python-side default)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "escaped_bind_names", None):
            raise ValueError(f"statement needs values SQLAlchemy computes or renames: {compiled.string}")
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
        if keys is not None and set(names) - set(keys):
            raise ValueError(f"parameters {sorted(set(names) - set(keys))} not among the keys given")
        processors: list[tuple[str, Callable[[Any], Any] | None]] = []
        for name in names:
            bind = compiled.binds[name]
            processors.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        self.sql = compiled.string
        self.positional = compiled.positional
        self._processors = processors
        # Constant values (bindparam(..., value=x)) travel with the statement, as Connection.execute sends them.
        self._constants = {name: bind.value for name, bind in compiled.binds.items()
                           if not bind.required and bind.callable is None and name not in (keys or ())}

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``row`` as the driver takes it: processed values, in the statement's order (or by name)."""
        if self._constants:
            row = {**self._constants, **row}
        if self.positional:
            return tuple(row[name] if proc is None else proc(row[name]) for name, proc in self._processors)
        return {name: row[name] if proc is None else proc(row[name]) for name, proc in self._processors}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> int:
        """Run in ``conn``'s transaction, once per row; returns the driver's row count (-1 when it has none)."""
        if isinstance(rows, Mapping):
            rows = [rows]
        params = [self.parameters(r) for r in rows]
        with self._cursor(conn, params) as cursor:
            if len(params) == 1:
                cursor.execute(self.sql, params[0])
            else:
                cursor.executemany(self.sql, params)
            return int(cursor.rowcount)

    def fetch(self, conn: Connection, row: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query in ``conn``'s transaction and return its rows as the driver gives them (no result
        processing: only for columns whose driver values are what the caller wants, e.g. strings and integers)."""
        params = self.parameters(row or {})
        with self._cursor(conn, params) as cursor:
            cursor.execute(self.sql, params)
            return [tuple(r) for r in cursor.fetchall()]

    @contextmanager
    def _cursor(self, conn: Connection, params: Any) -> Iterator[Any]:
        """The driver's cursor; its errors raised as SQLAlchemy raises them (``IntegrityError``, ``OperationalError``
        …, each a ``DBAPIError`` with the driver's error as ``orig``), so callers catch one family of errors."""
        dbapi_error = conn.dialect.loaded_dbapi.Error
        cursor = conn.connection.cursor()
        try:
            yield cursor
        except dbapi_error as exc:
            raise DBAPIError.instance(self.sql, params, exc, dbapi_error, dialect=conn.dialect) from exc
        finally:
            cursor.close()
