"""Sessions on several executor instances: a session id begins with the name
of the instance that holds it, so a client can reach it directly.

    router = ExecutorRouter({"exec-0": "10.0.0.5:50054", "exec-1": "10.0.0.6:50054"},
                            token="s3cret")
    session = router.create_session()           # round-robin over the instances
    router.session(session.id).run("print(1)")  # always the instance that holds it

(In Kubernetes, `ExecutorRouter.from_template("{instance}.codeact-executor:50054")`
uses the StatefulSet's per-pod DNS names.) A session whose instance is gone
is reported with state SESSION_STATE_LOST.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from .client import Client
from .errors import Unavailable
from .executor import Session
from .v1 import executor_pb2


def instance_of(session_id: str) -> str:
    """The executor instance named in a session id (`<instance>-<random>`)."""
    return session_id.rsplit("-", 1)[0]


def route(session_id: str, instances: Mapping[str, str], template: str) -> str | None:
    """The target of the instance holding a session: listed, else from the
    template; None when neither knows it."""
    instance = instance_of(session_id)
    if instance in instances:
        return instances[instance]
    return template.format(instance=instance) if template else None


class ExecutorRouter:
    def __init__(self, instances: Mapping[str, str], template: str = "", **client: Any) -> None:
        self.instances = dict(instances)
        self.template = template
        self._client_options = client
        self._clients: dict[str, Client] = {}
        self._turn = itertools.count()

    @classmethod
    def from_template(cls, template: str, **client: Any) -> ExecutorRouter:
        return cls({}, template, **client)

    def target_of(self, session_id: str) -> str:
        target = route(session_id, self.instances, self.template)
        if target is None:
            raise KeyError(f"no executor instance {instance_of(session_id)!r} is known")
        return target

    def _client(self, target: str) -> Client:
        if target not in self._clients:
            self._clients[target] = Client(target, **self._client_options)
        return self._clients[target]

    def create_session(self, **kwargs: Any) -> Session:
        """A new session on the next instance in turn that answers."""
        targets = list(self.instances.values())
        if not targets:
            raise ValueError("create sessions through the executor Service with a template")
        start = next(self._turn) % len(targets)
        failure: Unavailable | None = None
        for target in targets[start:] + targets[:start]:
            try:
                return self._client(target).executor.create_session(**kwargs)
            except Unavailable as exc:
                failure = exc
        assert failure is not None
        raise failure

    def session(self, session_id: str) -> Session:
        return self._client(self.target_of(session_id)).executor.get_session(session_id)

    def get_session(self, session_id: str) -> executor_pb2.Session:
        """The session's state; SESSION_STATE_LOST when its instance is gone."""
        try:
            return self.session(session_id).info
        except Unavailable:
            return executor_pb2.Session(id=session_id, state=executor_pb2.SESSION_STATE_LOST)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> ExecutorRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
