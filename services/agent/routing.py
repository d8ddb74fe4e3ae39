"""Which executor instance holds a session, and where new sessions go.

A session id begins with the name of the executor instance that holds it
(`<instance>-<random>`), so any agent replica can route a session's calls
without shared state. Targets come from, in order: `executor_instances`
("name=host:port" pairs, a configured list for several local processes),
`executor_route_template` (e.g. "{instance}.codeact-executor:50054", the
per-pod DNS names of a StatefulSet behind a headless Service), or
`executor_target` alone. New sessions go round-robin over the listed
instances, skipping one that does not answer; with a template they go to
`executor_target` (a Service that spreads them over the pods).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import grpc

from codeact.routing import instance_of, route
from codeact.v1 import executor_pb2_grpc

from .settings import AgentSettings

Stub = executor_pb2_grpc.ExecutorServiceStub
__all__ = ["ExecutorRoutes", "instance_of", "parse_instances"]


def parse_instances(entries: tuple[str, ...]) -> dict[str, str]:
    instances = {}
    for entry in entries:
        name, sep, target = entry.partition("=")
        if not sep or not name or not target:
            raise ValueError(f"executor_instances entries are 'name=host:port', not {entry!r}")
        instances[name.strip()] = target.strip()
    return instances


class ExecutorRoutes:
    def __init__(
        self, settings: AgentSettings, open_channel: Callable[[str], grpc.aio.Channel]
    ) -> None:
        self.instances = parse_instances(settings.executor_instances)
        self.template = settings.executor_route_template
        self.default = settings.executor_target
        self._open = open_channel
        self._stubs: dict[str, Stub] = {}
        self._turn = itertools.count()

    def _stub(self, target: str) -> Stub:
        if target not in self._stubs:
            self._stubs[target] = Stub(self._open(target))
        return self._stubs[target]

    def target_of(self, session_id: str) -> str:
        return route(session_id, self.instances, self.template) or self.default

    def for_session(self, session_id: str) -> Stub:
        return self._stub(self.target_of(session_id))

    def for_new(self) -> list[Stub]:
        """Where to try a new session, in order (the next in turn first)."""
        targets = list(self.instances.values()) or [self.default]
        start = next(self._turn) % len(targets)
        return [self._stub(t) for t in targets[start:] + targets[:start]]

    @property
    def routed(self) -> bool:
        """Sessions live on several instances (a dead one loses only its own)."""
        return bool(self.instances or self.template)
