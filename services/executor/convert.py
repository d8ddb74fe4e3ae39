"""Protobuf messages <-> sandbox objects for the executor."""

from __future__ import annotations

from google.protobuf import duration_pb2, timestamp_pb2

from codeact.v1 import common_pb2, executor_pb2
from sandbox import events
from sandbox.files import FileEntry
from sandbox.limits import Limits
from sandbox.runtime import RuntimeInfo, process_memory
from sandbox.sessions import CheckpointInfo, Session, SessionState

_STATES = {
    SessionState.IDLE: executor_pb2.SESSION_STATE_IDLE,
    SessionState.BUSY: executor_pb2.SESSION_STATE_BUSY,
    SessionState.DEAD: executor_pb2.SESSION_STATE_DEAD,
}

STATUSES = {
    events.Status.OK: executor_pb2.EXECUTION_STATUS_OK,
    events.Status.ERROR: executor_pb2.EXECUTION_STATUS_ERROR,
    events.Status.TIMEOUT: executor_pb2.EXECUTION_STATUS_TIMEOUT,
    events.Status.OOM: executor_pb2.EXECUTION_STATUS_OOM,
    events.Status.KILLED: executor_pb2.EXECUTION_STATUS_KILLED,
    events.Status.INTERRUPTED: executor_pb2.EXECUTION_STATUS_INTERRUPTED,
}


def seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def duration(value: float) -> duration_pb2.Duration:
    whole = int(value // 1)
    return duration_pb2.Duration(seconds=whole, nanos=int((value - whole) * 1e9))


def timestamp(epoch_seconds: float) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(int(epoch_seconds * 1e9))
    return t


def requested_limits(message: common_pb2.SandboxLimits) -> dict[str, float]:
    """The limits a request asks for; zero fields are left to the defaults."""
    return {
        "memory_bytes": message.memory_bytes,
        "max_pids": message.max_pids,
        "cpu_millicores": message.cpu_millicores,
        "cell_timeout": seconds(message.cell_timeout),
        "output_bytes": message.output_bytes,
        "workspace_bytes": message.workspace_bytes,
        "idle_ttl": seconds(message.idle_ttl),
    }


def limits_message(limits: Limits) -> common_pb2.SandboxLimits:
    return common_pb2.SandboxLimits(
        memory_bytes=limits.memory_bytes,
        max_pids=limits.max_pids,
        cpu_millicores=limits.cpu_millicores,
        cell_timeout=duration(limits.cell_timeout),
        output_bytes=limits.output_bytes,
        workspace_bytes=limits.workspace_bytes,
        idle_ttl=duration(limits.idle_ttl),
    )


def session_message(session: Session, instance: str) -> executor_pb2.Session:
    return executor_pb2.Session(
        id=session.id,
        state=_STATES[session.state],
        limits=limits_message(session.limits),
        create_time=timestamp(session.created),
        last_active_time=timestamp(session.last_active),
        expire_time=timestamp(session.expires),
        execution_count=session.execution_count,
        restart_count=session.restart_count,
        labels=session.labels,
        checkpoints=[checkpoint_message(c) for c in session.checkpoints],
        instance=instance,
    )


def checkpoint_message(info: CheckpointInfo) -> executor_pb2.Checkpoint:
    return executor_pb2.Checkpoint(
        id=info.id,
        create_time=timestamp(info.created),
        execution_count=info.execution_count,
        memory_bytes=process_memory(info.pid),
    )


_LANGUAGE_ENUMS = {"python": common_pb2.LANGUAGE_PYTHON, "bash": common_pb2.LANGUAGE_BASH}


def runtime_message(
    runtime: RuntimeInfo, defaults: Limits, ceilings: Limits
) -> executor_pb2.GetRuntimeInfoResponse:
    return executor_pb2.GetRuntimeInfoResponse(
        python_version=runtime.python_version,
        languages=[_LANGUAGE_ENUMS[name] for name in runtime.languages],
        packages=[
            executor_pb2.Package(name=p.name, version=p.version, modules=p.modules)
            for p in runtime.packages
        ],
        stdlib_modules=runtime.stdlib_modules,
        default_limits=limits_message(defaults),
        max_limits=limits_message(ceilings),
    )


def _bundle(text: dict[str, str], binary: dict[str, bytes]) -> common_pb2.MimeBundle:
    return common_pb2.MimeBundle(text=text, binary=binary)


def event_message(event: events.Event) -> executor_pb2.ExecuteResponse:
    if isinstance(event, events.Output):
        name = (
            executor_pb2.STREAM_NAME_STDERR
            if event.stream == "stderr"
            else executor_pb2.STREAM_NAME_STDOUT
        )
        return executor_pb2.ExecuteResponse(
            output=executor_pb2.OutputChunk(name=name, text=event.text)
        )
    if isinstance(event, events.Result):
        return executor_pb2.ExecuteResponse(
            result=executor_pb2.ExecuteResult(
                data=_bundle(event.text, event.binary), execution_count=event.execution_count
            )
        )
    if isinstance(event, events.Display):
        return executor_pb2.ExecuteResponse(
            display=executor_pb2.DisplayData(data=_bundle(event.text, event.binary))
        )
    if isinstance(event, events.Error):
        return executor_pb2.ExecuteResponse(
            error=executor_pb2.ExecutionError(
                ename=event.ename, evalue=event.evalue, traceback=event.traceback
            )
        )
    return executor_pb2.ExecuteResponse(
        completion=executor_pb2.Completion(
            status=STATUSES[event.status],
            wall_time=duration(event.wall_time),
            cpu_time=duration(event.cpu_time),
            peak_memory_bytes=event.peak_memory_bytes,
            execution_count=event.execution_count,
            output_truncated=event.output_truncated,
            session_state=(
                executor_pb2.SESSION_STATE_IDLE
                if event.interpreter_alive or event.interpreter_restarted
                else executor_pb2.SESSION_STATE_DEAD
            ),
            message=event.message,
            rolled_back=event.rolled_back,
            interpreter_restarted=event.interpreter_restarted,
        )
    )


def file_message(entry: FileEntry) -> executor_pb2.FileInfo:
    return executor_pb2.FileInfo(
        path=entry.path,
        size_bytes=entry.size_bytes,
        is_dir=entry.is_dir,
        is_symlink=entry.is_symlink,
        modify_time=timestamp(entry.modify_time),
        mode=entry.mode,
    )
