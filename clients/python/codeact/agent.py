"""Synchronous client of AgentService: sessions, and tasks as event streams.

with Client("127.0.0.1:50051", token=key) as client:
    with client.agent.create_session() as agent:
        for event in agent.run("Plot the first 10 Fibonacci numbers"):
            print(event)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from .settings import ConnectionSettings
from .status import from_rpc_error
from .v1 import agent_pb2, agent_pb2_grpc

OUTCOMES = {
    value: name.removeprefix("TASK_OUTCOME_") for name, value in agent_pb2.TaskOutcome.items()
}


class AgentSession:
    """One agent session; a `with` block deletes it at the end."""

    def __init__(self, client: AgentClient, info: agent_pb2.AgentSession) -> None:
        self.client = client
        self.info = info

    @property
    def id(self) -> str:
        return str(self.info.id)

    def run(self, task: str, timeout: float | None = None) -> Iterator[agent_pb2.RunTaskResponse]:
        """The task's events as they happen; the last one is `end` (a TaskEnd)."""
        return self.client.run(self.id, task, timeout)

    def cancel(self) -> bool:
        return self.client.cancel(self.id)

    def refresh(self) -> agent_pb2.AgentSession:
        self.info = self.client.get_session(self.id)
        return self.info

    def delete(self) -> None:
        self.client.delete_session(self.id)

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


class AgentClient:
    def __init__(self, channel: grpc.Channel, settings: ConnectionSettings) -> None:
        self.stub = agent_pb2_grpc.AgentServiceStub(channel)
        self.settings = settings

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.settings.timeout, metadata=self.settings.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def create_session(
        self, profile_name: str = "", profile: agent_pb2.AgentProfile | None = None
    ) -> AgentSession:
        """A session with a named profile (server default when empty) and overrides."""
        request = agent_pb2.CreateAgentSessionRequest(profile_name=profile_name, profile=profile)
        reply: agent_pb2.CreateAgentSessionResponse = self._call(
            self.stub.CreateAgentSession, request
        )
        return AgentSession(self, reply.session)

    def get_session(self, session_id: str) -> agent_pb2.AgentSession:
        reply: agent_pb2.GetAgentSessionResponse = self._call(
            self.stub.GetAgentSession, agent_pb2.GetAgentSessionRequest(session_id=session_id)
        )
        return reply.session

    def sessions(self, page_size: int = 100) -> Iterator[agent_pb2.AgentSession]:
        token = ""
        while True:
            reply: agent_pb2.ListAgentSessionsResponse = self._call(
                self.stub.ListAgentSessions,
                agent_pb2.ListAgentSessionsRequest(page_size=page_size, page_token=token),
            )
            yield from reply.sessions
            token = reply.next_page_token
            if not token:
                return

    def delete_session(self, session_id: str) -> None:
        self._call(
            self.stub.DeleteAgentSession, agent_pb2.DeleteAgentSessionRequest(session_id=session_id)
        )

    def run(
        self, session_id: str, task: str, timeout: float | None = None
    ) -> Iterator[agent_pb2.RunTaskResponse]:
        call = self.stub.RunTask(
            agent_pb2.RunTaskRequest(session_id=session_id, task=task),
            timeout=timeout if timeout is not None else self.settings.stream_timeout,
            metadata=self.settings.metadata(),
        )
        try:
            yield from call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()

    def cancel(self, session_id: str) -> bool:
        reply: agent_pb2.CancelTaskResponse = self._call(
            self.stub.CancelTask, agent_pb2.CancelTaskRequest(session_id=session_id)
        )
        return bool(reply.cancelled)
