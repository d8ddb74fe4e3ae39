"""Fixtures of the tenancy suite: the secure stack and globex's resources,
which acme then tries to reach through every RPC."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeact.v1 import agent_pb2, events_pb2, executor_pb2, memory_pb2
from tests.support import can_jail
from tests.tenancy.stack import SecureStack, start


@pytest.fixture(scope="session")
def secure_stack(state_root: Path) -> Iterator[SecureStack]:
    if not can_jail():
        pytest.skip("real jails need root")
    stack = start(state_root)
    yield stack
    stack.close()


@dataclass(frozen=True)
class Owned:
    """Resources one tenant made."""

    session_id: str
    checkpoint_id: str
    conversation_id: str
    agent_session_id: str
    profile: str


@pytest.fixture(scope="session")
def globex_owns(secure_stack: SecureStack) -> Owned:
    call = secure_stack.as_tenant("globex")
    session = call("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    call(
        "executor",
        "Execute",
        executor_pb2.ExecuteRequest(session_id=session.id, code="secret = 'globex-only'"),
    )
    checkpoint = call(
        "executor", "CreateCheckpoint", executor_pb2.CreateCheckpointRequest(session_id=session.id)
    ).checkpoint
    conversation = call(
        "memory", "CreateConversation", memory_pb2.CreateConversationRequest()
    ).conversation
    call(
        "memory",
        "AppendEvents",
        memory_pb2.AppendEventsRequest(
            conversation_id=conversation.id,
            events=[events_pb2.Event(user_message=events_pb2.UserMessage(text="globex plans"))],
        ),
    )
    agent = call("agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest()).session
    return Owned(session.id, checkpoint.id, conversation.id, agent.id, "globex-private")
