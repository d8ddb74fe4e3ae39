"""Wires the planner service: endpoints, prompts, gRPC."""

from __future__ import annotations

from pathlib import Path

from codeact.v1 import planner_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer
from services.common.tenants import tenants_source

from .endpoints import Endpoints
from .planning import Planner
from .prompts import BUILTIN_DIR, PromptLibrary
from .server import DESCRIPTOR, PlannerServicer
from .settings import PlannerSettings


def build_service(settings: PlannerSettings) -> Service:
    if settings.llm_mode not in ("tool_calling", "text"):
        raise ValueError("llm_mode must be tool_calling or text")
    tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
    endpoints = Endpoints(settings, tenants)
    library = PromptLibrary(Path(settings.prompts_dir) if settings.prompts_dir else BUILTIN_DIR)
    service = single_servicer(
        "planner",
        DESCRIPTOR,
        PlannerServicer(Planner(settings, endpoints, library)),
        planner_pb2_grpc.add_PlannerServiceServicer_to_server,
    )

    async def on_stop() -> None:
        await endpoints.close()

    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(PlannerSettings, build_service, argv)


if __name__ == "__main__":
    main()
