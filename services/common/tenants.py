"""Per-tenant configuration, from one TOML file.

    [tenants.acme]
    max_sessions = 20            # concurrent executor sessions

    [tenants.acme.ceilings]      # the most a session of acme may ask for
    memory_bytes = 1073741824
    cpu_millicores = 2000

    [tenants.acme.policy_profiles.analysts]   # like services/policy/profiles/*.toml
    denied_imports = ["socket"]

    [tenants.acme.model]         # the tenant's own model endpoint (planner)
    base_url = "https://api.openai.com/v1"
    api_key_env = "ACME_OPENAI_KEY"   # or api_key = "..."
    model = "gpt-4o-mini"
    mode = "tool_calling"        # or "text"

A tenant without a table gets the server's defaults. Unknown keys are
refused, so a typo cannot silently lift a limit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_KEYS = {"base_url", "api_key", "api_key_env", "model", "mode"}


@dataclass(frozen=True)
class TenantConfig:
    max_sessions: int | None = None
    # Sandbox ceilings overriding the server's, field by field (the executor
    # checks the names against its limits).
    ceilings: Mapping[str, float] = field(default_factory=dict)
    # The tenant's own policy profiles, as tables (the policy service parses them).
    policy_profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The model endpoint: base_url, api_key or api_key_env, model, mode.
    model: Mapping[str, str] = field(default_factory=dict)


class TenantDirectory:
    """Tenants' configurations by name."""

    def __init__(self, tenants: Mapping[str, TenantConfig] | None = None) -> None:
        self.tenants = dict(tenants or {})

    def get(self, tenant: str) -> TenantConfig:
        return self.tenants.get(tenant, TenantConfig())

    @classmethod
    def from_file(cls, path: str | Path) -> TenantDirectory:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        unknown = set(data) - {"tenants"}
        if unknown:
            raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}")
        return cls({name: _tenant(name, table) for name, table in data.get("tenants", {}).items()})


def _tenant(name: str, table: Mapping[str, Any]) -> TenantConfig:
    unknown = set(table) - {"max_sessions", "ceilings", "policy_profiles", "model"}
    if unknown:
        raise ValueError(f"tenant {name!r}: unknown keys {sorted(unknown)}")
    ceilings = dict(table.get("ceilings", {}))
    for key, value in ceilings.items():
        if not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"tenant {name!r}: ceilings.{key} must be a positive number")
    max_sessions = table.get("max_sessions")
    if max_sessions is not None and (not isinstance(max_sessions, int) or max_sessions < 0):
        raise ValueError(f"tenant {name!r}: max_sessions must be a non-negative integer")
    profiles = table.get("policy_profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ValueError(f"tenant {name!r}: policy_profiles must be tables of profiles")
    model = dict(table.get("model", {}))
    unknown = set(model) - MODEL_KEYS
    if unknown:
        raise ValueError(f"tenant {name!r}: unknown model keys {sorted(unknown)}")
    if not all(isinstance(v, str) for v in model.values()):
        raise ValueError(f"tenant {name!r}: model values must be strings")
    if model.get("mode", "tool_calling") not in ("tool_calling", "text"):
        raise ValueError(f"tenant {name!r}: model.mode must be tool_calling or text")
    return TenantConfig(
        max_sessions=max_sessions, ceilings=ceilings, policy_profiles=profiles, model=model
    )
