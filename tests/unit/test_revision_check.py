"""The start-up revision check reads the head from the migration files without Alembic: every spelling Alembic
writes, and no answer at all when the history has no single head."""

from __future__ import annotations

from pathlib import Path

from returns_triage.serving.storage.revision import database_revision, head_revision


def _migration(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(f'"""{name}"""\n\n{body}\n\ndef upgrade() -> None:\n    pass\n')


def test_the_head_is_the_revision_no_other_names_as_its_parent(tmp_path: Path) -> None:
    _migration(tmp_path, "0001_a", 'revision = "0001"\ndown_revision = None')
    _migration(tmp_path, "0002_b", "revision: str = '0002'\ndown_revision: str | None = '0001'")
    _migration(tmp_path, "0003_c", 'revision: str = "0003"\ndown_revision: Union[str, None] = "0002"')
    assert head_revision(tmp_path) == "0003"


def test_two_heads_or_none_give_no_answer(tmp_path: Path) -> None:
    assert head_revision(tmp_path) is None
    _migration(tmp_path, "0001_a", 'revision = "0001"\ndown_revision = None')
    _migration(tmp_path, "0002_b", 'revision = "0002"\ndown_revision = "0001"')
    _migration(tmp_path, "0002_c", 'revision = "0002c"\ndown_revision = "0001"')
    assert head_revision(tmp_path) is None


def test_a_database_that_cannot_say_has_no_revision(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    for url in (f"sqlite:///{tmp_path / 'missing.db'}", f"sqlite:///{tmp_path / 'empty.db'}",
                f"sqlite:///{tmp_path / 'junk.db'}", "sqlite://", "sqlite:///:memory:", "mysql://x@y/z"):
        assert database_revision(url) is None, url
