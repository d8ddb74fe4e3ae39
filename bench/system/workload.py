"""Clients that keep the platform busy and write down every call: agent
tasks against the stub model, raw executor cells, memory appends (whose
acknowledged events are checked later) and policy checks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from codeact import events
from codeact.aio import AsyncClient
from codeact.errors import CodeActError
from codeact.v1 import agent_pb2
from tests.llm_stub import Reply

from .fleet import Fleet


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the start of the run
    rpc: str
    ms: float
    ok: bool
    error: str = ""


@dataclass
class Recorder:
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    # Memory events the server acknowledged: conversation id -> idempotency keys.
    acked: dict[str, set[str]] = field(default_factory=dict)

    def add(self, rpc: str, began: float, ok: bool, error: str = "") -> None:
        now = time.monotonic()
        self.samples.append(Sample(began - self.started, rpc, (now - began) * 1000, ok, error))


def solving_model(body: dict[str, Any]) -> Reply:
    """Run one cell, then finish once its observation came back."""
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") == "tool":
        return Reply(tool_calls=[{"name": "finish", "arguments": {"answer": "45"}}])
    code = "print(sum(range(10)))"
    return Reply(tool_calls=[{"name": "execute_python", "arguments": {"code": code}}])


class Workload:
    """`clients` concurrent loops (agent, executor, memory, policy in turn)
    until `stop` is set. With `tolerant`, failures are recorded and the loop
    goes on (retrying what is safe to retry), as a client would during an
    outage."""

    def __init__(self, fleet: Fleet, recorder: Recorder, clients: int, tolerant: bool) -> None:
        self.fleet = fleet
        self.recorder = recorder
        self.clients = clients
        self.tolerant = tolerant
        self.stop = asyncio.Event()

    async def run(self, seconds: float | None = None) -> None:
        kinds = [self._agent, self._executor, self._memory, self._policy]
        tasks = [asyncio.create_task(kinds[i % len(kinds)](i)) for i in range(self.clients)]
        if seconds is not None:
            await asyncio.sleep(seconds)
            self.stop.set()
        await asyncio.gather(*tasks)

    async def _call(self, rpc: str, coroutine: Any) -> Any:
        began = time.monotonic()
        try:
            result = await coroutine
        except CodeActError as exc:
            self.recorder.add(rpc, began, False, _said(exc))
            if not self.tolerant:
                raise
            await asyncio.sleep(0.2)
            return None
        self.recorder.add(rpc, began, True)
        return result

    def _client(self, service: str) -> AsyncClient:
        return AsyncClient(self.fleet.address(service), token=self.fleet.key, timeout=30)

    async def _agent(self, index: int) -> None:
        async with self._client("agent") as client:
            session = None
            while not self.stop.is_set():
                if session is None:
                    session = await self._call("CreateAgentSession", client.agent.create_session())
                    continue
                began = time.monotonic()
                try:
                    last = [e async for e in session.run("Sum 0..9", timeout=60)][-1]
                except CodeActError as exc:
                    self.recorder.add("RunTask", began, False, _said(exc))
                    if not self.tolerant:
                        raise
                    session = None if exc.code == "NOT_FOUND" else session
                    await asyncio.sleep(0.2)
                    continue
                finished = last.end.outcome == agent_pb2.TASK_OUTCOME_FINISHED
                reason = "" if finished else f"{last.end.message}"[:120]
                self.recorder.add("RunTask", began, finished, reason)
                if not finished and not self.tolerant:
                    raise RuntimeError(f"task ended: {reason}")

    async def _executor(self, index: int) -> None:
        async with self._client("executor") as client:
            session = None
            while not self.stop.is_set():
                if session is None:
                    session = await self._call("CreateSession", client.executor.create_session())
                    continue
                began = time.monotonic()
                try:
                    cell = await session.run("sum(range(1000))")
                except CodeActError as exc:
                    self.recorder.add("Execute", began, False, _said(exc))
                    if not self.tolerant:
                        raise
                    if exc.code in ("NOT_FOUND", "UNAVAILABLE"):
                        session = None  # the executor restarted: its sessions are gone
                    await asyncio.sleep(0.2)
                    continue
                self.recorder.add("Execute", began, cell.ok, cell.message)
            if session is not None:
                try:
                    await session.delete()
                except CodeActError:
                    pass

    async def _memory(self, index: int) -> None:
        async with self._client("memory") as client:
            conversation = None
            while conversation is None and not self.stop.is_set():
                conversation = await self._call(
                    "CreateConversation", client.memory.create_conversation()
                )
            if conversation is None:
                return
            acked = self.recorder.acked.setdefault(conversation.id, set())
            n = 0
            while not self.stop.is_set():
                key = f"c{index}-e{n}"
                event = events.observation(f"output {n}", key=key)
                stored = await self._call(
                    "AppendEvents", client.memory.append(conversation.id, [event])
                )
                if stored is None:
                    continue  # the same key again: a safe retry
                acked.add(key)
                n += 1
                if n % 5 == 0:
                    await self._call("GetContext", client.memory.context(conversation.id))

    async def _policy(self, index: int) -> None:
        async with self._client("policy") as client:
            code = "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\nprint(df.sum())"
            while not self.stop.is_set():
                await self._call("CheckCode", client.policy.check(code))


def _said(exc: CodeActError) -> str:
    """What a client was told: code, reason (when it differs) and message."""
    reason = "" if exc.reason == exc.code else f" {exc.reason}"
    return f"{exc.code}{reason}: {exc.message[:120]}"
