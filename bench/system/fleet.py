"""The five services as separate processes on fixed loopback ports, so that
any one can be killed (SIGKILL) and started again in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import ROOT, free_port

ORDER = ("planner", "policy", "memory", "executor", "agent")
INSTANCE = "system"


@dataclass
class Member:
    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Fleet:
    llm_url: str
    key: str
    tenants: str = ""
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="codeact-system-")))
    members: dict[str, Member] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.chmod(0o711)
        ports = {name: free_port() for name in ORDER}
        tenants = self.root / "tenants.toml"
        tenants.write_text(self.tenants)
        common = {
            **os.environ,
            "CODEACT_API_KEYS": f"bench:{self.key},tight:tight-{self.key}",
            "CODEACT_TENANTS_FILE": str(tenants),
            "CODEACT_LOG_LEVEL": "error",
            "CODEACT_AUDIT_FILE": str(self.root / "audit.jsonl"),
        }
        per_service = {
            "planner": {"LLM_BASE_URL": self.llm_url, "LLM_RETRY_BACKOFF": "0.05"},
            "policy": {},
            "memory": {
                "DSN": f"sqlite://{self.root / 'memory.db'}",
                "PLANNER_TARGET": f"127.0.0.1:{ports['planner']}",
            },
            "executor": {
                "STATE_DIR": str(self.root / "executor"),
                "INSTANCE": INSTANCE,
                "POOL_SIZE": "4",
            },
            "agent": {
                f"{name.upper()}_TARGET": f"127.0.0.1:{ports[name]}"
                for name in ("planner", "policy", "memory", "executor")
            },
        }
        for name in ORDER:
            prefix = f"CODEACT_{name.upper()}_"
            env = {**common, f"{prefix}PORT": str(ports[name]), f"{prefix}METRICS_PORT": "-1"}
            env |= {prefix + k: v for k, v in per_service[name].items()}
            self.members[name] = Member(name, ports[name], env)

    def address(self, name: str) -> str:
        return self.members[name].address

    def start(self, name: str | None = None) -> None:
        for member in [self.members[name]] if name else self.members.values():
            member.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{member.name}"], env=member.env, cwd=ROOT
            )
            member.starts += 1
        for member in [self.members[name]] if name else self.members.values():
            wait_serving(member.address)

    def kill(self, name: str) -> None:
        process = self.members[name].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def rss_bytes(self, name: str) -> int:
        process = self.members[name].process
        if process is None or process.poll() is not None:
            return 0
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        for member in reversed(list(self.members.values())):
            if member.process is not None and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        for member in self.members.values():
            if member.process is not None:
                try:
                    member.process.wait(30)
                except subprocess.TimeoutExpired:
                    member.process.kill()
        subprocess.run(["rm", "-rf", str(self.root)], check=False)


def wait_serving(address: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{address} did not become healthy")
