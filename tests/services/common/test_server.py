"""The chassis, live: health, reflection, metrics, rich errors, drain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from codeact.status import from_rpc_error
from codeact.v1 import agent_pb2, agent_pb2_grpc, memory_pb2, planner_pb2, policy_pb2
from services.agent.__main__ import build_service as build_agent
from services.agent.settings import AgentSettings
from services.common.server import Service, single_servicer
from tests.support import INLINE_KEYS, KEYS, ServerThread


@pytest.fixture(scope="module")
def agent() -> Iterator[ServerThread]:
    settings = AgentSettings(api_keys=INLINE_KEYS, metrics_port=0)
    server = ServerThread(settings, build_agent).start()
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_is_serving_for_the_server_and_the_service(agent: ServerThread) -> None:
    with grpc.insecure_channel(agent.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "codeact.v1.AgentService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(agent: ServerThread) -> None:
    with grpc.insecure_channel(agent.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        metadata = (("authorization", f"Bearer {KEYS['acme']}"),)
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), metadata=metadata)))
        names = {s.name for s in reply.list_services_response.service}
    assert {"codeact.v1.AgentService", "grpc.health.v1.Health"} <= names


def test_unimplemented_rpcs_are_unimplemented_with_a_reason() -> None:
    """An RPC a servicer does not define (the generated base's) says so."""

    def bare(settings: AgentSettings) -> Service:
        return single_servicer(
            "agent",
            agent_pb2.DESCRIPTOR.services_by_name["AgentService"],
            agent_pb2_grpc.AgentServiceServicer(),  # type: ignore[abstract]
            agent_pb2_grpc.add_AgentServiceServicer_to_server,
        )

    server = ServerThread(AgentSettings(api_keys=INLINE_KEYS), bare).start()
    try:
        _check_unimplemented(server)
    finally:
        server.stop()


def _check_unimplemented(agent: ServerThread) -> None:
    with grpc.insecure_channel(agent.address) as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        metadata = (("authorization", f"Bearer {KEYS['acme']}"),)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateAgentSession(agent_pb2.CreateAgentSessionRequest(), metadata=metadata)
        err = from_rpc_error(caught.value)
        assert err.code == "UNIMPLEMENTED" and err.reason == "NOT_IMPLEMENTED"
        # Authentication still comes first.
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateAgentSession(agent_pb2.CreateAgentSessionRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dict(caught.value.trailing_metadata()).get("x-request-id")


def test_metrics_count_rpcs_by_method_and_code(agent: ServerThread) -> None:
    assert agent.server is not None
    with grpc.insecure_channel(agent.address) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    url = f"http://127.0.0.1:{agent.server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'codeact_rpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"' in text
    assert "codeact_rpc_duration_seconds_bucket" in text


@pytest.mark.parametrize(
    ("service", "descriptor", "name"),
    [
        ("planner", planner_pb2.DESCRIPTOR, "PlannerService"),
        ("policy", policy_pb2.DESCRIPTOR, "PolicyService"),
        ("memory", memory_pb2.DESCRIPTOR, "MemoryService"),
    ],
)
def test_every_service_process_starts_and_drains_on_sigterm(
    service: str, descriptor: object, name: str
) -> None:
    port = _free_port()
    env = {**os.environ, "CODEACT_API_KEYS": INLINE_KEYS, "CODEACT_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}", "--port", str(port), "--metrics-port", "-1"],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            stub = health_pb2_grpc.HealthStub(channel)
            full = f"codeact.v1.{name}"
            reply = stub.Check(health_pb2.HealthCheckRequest(service=full), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_server_without_keys_refuses_to_start_unless_dev() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEACT_")}
    result = subprocess.run(
        [sys.executable, "-m", "services.policy", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "no API keys are configured" in result.stderr


def test_drain_lets_a_running_stream_finish() -> None:
    """SIGTERM while a cell runs: the stream completes within the grace period."""
    from codeact import Client

    if os.geteuid() != 0:
        pytest.skip("needs real jails")
    port = _free_port()
    state = f"/tmp/codeact-drain-{port}"
    env = {
        **os.environ,
        "CODEACT_API_KEYS": INLINE_KEYS,
        "CODEACT_LOG_LEVEL": "warning",
        "CODEACT_EXECUTOR_STATE_DIR": state,
        "CODEACT_EXECUTOR_INSTANCE": f"drain{port}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.executor", "--port", str(port), "--metrics-port", "-1"],
        env=env,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
        with Client(f"127.0.0.1:{port}", token=KEYS["acme"]) as client:
            s = client.session()
            stream = s.stream(
                "import time\nprint('started', flush=True)\ntime.sleep(1)\nprint('done')"
            )
            assert "started" in next(stream).output.text
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rest = list(stream)
            assert rest[-1].completion.status == 1  # EXECUTION_STATUS_OK
            assert "done" in "".join(e.output.text for e in rest)
            assert time.monotonic() - started < 5
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_rpc_is_logged_as_json_with_its_context() -> None:
    import json

    port = _free_port()
    env = {**os.environ, "CODEACT_API_KEYS": INLINE_KEYS, "CODEACT_LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.agent", "--port", str(port), "--metrics-port", "-1"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            metadata = (("authorization", f"Bearer {KEYS['acme']}"), ("x-request-id", "req-42"))
            stub.ListAgentSessions(agent_pb2.ListAgentSessionsRequest(), metadata=metadata)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    rpc = [r for r in records if r.get("event") == "rpc"]
    assert rpc, stderr
    line = rpc[-1]
    assert line["method"] == "/codeact.v1.AgentService/ListAgentSessions"
    assert line["code"] == "OK"
    assert line["tenant"] == "acme"
    assert line["request_id"] == "req-42"
    assert line["service"] == "agent" and isinstance(line["duration_ms"], float)
    assert "timestamp" in line and line["level"] == "info"
