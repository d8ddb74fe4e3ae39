"""Policy settings (CODEACT_POLICY_* and the [policy] table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import ServerSettings


@dataclass(frozen=True)
class PolicySettings(ServerSettings):
    service: ClassVar[str] = "policy"

    port: int = 50053
    metrics_port: int = 9553
