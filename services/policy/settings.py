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
    # The sandbox's interpreter and packages, to know what can be imported;
    # default: /usr/bin/python3 and the checkout's .sandbox/env.
    sandbox_python: str = "/usr/bin/python3"
    sandbox_env_dir: str = ""
    # More profile files (*.toml) beside the built-in strict, standard, permissive.
    profiles_dir: str = ""
    # The profile used when a request names none.
    default_profile: str = "standard"
    max_code_bytes: int = 1 << 20
    # Processes serving the port together (SO_REUSEPORT); checks are CPU-bound
    # and stateless, so one per core uses the machine. Needs a fixed port.
    workers: int = 1
