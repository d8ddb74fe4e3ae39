"""Wires the executor: settings -> jail factory -> session registry -> gRPC."""

from __future__ import annotations

import asyncio

from codeact.v1 import executor_pb2_grpc
from sandbox.factory import JailFactory
from sandbox.pool import WarmPool
from sandbox.sessions import SessionRegistry
from services.common.cli import run
from services.common.server import Service, single_servicer

from .metrics import ExecutorCollector
from .server import DESCRIPTOR, ExecutorServicer
from .settings import ExecutorSettings


def build_service(settings: ExecutorSettings) -> Service:
    """The executor as a chassis Service (used by main and by tests)."""
    factory = JailFactory(settings.sandbox_config())
    pool = WarmPool(factory, settings.pool_size, settings.pool_parallel_starts)
    registry = SessionRegistry(
        factory, settings.registry_limits(), factory.config.instance, pool=pool
    )
    servicer = ExecutorServicer(registry, factory.config.instance)
    service = single_servicer(
        "executor", DESCRIPTOR, servicer, executor_pb2_grpc.add_ExecutorServiceServicer_to_server
    )
    service.metrics.registry.register(ExecutorCollector(registry, pool))

    async def on_start() -> None:
        factory.prepare()
        pool.start()
        service.background.append(asyncio.create_task(registry.run_reaper(settings.reap_interval)))

    async def on_stop() -> None:
        await pool.close()
        await registry.close()
        factory.close()

    service.on_start = on_start
    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(ExecutorSettings, build_service, argv)


if __name__ == "__main__":
    main()
