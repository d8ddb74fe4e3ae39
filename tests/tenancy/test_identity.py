"""Who may call: keys (live, expired, revoked, unknown), client certificates
(mapped, unmapped, from another CA, absent), and the internal identities our
services pass to each other (valid, forged, expired, from the wrong peer)."""

from __future__ import annotations

import grpc
import pytest

from codeact.settings import TLSConfig
from codeact.v1 import (
    agent_pb2,
    executor_pb2,
    executor_pb2_grpc,
    memory_pb2,
    planner_pb2,
    policy_pb2,
)
from services.common.auth import INTERNAL_IDENTITY_KEY, Identity, InternalIdentity
from tests.tenancy.stack import EXPIRED_KEY, KEYS, REVOKED_KEY, SecureStack, refused

# One cheap, authenticated RPC per service.
PROBES = {
    "executor": ("ListSessions", executor_pb2.ListSessionsRequest()),
    "memory": ("ListConversations", memory_pb2.ListConversationsRequest()),
    "policy": ("ListProfiles", policy_pb2.ListProfilesRequest()),
    "agent": ("ListAgentSessions", agent_pb2.ListAgentSessionsRequest()),
    "planner": ("Summarize", planner_pb2.SummarizeRequest()),
}


@pytest.mark.parametrize("service", list(PROBES))
def test_a_service_called_without_identity_refuses(secure_stack: SecureStack, service: str) -> None:
    """Over mTLS with our own services' certificate, but no key and no
    internal identity: the connection is trusted, the caller is nobody."""
    rpc, request = PROBES[service]
    err = refused(lambda: secure_stack.call(service, rpc, request, cert="services"))
    assert err.code == "UNAUTHENTICATED"
    assert err.reason == "CERTIFICATE_NOT_MAPPED"


@pytest.mark.parametrize("service", ["executor", "memory", "policy"])
def test_a_certificate_mapped_to_a_tenant_identifies_it(
    secure_stack: SecureStack, service: str
) -> None:
    rpc, request = PROBES[service]
    assert secure_stack.call(service, rpc, request, cert="acme") is not None


def test_a_certificate_caller_is_the_same_tenant_as_its_key(secure_stack: SecureStack) -> None:
    made = secure_stack.call(
        "memory", "CreateConversation", memory_pb2.CreateConversationRequest(), cert="globex"
    ).conversation
    by_key = secure_stack.as_tenant("globex")(
        "memory",
        "GetConversation",
        memory_pb2.GetConversationRequest(conversation_id=made.id),
    )
    assert by_key.conversation.id == made.id


def test_a_certificate_with_no_tenant_mapping_is_refused(secure_stack: SecureStack) -> None:
    rpc, request = PROBES["executor"]
    err = refused(lambda: secure_stack.call("executor", rpc, request, cert="stranger"))
    assert (err.code, err.reason) == ("UNAUTHENTICATED", "CERTIFICATE_NOT_MAPPED")
    assert err.metadata["subject"] == "stranger"
    # With a key, the same certificate is fine: the key names the tenant.
    assert secure_stack.call("executor", rpc, request, cert="stranger", key=KEYS["acme"])


def test_a_certificate_from_another_ca_never_connects(secure_stack: SecureStack) -> None:
    rpc, request = PROBES["executor"]
    err = refused(
        lambda: secure_stack.call("executor", rpc, request, cert="rogue", key=KEYS["acme"])
    )
    assert err.code == "UNAVAILABLE"


def _list_sessions(channel: grpc.Channel) -> grpc.StatusCode:
    try:
        executor_pb2_grpc.ExecutorServiceStub(channel).ListSessions(
            executor_pb2.ListSessionsRequest(),
            metadata=[("authorization", f"Bearer {KEYS['acme']}")],
            timeout=10,
        )
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_no_client_certificate_never_connects(secure_stack: SecureStack) -> None:
    tls = TLSConfig(ca_file=secure_stack.pki.path("ca.pem"))
    with grpc.secure_channel(
        secure_stack.address("executor"),
        tls.credentials(),
        options=[("grpc.ssl_target_name_override", "localhost")],
    ) as channel:
        assert _list_sessions(channel) == grpc.StatusCode.UNAVAILABLE


