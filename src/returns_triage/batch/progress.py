"""The progress file beside a batch output (``OUTPUT.progress.json``): the last fully written row.

It is replaced atomically after each output chunk is durable, so at any instant — also after ``kill -9`` — it
names a prefix of the input whose rows are all in the output, and where the output ends after them. A resumed
run cuts the output back to that point and continues with the next input row: no row twice, none skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from returns_triage.errors import InvalidInput

__all__ = ["Progress", "progress_path", "input_fingerprint"]


def progress_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def input_fingerprint(path: Path) -> dict[str, Any]:
    """Enough to notice that the input file changed between a run and its resumption."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass(slots=True)
class Progress:
    input: dict[str, Any]
    output: str
    rows_done: int = 0  # input rows 0 .. rows_done-1 are in the output
    errors: int = 0
    position: dict[str, int] = field(default_factory=dict)  # where the output ends after them
    complete: bool = False

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(asdict(self), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Progress:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidInput(f"{path}: unreadable progress file ({exc}); start again without --resume",
                               field="resume") from exc

    def check_same_input(self, fingerprint: dict[str, Any]) -> None:
        if self.input != fingerprint:
            raise InvalidInput(f"{fingerprint['path']} changed since the interrupted run "
                               f"(recorded {self.input}); start again without --resume", field="input")
