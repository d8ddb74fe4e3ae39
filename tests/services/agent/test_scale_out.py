"""Three executor processes behind one agent: sessions spread over them,
every call reaches the instance that holds its session, and killing one
instance loses only its own sessions (their tasks go on in a new sandbox on
another instance; new sessions land on the living)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from codeact import Client
from codeact.routing import ExecutorRouter
from codeact.v1 import agent_pb2, executor_pb2
from services.agent.__main__ import build_service as build_agent
from services.agent.routing import instance_of
from services.agent.settings import AgentSettings
from tests.services.agent.scenarios import Run, finish, py
from tests.stack import COMMON, Stack
from tests.support import INLINE_KEYS, KEYS, ServerThread, can_jail, sandbox_processes

INSTANCES = ("scale-a", "scale-b", "scale-c")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


@dataclass
class Fleet:
    agent: ServerThread
    processes: dict[str, subprocess.Popen[bytes]]
    targets: dict[str, str]

    def client(self) -> Client:
        return Client(self.agent.address, token=KEYS["acme"], timeout=60)

    def router(self) -> ExecutorRouter:
        return ExecutorRouter(self.targets, token=KEYS["acme"], timeout=10)


@pytest.fixture(scope="module")
def fleet(stack: Stack, state_root: Path) -> Iterator[Fleet]:
    if not can_jail():
        pytest.skip("real jails need root")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    targets: dict[str, str] = {}
    for name in INSTANCES:
        port = _free_port()
        state = state_root / name
        env = {
            **os.environ,
            "CODEACT_API_KEYS": INLINE_KEYS,
            "CODEACT_LOG_LEVEL": "warning",
            "CODEACT_EXECUTOR_PORT": str(port),
            "CODEACT_EXECUTOR_METRICS_PORT": "-1",
            "CODEACT_EXECUTOR_INSTANCE": name,
            "CODEACT_EXECUTOR_STATE_DIR": str(state),
            "CODEACT_EXECUTOR_POOL_SIZE": "1",
            "CODEACT_AUDIT_FILE": os.devnull,
        }
        processes[name] = subprocess.Popen([sys.executable, "-m", "services.executor"], env=env)
        targets[name] = f"127.0.0.1:{port}"
    for target in targets.values():
        _wait_for(int(target.rsplit(":", 1)[1]))
    agent = ServerThread(
        AgentSettings(
            **COMMON,  # type: ignore[arg-type]
            planner_target=stack.planner.address,
            policy_target=stack.policy.address,
            memory_target=stack.memory.address,
            executor_instances=tuple(f"{n}={t}" for n, t in targets.items()),
        ),
        build_agent,
    ).start()
    yield Fleet(agent, processes, targets)
    agent.stop()
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _run(client: Client, session_id: str, task: str) -> Run:
    return Run(client.agent.run(session_id, task, timeout=120))


def test_sessions_spread_route_and_survive_the_loss_of_one_instance(
    fleet: Fleet, stack: Stack
) -> None:
    llm = stack.stub
    llm.reset()
    with fleet.client() as client:
        sessions = [client.agent.create_session() for _ in range(6)]
        holders = {s.id: instance_of(s.info.executor_session_id) for s in sessions}
        assert set(holders.values()) == set(INSTANCES)

        # Each task's cell runs on the instance that holds its session.
        for i, session in enumerate(sessions):
            llm.script(py(f"x = {i}\nprint('set', x)"), finish(str(i)))
            assert _run(client, session.id, f"set x to {i}").outcome == "FINISHED"
        router = fleet.router()
        for session in sessions:
            info = router.get_session(session.info.executor_session_id)
            assert info.execution_count >= 1

        # One instance dies.
        victim = "scale-b"
        fleet.processes[victim].send_signal(signal.SIGKILL)
        fleet.processes[victim].wait(10)
        lost = [s for s in sessions if holders[s.id] == victim]
        kept = [s for s in sessions if holders[s.id] != victim]
        assert lost and kept
        for session in lost:
            state = router.get_session(session.info.executor_session_id).state
            assert state == executor_pb2.SESSION_STATE_LOST

        # Sessions elsewhere keep their state.
        for session in kept:
            i = sessions.index(session)
            llm.script(py("print(x)"), finish("ok"))
            run = _run(client, session.id, "print x")
            assert run.outcome == "FINISHED" and f"{i}\n" in run.output
        # The lost ones go on in a new sandbox on a living instance.
        for session in lost:
            llm.script(py("print('again')"), py("print('again')"), finish("ok"))
            run = _run(client, session.id, "print again")
            assert run.outcome == "FINISHED"
            assert "SANDBOX_REPLACED" in [e.reason for e in run.of("error")]
            now = client.agent.get_session(session.id)
            assert instance_of(now.executor_session_id) != victim
        # New sessions land on the living.
        fresh = [client.agent.create_session() for _ in range(4)]
        assert {instance_of(s.info.executor_session_id) for s in fresh} <= set(INSTANCES) - {victim}
        for session in [*sessions, *fresh]:
            session.delete()
    # The killed instance left no sandbox process behind.
    deadline = time.monotonic() + 10
    while sandbox_processes(instance=victim) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes(instance=victim) == []


def test_a_bad_instance_list_is_refused() -> None:
    with pytest.raises(ValueError, match="name=host:port"):
        build_agent(AgentSettings(api_keys=INLINE_KEYS, executor_instances=("no-target",)))


def test_the_agent_session_reports_its_sandbox(fleet: Fleet) -> None:
    with fleet.client() as client:
        session = client.agent.create_session()
        try:
            reply = client.agent.get_session(session.id)
            assert isinstance(reply, agent_pb2.AgentSession)
            assert instance_of(reply.executor_session_id) in INSTANCES
        finally:
            session.delete()
