"""Wires the memory service: store, tokenizer, condensers, gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from codeact.v1 import memory_pb2, memory_pb2_grpc
from services.common.audit import audit_log
from services.common.cli import run
from services.common.server import Service, single_servicer
from services.common.tenants import TenantsSource, tenants_source

from .core import Memory, MemoryLimits, StorageQuota
from .server import DESCRIPTOR, MemoryServicer
from .settings import MemorySettings
from .store import open_store
from .summarizer import PlannerSummarizer
from .tokens import tokenizer

DEFAULT_CONDENSERS = {
    "noop": memory_pb2.CONDENSER_TYPE_NOOP,
    "recent": memory_pb2.CONDENSER_TYPE_RECENT,
    "observation_masking": memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING,
    "amortized_forgetting": memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING,
}


def default_condenser(settings: MemorySettings) -> memory_pb2.CondenserSpec:
    if settings.default_condenser not in DEFAULT_CONDENSERS:
        raise ValueError(
            f"default_condenser must be one of {', '.join(DEFAULT_CONDENSERS)} "
            "(LLM summarizing needs a model, so requests ask for it)"
        )
    return memory_pb2.CondenserSpec(
        type=DEFAULT_CONDENSERS[settings.default_condenser],
        max_events=settings.default_max_events,
        keep_first=settings.default_keep_first,
        attention_window=max(1, settings.default_max_events // 2),
    )


def storage_quotas(
    settings: MemorySettings, tenants: TenantsSource
) -> Callable[[str], StorageQuota]:
    """Each tenant's storage quota: its own from the tenants file, else the server's."""

    def quota(tenant: str) -> StorageQuota:
        config = tenants.current().get(tenant)
        conversations, size = config.max_conversations, config.max_storage_bytes
        if conversations is None:
            conversations = settings.max_conversations_per_tenant or None
        if size is None:
            size = settings.max_storage_bytes_per_tenant or None
        return StorageQuota(conversations, size)

    return quota


def build_service(settings: MemorySettings) -> Service:
    tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
    audit = audit_log(settings, "memory", tenants)
    summarizer = (
        PlannerSummarizer(settings.planner_target, settings) if settings.planner_target else None
    )
    memory = Memory(
        open_store(settings.dsn, settings.sqlite_synchronous),
        tokenizer(settings.tokenizer),
        MemoryLimits(max_event_bytes=settings.max_event_bytes, default_ttl=settings.default_ttl),
        default_condenser(settings),
        summarizer,
        storage_quotas(settings, tenants),
    )
    service = single_servicer(
        "memory",
        DESCRIPTOR,
        MemoryServicer(memory, audit),
        memory_pb2_grpc.add_MemoryServiceServicer_to_server,
        audit,
    )

    async def on_start() -> None:
        await memory.expire()
        service.background.append(
            asyncio.create_task(memory.run_retention(settings.retention_interval))
        )

    async def on_stop() -> None:
        if summarizer is not None:
            await summarizer.close()
        await memory.close()

    service.on_start = on_start
    service.on_stop = on_stop
    return service


def main(argv: list[str] | None = None) -> None:
    run(MemorySettings, build_service, argv)


if __name__ == "__main__":
    main()
