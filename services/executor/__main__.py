"""Wires the executor: settings -> jail factory -> session registry -> gRPC."""

from __future__ import annotations

import asyncio

from codeact.v1 import executor_pb2_grpc
from sandbox.factory import JailFactory
from sandbox.sessions import SessionRegistry
from services.common.cli import run
from services.common.metrics import Metrics
from services.common.server import Service

from .server import SERVICE_NAME, ExecutorServicer
from .settings import ExecutorSettings


def build_service(settings: ExecutorSettings) -> Service:
    """The executor as a chassis Service (used by main and by tests)."""
    factory = JailFactory(settings.sandbox_config())
    registry = SessionRegistry(factory, settings.registry_limits(), factory.config.instance)
    # Files and checkpoints are still the generated base's UNIMPLEMENTED.
    servicer = ExecutorServicer(registry, factory.config.instance)  # type: ignore[abstract]
    service = Service(
        name="executor",
        full_names=[SERVICE_NAME],
        register=lambda server: executor_pb2_grpc.add_ExecutorServiceServicer_to_server(
            servicer, server
        ),
        metrics=Metrics("executor"),
    )

    async def on_start() -> None:
        factory.prepare()
        service.background.append(asyncio.create_task(registry.run_reaper(settings.reap_interval)))

    async def on_stop() -> None:
        await registry.close()
        factory.close()

    service.on_start = on_start
    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(ExecutorSettings, build_service, argv)


if __name__ == "__main__":
    main()
