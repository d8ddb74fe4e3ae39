"""The tenants file is read again when it changes, by every service, without
a restart; a file that does not parse leaves the last good one in force."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeact.v1 import common_pb2, executor_pb2, memory_pb2
from services.common.auth import digest
from tests.tenancy.stack import KEYS, SecureStack, refused, tenants_toml

ROTATING = "acme-rotating-key"
PROBE = ("memory", "ListConversations", memory_pb2.ListConversationsRequest())


@pytest.fixture
def tenants(secure_stack: SecureStack) -> Iterator[SecureStack]:
    yield secure_stack
    secure_stack.rewrite_tenants(tenants_toml())


def _with_rotating_key(revoked: bool = False) -> str:
    flag = "revoked = true\n" if revoked else ""
    return tenants_toml().replace(
        "[tenants.acme.model]",
        f'[[tenants.acme.keys]]\nid = "rotating"\nsha256 = "{digest(ROTATING)}"\n{flag}'
        "[tenants.acme.model]",
    )


def test_a_key_is_added_then_revoked_without_a_restart(tenants: SecureStack) -> None:
    assert refused(lambda: tenants.call(*PROBE, key=ROTATING)).reason == "API_KEY_INVALID"
    tenants.rewrite_tenants(_with_rotating_key())
    assert tenants.call(*PROBE, key=ROTATING) is not None
    tenants.rewrite_tenants(_with_rotating_key(revoked=True))
    assert refused(lambda: tenants.call(*PROBE, key=ROTATING)).reason == "API_KEY_REVOKED"


def test_a_quota_is_raised_without_a_restart(tenants: SecureStack) -> None:
    tight = tenants.as_tenant("tight")
    first = tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
    try:
        err = refused(
            lambda: tight("executor", "CreateSession", executor_pb2.CreateSessionRequest())
        )
        assert err.reason == "SESSION_QUOTA_EXCEEDED"
        tenants.rewrite_tenants(tenants_toml().replace("max_sessions = 1", "max_sessions = 2"))
        second = tight("executor", "CreateSession", executor_pb2.CreateSessionRequest()).session
        tight("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=second.id))
    finally:
        tight("executor", "DeleteSession", executor_pb2.DeleteSessionRequest(session_id=first.id))


def test_a_certificate_is_mapped_without_a_restart(tenants: SecureStack) -> None:
    assert refused(lambda: tenants.call(*PROBE, cert="stranger")).reason == (
        "CERTIFICATE_NOT_MAPPED"
    )
    tenants.rewrite_tenants(
        tenants_toml().replace(
            'certificates = ["spiffe://codeact/tenant/globex"]',
            'certificates = ["spiffe://codeact/tenant/globex", "stranger"]',
        )
    )
    mine = tenants.call(
        "memory", "CreateConversation", memory_pb2.CreateConversationRequest(), cert="stranger"
    ).conversation
    found = tenants.as_tenant("globex")(
        "memory", "GetConversation", memory_pb2.GetConversationRequest(conversation_id=mine.id)
    )
    assert found.conversation.id == mine.id


@pytest.mark.parametrize(
    "broken",
    [
        "[tenants.acme\n",  # not TOML
        tenants_toml() + "\n[tenants.acme2]\nmax_sesions = 3\n",  # a typo'd key
        tenants_toml() + "\n[tenants.acme2.ceilings]\nmemory = 5\n",  # no such limit
        tenants_toml() + '\n[tenants.acme2.policy_profiles.p]\ndenied_imports = "os"\n',
    ],
    ids=["syntax", "unknown-key", "unknown-ceiling", "bad-profile"],
)
def test_a_broken_file_leaves_the_last_good_one(tenants: SecureStack, broken: str) -> None:
    tenants.rewrite_tenants(_with_rotating_key())
    assert tenants.call(*PROBE, key=ROTATING) is not None
    tenants.rewrite_tenants(broken)
    # Every service still runs on the previous file.
    assert tenants.call(*PROBE, key=ROTATING) is not None
    assert (
        tenants.as_tenant("acme")("executor", "ListSessions", executor_pb2.ListSessionsRequest())
        is not None
    )
    assert (
        refused(
            lambda: tenants.as_tenant("tight")(
                "executor",
                "CreateSession",
                executor_pb2.CreateSessionRequest(
                    limits=common_pb2.SandboxLimits(memory_bytes=400 << 20)
                ),
            )
        ).reason
        == "LIMIT_ABOVE_CEILING"
    )
    # And a good file is taken again.
    tenants.rewrite_tenants(tenants_toml())
    assert refused(lambda: tenants.call(*PROBE, key=ROTATING)).reason == "API_KEY_INVALID"
    assert tenants.call(*PROBE, key=KEYS["acme"]) is not None
