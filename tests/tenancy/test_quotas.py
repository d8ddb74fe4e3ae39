"""Per-tenant quotas: each is exhausted, refused with RESOURCE_EXHAUSTED that
carries a QuotaFailure (what ran out) and a RetryInfo (when to come back),
and recovers once the tenant frees something or waits. Tenant "tight" has
the small limits (tests/tenancy/stack.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from codeact.errors import COUNT_QUOTA_RETRY, CodeActError
from codeact.v1 import agent_pb2, common_pb2, events_pb2, executor_pb2, memory_pb2
from tests.tenancy.stack import SecureStack, refused


@pytest.fixture
def tight(secure_stack: SecureStack) -> Iterator[Any]:
    call = secure_stack.as_tenant("tight")
    yield call
    # Leave nothing behind for the next test.
    for session in call(
        "agent", "ListAgentSessions", agent_pb2.ListAgentSessionsRequest()
    ).sessions:
        call(
            "agent",
            "DeleteAgentSession",
            agent_pb2.DeleteAgentSessionRequest(session_id=session.id),
        )
    for session in call("executor", "ListSessions", executor_pb2.ListSessionsRequest()).sessions:
        call("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=session.id))
    listed = call("memory", "ListConversations", memory_pb2.ListConversationsRequest())
    for conversation in listed.conversations:
        call(
            "memory",
            "DeleteConversation",
            memory_pb2.DeleteConversationRequest(conversation_id=conversation.id),
        )


def assert_quota(err: CodeActError, reason: str, retry: bool = True) -> None:
    assert (err.code, err.reason) == ("RESOURCE_EXHAUSTED", reason), err
    assert [v.subject for v in err.quota_violations] == ["tenant:tight"]
    assert err.quota_violations[0].description
    if retry:
        assert err.retry_after is not None and err.retry_after > 0


def test_concurrent_sessions(tight: Any) -> None:
    first = tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    err = refused(lambda: tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()))
    assert_quota(err, "SESSION_QUOTA_EXCEEDED")
    assert err.retry_after == COUNT_QUOTA_RETRY
    tight("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=first.id))
    assert tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session.id


def test_executions_per_minute(tight: Any) -> None:
    session = tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session

    def run() -> Any:
        return tight(
            "executor", "Execute", executor_pb2.ExecuteRequest(session_id=session.id, code="1")
        )

    # The bucket holds 3 and refills one a second; a burst of 4 empties it.
    errors: list[CodeActError] = []
    for _ in range(4):
        try:
            run()
        except CodeActError as caught:
            errors.append(caught)
    assert len(errors) >= 1
    last = errors[-1]
    assert_quota(last, "EXECUTION_RATE_EXCEEDED")
    assert last.retry_after is not None and last.retry_after <= 1.0
    time.sleep(last.retry_after + 0.05)
    assert any(r.WhichOneof("event") == "completion" for r in run())


def test_a_ceiling_on_sandbox_limits(tight: Any) -> None:
    too_much = executor_pb2.CreateSessionRequest(
        limits=common_pb2.SandboxLimits(memory_bytes=400 << 20)
    )
    err = refused(lambda: tight("executor", "CreateSession", too_much))
    assert (err.code, err.reason) == ("RESOURCE_EXHAUSTED", "LIMIT_ABOVE_CEILING")
    assert [v.subject for v in err.quota_violations] == ["limits.memory_bytes"]
    # Waiting does not raise a ceiling: no RetryInfo.
    assert err.retry_after is None
    within = executor_pb2.CreateSessionRequest(
        limits=common_pb2.SandboxLimits(memory_bytes=300 << 20)
    )
    assert tight("executor", "CreateSession", within).session.limits.memory_bytes == 300 << 20


def test_the_runtime_info_tells_the_tenant_its_own_ceilings(
    secure_stack: SecureStack, tight: Any
) -> None:
    request = executor_pb2.GetRuntimeInfoRequest()
    mine = tight("executor", "GetRuntimeInfo", request)
    assert mine.max_limits.memory_bytes == 300 << 20
    assert mine.default_limits.memory_bytes <= 300 << 20
    others = secure_stack.as_tenant("acme")("executor", "GetRuntimeInfo", request)
    assert others.max_limits.memory_bytes > 300 << 20


def test_an_agent_profile_fits_the_tenants_ceilings(tight: Any) -> None:
    """The default profile asks for 1 GiB; tight's sandbox gets its 300 MiB."""
    session = tight("agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest()).session
    assert session.profile.sandbox_limits.memory_bytes > 300 << 20
    sandbox = tight(
        "executor",
        "GetSession",
        executor_pb2.GetSessionRequest(session_id=session.executor_session_id),
    ).session
    assert sandbox.limits.memory_bytes == 300 << 20
    # Limits the caller asks for are checked as asked.
    tight("agent", "DeleteAgentSession", agent_pb2.DeleteAgentSessionRequest(session_id=session.id))
    explicit = agent_pb2.CreateAgentSessionRequest(
        profile=agent_pb2.AgentProfile(
            sandbox_limits=common_pb2.SandboxLimits(memory_bytes=400 << 20)
        )
    )
    err = refused(lambda: tight("agent", "CreateAgentSession", explicit))
    assert (err.code, err.reason) == ("RESOURCE_EXHAUSTED", "LIMIT_ABOVE_CEILING")


def test_conversations(tight: Any) -> None:
    made = [
        tight("memory", "CreateConversation", memory_pb2.CreateConversationRequest()).conversation
        for _ in range(2)
    ]
    err = refused(
        lambda: tight("memory", "CreateConversation", memory_pb2.CreateConversationRequest())
    )
    assert_quota(err, "CONVERSATION_QUOTA_EXCEEDED")
    tight(
        "memory",
        "DeleteConversation",
        memory_pb2.DeleteConversationRequest(conversation_id=made[0].id),
    )
    assert tight("memory", "CreateConversation", memory_pb2.CreateConversationRequest())


def _append(tight: Any, conversation_id: str, text: str) -> Any:
    return tight(
        "memory",
        "AppendEvents",
        memory_pb2.AppendEventsRequest(
            conversation_id=conversation_id,
            events=[events_pb2.Event(user_message=events_pb2.UserMessage(text=text))],
        ),
    )


def test_conversation_storage(tight: Any) -> None:
    first = tight("memory", "CreateConversation", memory_pb2.CreateConversationRequest())
    second = tight("memory", "CreateConversation", memory_pb2.CreateConversationRequest())
    _append(tight, first.conversation.id, "a" * 1200)
    _append(tight, second.conversation.id, "b" * 1200)
    # 3000 bytes over all of the tenant's conversations: the third does not fit.
    err = refused(lambda: _append(tight, second.conversation.id, "c" * 1200))
    assert_quota(err, "STORAGE_QUOTA_EXCEEDED")
    # GetContext's own appends count the same.
    err = refused(
        lambda: tight(
            "memory",
            "GetContext",
            memory_pb2.GetContextRequest(
                conversation_id=second.conversation.id,
                append_events=[
                    events_pb2.Event(user_message=events_pb2.UserMessage(text="d" * 1200))
                ],
            ),
        )
    )
    assert_quota(err, "STORAGE_QUOTA_EXCEEDED")
    tight(
        "memory",
        "DeleteConversation",
        memory_pb2.DeleteConversationRequest(conversation_id=first.conversation.id),
    )
    assert _append(tight, second.conversation.id, "c" * 1200).events


def test_agent_sessions(tight: Any) -> None:
    first = tight("agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest()).session
    err = refused(
        lambda: tight("agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest())
    )
    assert_quota(err, "AGENT_SESSION_QUOTA_EXCEEDED")
    tight("agent", "DeleteAgentSession", agent_pb2.DeleteAgentSessionRequest(session_id=first.id))
    assert tight("agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest()).session.id


def test_one_tenants_quota_leaves_the_others_alone(secure_stack: SecureStack, tight: Any) -> None:
    tight("executor", "CreateSession", executor_pb2.CreateSessionRequest())
    assert refused(lambda: tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()))
    acme = secure_stack.as_tenant("acme")
    mine = acme("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    acme("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=mine.id))
