"""Per-tenant configuration, from one TOML file, reloaded without a restart.

    [tenants.acme]
    max_sessions = 20               # concurrent executor sessions
    max_agent_sessions = 10         # concurrent agent sessions
    executions_per_minute = 600     # cells, as a token bucket...
    execution_burst = 60            # ...holding this many (default: a minute's worth)
    max_conversations = 1000        # memory: conversations kept
    max_storage_bytes = 1073741824  # memory: bytes of events over all conversations
    audit_cell_content = false      # put cell source in the audit log
    certificates = ["acme-client", "spiffe://codeact/tenant/acme"]  # mTLS subjects

    [[tenants.acme.keys]]           # API keys, as SHA-256 digests
    id = "ci"
    sha256 = "<64 hex characters>"
    expires = 2027-01-01T00:00:00Z  # optional
    revoked = false                 # a revoked key is refused as such

    [tenants.acme.ceilings]         # the most a session of acme may ask for
    memory_bytes = 1073741824
    cpu_millicores = 2000

    [tenants.acme.policy_profiles.analysts]   # like services/policy/profiles/*.toml
    denied_imports = ["socket"]

    [tenants.acme.model]            # the tenant's own model endpoint (planner)
    base_url = "https://api.openai.com/v1"
    api_key_env = "ACME_OPENAI_KEY" # or api_key = "..."
    model = "gpt-4o-mini"
    mode = "tool_calling"           # or "text"

A tenant without a table gets the server's defaults. Unknown keys are
refused, so a typo cannot silently lift a limit. The file is re-read when it
changes; a change that does not parse is logged and the last good
configuration stays in force.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("tenants")
MODEL_KEYS = {"base_url", "api_key", "api_key_env", "model", "mode"}
_COUNTS = ("max_sessions", "max_agent_sessions", "max_conversations", "max_storage_bytes")
_TENANT_KEYS = {
    *_COUNTS,
    "executions_per_minute",
    "execution_burst",
    "audit_cell_content",
    "certificates",
    "keys",
    "ceilings",
    "policy_profiles",
    "model",
}


@dataclass(frozen=True)
class ApiKey:
    """One API key of a tenant, held as its SHA-256 digest."""

    tenant: str
    sha256: str
    id: str = ""
    # Unix time after which the key is refused; None never expires.
    expires: float | None = None
    revoked: bool = False


@dataclass(frozen=True)
class TenantConfig:
    max_sessions: int | None = None
    max_agent_sessions: int | None = None
    executions_per_minute: float | None = None
    execution_burst: int | None = None
    max_conversations: int | None = None
    max_storage_bytes: int | None = None
    audit_cell_content: bool | None = None
    certificates: tuple[str, ...] = ()
    keys: tuple[ApiKey, ...] = ()
    # Sandbox ceilings overriding the server's, field by field (the executor
    # checks the names against its limits).
    ceilings: Mapping[str, float] = field(default_factory=dict)
    # The tenant's own policy profiles, as tables (the policy service parses them).
    policy_profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The model endpoint: base_url, api_key or api_key_env, model, mode.
    model: Mapping[str, str] = field(default_factory=dict)


class TenantDirectory:
    """Tenants' configurations by name, with their keys and certificate
    subjects indexed."""

    def __init__(self, tenants: Mapping[str, TenantConfig] | None = None) -> None:
        self.tenants = dict(tenants or {})
        self.keys: dict[str, ApiKey] = {}
        self.certificates: dict[str, str] = {}
        for name, config in self.tenants.items():
            for key in config.keys:
                if key.sha256 in self.keys:
                    raise ValueError(f"tenant {name!r}: a key digest is listed twice")
                self.keys[key.sha256] = key
            for subject in config.certificates:
                other = self.certificates.setdefault(subject, name)
                if other != name:
                    raise ValueError(
                        f"certificate subject {subject!r} maps to {other!r} and {name!r}"
                    )

    def get(self, tenant: str) -> TenantConfig:
        return self.tenants.get(tenant, TenantConfig())

    @classmethod
    def from_file(cls, path: str | Path) -> TenantDirectory:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        unknown = set(data) - {"tenants"}
        if unknown:
            raise ValueError(f"{path}: unknown top-level keys {sorted(unknown)}")
        directory = cls(
            {name: _tenant(name, table) for name, table in data.get("tenants", {}).items()}
        )
        _check_for_services(directory)
        return directory


def _check_for_services(directory: TenantDirectory) -> None:
    """What only a service can judge (sandbox limit names, policy profiles),
    checked here so that every service refuses the same files and all of
    them run on the same configuration."""
    from codeact.errors import CodeActError
    from sandbox.limits import FIELDS
    from services.policy.profiles import from_table

    for name, config in directory.tenants.items():
        unknown = set(config.ceilings) - set(FIELDS)
        if unknown:
            raise ValueError(f"tenant {name!r}: unknown ceilings {sorted(unknown)}")
        for profile, table in config.policy_profiles.items():
            try:
                from_table(profile, table, f"tenants.{name}.policy_profiles.{profile}")
            except CodeActError as exc:
                raise ValueError(exc.message) from None


class TenantsSource:
    """The tenants file as it is now: re-read when it changes, checked at
    most every `interval` seconds, on the first access after that."""

    def __init__(self, path: str | Path | None, interval: float = 1.0) -> None:
        self.path = Path(path) if path else None
        self.interval = interval
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = time.monotonic()
        self._current = TenantDirectory()
        self.generation = 0
        if self.path is not None:
            self._stamp = _stamp(self.path)
            self._current = TenantDirectory.from_file(self.path)

    def current(self) -> TenantDirectory:
        if self.path is None or time.monotonic() - self._checked < self.interval:
            return self._current
        with self._lock:
            self._checked = time.monotonic()
            try:
                stamp = _stamp(self.path)
            except OSError as exc:
                log.error("tenants.unreadable", path=str(self.path), error=str(exc))
                return self._current
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
        return self._current

    def _reload(self) -> None:
        assert self.path is not None
        try:
            directory = TenantDirectory.from_file(self.path)
        except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
            log.error("tenants.reload_refused", path=str(self.path), error=str(exc))
            return
        self._current = directory
        self.generation += 1
        log.info("tenants.reloaded", path=str(self.path), tenants=len(directory.tenants))


_SOURCES: dict[tuple[str, float], TenantsSource] = {}
_SOURCES_LOCK = threading.Lock()


def tenants_source(path: str, interval: float = 1.0) -> TenantsSource:
    """One shared source per file in a process (the chassis and the service
    read the same one)."""
    if not path:
        return TenantsSource(None)
    key = (os.path.abspath(path), interval)
    with _SOURCES_LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = TenantsSource(path, interval)
        return _SOURCES[key]


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size, info.st_ino


def _tenant(name: str, table: Mapping[str, Any]) -> TenantConfig:
    where = f"tenant {name!r}"
    unknown = set(table) - _TENANT_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    counts = {}
    for key in _COUNTS:
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"{where}: {key} must be a non-negative integer")
        counts[key] = value
    rate = table.get("executions_per_minute")
    if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
        raise ValueError(f"{where}: executions_per_minute must be a positive number")
    burst = table.get("execution_burst")
    if burst is not None and (not isinstance(burst, int) or burst < 1):
        raise ValueError(f"{where}: execution_burst must be a positive integer")
    audit = table.get("audit_cell_content")
    if audit is not None and not isinstance(audit, bool):
        raise ValueError(f"{where}: audit_cell_content must be true or false")
    certificates = table.get("certificates", [])
    if not isinstance(certificates, list) or not all(
        isinstance(c, str) and c for c in certificates
    ):
        raise ValueError(f"{where}: certificates must be a list of subject names")
    ceilings = dict(table.get("ceilings", {}))
    for key, value in ceilings.items():
        if not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{where}: ceilings.{key} must be a positive number")
    profiles = table.get("policy_profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ValueError(f"{where}: policy_profiles must be tables of profiles")
    model = dict(table.get("model", {}))
    unknown = set(model) - MODEL_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown model keys {sorted(unknown)}")
    if not all(isinstance(v, str) for v in model.values()):
        raise ValueError(f"{where}: model values must be strings")
    if model.get("mode", "tool_calling") not in ("tool_calling", "text"):
        raise ValueError(f"{where}: model.mode must be tool_calling or text")
    return TenantConfig(
        **counts,
        executions_per_minute=float(rate) if rate is not None else None,
        execution_burst=burst,
        audit_cell_content=audit,
        certificates=tuple(certificates),
        keys=tuple(_key(name, i, entry) for i, entry in enumerate(table.get("keys", []))),
        ceilings=ceilings,
        policy_profiles=profiles,
        model=model,
    )


def _key(tenant: str, index: int, entry: Any) -> ApiKey:
    where = f"tenant {tenant!r}: keys[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(entry) - {"id", "sha256", "expires", "revoked"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    digest = str(entry.get("sha256", "")).lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{where}: sha256 must be 64 hex characters")
    expires = entry.get("expires")
    if expires is not None:
        if not isinstance(expires, datetime.datetime) or expires.tzinfo is None:
            raise ValueError(f"{where}: expires must be a date-time with an offset")
        expires = expires.timestamp()
    revoked = entry.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError(f"{where}: revoked must be true or false")
    return ApiKey(tenant, digest, str(entry.get("id", "")), expires, revoked)
