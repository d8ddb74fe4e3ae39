"""Wires the agent service.

AgentService's contract is in protos/codeact/v1/agent.proto; until its issue
lands the server answers health and reflection and every RPC returns
UNIMPLEMENTED (see the README).
"""

from __future__ import annotations

from codeact.v1 import agent_pb2, agent_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer

from .settings import AgentSettings

DESCRIPTOR = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]


def build_service(settings: AgentSettings) -> Service:
    return single_servicer(
        "agent",
        DESCRIPTOR,
        # The generated base answers every RPC with UNIMPLEMENTED.
        agent_pb2_grpc.AgentServiceServicer(),  # type: ignore[abstract]
        agent_pb2_grpc.add_AgentServiceServicer_to_server,
    )


def main(argv: list[str] | None = None) -> None:
    run(AgentSettings, build_service, argv)


if __name__ == "__main__":
    main()
