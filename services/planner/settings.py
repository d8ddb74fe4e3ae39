"""Planner settings (CODEACT_PLANNER_* and the [planner] table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import ServerSettings


@dataclass(frozen=True)
class PlannerSettings(ServerSettings):
    service: ClassVar[str] = "planner"

    port: int = 50052
    metrics_port: int = 9552
