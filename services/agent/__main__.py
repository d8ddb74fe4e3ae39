"""Wires the agent service: profiles, the downstream services, gRPC."""

from __future__ import annotations

from pathlib import Path

from codeact.v1 import agent_pb2_grpc
from services.common.audit import audit_log
from services.common.cli import run
from services.common.server import Service, single_servicer
from services.common.tenants import tenants_source

from .downstream import Downstream
from .profiles import BUILTIN_DIR, ProfileCatalog, load_directory
from .server import DESCRIPTOR, AgentServicer
from .sessions import AgentSessions
from .settings import AgentSettings


def profile_catalog(settings: AgentSettings) -> ProfileCatalog:
    profiles = load_directory(BUILTIN_DIR)
    if settings.profiles_dir:
        profiles.update(load_directory(Path(settings.profiles_dir)))
    return ProfileCatalog(profiles, settings.default_profile)


def build_service(settings: AgentSettings) -> Service:
    downstream = Downstream(settings)
    tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
    audit = audit_log(settings, "agent", tenants)
    servicer = AgentServicer(
        settings,
        downstream,
        profile_catalog(settings),
        AgentSessions(settings.max_sessions_per_tenant, tenants),
        audit,
    )
    service = single_servicer(
        "agent", DESCRIPTOR, servicer, agent_pb2_grpc.add_AgentServiceServicer_to_server, audit
    )

    async def on_stop() -> None:
        await servicer.close()
        await downstream.close()

    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(AgentSettings, build_service, argv)


if __name__ == "__main__":
    main()
