"""The asyncio SDK: the same services as `codeact.Client`, awaited.

from codeact.aio import AsyncClient

async with AsyncClient("127.0.0.1:50054", token="s3cret") as client:
    async with await client.executor.create_session() as session:
        await session.run("x = 41")
        print((await session.run("print(x + 1)")).stdout)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc

from .errors import CodeActError
from .executor import CellResult, limits_message
from .settings import ConnectionSettings, TLSConfig
from .status import from_rpc_error
from .v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    events_pb2,
    executor_pb2,
    executor_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    planner_pb2,
    planner_pb2_grpc,
    policy_pb2,
    policy_pb2_grpc,
)

_D = TypeVar("_D", bound="_DeletedAtExit")


class _Calls:
    """Unary calls and streams with the token, deadlines and our errors."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    async def unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(
                request, timeout=self.settings.timeout, metadata=self.settings.metadata()
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    async def stream(
        self, method: Any, request: Any, timeout: float | None = None
    ) -> AsyncIterator[Any]:
        call = method(request, timeout=timeout, metadata=self.settings.metadata())
        try:
            async for reply in call:
                yield reply
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()


class _DeletedAtExit:
    """`async with` deletes the thing at the end (an error while leaving on
    an exception does not hide that exception)."""

    async def delete(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: _D) -> _D:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.delete()
        except CodeActError:
            if exc[0] is None:
                raise


class AsyncSession(_DeletedAtExit):
    """A sandboxed interpreter; `async with` deletes it at the end."""

    def __init__(self, executor: AsyncExecutorClient, info: executor_pb2.Session) -> None:
        self.executor = executor
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    def stream(
        self, code: str, language: common_pb2.Language.ValueType = common_pb2.LANGUAGE_PYTHON
    ) -> AsyncIterator[executor_pb2.ExecuteResponse]:
        request = executor_pb2.ExecuteRequest(session_id=self.id, code=code, language=language)
        calls = self.executor.calls
        return calls.stream(self.executor.stub.Execute, request, calls.settings.stream_timeout)

    async def run(self, code: str) -> CellResult:
        result = CellResult()
        async for event in self.stream(code):
            result.add(event)
        return result

    async def run_bash(self, command: str) -> CellResult:
        result = CellResult()
        async for event in self.stream(command, common_pb2.LANGUAGE_BASH):
            result.add(event)
        return result

    async def delete(self) -> None:
        request = executor_pb2.DeleteSessionRequest(session_id=self.id)
        await self.executor.calls.unary(self.executor.stub.DeleteSession, request)


class AsyncExecutorClient:
    def __init__(self, channel: grpc.aio.Channel, calls: _Calls) -> None:
        self.stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        self.calls = calls

    async def create_session(
        self, limits: Mapping[str, float] | None = None, labels: Mapping[str, str] | None = None
    ) -> AsyncSession:
        request = executor_pb2.CreateSessionRequest(
            limits=limits_message(limits), labels=dict(labels or {})
        )
        reply = await self.calls.unary(self.stub.CreateSession, request)
        return AsyncSession(self, reply.session)

    async def list_sessions(self) -> list[executor_pb2.Session]:
        sessions: list[executor_pb2.Session] = []
        token = ""
        while True:
            reply = await self.calls.unary(
                self.stub.ListSessions, executor_pb2.ListSessionsRequest(page_token=token)
            )
            sessions += reply.sessions
            token = reply.next_page_token
            if not token:
                return sessions


class AsyncPolicyClient:
    def __init__(self, channel: grpc.aio.Channel, calls: _Calls) -> None:
        self.stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self.calls = calls

    async def check(
        self, code: str, profile: str = "", extra_modules: Iterable[str] = ()
    ) -> policy_pb2.CheckCodeResponse:
        request = policy_pb2.CheckCodeRequest(
            code=code, profile_name=profile, extra_modules=list(extra_modules)
        )
        reply: policy_pb2.CheckCodeResponse = await self.calls.unary(self.stub.CheckCode, request)
        return reply


