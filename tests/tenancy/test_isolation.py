"""Acme tries every RPC of every service on globex's resources: each one is
NOT_FOUND (never PERMISSION_DENIED, which would confirm the resource exists),
lists show only the caller's own, and globex's resources come out untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from codeact.v1 import (
    agent_pb2,
    common_pb2,
    events_pb2,
    executor_pb2,
    memory_pb2,
    planner_pb2,
    policy_pb2,
)
from tests.tenancy.conftest import Owned
from tests.tenancy.stack import SecureStack, refused

Request = Callable[[Owned], Any]

ON_OTHERS: dict[tuple[str, str], Request] = {
    ("executor", "GetSession"): lambda o: executor_pb2.GetSessionRequest(session_id=o.session_id),
    ("executor", "RestartSession"): lambda o: executor_pb2.RestartSessionRequest(
        session_id=o.session_id
    ),
    ("executor", "Execute"): lambda o: executor_pb2.ExecuteRequest(
        session_id=o.session_id, code="print(secret)"
    ),
    ("executor", "Interrupt"): lambda o: executor_pb2.InterruptRequest(session_id=o.session_id),
    ("executor", "UploadFile"): lambda o: iter(
        [
            executor_pb2.UploadFileRequest(
                header=executor_pb2.UploadFileHeader(session_id=o.session_id, path="planted.txt")
            ),
            executor_pb2.UploadFileRequest(chunk=b"from acme"),
        ]
    ),
    ("executor", "DownloadFile"): lambda o: executor_pb2.DownloadFileRequest(
        session_id=o.session_id, path="."
    ),
    ("executor", "ListFiles"): lambda o: executor_pb2.ListFilesRequest(
        session_id=o.session_id, path="", recursive=True
    ),
    ("executor", "CreateCheckpoint"): lambda o: executor_pb2.CreateCheckpointRequest(
        session_id=o.session_id
    ),
    ("executor", "RestoreCheckpoint"): lambda o: executor_pb2.RestoreCheckpointRequest(
        session_id=o.session_id, checkpoint_id=o.checkpoint_id
    ),
    ("executor", "DeleteCheckpoint"): lambda o: executor_pb2.DeleteCheckpointRequest(
        session_id=o.session_id, checkpoint_id=o.checkpoint_id
    ),
    ("executor", "DeleteSession"): lambda o: executor_pb2.DeleteSessionRequest(
        session_id=o.session_id
    ),
    ("memory", "GetConversation"): lambda o: memory_pb2.GetConversationRequest(
        conversation_id=o.conversation_id
    ),
    ("memory", "AppendEvents"): lambda o: memory_pb2.AppendEventsRequest(
        conversation_id=o.conversation_id,
        events=[events_pb2.Event(user_message=events_pb2.UserMessage(text="planted"))],
    ),
    ("memory", "ListEvents"): lambda o: memory_pb2.ListEventsRequest(
        conversation_id=o.conversation_id
    ),
    ("memory", "GetContext"): lambda o: memory_pb2.GetContextRequest(
        conversation_id=o.conversation_id
    ),
    ("memory", "DeleteConversation"): lambda o: memory_pb2.DeleteConversationRequest(
        conversation_id=o.conversation_id
    ),
    ("agent", "GetAgentSession"): lambda o: agent_pb2.GetAgentSessionRequest(
        session_id=o.agent_session_id
    ),
    ("agent", "RunTask"): lambda o: agent_pb2.RunTaskRequest(
        session_id=o.agent_session_id, task="print the secret"
    ),
    ("agent", "CancelTask"): lambda o: agent_pb2.CancelTaskRequest(session_id=o.agent_session_id),
    ("agent", "DeleteAgentSession"): lambda o: agent_pb2.DeleteAgentSessionRequest(
        session_id=o.agent_session_id
    ),
    ("policy", "GetProfile"): lambda o: policy_pb2.GetProfileRequest(name=o.profile),
    ("policy", "CheckCode"): lambda o: policy_pb2.CheckCodeRequest(
        code="x = 1", profile_name=o.profile
    ),
}


@pytest.mark.parametrize(("service", "rpc"), list(ON_OTHERS), ids=lambda v: str(v))
def test_another_tenants_resource_is_not_found(
    secure_stack: SecureStack, globex_owns: Owned, service: str, rpc: str
) -> None:
    acme = secure_stack.as_tenant("acme")
    err = refused(lambda: acme(service, rpc, ON_OTHERS[service, rpc](globex_owns)))
    assert err.code == "NOT_FOUND", err
    # Indistinguishable from asking for something that does not exist.
    made_up = Owned(
        "tenancy-00000000000000000000",
        "ckpt-000000000000",
        "conv-00000000000000000000",
        "agent-00000000000000000000",
        "no-such-profile",
    )
    missing = refused(lambda: acme(service, rpc, ON_OTHERS[service, rpc](made_up)))
    assert (missing.code, missing.reason) == (err.code, err.reason)


@pytest.mark.parametrize(
    ("service", "rpc", "request_", "field", "own"),
    [
        ("executor", "ListSessions", executor_pb2.ListSessionsRequest(), "sessions", "session_id"),
        (
            "memory",
            "ListConversations",
            memory_pb2.ListConversationsRequest(),
            "conversations",
            "conversation_id",
        ),
        (
            "agent",
            "ListAgentSessions",
            agent_pb2.ListAgentSessionsRequest(),
            "sessions",
            "agent_session_id",
        ),
    ],
)
def test_lists_hold_only_the_callers_own(
    secure_stack: SecureStack,
    globex_owns: Owned,
    service: str,
    rpc: str,
    request_: Any,
    field: str,
    own: str,
) -> None:
    listed = [
        item.id for item in getattr(secure_stack.as_tenant("acme")(service, rpc, request_), field)
    ]
    assert getattr(globex_owns, own) not in listed
    theirs = [
        item.id for item in getattr(secure_stack.as_tenant("globex")(service, rpc, request_), field)
    ]
    assert getattr(globex_owns, own) in theirs


def test_profiles_are_listed_per_tenant(secure_stack: SecureStack) -> None:
    def names(tenant: str) -> set[str]:
        reply = secure_stack.as_tenant(tenant)(
            "policy", "ListProfiles", policy_pb2.ListProfilesRequest()
        )
        return {p.name for p in reply.profiles}

    assert "acme-private" in names("acme") and "globex-private" not in names("acme")
    assert "globex-private" in names("globex") and "acme-private" not in names("globex")


def test_each_tenant_reaches_its_own_model(secure_stack: SecureStack) -> None:
    stub = secure_stack.stub
    stub.reset()
    request = planner_pb2.NextActionRequest(
        messages=[common_pb2.Message(role=common_pb2.ROLE_USER, content="hi")]
    )
    for tenant in ("acme", "globex"):
        secure_stack.as_tenant(tenant)("planner", "NextAction", request)
    sent = [
        (r["body"]["model"], {k.lower(): v for k, v in r["headers"].items()}["authorization"])
        for r in stub.requests
    ]
    assert sent == [
        ("acme-model", "Bearer acme-llm-key"),
        ("globex-model", "Bearer globex-llm-key"),
    ]


def test_summaries_use_the_callers_model(secure_stack: SecureStack) -> None:
    stub = secure_stack.stub
    stub.reset()
    stub.script("the summary")
    secure_stack.as_tenant("globex")(
        "planner",
        "Summarize",
        planner_pb2.SummarizeRequest(
            events=[events_pb2.Event(user_message=events_pb2.UserMessage(text="long story"))]
        ),
    )
    assert [r["body"]["model"] for r in stub.requests] == ["globex-model"]


def test_globex_resources_are_untouched(secure_stack: SecureStack, globex_owns: Owned) -> None:
    """After every attempt above (the order of the file runs them first)."""
    globex = secure_stack.as_tenant("globex")
    ran = globex(
        "executor",
        "Execute",
        executor_pb2.ExecuteRequest(session_id=globex_owns.session_id, code="print(secret)"),
    )
    assert "globex-only" in "".join(r.output.text for r in ran if r.WhichOneof("event") == "output")
    files = globex(
        "executor", "ListFiles", executor_pb2.ListFilesRequest(session_id=globex_owns.session_id)
    )
    assert "planted.txt" not in {f.path for f in files.files}
    checkpoints = globex(
        "executor", "GetSession", executor_pb2.GetSessionRequest(session_id=globex_owns.session_id)
    ).session
    assert checkpoints.id == globex_owns.session_id
    events = globex(
        "memory",
        "ListEvents",
        memory_pb2.ListEventsRequest(conversation_id=globex_owns.conversation_id),
    ).events
    assert [e.user_message.text for e in events] == ["globex plans"]
    agent = globex(
        "agent",
        "GetAgentSession",
        agent_pb2.GetAgentSessionRequest(session_id=globex_owns.agent_session_id),
    ).session
    assert agent.task_count == 0
    restored = globex(
        "executor",
        "RestoreCheckpoint",
        executor_pb2.RestoreCheckpointRequest(
            session_id=globex_owns.session_id, checkpoint_id=globex_owns.checkpoint_id
        ),
    )
    assert restored is not None
