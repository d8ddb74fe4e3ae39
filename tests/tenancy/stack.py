"""The five services as an enterprise would run them: mutual TLS everywhere,
tenants (keys, certificates, quotas, profiles, models) in one reloadable
file, signed internal identities between services, one audit log."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc

from codeact.errors import CodeActError
from codeact.settings import TLSConfig
from codeact.status import from_rpc_error
from codeact.v1 import (
    agent_pb2_grpc,
    executor_pb2_grpc,
    memory_pb2_grpc,
    planner_pb2_grpc,
    policy_pb2_grpc,
)
from services.agent.__main__ import build_service as build_agent
from services.agent.settings import AgentSettings
from services.common.auth import digest
from services.common.certs import SERVICES_CN, LocalCA, tenant_uri
from services.common.settings import ServerSettings
from services.executor.__main__ import build_service as build_executor
from services.memory.__main__ import build_service as build_memory
from services.memory.settings import MemorySettings
from services.planner.__main__ import build_service as build_planner
from services.planner.settings import PlannerSettings
from services.policy.__main__ import build_service as build_policy
from services.policy.settings import PolicySettings
from tests.conftest import executor_settings
from tests.llm_stub import LLMStub
from tests.support import ServerThread

# What each tenant's client holds.
KEYS = {"acme": "acme-live-key", "globex": "globex-live-key", "tight": "tight-live-key"}
EXPIRED_KEY = "acme-expired-key"
REVOKED_KEY = "acme-revoked-key"
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "agent": agent_pb2_grpc.AgentServiceStub,
    "planner": planner_pb2_grpc.PlannerServiceStub,
    "policy": policy_pb2_grpc.PolicyServiceStub,
    "executor": executor_pb2_grpc.ExecutorServiceStub,
    "memory": memory_pb2_grpc.MemoryServiceStub,
}


def tenants_toml(extra: str = "") -> str:
    def key(id_: str, secret: str, more: str = "") -> str:
        return f'id = "{id_}"\nsha256 = "{digest(secret)}"\n{more}'

    return f"""
[tenants.acme]
certificates = ["{tenant_uri("acme")}"]
[[tenants.acme.keys]]
{key("acme-live", KEYS["acme"])}
[[tenants.acme.keys]]
{key("acme-old", EXPIRED_KEY, "expires = 2024-01-01T00:00:00Z")}
[[tenants.acme.keys]]
{key("acme-leaked", REVOKED_KEY, "revoked = true")}
[tenants.acme.model]
model = "acme-model"
api_key = "acme-llm-key"
[tenants.acme.policy_profiles.acme-private]
description = "acme's own"
denied_imports = ["csv"]

[tenants.globex]
certificates = ["{tenant_uri("globex")}"]
audit_cell_content = true
[[tenants.globex.keys]]
{key("globex-live", KEYS["globex"])}
[tenants.globex.model]
model = "globex-model"
api_key = "globex-llm-key"
[tenants.globex.policy_profiles.globex-private]
description = "globex's own"
denied_imports = ["json"]

