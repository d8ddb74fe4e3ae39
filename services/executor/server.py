"""ExecutorService over gRPC: a thin translation to sandbox.SessionRegistry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from codeact.errors import invalid
from codeact.v1 import common_pb2, executor_pb2, executor_pb2_grpc
from sandbox.sessions import SessionRegistry
from services.common.auth import identity
from services.common.paging import paginate

from . import convert

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


class ExecutorServicer(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self, registry: SessionRegistry, instance: str) -> None:
        self.registry = registry
        self.instance = instance

    def _message(self, session: object) -> executor_pb2.Session:
        return convert.session_message(session, self.instance)  # type: ignore[arg-type]

    async def CreateSession(
        self, request: executor_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.CreateSessionResponse:
        session = await self.registry.create(
            identity().tenant, convert.requested_limits(request.limits), dict(request.labels)
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
        sessions = self.registry.list(identity().tenant)
        chunk, token = paginate(sessions, request.page_size, request.page_token)
        return executor_pb2.ListSessionsResponse(
            sessions=[self._message(s) for s in chunk], next_page_token=token
        )

    async def DeleteSession(
        self, request: executor_pb2.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.DeleteSessionResponse:
        await self.registry.delete(identity().tenant, _session_id(request.session_id))
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
        async for event in self.registry.execute(
            tenant, session_id, request.code, timeout, language
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
