"""The micro-batching settings: on by default, turned off by TRIAGE_REASON_BATCHING=off, validated at start-up."""

from __future__ import annotations

import pytest

from returns_triage.errors import ConfigurationError
from returns_triage.settings import Settings


def test_batching_is_on_by_default_and_can_be_turned_off() -> None:
    assert Settings.from_env({}).reason_batching is True
    for off in ("off", "0", "false", "No"):
        assert Settings.from_env({"TRIAGE_REASON_BATCHING": off}).reason_batching is False
    tuned = Settings.from_env({"TRIAGE_REASON_BATCH_MAX": "8", "TRIAGE_REASON_BATCH_WAIT_MS": "1.5"})
    assert (tuned.reason_batch_max, tuned.reason_batch_wait_ms) == (8, 1.5)
    assert Settings.from_env({}).reason_batch_runners == 1
    assert Settings.from_env({"TRIAGE_REASON_BATCH_RUNNERS": "2"}).reason_batch_runners == 2


@pytest.mark.parametrize("env", [{"TRIAGE_REASON_BATCHING": "sometimes"}, {"TRIAGE_REASON_BATCH_MAX": "0"},
                                 {"TRIAGE_REASON_BATCH_WAIT_MS": "-1"}, {"TRIAGE_REASON_BATCH_MAX": "many"},
                                 {"TRIAGE_REASON_BATCH_RUNNERS": "0"}])
def test_bad_batching_settings_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)
