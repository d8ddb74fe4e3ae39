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
