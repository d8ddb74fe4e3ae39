"""Helpers for scripting the model and reading a task's events."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from codeact import AgentSession
from codeact.v1 import agent_pb2
from tests.llm_stub import Reply

_ids = itertools.count(1)


def call(name: str, say: str = "", **arguments: Any) -> Reply:
    """A reply calling one tool; `say` is the text that comes with the call."""
    return Reply(
        content=say,
        tool_calls=[{"id": f"call_{next(_ids)}", "name": name, "arguments": arguments}],
    )


def py(code: str, thought: str = "") -> Reply:
    return call("execute_python", thought, code=code)


def bash(command: str, thought: str = "") -> Reply:
    return call("execute_bash", thought, command=command)


def finish(answer: str, thought: str = "") -> Reply:
    return call("finish", thought, answer=answer)


class Run:
    """A task's events, with ways to look at them."""

    def __init__(self, events: Iterable[agent_pb2.RunTaskResponse]) -> None:
        self.events = list(events)

    def of(self, kind: str) -> list[Any]:
        return [getattr(e, kind) for e in self.events if e.WhichOneof("event") == kind]

    @property
    def kinds(self) -> list[str]:
        return [str(e.WhichOneof("event")) for e in self.events]

    @property
    def end(self) -> agent_pb2.TaskEnd:
        assert self.events and self.events[-1].WhichOneof("event") == "end", self.kinds
        end: agent_pb2.TaskEnd = self.events[-1].end
        return end

    @property
    def outcome(self) -> str:
        return agent_pb2.TaskOutcome.Name(self.end.outcome).removeprefix("TASK_OUTCOME_")

    @property
    def output(self) -> str:
        return "".join(o.text for o in self.of("output"))

    def observations(self) -> list[str]:
        return [o.content for o in self.of("observation")]


def run(session: AgentSession, task: str, timeout: float = 120) -> Run:
    return Run(session.run(task, timeout=timeout))


def prompt_of(request: dict[str, Any]) -> str:
    """Everything the model was sent in one request, as text."""
    parts = []
    for message in request["body"]["messages"]:
        parts.append(str(message.get("content") or ""))
        for tool_call in message.get("tool_calls") or ():
            parts.append(tool_call["function"]["arguments"])
    return "\n".join(parts)
