"""`codeact-server up`: five processes on loopback, then a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeact import Client, condenser, events
from codeact.errors import CodeActError
from codeact.v1 import (
    agent_pb2,
    common_pb2,
)
from services.launcher import SERVICES
from tests.support import INLINE_KEYS, KEYS, can_jail, sandbox_processes
from tests.tenancy.stack import Pki


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


Stack = tuple[subprocess.Popen[str], dict[str, int]]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not can_jail():
        pytest.skip("the executor needs real jails")
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
    state = f"/tmp/codeact-launcher-{os.getpid()}"
    env = {**os.environ, "CODEACT_API_KEYS": INLINE_KEYS, "CODEACT_LOG_LEVEL": "warning"}
    env |= {f"CODEACT_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    env |= {f"CODEACT_{name.upper()}_METRICS_PORT": "-1" for name in SERVICES}
    env |= {"CODEACT_EXECUTOR_STATE_DIR": state, "CODEACT_EXECUTOR_INSTANCE": "launcher"}
    env |= {"CODEACT_MEMORY_DSN": f"sqlite://{state}/memory.db"}
    # A model endpoint where nothing listens: the planner must say so cleanly.
    env |= {"CODEACT_PLANNER_LLM_BASE_URL": f"http://127.0.0.1:{_free_ports(1)[0]}/v1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "up"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = [proc.stdout.readline() for _ in range(1 + len(SERVICES))]
    assert "5 services up" in banner[0], banner
    yield proc, ports
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_agent_reaches_every_service_it_was_started_with(stack: Stack) -> None:
    """A task goes agent -> memory, executor, planner -> model; the model is
    down, and that is what the caller hears, as an event."""
    _, ports = stack
    with (
        Client(f"127.0.0.1:{ports['agent']}", token=KEYS["acme"]) as client,
        client.agent.create_session() as agent,
    ):
        events = list(agent.run("Say hello.", timeout=60))
        conversation = agent.info.conversation_id
    errors = [e.error for e in events if e.WhichOneof("event") == "error"]
    assert [e.reason for e in errors] == ["LLM_UNREACHABLE"]
    assert events[-1].end.outcome == agent_pb2.TASK_OUTCOME_ERROR
    with (
        Client(f"127.0.0.1:{ports['memory']}", token=KEYS["acme"]) as client,
        pytest.raises(CodeActError),  # deleted with its session
    ):
        client.memory.get_conversation(conversation)


def test_the_memory_service_is_live(stack: Stack) -> None:
    _, ports = stack
    with Client(f"127.0.0.1:{ports['memory']}", token=KEYS["acme"]) as client:
        conversation = client.memory.create_conversation()
        client.memory.append(conversation.id, events.user("hello", key="k"))
        assert [m.content for m in client.memory.context(conversation.id).messages] == ["hello"]
        assert conversation.id in [c.id for c in client.memory.conversations()]


def test_memory_reaches_the_planner_it_was_started_with(stack: Stack) -> None:
    """The LLM condenser goes memory -> planner -> model; the model is down,
    and that is what the caller hears (not a connection error to a wrong port)."""
    _, ports = stack
    with Client(f"127.0.0.1:{ports['memory']}", token=KEYS["acme"]) as client:
        conversation = client.memory.create_conversation()
        client.memory.append(conversation.id, *[events.user(str(i)) for i in range(6)])
        with pytest.raises(CodeActError) as err:
            client.memory.context(
                conversation.id, condenser("llm_summarizing", keep_first=1, max_events=4)
            )
    assert (err.value.code, err.value.reason) == ("UNAVAILABLE", "LLM_UNREACHABLE")


def test_the_policy_service_is_live(stack: Stack) -> None:
    _, ports = stack
    with Client(f"127.0.0.1:{ports['policy']}", token=KEYS["acme"]) as client:
        reply = client.policy.check("import os\nos.system('id')", profile="strict")
    assert reply.decision == common_pb2.DECISION_DENY
    assert [f.rule_id for f in reply.findings] == ["process"]


def test_the_readme_example_runs_against_the_executor(stack: Stack) -> None:
    _, ports = stack
    with Client(f"127.0.0.1:{ports['executor']}", token=KEYS["acme"]).session() as s:
        s.run("x = 41")
        r = s.run("print(x + 1)")
    assert r.stdout == "42\n"
    assert r.status.name == "OK"


def test_sigterm_stops_every_service_and_every_sandbox(stack: Stack) -> None:
    proc, ports = stack
    client = Client(f"127.0.0.1:{ports['executor']}", token=KEYS["acme"])
    session = client.session()  # left open on purpose
    assert session.run("1").ok
    before = set(sandbox_processes(instance="launcher"))
    assert before
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    client.close()
    for port in ports.values():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    deadline = time.monotonic() + 5
    while sandbox_processes(instance="launcher") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sandbox_processes(instance="launcher")


def test_up_over_mutual_tls(tmp_path: Path) -> None:
    """The launcher's health checks, the services and the SDK all speak mTLS."""
    pki = Pki.make(tmp_path / "pki")
    tenants = tmp_path / "tenants.toml"
    tenants.write_text('[tenants.acme]\ncertificates = ["spiffe://codeact/tenant/acme"]\n')
    wanted = ("policy", "memory")
    ports = dict(zip(wanted, _free_ports(len(wanted)), strict=True))
    env = {**os.environ, "CODEACT_LOG_LEVEL": "warning", "CODEACT_TENANTS_FILE": str(tenants)}
    env |= {
        "CODEACT_TLS_CERT_FILE": pki.path("services.pem"),
        "CODEACT_TLS_KEY_FILE": pki.path("services-key.pem"),
        "CODEACT_TLS_CA_FILE": pki.path("ca.pem"),
        "CODEACT_TLS_REQUIRE_CLIENT_CERT": "true",
        "CODEACT_INTERNAL_SECRET": "a-shared-secret-of-enough-bytes",
        "CODEACT_MEMORY_DSN": f"sqlite://{tmp_path / 'memory.db'}",
        "CODEACT_MEMORY_PLANNER_TARGET": "",
    }
    env |= {f"CODEACT_{name.upper()}_PORT": str(port) for name, port in ports.items()}
    env |= {f"CODEACT_{name.upper()}_METRICS_PORT": "-1" for name in wanted}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "up", "--only", ",".join(wanted)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "2 services up (mTLS, API keys required)" in banner, banner
        tls = pki.tls("acme")
        with Client(f"127.0.0.1:{ports['memory']}", tls=tls, token="") as client:
            made = client.memory.create_conversation()
            assert client.memory.get_conversation(made.id).id == made.id
        with Client(f"127.0.0.1:{ports['policy']}", tls=tls, token="") as client:
            assert "standard" in {p.name for p in client.policy.profiles()}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
