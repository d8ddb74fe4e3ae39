"""Settings from defaults, a TOML file, the environment and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError, load
from services.executor.settings import ExecutorSettings
from services.policy.settings import PolicySettings


def test_defaults_give_each_service_its_port() -> None:
    assert load(PolicySettings, env={}).port == 50053
    assert load(ExecutorSettings, env={}).port == 50054


def test_precedence_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "codeact.toml"
    config.write_text(
        "[server]\nlog_level = 'debug'\nport = 1\n"
        "[executor]\nport = 6000\nmax_sessions = 5\n"
        "[executor.defaults]\nmemory_bytes = 100000000\ncell_timeout = 4.5\n"
    )
    env = {
        "CODEACT_CONFIG": str(config),
        "CODEACT_DEV_MODE": "yes",
        "CODEACT_EXECUTOR_MAX_SESSIONS": "7",
        "CODEACT_EXECUTOR_DEFAULTS__MAX_PIDS": "99",
    }
    s = load(ExecutorSettings, env=env, overrides={"port": 7000, "host": None})
    assert s.log_level == "debug"  # [server]
    assert s.port == 7000  # override beats [executor] beats [server]
    assert s.max_sessions == 7  # CODEACT_EXECUTOR_* beats the file
    assert s.dev_mode is True
    assert s.defaults.memory_bytes == 100_000_000
    assert s.defaults.cell_timeout == 4.5
    assert s.defaults.max_pids == 99
    assert s.defaults.output_bytes == ExecutorSettings().defaults.output_bytes
    # Another service reads [server] but not [executor].
    assert load(PolicySettings, env=env).port == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CODEACT_EXECUTOR_PORT": "not-a-number"}, "executor.port"),
        ({"CODEACT_DEV_MODE": "maybe"}, "executor.dev_mode"),
        ({"CODEACT_EXECUTOR_DEFAULTS__CELL_TIMEOUT": "soon"}, "executor.defaults.cell_timeout"),
        ({"CODEACT_CONFIG": "/nonexistent.toml"}, "config file"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(ExecutorSettings, env=env)
