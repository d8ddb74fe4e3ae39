"""Wires the memory service.

MemoryService's contract is in protos/codeact/v1/memory.proto; until its issue
lands the server answers health and reflection and every RPC returns
UNIMPLEMENTED (see the README).
"""

from __future__ import annotations

from codeact.v1 import memory_pb2, memory_pb2_grpc
from services.common.cli import run
from services.common.server import Service, single_servicer

from .settings import MemorySettings

DESCRIPTOR = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"]


def build_service(settings: MemorySettings) -> Service:
    return single_servicer(
        "memory",
        DESCRIPTOR,
        # The generated base answers every RPC with UNIMPLEMENTED.
        memory_pb2_grpc.MemoryServiceServicer(),  # type: ignore[abstract]
        memory_pb2_grpc.add_MemoryServiceServicer_to_server,
    )


def main(argv: list[str] | None = None) -> None:
    run(MemorySettings, build_service, argv)


if __name__ == "__main__":
    main()
