"""Synchronous client of ExecutorService: sessions and cells."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2

from .settings import ConnectionSettings
from .status import from_rpc_error
from .v1 import common_pb2, executor_pb2, executor_pb2_grpc

R = TypeVar("R")


class Status(enum.Enum):
    """How a cell ended."""

    UNSPECIFIED = executor_pb2.EXECUTION_STATUS_UNSPECIFIED
    OK = executor_pb2.EXECUTION_STATUS_OK
    ERROR = executor_pb2.EXECUTION_STATUS_ERROR
    TIMEOUT = executor_pb2.EXECUTION_STATUS_TIMEOUT
    OOM = executor_pb2.EXECUTION_STATUS_OOM
    KILLED = executor_pb2.EXECUTION_STATUS_KILLED
    INTERRUPTED = executor_pb2.EXECUTION_STATUS_INTERRUPTED


@dataclass(frozen=True)
class Bundle:
    """A value in several representations, keyed by MIME type."""

    text: dict[str, str]
    binary: dict[str, bytes]

    @property
    def plain(self) -> str:
        return self.text.get("text/plain", "")

    @classmethod
    def from_message(cls, message: common_pb2.MimeBundle) -> Bundle:
        return cls(dict(message.text), dict(message.binary))


@dataclass(frozen=True)
class CellError:
    ename: str
    evalue: str
    traceback: list[str]

    def __str__(self) -> str:
        return "".join(self.traceback) or f"{self.ename}: {self.evalue}"


@dataclass
class CellResult:
    """Everything one cell produced."""

    status: Status = Status.UNSPECIFIED
    stdout: str = ""
    stderr: str = ""
    result: Bundle | None = None
    error: CellError | None = None
    displays: list[Bundle] = field(default_factory=list)
    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory_bytes: int = 0
    execution_count: int = 0
    output_truncated: bool = False
    interpreter_alive: bool = True
    interpreter_restarted: bool = False
    rolled_back: bool = False
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def add(self, event: executor_pb2.ExecuteResponse) -> None:
        """Fold one streamed event into the result."""
        kind = event.WhichOneof("event")
        if kind == "output":
            if event.output.name == executor_pb2.STREAM_NAME_STDERR:
                self.stderr += event.output.text
            else:
                self.stdout += event.output.text
        elif kind == "result":
            self.result = Bundle.from_message(event.result.data)
        elif kind == "display":
            self.displays.append(Bundle.from_message(event.display.data))
        elif kind == "error":
            e = event.error
            self.error = CellError(e.ename, e.evalue, list(e.traceback))
        elif kind == "completion":
            c = event.completion
            self.status = Status(c.status)
            self.wall_time = c.wall_time.ToTimedelta().total_seconds()
            self.cpu_time = c.cpu_time.ToTimedelta().total_seconds()
            self.peak_memory_bytes = c.peak_memory_bytes
            self.execution_count = c.execution_count
            self.output_truncated = c.output_truncated
            self.interpreter_alive = c.session_state != executor_pb2.SESSION_STATE_DEAD
            self.interpreter_restarted = c.interpreter_restarted
            self.rolled_back = c.rolled_back
            self.message = c.message


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def limits_message(limits: Mapping[str, float] | None) -> common_pb2.SandboxLimits:
    """SandboxLimits from a dict; times in seconds (cell_timeout, idle_ttl)."""
    message = common_pb2.SandboxLimits()
    for name, value in (limits or {}).items():
        if name in ("cell_timeout", "idle_ttl"):
            getattr(message, name).CopyFrom(_duration(float(value)))
        else:
            setattr(message, name, int(value))
    return message


class ExecutorClient:
    """Sessions on an executor."""

    def __init__(self, channel: grpc.Channel, settings: ConnectionSettings) -> None:
        self.stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        self.settings = settings

    def call(self, method: Callable[..., R], request: Any) -> R:
        """A unary call with the settings' deadline and credentials; errors as CodeActError."""
        try:
            return method(request, timeout=self.settings.timeout, metadata=self.settings.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def create_session(
        self,
        limits: Mapping[str, float] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Session:
        request = executor_pb2.CreateSessionRequest(
            limits=limits_message(limits), labels=dict(labels or {})
        )
        reply = self.call(self.stub.CreateSession, request)
        return Session(self, reply.session, warm=reply.warm)

    def session(self, **kwargs: Any) -> Session:
        """A new session, deleted when the `with` block ends."""
        return self.create_session(**kwargs)

    def get_session(self, session_id: str) -> Session:
        request = executor_pb2.GetSessionRequest(session_id=session_id)
        return Session(self, self.call(self.stub.GetSession, request).session)

    def runtime_info(self) -> executor_pb2.GetRuntimeInfoResponse:
        """The sandbox's interpreter, packages, languages and limits."""
        reply: executor_pb2.GetRuntimeInfoResponse = self.call(
            self.stub.GetRuntimeInfo, executor_pb2.GetRuntimeInfoRequest()
        )
        return reply

    def list_sessions(self) -> list[executor_pb2.Session]:
        sessions: list[executor_pb2.Session] = []
        token = ""
        while True:
            reply = self.call(
                self.stub.ListSessions, executor_pb2.ListSessionsRequest(page_token=token)
            )
            sessions.extend(reply.sessions)
            token = reply.next_page_token
            if not token:
                return sessions


class Session:
    """A stateful sandboxed interpreter; variables persist across run() calls."""

    def __init__(
        self, client: ExecutorClient, info: executor_pb2.Session, warm: bool = False
    ) -> None:
        self.client = client
        self.info = info
        # True when the server took the interpreter from its warm pool.
        self.warm = warm

    @property
    def id(self) -> str:
        return self.info.id

    def stream(
        self,
        code: str,
        timeout: float | None = None,
        language: common_pb2.Language.ValueType = common_pb2.LANGUAGE_PYTHON,
        deadline: float | None = None,
        rollback_on_error: bool = False,
    ) -> Iterator[executor_pb2.ExecuteResponse]:
        """Run a cell, yielding its events as they happen (completion last).

        timeout is the cell's wall-time limit (at most the session's);
        deadline is the gRPC deadline of the call, after which the server
        interrupts the cell and the call fails with DeadlineExceeded.
        """
        request = executor_pb2.ExecuteRequest(
            session_id=self.id, code=code, language=language, rollback_on_error=rollback_on_error
        )
        if timeout is not None:
            request.timeout.CopyFrom(_duration(timeout))
        if deadline is None and self.client.settings.stream_timeout is not None:
            limit = timeout or self.info.limits.cell_timeout.ToTimedelta().total_seconds()
            deadline = self.client.settings.stream_timeout + limit
        call = self.client.stub.Execute(
            request, timeout=deadline, metadata=self.client.settings.metadata()
        )
        try:
            yield from call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()

    def run(
        self,
        code: str,
        timeout: float | None = None,
        deadline: float | None = None,
        rollback_on_error: bool = False,
    ) -> CellResult:
        """Run a cell and return everything it produced. With rollback_on_error
        a failed cell leaves the interpreter's state as it was before it."""
        result = CellResult()
        stream = self.stream(code, timeout, deadline=deadline, rollback_on_error=rollback_on_error)
        for event in stream:
            result.add(event)
        return result

    def run_bash(
        self, code: str, timeout: float | None = None, deadline: float | None = None
    ) -> CellResult:
        """Run a cell in the session's persistent bash (cwd and variables persist)."""
        result = CellResult()
        for event in self.stream(code, timeout, common_pb2.LANGUAGE_BASH, deadline):
            result.add(event)
        return result

    def upload(
        self,
        path: str,
        data: bytes | Iterable[bytes],
        mode: int = 0o644,
        overwrite: bool = False,
        chunk_bytes: int = 1 << 20,
    ) -> executor_pb2.FileInfo:
        """Write a file into the workspace (bytes, or an iterable of chunks)."""
        header = executor_pb2.UploadFileHeader(
            session_id=self.id, path=path, mode=mode, overwrite=overwrite
        )

        def messages() -> Iterator[executor_pb2.UploadFileRequest]:
            yield executor_pb2.UploadFileRequest(header=header)
            pieces = (
                (data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes))
                if isinstance(data, bytes)
                else data
            )
            for piece in pieces:
                yield executor_pb2.UploadFileRequest(chunk=piece)

        reply: executor_pb2.UploadFileResponse = self.client.call(
            self.client.stub.UploadFile, messages()
        )
        return reply.file

    def download(self, path: str) -> bytes:
        """A workspace file's content."""
        request = executor_pb2.DownloadFileRequest(session_id=self.id, path=path)
        call = self.client.stub.DownloadFile(
            request, timeout=self.client.settings.timeout, metadata=self.client.settings.metadata()
        )
        try:
            return b"".join(m.chunk for m in call if m.WhichOneof("part") == "chunk")
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def files(self, path: str = "", recursive: bool = False) -> list[executor_pb2.FileInfo]:
        """Entries of a workspace directory (symlinks listed, never followed)."""
        request = executor_pb2.ListFilesRequest(session_id=self.id, path=path, recursive=recursive)
        return list(self.client.call(self.client.stub.ListFiles, request).files)

    def checkpoint(self) -> executor_pb2.Checkpoint:
        """Snapshot the interpreter's state (variables, imports; not files)."""
        request = executor_pb2.CreateCheckpointRequest(session_id=self.id)
        reply: executor_pb2.CreateCheckpointResponse = self.client.call(
            self.client.stub.CreateCheckpoint, request
        )
        return reply.checkpoint

    def restore(self, checkpoint_id: str) -> None:
        """Back to a checkpoint (it stays; newer ones are gone)."""
        request = executor_pb2.RestoreCheckpointRequest(
            session_id=self.id, checkpoint_id=checkpoint_id
        )
        self.info = self.client.call(self.client.stub.RestoreCheckpoint, request).session

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        request = executor_pb2.DeleteCheckpointRequest(
            session_id=self.id, checkpoint_id=checkpoint_id
        )
        self.client.call(self.client.stub.DeleteCheckpoint, request)

    def interrupt(self) -> bool:
        request = executor_pb2.InterruptRequest(session_id=self.id)
        reply = self.client.call(self.client.stub.Interrupt, request)
        self.info = reply.session
        return bool(reply.interrupted)

    def restart(self) -> None:
        request = executor_pb2.RestartSessionRequest(session_id=self.id)
        self.info = self.client.call(self.client.stub.RestartSession, request).session

    def refresh(self) -> executor_pb2.Session:
        request = executor_pb2.GetSessionRequest(session_id=self.id)
        self.info = self.client.call(self.client.stub.GetSession, request).session
        return self.info

    def delete(self) -> None:
        request = executor_pb2.DeleteSessionRequest(session_id=self.id)
        self.client.call(self.client.stub.DeleteSession, request)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()
