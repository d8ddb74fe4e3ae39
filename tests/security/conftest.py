"""A dedicated executor for the attack suite (no warm pool), so that "no
sandbox process remains" can be checked exactly at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeact import Client
from sandbox.limits import MIB, Limits
from services.executor.__main__ import build_service
from tests.conftest import executor_settings
from tests.support import KEYS, ServerThread, can_jail

INSTANCE = "security"


@pytest.fixture(scope="module")
def security_executor(state_root: Path) -> Iterator[ServerThread]:
    if not can_jail():
        pytest.skip("real jails need root")
    settings = executor_settings(
        state_root / INSTANCE,
        instance=INSTANCE,
        pool_size=0,
        defaults=Limits(memory_bytes=256 * MIB, cell_timeout=10.0, max_pids=64),
    )
    server = ServerThread(settings, build_service).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def attacker(security_executor: ServerThread) -> Iterator[Client]:
    with Client(security_executor.address, token=KEYS["acme"]) as client:
        yield client


@pytest.fixture(scope="module")
def victim(security_executor: ServerThread) -> Iterator[Client]:
    with Client(security_executor.address, token=KEYS["globex"]) as client:
        yield client
