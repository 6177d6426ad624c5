"""Batch files read and written in chunks: CSV, JSONL and Parquet, chosen by the file's extension.

Memory stays bounded by one chunk. Every output chunk is durable (fsync) before the caller records it in the
progress file, and each writer can be reopened at a recorded position: CSV and JSONL are truncated back to the
recorded byte length (dropping a chunk written after the last record, e.g. by a run killed with ``kill -9``);
Parquet, whose footer is written last, is kept as one part file per chunk and merged when the run completes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from returns_triage.batch.records import OUTPUT_COLUMNS
from returns_triage.errors import InvalidInput

__all__ = ["FORMATS", "UnreadableRow", "RowSource", "OutputWriter", "file_format", "open_rows", "open_output",
           "read_output"]

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A row that could not be parsed (bad JSON): it becomes an error row, the run goes on."""

    message: str


Row = dict[str, Any] | UnreadableRow


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{path}: unknown file type {path.suffix!r}; use .csv, .jsonl or .parquet", field="path")
    return fmt


class RowSource(Protocol):
    def count(self) -> int: ...

    def chunks(self, size: int, skip: int = 0) -> Iterator[list[Row]]: ...


class _CsvRows:
    def __init__(self, path: Path) -> None:
        self.path = path
        csv.field_size_limit(10_000_000)

    def count(self) -> int:
        with self.path.open(newline="", encoding="utf-8") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)

    def chunks(self, size: int, skip: int = 0) -> Iterator[list[Row]]:
        with self.path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            chunk: list[Row] = []
            for i, row in enumerate(reader):
                if i < skip:
                    continue
                chunk.append(row)
                if len(chunk) == size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk


class _JsonlRows:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> Iterator[str]:
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():  # blank lines are not rows
                    yield line

    def count(self) -> int:
        return sum(1 for _ in self._lines())

    def chunks(self, size: int, skip: int = 0) -> Iterator[list[Row]]:
        chunk: list[Row] = []
        for i, line in enumerate(self._lines()):
            if i < skip:
                continue
            try:
                value = json.loads(line)
                chunk.append(value if isinstance(value, dict) else UnreadableRow("a row must be a JSON object"))
            except json.JSONDecodeError as exc:
                chunk.append(UnreadableRow(f"not valid JSON: {exc}"))
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class _ParquetRows:
    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(path)

    def count(self) -> int:
        return int(self._file.metadata.num_rows)

    def chunks(self, size: int, skip: int = 0) -> Iterator[list[Row]]:
        meta = self._file.metadata
        first, start = 0, 0  # skip whole row groups without reading them
        while first < meta.num_row_groups and start + meta.row_group(first).num_rows <= skip:
            start += meta.row_group(first).num_rows
            first += 1
        drop = skip - start
        groups = list(range(first, meta.num_row_groups))
        if not groups:
            return
        pending: list[Row] = []
        for batch in self._file.iter_batches(batch_size=size, row_groups=groups):
            rows = batch.to_pylist()
            if drop:
                rows, drop = rows[drop:], max(drop - len(rows), 0)
            pending.extend(rows)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending


def open_rows(path: Path) -> RowSource:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="input")
    return {"csv": _CsvRows, "jsonl": _JsonlRows, "parquet": _ParquetRows}[file_format(path)](path)


# --- output -----------------------------------------------------------------------------------------------------