[tenants.tight]
max_sessions = 1
max_agent_sessions = 1
executions_per_minute = 60
execution_burst = 3
max_conversations = 2
max_storage_bytes = 3000
[tenants.tight.ceilings]
memory_bytes = 314572800
[[tenants.tight.keys]]
{key("tight-live", KEYS["tight"])}
{extra}
"""


@dataclass
class Pki:
    root: Path

    def path(self, name: str) -> str:
        return str(self.root / name)

    def tls(self, who: str) -> TLSConfig:
        """The client TLS of `who`: a tenant, "services", or "stranger"."""
        return TLSConfig(
            ca_file=self.path("ca.pem"),
            cert_file=self.path(f"{who}.pem"),
            key_file=self.path(f"{who}-key.pem"),
        )

    @classmethod
    def make(cls, root: Path) -> Pki:
        ca = LocalCA(days=2)
        root.mkdir(parents=True, exist_ok=True)
        (root / "ca.pem").write_bytes(ca.pem)
        issued = {
            "services": ca.services(),
            "acme": ca.tenant("acme"),
            "globex": ca.tenant("globex"),
            # Signed by our CA, mapped to no tenant.
            "stranger": ca.issue("stranger", uris=("spiffe://codeact/tenant/stranger",)),
        }
        # Signed by another CA: the servers must not accept it.
        issued["rogue"] = LocalCA(days=2).tenant("acme")
        for name, pair in issued.items():
            (root / f"{name}.pem").write_bytes(pair.cert)
            (root / f"{name}-key.pem").write_bytes(pair.key)
        return cls(root)


@dataclass
class SecureStack:
    root: Path
    pki: Pki
    secret: str
    stub: LLMStub
    servers: dict[str, ServerThread]
    tenants_file: Path
    audit_file: Path
    _channels: dict[tuple[str, str], grpc.Channel] = field(default_factory=dict)

    def address(self, service: str) -> str:
        return self.servers[service].address

    def channel(self, service: str, cert: str) -> grpc.Channel:
        key = (service, cert)
        if key not in self._channels:
            self._channels[key] = grpc.secure_channel(
                self.address(service),
                self.pki.tls(cert).credentials(),
                options=[("grpc.ssl_target_name_override", "localhost")],
            )
        return self._channels[key]

    def call(
        self,
        service: str,
        rpc: str,
        request: Any,
        *,
        key: str | None = None,
        cert: str = "services",
        metadata: Iterable[tuple[str, str]] = (),
        timeout: float = 30,
    ) -> Any:
        """One RPC as a client would make it; a failure raises the CodeActError.
        Streamed answers come back as a list."""
        extra = [*metadata]
        if key is not None:
            extra.append(("authorization", f"Bearer {key}"))
        method = getattr(STUBS[service](self.channel(service, cert)), rpc)
        try:
            answer = method(request, metadata=extra, timeout=timeout)
            if hasattr(answer, "__next__"):
                return list(answer)
            return answer
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def as_tenant(self, tenant: str) -> Callable[..., Any]:
        """call() with the tenant's API key."""

        def call(service: str, rpc: str, request: Any, **kwargs: Any) -> Any:
            return self.call(service, rpc, request, key=KEYS[tenant], **kwargs)

        return call

    def audit(self, since: int = 0) -> list[dict[str, Any]]:
        """Audit records written so far (after the first `since` lines)."""
        lines = self.audit_file.read_text().splitlines() if self.audit_file.exists() else []
        return [json.loads(line) for line in lines[since:]]

    def audit_mark(self) -> int:
        return len(self.audit())

    def rewrite_tenants(self, text: str) -> None:
        """Replace the tenants file, and wait past the reload interval."""
        staged = self.tenants_file.with_suffix(".new")
        staged.write_text(text)
        staged.replace(self.tenants_file)
        time.sleep(0.15)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        for server in self.servers.values():
            server.stop()
        self.stub.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def secure(settings: ServerSettings, stack_root: Path, pki: Pki, secret: str) -> Any:
    return replace(
        settings,
        api_keys="",
        tenants_file=str(stack_root / "tenants.toml"),
        tenants_reload_interval=0.05,
        tls_cert_file=pki.path("services.pem"),
        tls_key_file=pki.path("services-key.pem"),
        tls_ca_file=pki.path("ca.pem"),
        tls_require_client_cert=True,
        tls_server_name="localhost",
        internal_secret=secret,
        internal_peers=(SERVICES_CN,),
        audit_file=str(stack_root / "audit.jsonl"),
        metrics_port=-1,
        log_level="warning",
    )


def start(state_root: Path) -> SecureStack:
    root = Path(tempfile.mkdtemp(prefix="codeact-tenancy-"))
    root.chmod(0o711)
    pki = Pki.make(root / "pki")
    (root / "tenants.toml").write_text(tenants_toml())
    secret = secrets.token_hex(24)
    stub = LLMStub().start()
    servers: dict[str, ServerThread] = {}
    try:

        def up(name: str, settings: ServerSettings, build: Callable[[Any], Any]) -> str:
            servers[name] = ServerThread(secure(settings, root, pki, secret), build).start()
            return servers[name].address

        executor = executor_settings(
            state_root / "tenancy", instance="tenancy", pool_size=1, max_sessions_per_tenant=4
        )
        up("executor", executor, build_executor)
        planner = PlannerSettings(
            llm_base_url=stub.base_url, llm_model="server-model", llm_retry_backoff=0.01
        )
        up("planner", planner, build_planner)
        up("policy", PolicySettings(), build_policy)
        memory = MemorySettings(
            dsn=f"sqlite://{root / 'memory.db'}", planner_target=servers["planner"].address
        )
        up("memory", memory, build_memory)
        agent = AgentSettings(
            planner_target=servers["planner"].address,
            policy_target=servers["policy"].address,
            executor_target=servers["executor"].address,
            memory_target=servers["memory"].address,
        )
        up("agent", agent, build_agent)
    except BaseException:
        for server in servers.values():
            server.stop()
        stub.stop()
        raise
    return SecureStack(
        root, pki, secret, stub, servers, root / "tenants.toml", root / "audit.jsonl"
    )


def refused(call: Callable[[], Any]) -> CodeActError:
    """The error a call fails with (the test fails if it succeeds)."""
    try:
        call()
    except CodeActError as err:
        return err
    raise AssertionError("the call succeeded")
