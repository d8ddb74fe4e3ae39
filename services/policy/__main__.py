"""Wires the policy service.

PolicyService's contract is in protos/codeact/v1/policy.proto; until its issue
lands the server answers health and reflection and every RPC returns
UNIMPLEMENTED (see the README).
"""

from __future__ import annotations

from codeact.v1 import policy_pb2, policy_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer

from .settings import PolicySettings

DESCRIPTOR = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"]


def build_service(settings: PolicySettings) -> Service:
    return single_servicer(
        "policy",
        DESCRIPTOR,
        # The generated base answers every RPC with UNIMPLEMENTED.
        policy_pb2_grpc.PolicyServiceServicer(),  # type: ignore[abstract]
        policy_pb2_grpc.add_PolicyServiceServicer_to_server,
    )


def main(argv: list[str] | None = None) -> None:
    run(PolicySettings, build_service, argv)


if __name__ == "__main__":
    main()