class OutputWriter(Protocol):
    def position(self) -> dict[str, int]:
        """What the progress file records: where a resumed run reopens this output."""
        ...

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append one chunk and make it durable."""
        ...

    def finish(self) -> None:
        """The run is complete: make the output file whole."""
        ...

    def close(self) -> None:
        """Release the file (after finish, or when a run stops early); idempotent."""
        ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


class _AppendWriter:
    """CSV or JSONL: one file, appended chunk by chunk; reopened by truncating to the recorded length."""

    def __init__(self, path: Path, fmt: str, position: dict[str, int] | None) -> None:
        self.path, self.fmt = path, fmt
        if position is None:
            self._fh = path.open("wb")
            if fmt == "csv":
                self._append([], header=True)
        else:
            size = path.stat().st_size if path.exists() else -1
            if size < position["bytes"]:
                raise InvalidInput(f"{path} is shorter than the progress file records; start again without --resume",
                                   field="output")
            self._fh = path.open("r+b")
            self._fh.truncate(position["bytes"])
            self._fh.seek(position["bytes"])

    def _append(self, rows: list[dict[str, Any]], *, header: bool = False) -> None:
        buf = io.StringIO()
        if self.fmt == "csv":
            writer = csv.writer(buf, lineterminator="\n")
            if header:
                writer.writerow(OUTPUT_COLUMNS)
            writer.writerows([_csv_cell(r[c]) for c in OUTPUT_COLUMNS] for r in rows)
        else:
            for r in rows:
                buf.write(json.dumps({c: r[c] for c in OUTPUT_COLUMNS}, ensure_ascii=False))
                buf.write("\n")
        self._fh.write(buf.getvalue().encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def position(self) -> dict[str, int]:
        return {"bytes": self._fh.tell()}

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._append(rows)

    def finish(self) -> None:
        self._fh.close()

    def close(self) -> None:
        self._fh.close()


def _arrow_schema() -> Any:
    import pyarrow as pa

    types = {"row": pa.int64(), "priority": pa.int64(), "reason_confidence": pa.float64(),
             "reason_abstain": pa.bool_(), "reason_out_of_scope_score": pa.float64(), "risk_score": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in OUTPUT_COLUMNS])


class _ParquetWriter:
    """One part file per chunk under ``OUTPUT.parts/`` (each complete, written atomically); merged at the end."""

    def __init__(self, path: Path, position: dict[str, int] | None) -> None:
        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        if position is None:
            shutil.rmtree(self.parts, ignore_errors=True)
            self._count = 0
        else:
            self._count = position["parts"]
            # Parts after the recorded count were written by a run that died before recording them.
            for part in self.parts.glob("part-*.parquet") if self.parts.exists() else []:
                if int(part.stem.split("-")[1]) >= self._count:
                    part.unlink()
        self.parts.mkdir(parents=True, exist_ok=True)

    def _part(self, k: int) -> Path:
        return self.parts / f"part-{k:07d}.parquet"

    def position(self) -> dict[str, int]:
        return {"parts": self._count}

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=_arrow_schema())
        tmp = self.parts / f".part-{self._count:07d}.tmp"
        with tmp.open("wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._part(self._count))
        _fsync_dir(self.parts)
        self._count += 1

    def finish(self) -> None:
        import pyarrow.parquet as pq

        tmp = self.path.with_name(self.path.name + ".tmp")
        schema = _arrow_schema()
        with pq.ParquetWriter(tmp, schema) as writer:
            for k in range(self._count):  # one part in memory at a time
                writer.write_table(pq.read_table(self._part(k), schema=schema))
        os.replace(tmp, self.path)
        shutil.rmtree(self.parts, ignore_errors=True)

    def close(self) -> None:
        pass  # every part is closed as soon as it is written


def open_output(path: Path, position: dict[str, int] | None = None) -> OutputWriter:
    """A writer at the start of ``path`` (``position`` None) or reopened where a progress file left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = file_format(path)
    if fmt == "parquet":
        return _ParquetWriter(path, position)
    return _AppendWriter(path, fmt, position)


def read_output(path: Path) -> list[dict[str, Any]]:
    """An output file's rows as dicts with typed values (for checks and tests; loads the whole file)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()  # type: ignore[no-any-return]
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    ints, floats = {"row", "priority"}, {"reason_confidence", "reason_out_of_scope_score", "risk_score"}

    def typed(c: str, v: str) -> Any:
        if v == "":
            return None
        if c in ints:
            return int(v)
        if c in floats:
            return float(v)
        return {"true": True, "false": False}[v] if c == "reason_abstain" else v

    with path.open(newline="", encoding="utf-8") as fh:
        return [{c: typed(c, v) for c, v in row.items()} for row in csv.DictReader(fh)]
