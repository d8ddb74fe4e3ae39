"""The four services the agent loop calls, on behalf of its caller: every
call carries the caller's credential and a timeout bounded by the caller's
deadline; failures come back as CodeActError."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import grpc

from codeact.errors import CodeActError, DeadlineExceeded
from codeact.status import from_rpc_error
from codeact.v1 import (
    executor_pb2,
    executor_pb2_grpc,
    memory_pb2_grpc,
    planner_pb2_grpc,
    policy_pb2_grpc,
)
from services.common.auth import forwarded_metadata
from services.common.channels import internal_channel

from .routing import ExecutorRoutes
from .settings import AgentSettings

T = TypeVar("T")


class Deadline:
    """The caller's deadline (a time.monotonic() value, or none)."""

    def __init__(self, at: float | None) -> None:
        self.at = at

    def timeout(self, cap: float) -> float:
        if self.at is None:
            return cap
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("DEADLINE_EXCEEDED", "the task's deadline has passed")
        return min(cap, left)


class _Stubs(NamedTuple):
    planner: planner_pb2_grpc.PlannerServiceStub
    policy: policy_pb2_grpc.PolicyServiceStub
    memory: memory_pb2_grpc.MemoryServiceStub


class Downstream:
    """Stubs of the four services. Channels are opened on first use, inside
    the server's event loop (grpc.aio channels belong to one loop)."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.channels: list[grpc.aio.Channel] = []
        # Parses the instance list now (a bad entry fails at start); it opens
        # an instance's channel only when first used.
        self.routes = ExecutorRoutes(settings, self._channel)
        self._stubs: _Stubs | None = None
        self._runtime: executor_pb2.GetRuntimeInfoResponse | None = None

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = internal_channel(target, self.settings)
        self.channels.append(channel)
        return channel

    @property
    def _three(self) -> _Stubs:
        if self._stubs is None:
            settings = self.settings
            self._stubs = _Stubs(
                planner_pb2_grpc.PlannerServiceStub(self._channel(settings.planner_target)),
                policy_pb2_grpc.PolicyServiceStub(self._channel(settings.policy_target)),
                memory_pb2_grpc.MemoryServiceStub(self._channel(settings.memory_target)),
            )
        return self._stubs

    @property
    def planner(self) -> planner_pb2_grpc.PlannerServiceStub:
        return self._three.planner

    @property
    def policy(self) -> policy_pb2_grpc.PolicyServiceStub:
        return self._three.policy

    @property
    def memory(self) -> memory_pb2_grpc.MemoryServiceStub:
        return self._three.memory

    def executor_for(self, session_id: str) -> executor_pb2_grpc.ExecutorServiceStub:
        """The executor instance that holds the session."""
        return self.routes.for_session(session_id)

    async def _first_answering(self, method: str, request: Any, deadline: Deadline) -> Any:
        """The reply of the next executor instance in turn that answers."""
        failure: CodeActError | None = None
        for stub in self.routes.for_new():
            try:
                return await self.call(getattr(stub, method), request, deadline)
            except CodeActError as exc:
                if exc.code != "UNAVAILABLE":
                    raise
                failure = exc
        assert failure is not None
        raise failure

    async def create_sandbox(
        self, request: executor_pb2.CreateSessionRequest, deadline: Deadline
    ) -> executor_pb2.CreateSessionResponse:
        """A new session on the next instance in turn that answers."""
        reply: executor_pb2.CreateSessionResponse = await self._first_answering(
            "CreateSession", request, deadline
        )
        return reply

    async def call(
        self,
        method: Callable[..., Awaitable[T]],
        request: Any,
        deadline: Deadline,
        cap: float | None = None,
    ) -> T:
        timeout = deadline.timeout(cap or self.settings.call_timeout)
        try:
            return await method(request, timeout=timeout, metadata=forwarded_metadata())
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None

    async def stream(
        self, method: Callable[..., Any], request: Any, deadline: Deadline, cap: float
    ) -> AsyncIterator[Any]:
        """A server stream; leaving the loop early cancels the call."""
        call = method(request, timeout=deadline.timeout(cap), metadata=forwarded_metadata())
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()

    async def runtime(self, deadline: Deadline) -> executor_pb2.GetRuntimeInfoResponse:
        """What the sandbox has (the same image for every session): asked once."""
        if self._runtime is not None:
            return self._runtime
        fetched: executor_pb2.GetRuntimeInfoResponse = await self._first_answering(
            "GetRuntimeInfo", executor_pb2.GetRuntimeInfoRequest(), deadline
        )
        self._runtime = fetched
        return fetched

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
