"""The whole platform on loopback for end-to-end tests: a real executor,
policy, memory, planner and agent, and the OpenAI-compatible stub.
(Its fixtures are registered in tests/conftest.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeact import Client
from services.agent.__main__ import build_service as build_agent
from services.agent.settings import AgentSettings
from services.memory.__main__ import build_service as build_memory
from services.memory.settings import MemorySettings
from services.planner.__main__ import build_service as build_planner
from services.planner.settings import PlannerSettings
from services.policy.__main__ import build_service as build_policy
from services.policy.settings import PolicySettings
from tests.llm_stub import LLMStub
from tests.support import INLINE_KEYS, KEYS, ServerThread

COMMON = {
    "api_keys": INLINE_KEYS,
    "metrics_port": -1,
    "log_level": "warning",
    "audit_file": os.devnull,
}


@dataclass
class Stack:
    stub: LLMStub
    agent: ServerThread
    planner: ServerThread
    policy: ServerThread
    memory: ServerThread
    executor: ServerThread

    def client(self, tenant: str = "acme") -> Client:
        return Client(self.agent.address, token=KEYS[tenant], timeout=30)


@pytest.fixture(scope="session")
def stack(executor: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stack")
    stub = LLMStub().start()
    planner = ServerThread(
        PlannerSettings(
            **COMMON,  # type: ignore[arg-type]
            llm_base_url=stub.base_url,
            llm_model="stub-model",
            llm_timeout=10.0,
            llm_retry_backoff=0.01,
        ),
        build_planner,
    ).start()
    policy = ServerThread(PolicySettings(**COMMON), build_policy).start()  # type: ignore[arg-type]
    memory = ServerThread(
        MemorySettings(
            **COMMON,  # type: ignore[arg-type]
            dsn=f"sqlite://{root / 'memory.db'}",
            planner_target=planner.address,
        ),
        build_memory,
    ).start()
    agent = ServerThread(
        AgentSettings(
            **COMMON,  # type: ignore[arg-type]
            planner_target=planner.address,
            policy_target=policy.address,
            executor_target=executor.address,
            memory_target=memory.address,
            max_sessions_per_tenant=8,
        ),
        build_agent,
    ).start()
    yield Stack(stub, agent, planner, policy, memory, executor)
    for server in (agent, memory, policy, planner):
        server.stop()
    stub.stop()


@pytest.fixture
def llm(stack: Stack) -> LLMStub:
    stack.stub.reset()
    return stack.stub
