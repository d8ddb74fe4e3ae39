"""The audit trail: sessions, cells (hash and size; source only when
enabled), policy denials and refused callers, as JSON lines that name the
tenant, the principal and the request."""

from __future__ import annotations

import hashlib
from typing import Any

from codeact.v1 import agent_pb2, common_pb2, executor_pb2, memory_pb2, policy_pb2
from tests.tenancy.stack import REVOKED_KEY, SecureStack, refused


def _events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r["audit"] == name]


def test_sessions_and_cells_are_audited_by_hash(secure_stack: SecureStack) -> None:
    mark = secure_stack.audit_mark()
    acme = secure_stack.as_tenant("acme")
    session = acme("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    code = "token = 'do-not-log-me'\nprint(len(token))"
    acme("executor", "Execute", executor_pb2.ExecuteRequest(session_id=session.id, code=code))
    acme("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=session.id))
    records = secure_stack.audit(mark)
    (created,) = _events(records, "session.created")
    (cell,) = _events(records, "cell.executed")
    (deleted,) = _events(records, "session.deleted")
    for record in (created, cell, deleted):
        assert record["tenant"] == "acme"
        assert record["service"] == "executor"
        assert record["principal"] == "api_key:acme-live"
        assert record["session_id"] == session.id
        assert len(record["request_id"]) >= 8
    assert created["limits"]["memory_bytes"] > 0
    assert cell["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()
    assert cell["code_bytes"] == len(code.encode())
    assert "code" not in cell
    assert "do-not-log-me" not in secure_stack.audit_file.read_text()


def test_a_tenant_can_have_cell_source_recorded(secure_stack: SecureStack) -> None:
    mark = secure_stack.audit_mark()
    globex = secure_stack.as_tenant("globex")
    session = globex("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    globex("executor", "Execute", executor_pb2.ExecuteRequest(session_id=session.id, code="6*7"))
    globex("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=session.id))
    (cell,) = _events(secure_stack.audit(mark), "cell.executed")
    assert cell["code"] == "6*7" and cell["tenant"] == "globex"


def test_policy_denials_are_audited(secure_stack: SecureStack) -> None:
    mark = secure_stack.audit_mark()
    code = "import subprocess\nsubprocess.run(['id'])"
    reply = secure_stack.as_tenant("acme")(
        "policy", "CheckCode", policy_pb2.CheckCodeRequest(code=code, profile_name="strict")
    )
    assert reply.decision == common_pb2.DECISION_DENY
    (denied,) = _events(secure_stack.audit(mark), "policy.denied")
    assert denied["tenant"] == "acme" and denied["service"] == "policy"
    assert denied["profile"] == "strict"
    assert denied["rules"] and all(isinstance(r, str) for r in denied["rules"])
    assert denied["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()


def test_refused_callers_are_audited(secure_stack: SecureStack) -> None:
    mark = secure_stack.audit_mark()
    refused(
        lambda: secure_stack.call(
            "memory",
            "ListConversations",
            memory_pb2.ListConversationsRequest(),
            key=REVOKED_KEY,
        )
    )
    refused(
        lambda: secure_stack.call(
            "executor", "ListSessions", executor_pb2.ListSessionsRequest(), cert="stranger"
        )
    )
    failures = _events(secure_stack.audit(mark), "auth.failed")
    assert [(f["service"], f["reason"]) for f in failures] == [
        ("memory", "API_KEY_REVOKED"),
        ("executor", "CERTIFICATE_NOT_MAPPED"),
    ]
    assert failures[0]["method"] == "/codeact.v1.MemoryService/ListConversations"
    assert all(f["tenant"] == "" and f["peer"] for f in failures)


def test_work_done_through_the_agent_names_the_tenant_everywhere(
    secure_stack: SecureStack,
) -> None:
    mark = secure_stack.audit_mark()
    session = secure_stack.call(
        "agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest(), cert="acme"
    ).session
    secure_stack.call(
        "agent",
        "DeleteAgentSession",
        agent_pb2.DeleteAgentSessionRequest(session_id=session.id),
        cert="acme",
    )
    records = secure_stack.audit(mark)
    kinds = {(r["service"], r["audit"]) for r in records}
    assert {
        ("agent", "agent_session.created"),
        ("executor", "session.created"),
        ("memory", "conversation.created"),
        ("executor", "session.deleted"),
        ("memory", "conversation.deleted"),
        ("agent", "agent_session.deleted"),
    } <= kinds
    assert {r["tenant"] for r in records} == {"acme"}
    downstream = [r for r in records if r["service"] != "agent"]
    assert {r["principal"] for r in downstream} == {
        "internal:certificate:spiffe://codeact/tenant/acme"
    }
