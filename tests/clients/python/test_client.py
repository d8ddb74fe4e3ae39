"""The Python SDK's own logic: settings, results, error decoding."""

from __future__ import annotations

import grpc
import pytest

from codeact import Client, ConnectionSettings, KeepAliveConfig, Status
from codeact.errors import FieldViolation, InvalidArgument, NotFound, error_class
from codeact.executor import CellResult, limits_message
from codeact.status import from_rpc_error
from codeact.v1 import common_pb2, executor_pb2
from services.common.status import to_grpc_status


def test_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEACT_API_KEY", "from-env")
    assert ConnectionSettings().metadata() == (("authorization", "Bearer from-env"),)
    monkeypatch.delenv("CODEACT_API_KEY")
    assert ConnectionSettings().metadata() == ()
    with Client("localhost:1", token="explicit") as client:
        assert client.settings.token == "explicit"
        assert client.settings.target == "localhost:1"


def test_channel_options_carry_keepalive_and_sizes() -> None:
    options = dict(
        ConnectionSettings(
            keepalive=KeepAliveConfig(time=12), max_message_bytes=99
        ).channel_options()
    )
    assert options["grpc.keepalive_time_ms"] == 12_000
    assert options["grpc.max_receive_message_length"] == 99


def test_limits_message_takes_seconds_for_times() -> None:
    message = limits_message({"memory_bytes": 1 << 28, "cell_timeout": 2.5, "idle_ttl": 60})
    assert message.memory_bytes == 1 << 28
    assert message.cell_timeout.ToTimedelta().total_seconds() == 2.5
    assert message.idle_ttl.seconds == 60


def test_cell_result_folds_events_in_order() -> None:
    result = CellResult()
    events = [
        executor_pb2.ExecuteResponse(
            output=executor_pb2.OutputChunk(name=executor_pb2.STREAM_NAME_STDOUT, text="a")
        ),
        executor_pb2.ExecuteResponse(
            output=executor_pb2.OutputChunk(name=executor_pb2.STREAM_NAME_STDERR, text="w")
        ),
        executor_pb2.ExecuteResponse(
            output=executor_pb2.OutputChunk(name=executor_pb2.STREAM_NAME_STDOUT, text="b")
        ),
        executor_pb2.ExecuteResponse(
            result=executor_pb2.ExecuteResult(data=common_pb2.MimeBundle(text={"text/plain": "3"}))
        ),
        executor_pb2.ExecuteResponse(
            completion=executor_pb2.Completion(
                status=executor_pb2.EXECUTION_STATUS_OK,
                session_state=executor_pb2.SESSION_STATE_IDLE,
            )
        ),
    ]
    for event in events:
        result.add(event)
    assert (result.stdout, result.stderr) == ("ab", "w")
    assert result.result is not None and result.result.plain == "3"
    assert result.status is Status.OK and result.ok and result.interpreter_alive


class _FakeCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What a failed call looks like to the client (built from a real status)."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details  # type: ignore[no-any-return]

    def trailing_metadata(self) -> object:
        return self._status.trailing_metadata

    def initial_metadata(self) -> object:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def test_a_rich_status_round_trips_into_the_same_error_class() -> None:
    sent = InvalidArgument(
        "CODE_EMPTY",
        "code: must not be empty",
        metadata={"field": "code"},
        field_violations=[FieldViolation("code", "must not be empty")],
    )
    received = from_rpc_error(_FakeCall(to_grpc_status(sent)))
    assert isinstance(received, InvalidArgument)
    assert (received.reason, received.metadata, received.field_violations) == (
        "CODE_EMPTY",
        {"field": "code"},
        (FieldViolation("code", "must not be empty"),),
    )
    assert error_class("NOT_FOUND") is NotFound
