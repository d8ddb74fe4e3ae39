"""ExecutorService over gRPC: a thin translation to sandbox.SessionRegistry."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from codeact.errors import invalid
from codeact.v1 import common_pb2, executor_pb2, executor_pb2_grpc
from sandbox.sessions import SessionRegistry
from services.common.audit import AuditLog
from services.common.auth import identity
from services.common.paging import paginate

from . import convert
from .quotas import ExecutionRate

DESCRIPTOR = executor_pb2.DESCRIPTOR.services_by_name["ExecutorService"]
LANGUAGES = {
    common_pb2.LANGUAGE_UNSPECIFIED: "python",
    common_pb2.LANGUAGE_PYTHON: "python",
    common_pb2.LANGUAGE_BASH: "bash",
}


def _session_id(value: str) -> str:
    if not value:
        raise invalid("session_id", "is required")
    return value


def _checkpoint_id(request: Any) -> str:
    if not request.checkpoint_id:
        raise invalid("checkpoint_id", "is required")
    return str(request.checkpoint_id)


class ExecutorServicer(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(
        self, registry: SessionRegistry, instance: str, rate: ExecutionRate, audit: AuditLog
    ) -> None:
        self.registry = registry
        self.instance = instance
        self.rate = rate
        self.audit = audit

    def _message(self, session: object) -> executor_pb2.Session:
        return convert.session_message(session, self.instance)  # type: ignore[arg-type]

    async def CreateSession(
        self, request: executor_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.CreateSessionResponse:
        session = await self.registry.create(
            identity().tenant,
            convert.requested_limits(request.limits),
            dict(request.labels),
            request.fit_to_ceilings,
        )
        self.audit.record(
            "session.created", session_id=session.id, limits=dataclasses.asdict(session.limits)
        )
        return executor_pb2.CreateSessionResponse(session=self._message(session), warm=session.warm)

    async def GetSession(
        self, request: executor_pb2.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.GetSessionResponse:
        session = self.registry.get(identity().tenant, _session_id(request.session_id))
        return executor_pb2.GetSessionResponse(session=self._message(session))

    async def ListSessions(
        self, request: executor_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.ListSessionsResponse:
        sessions = self.registry.owned(identity().tenant)
        chunk, token = paginate(sessions, request.page_size, request.page_token)
        return executor_pb2.ListSessionsResponse(
            sessions=[self._message(s) for s in chunk], next_page_token=token
        )

    async def DeleteSession(
        self, request: executor_pb2.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.DeleteSessionResponse:
        session_id = _session_id(request.session_id)
        await self.registry.delete(identity().tenant, session_id)
        self.audit.record("session.deleted", session_id=session_id)
        return executor_pb2.DeleteSessionResponse()

    async def RestartSession(
        self, request: executor_pb2.RestartSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.RestartSessionResponse:
        session = await self.registry.restart(identity().tenant, _session_id(request.session_id))
        return executor_pb2.RestartSessionResponse(session=self._message(session))

    async def Execute(
        self, request: executor_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[executor_pb2.ExecuteResponse]:
        tenant = identity().tenant
        session_id = _session_id(request.session_id)
        language = LANGUAGES.get(request.language)
        if language is None:
            raise invalid("language", f"unknown language {request.language}")
        timeout = convert.seconds(request.timeout) if request.HasField("timeout") else None
        self.registry.get(tenant, session_id)  # another tenant's session: NOT_FOUND first
        self.rate.take(tenant)
        self.audit.cell(tenant, session_id, request.code, language)
        async for event in self.registry.execute(
            tenant, session_id, request.code, timeout, language, request.rollback_on_error
        ):
            yield convert.event_message(event)

    async def Interrupt(
        self, request: executor_pb2.InterruptRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.InterruptResponse:
        tenant = identity().tenant
        session_id = _session_id(request.session_id)
        interrupted = self.registry.interrupt(tenant, session_id)
        session = self.registry.get(tenant, session_id)
        return executor_pb2.InterruptResponse(
            interrupted=interrupted, session=self._message(session)
        )

    async def UploadFile(
        self,
        request_iterator: AsyncIterator[executor_pb2.UploadFileRequest],
        context: grpc.aio.ServicerContext,
    ) -> executor_pb2.UploadFileResponse:
        tenant = identity().tenant
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise invalid("header", "the first message of an upload must be its header")
        header = first.header

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise invalid("header", "an upload has exactly one header, first")
                yield message.chunk

        entry = await self.registry.upload(
            tenant,
            _session_id(header.session_id),
            header.path,
            chunks(),
            header.mode,
            header.overwrite,
        )
        return executor_pb2.UploadFileResponse(file=convert.file_message(entry))

    async def DownloadFile(
        self, request: executor_pb2.DownloadFileRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[executor_pb2.DownloadFileResponse]:
        entry, chunks = self.registry.download(
            identity().tenant, _session_id(request.session_id), request.path
        )
        yield executor_pb2.DownloadFileResponse(info=convert.file_message(entry))
        for chunk in chunks:
            yield executor_pb2.DownloadFileResponse(chunk=chunk)

    async def ListFiles(
        self, request: executor_pb2.ListFilesRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.ListFilesResponse:
        entries, truncated = self.registry.list_files(
            identity().tenant, _session_id(request.session_id), request.path, request.recursive
        )
        return executor_pb2.ListFilesResponse(
            files=[convert.file_message(e) for e in entries], truncated=truncated
        )

    async def CreateCheckpoint(
        self, request: executor_pb2.CreateCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.CreateCheckpointResponse:
        started = time.perf_counter()
        info = await self.registry.create_checkpoint(
            identity().tenant, _session_id(request.session_id)
        )
        return executor_pb2.CreateCheckpointResponse(
            checkpoint=convert.checkpoint_message(info),
            elapsed=convert.duration(time.perf_counter() - started),
        )

    async def RestoreCheckpoint(
        self, request: executor_pb2.RestoreCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.RestoreCheckpointResponse:
        started = time.perf_counter()
        session = await self.registry.restore_checkpoint(
            identity().tenant, _session_id(request.session_id), _checkpoint_id(request)
        )
        return executor_pb2.RestoreCheckpointResponse(
            session=self._message(session),
            elapsed=convert.duration(time.perf_counter() - started),
        )

    async def DeleteCheckpoint(
        self, request: executor_pb2.DeleteCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.DeleteCheckpointResponse:
        await self.registry.delete_checkpoint(
            identity().tenant, _session_id(request.session_id), _checkpoint_id(request)
        )
        return executor_pb2.DeleteCheckpointResponse()

    async def GetRuntimeInfo(
        self, request: executor_pb2.GetRuntimeInfoRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.GetRuntimeInfoResponse:
        # The caller's own ceilings, and the defaults within them.
        ceilings = self.registry.limits_for(identity().tenant).ceilings
        defaults = self.registry.defaults.capped_by(dataclasses.asdict(ceilings))
        return convert.runtime_message(self.registry.factory.runtime, defaults, ceilings)
