"""Shared fixtures: a real executor on loopback, clients for two tenants."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeact import Client
from sandbox.limits import MIB, Limits
from services.common.logging import configure_logging
from services.executor.__main__ import build_service
from services.executor.settings import ExecutorSettings
from services.planner.__main__ import build_service as build_planner
from services.planner.settings import PlannerSettings
from tests.llm_stub import LLMStub
from tests.support import INLINE_KEYS, KEYS, TENANTS_TOML, ServerThread, can_jail

configure_logging("warning", "console")


def executor_settings(state_dir: Path, **changes: object) -> ExecutorSettings:
    state_dir.mkdir(parents=True, exist_ok=True)
    tenants = state_dir / "tenants.toml"
    tenants.write_text(TENANTS_TOML)
    settings = ExecutorSettings(
        tenants_file=str(tenants),
        instance="test",
        state_dir=str(state_dir),
        api_keys=INLINE_KEYS,
        audit_file=os.devnull,
        metrics_port=-1,
        log_level="warning",
        defaults=Limits(memory_bytes=256 * MIB, cell_timeout=10.0, max_pids=64),
        interrupt_grace=0.5,
        max_code_bytes=64 * 1024,
        max_file_bytes=8 * MIB,
        workspace_max_files=2000,
        max_sessions_per_tenant=8,
        reap_interval=0.2,
    )
    return ExecutorSettings(**{**settings.__dict__, **changes})


@pytest.fixture(scope="session")
def state_root() -> Iterator[Path]:
    """A directory for executor state that jails can traverse (pytest's are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="codeact-test-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def executor(state_root: Path) -> Iterator[ServerThread]:
    if not can_jail():
        pytest.skip("real jails need root")
    server = ServerThread(executor_settings(state_root / "executor"), build_service).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def manual_executor(state_root: Path) -> Iterator[ServerThread]:
    """An executor without auto-restart: a dead interpreter stays dead."""
    if not can_jail():
        pytest.skip("real jails need root")
    settings = executor_settings(
        state_root / "manual", instance="manual", auto_restart=False, pool_size=0
    )
    server = ServerThread(settings, build_service).start()
    yield server
    server.stop()


@pytest.fixture
def acme(executor: ServerThread) -> Iterator[Client]:
    with Client(executor.address, token=KEYS["acme"]) as client:
        yield client


@pytest.fixture
def globex(executor: ServerThread) -> Iterator[Client]:
    with Client(executor.address, token=KEYS["globex"]) as client:
        yield client


@pytest.fixture
def initech(executor: ServerThread) -> Iterator[Client]:
    with Client(executor.address, token=KEYS["initech"]) as client:
        yield client


@pytest.fixture
def llm_stub() -> Iterator[LLMStub]:
    """The OpenAI-compatible stand-in for a model (the only fake in the tests)."""
    stub = LLMStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def planner(llm_stub: LLMStub) -> Iterator[ServerThread]:
    """A real planner on loopback, talking to the stub."""
    settings = PlannerSettings(
        api_keys=INLINE_KEYS,
        metrics_port=-1,
        log_level="warning",
        llm_base_url=llm_stub.base_url,
        llm_model="stub-model",
        llm_timeout=5.0,
        llm_max_retries=2,
        llm_retry_backoff=0.01,
    )
    server = ServerThread(settings, build_planner).start()
    yield server
    server.stop()


# The whole platform (tests/stack.py): `stack` and `llm`.
from tests.stack import llm, stack  # noqa: E402, F401
