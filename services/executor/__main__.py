"""Wires the executor: settings -> jail factory -> session registry -> gRPC."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable

from codeact.v1 import executor_pb2_grpc
from sandbox.factory import JailFactory
from sandbox.pool import WarmPool
from sandbox.sessions import SessionRegistry, TenantLimits
from services.common.audit import audit_log
from services.common.cli import run
from services.common.rates import TokenBuckets
from services.common.server import Service, single_servicer
from services.common.tenants import TenantsSource, tenants_source

from .metrics import ExecutorCollector
from .quotas import ExecutionRate
from .server import DESCRIPTOR, ExecutorServicer
from .settings import ExecutorSettings


def build_service(settings: ExecutorSettings) -> Service:
    """The executor as a chassis Service (used by main and by tests)."""
    factory = JailFactory(settings.sandbox_config())
    pool = WarmPool(factory, settings.pool_size, settings.pool_parallel_starts)
    tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
    registry = SessionRegistry(
        factory,
        settings.registry_limits(),
        factory.config.instance,
        pool=pool,
        tenant_limits=tenant_limits(settings, tenants),
    )
    rate = ExecutionRate(
        settings.executions_per_minute, settings.execution_burst, tenants, TokenBuckets()
    )
    audit = audit_log(settings, "executor", tenants)
    registry.on_reaped = lambda session: audit.record(
        "session.deleted", session.tenant, session_id=session.id, cause="idle"
    )
    servicer = ExecutorServicer(registry, factory.config.instance, rate, audit)
    service = single_servicer(
        "executor",
        DESCRIPTOR,
        servicer,
        executor_pb2_grpc.add_ExecutorServiceServicer_to_server,
        audit,
    )
    service.metrics.registry.register(ExecutorCollector(registry, pool))

    async def on_start() -> None:
        raise_open_files_limit()
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


def raise_open_files_limit() -> None:
    """Each session holds a few descriptors here (pipes, a pidfd, cgroup
    counters): take the hard limit rather than the usual soft 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def tenant_limits(
    settings: ExecutorSettings, tenants: TenantsSource
) -> Callable[[str], TenantLimits]:
    """Each tenant's ceilings (never above the server's) and session count,
    from the tenants file as it is now."""

    def limits(tenant: str) -> TenantLimits:
        config = tenants.current().get(tenant)
        max_sessions = config.max_sessions
        return TenantLimits(
            ceilings=settings.ceilings.capped_by(config.ceilings),
            max_sessions=settings.max_sessions_per_tenant if max_sessions is None else max_sessions,
        )

    return limits


def main(argv: list[str] | None = None) -> None:
    run(ExecutorSettings, build_service, argv)


if __name__ == "__main__":
    main()
