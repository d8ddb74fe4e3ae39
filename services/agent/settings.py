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
    # The services the loop calls (`codeact-server up` points them at its own).
    planner_target: str = "127.0.0.1:50052"
    policy_target: str = "127.0.0.1:50053"
    executor_target: str = "127.0.0.1:50054"
    # Several executors (services/agent/routing.py): "name=host:port" pairs, or
    # a target template with {instance} (StatefulSet pod DNS names).
    executor_instances: tuple[str, ...] = ()
    executor_route_template: str = ""
    memory_target: str = "127.0.0.1:50055"
    # More profile files (*.toml) beside the built-in ones (services/agent/profiles).
    profiles_dir: str = ""
    default_profile: str = "default"
    max_sessions_per_tenant: int = 50
    # Unparseable replies in a row before a task ends with an error.
    max_parse_retries: int = 3
    # Retries with a harder condensation after the model's context overflowed.
    max_context_retries: int = 2
    # What the model sees of one cell's output (head and tail are kept).
    max_observation_chars: int = 8000
    # Seconds a call to memory, planner or policy may take (the caller's
    # deadline, when shorter, wins).
    call_timeout: float = 180.0
