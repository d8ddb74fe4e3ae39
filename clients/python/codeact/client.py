"""The entry point of the Python SDK."""

from __future__ import annotations

from typing import Any

import grpc

from .agent import AgentClient
from .executor import ExecutorClient, Session
from .memory import MemoryClient
from .planner import PlannerClient
from .policy import PolicyClient
from .settings import ConnectionSettings, TLSConfig


class Client:
    """A connection to a CodeAct server.

    from codeact import Client
    with Client("127.0.0.1:50054").session() as s:
        s.run("x = 41")
        print(s.run("print(x + 1)").stdout)
    """

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
        self.channel: grpc.Channel = self.settings.channel()
        self.executor = ExecutorClient(self.channel, self.settings)
        self.policy = PolicyClient(self.channel, self.settings)
        self.memory = MemoryClient(self.channel, self.settings)
        self.planner = PlannerClient(self.channel, self.settings)
        self.agent = AgentClient(self.channel, self.settings)

    def session(self, **kwargs: Any) -> Session:
        """A new executor session; use it in a `with` block to delete it at the end."""
        return self.executor.create_session(**kwargs)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
