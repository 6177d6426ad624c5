from __future__ import annotations

from pathlib import Path

import pytest

from returns_triage.errors import ConfigurationError
from returns_triage.settings import Settings


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings.from_env({"TRIAGE_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'triage.db'}"
    assert s.model_dir == tmp_path / "models"
    assert s.mlflow_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_environment_overrides_are_typed() -> None:
    s = Settings.from_env({"TRIAGE_DATABASE_URL": "postgresql://u@h/db", "TRIAGE_MAX_BODY_BYTES": "2048",
                           "TRIAGE_MODEL_DIR": "/m"})
    assert s.database_url == "postgresql://u@h/db" and s.max_body_bytes == 2048
    assert s.policy_file == "default"
    assert s.model_dir == Path("/m")


@pytest.mark.parametrize(
    ("name", "value"),
    [("TRIAGE_DATABASE_URL", "mysql://x"), ("TRIAGE_MAX_BODY_BYTES", "many"), ("TRIAGE_MAX_BODY_BYTES", "10"),
     ("TRIAGE_MAX_DOCUMENT_BYTES", "-1")],
)
def test_bad_settings_fail_at_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name.split("_", 1)[1][:10]):
        Settings.from_env({name: value})
