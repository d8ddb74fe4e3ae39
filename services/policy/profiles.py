"""Policy profiles: named sets of rules, as data files (and per tenant)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeact.errors import FieldViolation, InvalidArgument, NotFound

from .rules import RULES, Severity

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
SEVERITY_NAMES = {"info": Severity.INFO, "warning": Severity.WARNING, "error": Severity.ERROR}
MAX_LIST = 1000


@dataclass(frozen=True)
class PolicyProfile:
    name: str
    description: str = ""
    allowed_imports: tuple[str, ...] = ()
    denied_imports: tuple[str, ...] = ()
    check_installed: bool = True
    require_restricted_python: bool = False
    warn_only: bool = False
    rule_severity: Mapping[str, Severity] = field(default_factory=dict)
    disabled_rules: tuple[str, ...] = ()
    max_code_bytes: int = 0

    def severities(self) -> dict[str, Severity]:
        """The severity of every rule that is on."""
        effective = {rule_id: rule.severity for rule_id, rule in RULES.items()}
        effective.update(self.rule_severity)
        for rule_id in self.disabled_rules:
            effective.pop(rule_id, None)
        return effective

    def validate(self, prefix: str = "profile") -> PolicyProfile:
        """Raise INVALID_ARGUMENT naming every bad field; return self."""
        violations = []
        if self.name and not _NAME.match(self.name):
            violations.append(
                FieldViolation(f"{prefix}.name", "lower-case letters, digits, '.', '_' or '-'")
            )
        for key in ("allowed_imports", "denied_imports"):
            values = getattr(self, key)
            if len(values) > MAX_LIST:
                violations.append(FieldViolation(f"{prefix}.{key}", f"at most {MAX_LIST} entries"))
            for index, module in enumerate(values):
                if not _MODULE.match(module):
                    violations.append(
                        FieldViolation(
                            f"{prefix}.{key}[{index}]", f"{module!r} is not a module name"
                        )
                    )
        for rule_id in [*self.rule_severity, *self.disabled_rules]:
            if rule_id not in RULES:
                violations.append(
                    FieldViolation(
                        f"{prefix}.rules", f"unknown rule {rule_id!r}; known: {', '.join(RULES)}"
                    )
                )
        if self.max_code_bytes < 0:
            violations.append(FieldViolation(f"{prefix}.max_code_bytes", "must not be negative"))
        if violations:
            raise InvalidArgument(
                "INVALID_PROFILE",
                "; ".join(f"{v.field}: {v.description}" for v in violations),
                field_violations=violations,
            )
        return self


def from_table(name: str, table: Mapping[str, Any], prefix: str = "profile") -> PolicyProfile:
    """A profile from a TOML table; mistakes are INVALID_ARGUMENT."""
    known = {
        "description", "allowed_imports", "denied_imports", "check_installed",
        "require_restricted_python", "warn_only", "severity", "max_code_bytes",
    }  # fmt: skip
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidArgument(
            "INVALID_PROFILE",
            f"{prefix}: unknown keys {unknown}",
            field_violations=[FieldViolation(f"{prefix}.{k}", "unknown key") for k in unknown],
        )
    severities: dict[str, Severity] = {}
    disabled: list[str] = []
    for rule_id, level in dict(table.get("severity", {})).items():
        if level == "off":
            disabled.append(rule_id)
        elif level in SEVERITY_NAMES:
            severities[rule_id] = SEVERITY_NAMES[level]
        else:
            raise InvalidArgument(
                "INVALID_PROFILE",
                f"{prefix}.severity.{rule_id}: {level!r} is not info, warning, error or off",
                field_violations=[FieldViolation(f"{prefix}.severity.{rule_id}", "bad level")],
            )
    return PolicyProfile(
        name=name,
        description=str(table.get("description", "")),
        allowed_imports=_names(table, "allowed_imports", prefix),
        denied_imports=_names(table, "denied_imports", prefix),
        check_installed=_flag(table, "check_installed", True, prefix),
        require_restricted_python=_flag(table, "require_restricted_python", False, prefix),
        warn_only=_flag(table, "warn_only", False, prefix),
        rule_severity=severities,
        disabled_rules=tuple(disabled),
        max_code_bytes=_count(table, "max_code_bytes", prefix),
    ).validate(prefix)


def _wrong(prefix: str, key: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        "INVALID_PROFILE",
        f"{prefix}.{key} must be {expected}",
        field_violations=[FieldViolation(f"{prefix}.{key}", f"must be {expected}")],
    )


def _names(table: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    # A bare string would otherwise become a tuple of its letters.
    value = table.get(key, [])
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _wrong(prefix, key, "a list of module names")
    return tuple(value)


def _flag(table: Mapping[str, Any], key: str, default: bool, prefix: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise _wrong(prefix, key, "true or false")
    return value


def _count(table: Mapping[str, Any], key: str, prefix: str) -> int:
    value = table.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _wrong(prefix, key, "a non-negative integer")
    return value


def load_directory(directory: Path) -> dict[str, PolicyProfile]:
    profiles = {}
    for path in sorted(directory.glob("*.toml")):
        with open(path, "rb") as f:
            profiles[path.stem] = from_table(path.stem, tomllib.load(f), str(path))
    return profiles


class ProfileCatalog:
    """Built-in profiles, plus each tenant's own (which win on a name clash)."""

    def __init__(
        self,
        builtin: Mapping[str, PolicyProfile],
        by_tenant: Mapping[str, Mapping[str, PolicyProfile]]
        | Callable[[], Mapping[str, Mapping[str, PolicyProfile]]]
        | None = None,
    ) -> None:
        self.builtin = dict(builtin)
        # A mapping, or a function giving the current one (a reloaded tenants file).
        self._by_tenant = by_tenant or {}

    def visible(self, tenant: str) -> dict[str, PolicyProfile]:
        by_tenant = self._by_tenant() if callable(self._by_tenant) else self._by_tenant
        return {**self.builtin, **by_tenant.get(tenant, {})}

    def get(self, tenant: str, name: str) -> PolicyProfile:
        visible = self.visible(tenant)
        profile = visible.get(name)
        if profile is None:
            raise NotFound(
                "PROFILE_NOT_FOUND",
                f"no policy profile named {name!r}; known: {', '.join(sorted(visible))}",
                metadata={"profile": name},
            )
        return profile