def test_plaintext_is_not_served(secure_stack: SecureStack) -> None:
    with grpc.insecure_channel(secure_stack.address("executor")) as channel:
        assert _list_sessions(channel) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (EXPIRED_KEY, "API_KEY_EXPIRED"),
        (REVOKED_KEY, "API_KEY_REVOKED"),
        ("never-issued", "API_KEY_INVALID"),
    ],
)
def test_keys_that_are_not_live_are_refused(
    secure_stack: SecureStack, key: str, reason: str
) -> None:
    rpc, request = PROBES["memory"]
    err = refused(lambda: secure_stack.call("memory", rpc, request, key=key))
    assert (err.code, err.reason) == ("UNAUTHENTICATED", reason)


def test_a_tenant_certificate_works_through_the_agent(secure_stack: SecureStack) -> None:
    """The agent has no key to forward: it vouches for the tenant with a
    signed internal identity, and the executor and memory accept it."""
    session = secure_stack.call(
        "agent", "CreateAgentSession", agent_pb2.CreateAgentSessionRequest(), cert="acme"
    ).session
    acme = secure_stack.as_tenant("acme")
    sandbox = acme(
        "executor",
        "GetSession",
        executor_pb2.GetSessionRequest(session_id=session.executor_session_id),
    ).session
    assert sandbox.id == session.executor_session_id
    conversation = acme(
        "memory",
        "GetConversation",
        memory_pb2.GetConversationRequest(conversation_id=session.conversation_id),
    ).conversation
    assert conversation.id == session.conversation_id
    secure_stack.call(
        "agent",
        "DeleteAgentSession",
        agent_pb2.DeleteAgentSessionRequest(session_id=session.id),
        cert="acme",
    )


def _signed(secret: str, tenant: str = "acme", now: float | None = None) -> str:
    return InternalIdentity(secret.encode()).sign(Identity(tenant, "api_key", "test"), now)


def test_a_valid_internal_identity_from_our_services_is_accepted(
    secure_stack: SecureStack,
) -> None:
    rpc, request = PROBES["memory"]
    token = _signed(secure_stack.secret)
    reply = secure_stack.call(
        "memory", rpc, request, cert="services", metadata=[(INTERNAL_IDENTITY_KEY, token)]
    )
    assert reply is not None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda secret: _signed("not-the-shared-secret-at-all"), "INTERNAL_IDENTITY_INVALID"),
        (lambda secret: _signed(secret, now=0.0), "INTERNAL_IDENTITY_EXPIRED"),
        (
            lambda secret: _signed(secret).replace(".", "x.", 1),
            "INTERNAL_IDENTITY_INVALID",
        ),
        (lambda secret: "garbage", "INTERNAL_IDENTITY_INVALID"),
    ],
    ids=["forged", "expired", "tampered", "garbage"],
)
def test_bad_internal_identities_are_refused(
    secure_stack: SecureStack, make: object, reason: str
) -> None:
    token = make(secure_stack.secret)  # type: ignore[operator]
    rpc, request = PROBES["executor"]
    err = refused(
        lambda: secure_stack.call(
            "executor", rpc, request, cert="services", metadata=[(INTERNAL_IDENTITY_KEY, token)]
        )
    )
    assert (err.code, err.reason) == ("UNAUTHENTICATED", reason)


def test_internal_identities_only_from_our_services_certificate(
    secure_stack: SecureStack,
) -> None:
    """A tenant that somehow learned a signed identity cannot present it."""
    token = _signed(secure_stack.secret, tenant="globex")
    rpc, request = PROBES["executor"]
    err = refused(
        lambda: secure_stack.call(
            "executor", rpc, request, cert="acme", metadata=[(INTERNAL_IDENTITY_KEY, token)]
        )
    )
    assert (err.code, err.reason) == ("UNAUTHENTICATED", "INTERNAL_PEER_UNTRUSTED")
