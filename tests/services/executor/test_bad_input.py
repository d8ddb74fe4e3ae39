"""Bad input: clear errors with ErrorInfo and BadRequest, never INTERNAL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from codeact import Client
from codeact.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from codeact.status import from_rpc_error
from codeact.v1 import executor_pb2
from tests.support import KEYS, ServerThread


def _rpc(client: Client, name: str, request: Any, token: str | None = "use-client") -> Any:
    stub = client.executor.stub
    metadata = (
        client.settings.metadata()
        if token == "use-client"
        else ((("authorization", token),) if token else ())
    )
    method: Callable[..., Any] = getattr(stub, name)
    try:
        result = method(request, metadata=metadata, timeout=10)
        if name == "Execute":
            result = list(result)
        return result
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None


SESSION_RPCS = [
    ("GetSession", lambda sid: executor_pb2.GetSessionRequest(session_id=sid)),
    ("DeleteSession", lambda sid: executor_pb2.DeleteSessionRequest(session_id=sid)),
    ("RestartSession", lambda sid: executor_pb2.RestartSessionRequest(session_id=sid)),
    ("Interrupt", lambda sid: executor_pb2.InterruptRequest(session_id=sid)),
    ("Execute", lambda sid: executor_pb2.ExecuteRequest(session_id=sid, code="1")),
]


@pytest.mark.parametrize(("name", "make"), SESSION_RPCS)
def test_unknown_session_is_not_found(acme: Client, name: str, make: Any) -> None:
    with pytest.raises(NotFound) as caught:
        _rpc(acme, name, make("test-0000000000"))
    assert caught.value.reason == "SESSION_NOT_FOUND"
    assert caught.value.metadata["session_id"] == "test-0000000000"


@pytest.mark.parametrize(("name", "make"), SESSION_RPCS)
def test_another_tenants_session_is_not_found(
    acme: Client, globex: Client, name: str, make: Any
) -> None:
    with acme.session() as s:
        with pytest.raises(NotFound):
            _rpc(globex, name, make(s.id))
        assert s.run("print('untouched')").stdout == "untouched\n"
    assert s.id not in {x.id for x in globex.executor.list_sessions()}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "API_KEY_MISSING"),
        ("Bearer wrong-key", "API_KEY_INVALID"),
        ("Basic abc", "API_KEY_MALFORMED"),
    ],
)
def test_missing_or_wrong_token_is_unauthenticated(
    acme: Client, token: str | None, reason: str
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        _rpc(acme, "ListSessions", executor_pb2.ListSessionsRequest(), token=token)
    assert caught.value.reason == reason


def test_health_needs_no_token(executor: ServerThread) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(executor.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_empty_code_is_invalid(acme: Client) -> None:
    with acme.session() as s:
        for code in ("", "   \n\t"):
            with pytest.raises(InvalidArgument) as caught:
                s.run(code)
            assert caught.value.reason == "CODE_EMPTY"
            assert [v.field for v in caught.value.field_violations] == ["code"]


def test_code_over_the_size_limit_is_invalid(acme: Client) -> None:
    with acme.session() as s:
        with pytest.raises(InvalidArgument) as caught:
            s.run("x = 1\n" * 20_000)  # 120 kB against a 64 kB limit
        assert caught.value.reason == "CODE_TOO_LARGE"
        assert caught.value.field_violations[0].field == "code"
        assert s.run("1").ok


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"memory_bytes": -1}, "limits.memory_bytes"),
        ({"memory_bytes": 1024}, "limits.memory_bytes"),
        ({"max_pids": 2}, "limits.max_pids"),
        ({"cell_timeout": -3}, "limits.cell_timeout"),
        ({"output_bytes": 10}, "limits.output_bytes"),
        ({"idle_ttl": 0.001}, "limits.idle_ttl"),
    ],
)
def test_invalid_limits_are_invalid_argument(
    acme: Client, limits: dict[str, float], field: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        acme.executor.create_session(limits=limits)
    assert caught.value.reason == "INVALID_LIMITS"
    assert [v.field for v in caught.value.field_violations] == [field]


def test_limits_above_the_ceiling_are_resource_exhausted(acme: Client) -> None:
    with pytest.raises(ResourceExhausted) as caught:
        acme.executor.create_session(limits={"memory_bytes": 64 << 30})
    assert caught.value.reason == "LIMIT_ABOVE_CEILING"
    assert caught.value.metadata["field"] == "limits.memory_bytes"


def test_cell_timeout_above_the_session_limit_is_invalid(acme: Client) -> None:
    with acme.session() as s:
        with pytest.raises(InvalidArgument) as caught:
            s.run("1", timeout=3600)
        assert caught.value.reason == "INVALID_TIMEOUT"


def test_an_unknown_language_is_named(acme: Client) -> None:
    with acme.session() as s:
        with pytest.raises(InvalidArgument) as caught:
            list(s.stream("echo hi", language=99))  # type: ignore[arg-type]
        assert caught.value.field_violations[0].field == "language"


def test_empty_session_id_and_bad_page_token(acme: Client) -> None:
    with pytest.raises(InvalidArgument) as caught:
        _rpc(acme, "GetSession", executor_pb2.GetSessionRequest())
    assert caught.value.field_violations[0].field == "session_id"
    with pytest.raises(InvalidArgument) as caught:
        _rpc(acme, "ListSessions", executor_pb2.ListSessionsRequest(page_token="garbage!"))
    assert caught.value.field_violations[0].field == "page_token"
    with pytest.raises(InvalidArgument):
        _rpc(acme, "ListSessions", executor_pb2.ListSessionsRequest(page_size=-1))


def test_too_many_sessions_is_resource_exhausted(globex: Client) -> None:
    created = []
    try:
        created = [globex.executor.create_session() for _ in range(8)]
        with pytest.raises(ResourceExhausted) as caught:
            globex.executor.create_session()
        assert caught.value.reason == "SESSION_QUOTA_EXCEEDED"
    finally:
        for s in created:
            s.delete()
    globex.executor.create_session().delete()  # room again once deleted


def test_an_interpreter_that_exits_is_reported_and_replaced(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import os\nos._exit(3)")
        assert r.status.name == "KILLED"
        assert "exited with code 3" in r.message
        assert r.interpreter_restarted
        assert s.run("1").ok


def test_dead_session_without_auto_restart_is_failed_precondition(
    manual_executor: ServerThread,
) -> None:
    with Client(manual_executor.address, token=KEYS["acme"]) as client, client.session() as s:
        r = s.run("import os\nos._exit(3)")
        assert r.status.name == "KILLED" and not r.interpreter_restarted
        with pytest.raises(FailedPrecondition) as caught:
            s.run("1")
        assert caught.value.reason == "SESSION_DEAD"
