"""Wires the planner service.

PlannerService's contract is in protos/codeact/v1/planner.proto; until its issue
lands the server answers health and reflection and every RPC returns
UNIMPLEMENTED (see the README).
"""

from __future__ import annotations

from codeact.v1 import planner_pb2, planner_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer

from .settings import PlannerSettings

DESCRIPTOR = planner_pb2.DESCRIPTOR.services_by_name["PlannerService"]


def build_service(settings: PlannerSettings) -> Service:
    return single_servicer(
        "planner",
        DESCRIPTOR,
        # The generated base answers every RPC with UNIMPLEMENTED.
        planner_pb2_grpc.PlannerServiceServicer(),  # type: ignore[abstract]
        planner_pb2_grpc.add_PlannerServiceServicer_to_server,
    )


def main(argv: list[str] | None = None) -> None:
    run(PlannerSettings, build_service, argv)


if __name__ == "__main__":
    main()