class AsyncMemoryClient:
    def __init__(self, channel: grpc.aio.Channel, calls: _Calls) -> None:
        self.stub = memory_pb2_grpc.MemoryServiceStub(channel)
        self.calls = calls

    async def create_conversation(
        self, labels: Mapping[str, str] | None = None
    ) -> memory_pb2.Conversation:
        request = memory_pb2.CreateConversationRequest(labels=dict(labels or {}))
        reply = await self.calls.unary(self.stub.CreateConversation, request)
        return reply.conversation  # type: ignore[no-any-return]

    async def append(
        self, conversation_id: str, events: Iterable[events_pb2.Event]
    ) -> list[events_pb2.Event]:
        request = memory_pb2.AppendEventsRequest(
            conversation_id=conversation_id, events=list(events)
        )
        reply = await self.calls.unary(self.stub.AppendEvents, request)
        return list(reply.events)

    async def list_events(self, conversation_id: str) -> list[events_pb2.Event]:
        request = memory_pb2.ListEventsRequest(conversation_id=conversation_id)
        reply = await self.calls.unary(self.stub.ListEvents, request)
        return list(reply.events)

    async def context(
        self,
        conversation_id: str,
        condenser: memory_pb2.CondenserSpec | None = None,
        token_budget: int = 0,
    ) -> memory_pb2.GetContextResponse:
        """The prompt so far; `condenser` as made by codeact.condenser(...)."""
        request = memory_pb2.GetContextRequest(
            conversation_id=conversation_id, token_budget=token_budget, condenser=condenser
        )
        reply: memory_pb2.GetContextResponse = await self.calls.unary(self.stub.GetContext, request)
        return reply


class AsyncPlannerClient:
    def __init__(self, channel: grpc.aio.Channel, calls: _Calls) -> None:
        self.stub = planner_pb2_grpc.PlannerServiceStub(channel)
        self.calls = calls

    async def next_action(
        self, messages: Sequence[common_pb2.Message], model: str = ""
    ) -> planner_pb2.ActionDecision:
        request = planner_pb2.NextActionRequest(messages=list(messages))
        if model:
            request.model.model = model
        reply = await self.calls.unary(self.stub.NextAction, request)
        return reply.decision  # type: ignore[no-any-return]


class AsyncAgentSession(_DeletedAtExit):
    def __init__(self, agent: AsyncAgentClient, info: agent_pb2.AgentSession) -> None:
        self.agent = agent
        self.info = info

    @property
    def id(self) -> str:
        return self.info.id

    def run(
        self, task: str, timeout: float | None = None
    ) -> AsyncIterator[agent_pb2.RunTaskResponse]:
        """The task's events as they happen; the last one is `end`."""
        request = agent_pb2.RunTaskRequest(session_id=self.id, task=task)
        return self.agent.calls.stream(self.agent.stub.RunTask, request, timeout)

    async def delete(self) -> None:
        request = agent_pb2.DeleteAgentSessionRequest(session_id=self.id)
        await self.agent.calls.unary(self.agent.stub.DeleteAgentSession, request)


class AsyncAgentClient:
    def __init__(self, channel: grpc.aio.Channel, calls: _Calls) -> None:
        self.stub = agent_pb2_grpc.AgentServiceStub(channel)
        self.calls = calls

    async def create_session(
        self, profile_name: str = "", profile: agent_pb2.AgentProfile | None = None
    ) -> AsyncAgentSession:
        request = agent_pb2.CreateAgentSessionRequest(profile_name=profile_name)
        if profile is not None:
            request.profile.CopyFrom(profile)
        reply = await self.calls.unary(self.stub.CreateAgentSession, request)
        return AsyncAgentSession(self, reply.session)


class AsyncClient:
    """An asyncio connection to a CodeAct server (open it inside the event loop)."""

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        tls: TLSConfig | None = None,
        timeout: float | None = None,
        settings: ConnectionSettings | None = None,
    ) -> None:
        self.settings = (settings or ConnectionSettings()).with_changes(
            target=target, token=token, tls=tls, timeout=timeout
        )
        self.channel = self.settings.aio_channel()
        calls = _Calls(self.settings)
        self.executor = AsyncExecutorClient(self.channel, calls)
        self.policy = AsyncPolicyClient(self.channel, calls)
        self.memory = AsyncMemoryClient(self.channel, calls)
        self.planner = AsyncPlannerClient(self.channel, calls)
        self.agent = AsyncAgentClient(self.channel, calls)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
