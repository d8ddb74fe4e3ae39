"""The asyncio SDK and the planner client against the live stack, and the
retry policy: reads are retried on UNAVAILABLE, executions never."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from codeact import Client, condenser, events
from codeact.aio import AsyncClient
from codeact.errors import NotFound, Unavailable
from codeact.planner import message
from codeact.settings import ConnectionSettings, RetryConfig
from codeact.v1 import agent_pb2, common_pb2, executor_pb2, executor_pb2_grpc
from tests.llm_stub import LLMStub
from tests.services.agent.scenarios import finish, py
from tests.stack import Stack
from tests.support import KEYS


async def test_async_sessions_cells_and_errors(stack: Stack) -> None:
    async with AsyncClient(stack.executor.address, token=KEYS["acme"]) as client:
        async with await client.executor.create_session({"memory_bytes": 256 << 20}) as session:
            await session.run("x = 41")
            cell = await session.run("print(x + 1)\nx * 2")
            assert (cell.stdout, cell.result and cell.result.plain) == ("42\n", "82")
            kinds = [e.WhichOneof("event") async for e in session.stream("print(1)\n1/0")]
            assert kinds[0] == "output" and kinds[-1] == "completion" and "error" in kinds
            assert (await session.run_bash("echo hi")).stdout == "hi\n"
            assert session.id in [s.id for s in await client.executor.list_sessions()]
        async with AsyncClient(stack.executor.address, token=KEYS["globex"]) as other:
            with pytest.raises(NotFound):
                await other.executor.calls.unary(
                    other.executor.stub.GetSession,
                    executor_pb2.GetSessionRequest(session_id=session.id),
                )


async def test_async_policy_memory_planner_and_agent(stack: Stack, llm: LLMStub) -> None:
    key = KEYS["acme"]
    async with AsyncClient(stack.policy.address, token=key) as client:
        verdict = await client.policy.check("import subprocess", "strict")
        assert verdict.decision == common_pb2.DECISION_DENY
    async with AsyncClient(stack.memory.address, token=key) as client:
        conversation = await client.memory.create_conversation({"from": "aio"})
        await client.memory.append(conversation.id, [events.user("hello", key="k1")])
        assert [e.user_message.text for e in await client.memory.list_events(conversation.id)] == [
            "hello"
        ]
        context = await client.memory.context(conversation.id, condenser("recent", max_events=10))
        assert any(m.content == "hello" for m in context.messages)
    llm.script(py("print(6 * 7)"))
    async with AsyncClient(stack.planner.address, token=key) as client:
        decision = await client.planner.next_action([message("user", "six times seven")])
        assert decision.action.action.code == "print(6 * 7)"
    llm.script(py("print(2 ** 10)"), finish("1024"))
    async with (
        AsyncClient(stack.agent.address, token=key) as client,
        await client.agent.create_session() as session,
    ):
        seen = [e async for e in session.run("What is 2 ** 10?", timeout=60)]
    assert seen[-1].end.outcome == agent_pb2.TASK_OUTCOME_FINISHED
    assert "1024\n" in "".join(e.output.text for e in seen if e.WhichOneof("event") == "output")


def test_the_sync_planner_client(stack: Stack, llm: LLMStub) -> None:
    llm.script(py("print(1)"), "The user asked twice.")
    with Client(stack.planner.address, token=KEYS["acme"]) as client:
        decision = client.planner.next_action([message("user", "print one")], model="m")
        assert decision.action.action.code == "print(1)"
        assert client.planner.summarize([events.user("hi")]) == "The user asked twice."
    assert llm.requests[0]["body"]["model"] == "m"
    with pytest.raises(ValueError, match="unknown role"):
        message("robot", "x")


class Flaky(executor_pb2_grpc.ExecutorServiceServicer):
    """Answers UNAVAILABLE to the first two calls of each method (a server
    going away), then serves; counts what reached it."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    async def ListSessions(self, request, context):
        if self._count("ListSessions") <= 2:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        return executor_pb2.ListSessionsResponse()

    async def Execute(self, request, context) -> AsyncIterator[executor_pb2.ExecuteResponse]:
        if self._count("Execute") <= 2:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
        yield executor_pb2.ExecuteResponse()


async def test_reads_are_retried_and_executions_never() -> None:
    server = grpc.aio.server()
    flaky = Flaky()  # type: ignore[abstract]
    executor_pb2_grpc.add_ExecutorServiceServicer_to_server(flaky, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncClient(f"127.0.0.1:{port}", token="t") as client:
            assert await client.executor.list_sessions() == []
            assert flaky.calls["ListSessions"] == 3
            stub = client.executor
            with pytest.raises(Unavailable):
                await AsyncSessionProbe.run(stub)
            assert flaky.calls["Execute"] == 1
        flaky.calls.clear()
        off = ConnectionSettings(target=f"127.0.0.1:{port}", token="t", retry=None)
        async with AsyncClient(settings=off) as client:
            with pytest.raises(Unavailable):
                await client.executor.list_sessions()
            assert flaky.calls["ListSessions"] == 1
    finally:
        await server.stop(0)


class AsyncSessionProbe:
    @staticmethod
    async def run(executor: object) -> None:
        from codeact.aio import AsyncSession

        session = AsyncSession(executor, executor_pb2.Session(id="s"))  # type: ignore[arg-type]
        await session.run("print(1)")


def test_retry_settings_become_a_service_config() -> None:
    config = RetryConfig(max_attempts=4).service_config()
    assert '"maxAttempts": 4' in config and "Execute" not in config and "ListSessions" in config
    options = dict(ConnectionSettings(retry=None).channel_options())
    assert options["grpc.enable_retries"] == 0
