"""Agent sessions: a profile, a sandbox session and a conversation, owned
by a tenant, with at most one task running at a time."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from google.protobuf import timestamp_pb2

from codeact.errors import FailedPrecondition, NotFound, invalid, quota_exceeded
from codeact.v1 import agent_pb2, common_pb2
from services.common.auth import Caller
from services.common.tenants import TenantsSource


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def add_usage(total: common_pb2.Usage, more: common_pb2.Usage) -> None:
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens
    total.total_tokens += more.total_tokens
    total.requests += more.requests
    total.latency.FromNanoseconds(total.latency.ToNanoseconds() + more.latency.ToNanoseconds())


@dataclass
class AgentSessionRecord:
    id: str
    tenant: str
    profile: agent_pb2.AgentProfile
    executor_session_id: str
    conversation_id: str
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    task_count: int = 0
    usage: common_pb2.Usage = field(default_factory=common_pb2.Usage)
    # The running task, if any (CancelTask cancels it).
    task: asyncio.Task[None] | None = None
    closed: bool = False
    # The creator, to release the sandbox at shutdown on its behalf.
    caller: Caller | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def message(self) -> agent_pb2.AgentSession:
        if self.closed:
            state = agent_pb2.AGENT_SESSION_STATE_CLOSED
        elif self.running:
            state = agent_pb2.AGENT_SESSION_STATE_RUNNING
        else:
            state = agent_pb2.AGENT_SESSION_STATE_IDLE
        return agent_pb2.AgentSession(
            id=self.id,
            profile=self.profile,
            state=state,
            executor_session_id=self.executor_session_id,
            conversation_id=self.conversation_id,
            create_time=_timestamp(self.created),
            update_time=_timestamp(self.updated),
            task_count=self.task_count,
            usage=self.usage,
        )


class AgentSessions:
    def __init__(self, max_per_tenant: int, tenants: TenantsSource | None = None) -> None:
        self.max_per_tenant = max_per_tenant
        self.tenants = tenants
        self._sessions: dict[str, AgentSessionRecord] = {}

    def limit(self, tenant: str) -> int:
        """The tenant's own limit from the tenants file, else the server's."""
        own = self.tenants.current().get(tenant).max_agent_sessions if self.tenants else None
        return self.max_per_tenant if own is None else own

    @staticmethod
    def new_id() -> str:
        return f"agent-{secrets.token_hex(10)}"

    def reserve(self, tenant: str) -> None:
        """Refuse before any downstream work when the tenant is at its limit."""
        limit = self.limit(tenant)
        if len(self.of_tenant(tenant)) >= limit:
            raise quota_exceeded(
                "AGENT_SESSION_QUOTA_EXCEEDED",
                f"at most {limit} agent sessions for this tenant; delete one first",
                f"tenant:{tenant}",
                limit,
            )

    def add(self, record: AgentSessionRecord) -> None:
        self._sessions[record.id] = record

    def get(self, tenant: str, session_id: str) -> AgentSessionRecord:
        if not session_id:
            raise invalid("session_id", "is required")
        record = self._sessions.get(session_id)
        if record is None or record.tenant != tenant:
            raise NotFound(
                "AGENT_SESSION_NOT_FOUND",
                f"agent session {session_id!r} does not exist",
                metadata={"session_id": session_id},
            )
        return record

    def of_tenant(self, tenant: str) -> list[AgentSessionRecord]:
        return sorted(
            (r for r in self._sessions.values() if r.tenant == tenant),
            key=lambda r: (r.created, r.id),
        )

    def remove(self, record: AgentSessionRecord) -> None:
        record.closed = True
        self._sessions.pop(record.id, None)

    def all(self) -> list[AgentSessionRecord]:
        return list(self._sessions.values())

    @staticmethod
    def claim(record: AgentSessionRecord) -> None:
        if record.running:
            raise FailedPrecondition(
                "TASK_RUNNING",
                "a task is already running in this session; wait for it or cancel it",
                metadata={"session_id": record.id},
            )
