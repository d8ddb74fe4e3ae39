"""AgentService over gRPC: sessions, and RunTask streaming the loop's events."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator

import grpc
import structlog

from codeact.errors import CodeActError, invalid
from codeact.v1 import agent_pb2, agent_pb2_grpc, executor_pb2, memory_pb2, policy_pb2
from services.common.audit import AuditLog
from services.common.auth import current_caller, identity
from services.common.paging import paginate

from .downstream import Deadline, Downstream
from .loop import TaskRun
from .profiles import ProfileCatalog
from .sessions import AgentSessionRecord, AgentSessions
from .settings import AgentSettings

log = structlog.get_logger("agent")
DESCRIPTOR = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
MAX_TASK_BYTES = 100_000
EVENT_QUEUE = 256


def _deadline(context: grpc.aio.ServicerContext) -> Deadline:
    remaining = context.time_remaining()
    return Deadline(None if remaining is None else time.monotonic() + remaining - 0.05)


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        settings: AgentSettings,
        downstream: Downstream,
        catalog: ProfileCatalog,
        sessions: AgentSessions,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.downstream = downstream
        self.catalog = catalog
        self.sessions = sessions
        self.audit = audit or AuditLog("agent")

    # --- sessions --------------------------------------------------------------------------
    async def CreateAgentSession(
        self, request: agent_pb2.CreateAgentSessionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CreateAgentSessionResponse:
        tenant = identity().tenant
        self.sessions.reserve(tenant)
        override = request.profile if request.HasField("profile") else None
        profile = self.catalog.resolve(request.profile_name, override)
        deadline = _deadline(context)
        down = self.downstream
        if profile.policy_profile:  # an unknown policy profile is NOT_FOUND now, not later
            await down.call(
                down.policy.GetProfile,
                policy_pb2.GetProfileRequest(name=profile.policy_profile),
                deadline,
            )
        session_id = AgentSessions.new_id()
        # Limits from a profile fit the tenant's ceilings; limits the caller
        # asked for are checked as asked.
        fit = override is None or not override.HasField("sandbox_limits")
        executor_session = await self._sandbox(session_id, profile, deadline, fit)
        try:
            created: memory_pb2.CreateConversationResponse = await down.call(
                down.memory.CreateConversation,
                memory_pb2.CreateConversationRequest(labels={"agent_session": session_id}),
                deadline,
            )
            conversation_id = created.conversation.id
            if profile.condenser.type:  # the memory service validates the condenser
                await down.call(
                    down.memory.GetContext,
                    memory_pb2.GetContextRequest(
                        conversation_id=conversation_id, condenser=profile.condenser
                    ),
                    deadline,
                )
        except CodeActError as exc:
            await self._forget(executor_session, "", deadline)
            if exc.code == "INVALID_ARGUMENT":
                exc.field_violations = tuple(
                    type(v)(f"profile.{v.field}", v.description) for v in exc.field_violations
                )
            raise
        record = AgentSessionRecord(
            id=session_id,
            tenant=tenant,
            profile=profile,
            executor_session_id=executor_session,
            conversation_id=conversation_id,
            caller=current_caller.get(),
        )
        self.sessions.add(record)
        self.audit.record(
            "agent_session.created",
            tenant,
            session_id=session_id,
            profile=profile.name,
            executor_session_id=executor_session,
            conversation_id=conversation_id,
        )
        return agent_pb2.CreateAgentSessionResponse(session=record.message())

    async def _sandbox(
        self,
        session_id: str,
        profile: agent_pb2.AgentProfile,
        deadline: Deadline,
        fit: bool = True,
    ) -> str:
        limits = profile.sandbox_limits
        if profile.step_timeout.ToNanoseconds() > limits.cell_timeout.ToNanoseconds():
            limits.cell_timeout.CopyFrom(profile.step_timeout)
        reply = await self.downstream.create_sandbox(
            executor_pb2.CreateSessionRequest(
                limits=limits, labels={"agent_session": session_id}, fit_to_ceilings=fit
            ),
            deadline,
        )
        return reply.session.id

    async def replace_sandbox(self, record: AgentSessionRecord, deadline: Deadline) -> None:
        record.executor_session_id = await self._sandbox(record.id, record.profile, deadline)

    async def _forget(self, executor_session: str, conversation: str, deadline: Deadline) -> None:
        """Delete what a session held downstream (what is already gone is fine)."""
        down = self.downstream
        with contextlib.suppress(CodeActError):
            if executor_session:
                await down.call(
                    down.executor_for(executor_session).DeleteSession,
                    executor_pb2.DeleteSessionRequest(session_id=executor_session),
                    deadline,
                    cap=30.0,
                )
        with contextlib.suppress(CodeActError):
            if conversation:
                await down.call(
                    down.memory.DeleteConversation,
                    memory_pb2.DeleteConversationRequest(conversation_id=conversation),
                    deadline,
                    cap=30.0,
                )

    async def GetAgentSession(
        self, request: agent_pb2.GetAgentSessionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetAgentSessionResponse:
        record = self.sessions.get(identity().tenant, request.session_id)
        return agent_pb2.GetAgentSessionResponse(session=record.message())

    async def ListAgentSessions(
        self, request: agent_pb2.ListAgentSessionsRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.ListAgentSessionsResponse:
        records = self.sessions.of_tenant(identity().tenant)
        page, token = paginate(records, request.page_size, request.page_token)
        return agent_pb2.ListAgentSessionsResponse(
            sessions=[r.message() for r in page], next_page_token=token
        )

    async def DeleteAgentSession(
        self, request: agent_pb2.DeleteAgentSessionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DeleteAgentSessionResponse:
        record = self.sessions.get(identity().tenant, request.session_id)
        self.sessions.remove(record)
        await self._stop_task(record)
        await self._forget(record.executor_session_id, record.conversation_id, _deadline(context))
        self.audit.record("agent_session.deleted", record.tenant, session_id=record.id)
        return agent_pb2.DeleteAgentSessionResponse()

    @staticmethod
    async def _stop_task(record: AgentSessionRecord) -> bool:
        task = record.task
        if task is None or task.done():
            return False
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), 10.0)
        return True

    # --- tasks ------------------------------------------------------------------------------
    async def RunTask(
        self, request: agent_pb2.RunTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.RunTaskResponse]:
        task_text = request.task.strip()
        if not task_text:
            raise invalid("task", "must not be empty")
        if len(request.task.encode()) > MAX_TASK_BYTES:
            raise invalid("task", f"at most {MAX_TASK_BYTES} bytes")
        record = self.sessions.get(identity().tenant, request.session_id)
        AgentSessions.claim(record)
        self.audit.record(
            "task.started",
            record.tenant,
            session_id=record.id,
            task_sha256=hashlib.sha256(task_text.encode()).hexdigest(),
            task_bytes=len(task_text.encode()),
        )
        queue: asyncio.Queue[agent_pb2.RunTaskResponse | CodeActError] = asyncio.Queue(EVENT_QUEUE)
        listening = True

        async def emit(event: agent_pb2.RunTaskResponse | CodeActError) -> None:
            if listening:
                await queue.put(event)

        run = TaskRun(
            self.settings,
            self.downstream,
            record,
            task_text,
            _deadline(context),
            emit,
            self.replace_sandbox,
        )
        record.task = asyncio.create_task(run.run())
        record.task_count += 1
        record.updated = time.time()
        try:
            while True:
                event = await queue.get()
                if isinstance(event, CodeActError):
                    raise event
                yield event
                if event.WhichOneof("event") == "end":
                    break
        finally:
            listening = False
            while not queue.empty():
                queue.get_nowait()
            if not record.task.done():
                record.task.cancel()
            record.updated = time.time()

    async def CancelTask(
        self, request: agent_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CancelTaskResponse:
        record = self.sessions.get(identity().tenant, request.session_id)
        task = record.task
        if task is None or task.done():
            return agent_pb2.CancelTaskResponse(cancelled=False)
        task.cancel()
        return agent_pb2.CancelTaskResponse(cancelled=True)

    async def close(self) -> None:
        """On shutdown: stop running tasks and release every session's sandbox."""
        deadline = Deadline(time.monotonic() + 10)
        for record in self.sessions.all():
            await self._stop_task(record)
            current_caller.set(record.caller)
            await self._forget(record.executor_session_id, "", deadline)
