"""Wires the planner service: the LLM endpoint and gRPC."""

from __future__ import annotations

from codeact.v1 import planner_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer

from .llm import LLMClient
from .server import DESCRIPTOR, PlannerServicer
from .settings import PlannerSettings


def build_service(settings: PlannerSettings) -> Service:
    llm = LLMClient(settings)
    service = single_servicer(
        "planner",
        DESCRIPTOR,
        PlannerServicer(llm, settings),  # type: ignore[abstract]
        planner_pb2_grpc.add_PlannerServiceServicer_to_server,
    )

    async def on_stop() -> None:
        await llm.close()

    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(PlannerSettings, build_service, argv)


if __name__ == "__main__":
    main()
