"""Agent settings (CODEACT_AGENT_* and the [agent] table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import ServerSettings


@dataclass(frozen=True)
class AgentSettings(ServerSettings):
    service: ClassVar[str] = "agent"

    port: int = 50051
    metrics_port: int = 9551
