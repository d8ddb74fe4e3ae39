"""Resource limits of a sandboxed session: defaults, floors and ceilings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codeact.errors import FieldViolation, InvalidArgument, QuotaViolation, ResourceExhausted

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Limits of one session. Times are in seconds, sizes in bytes."""

    memory_bytes: int = 512 * MIB
    # Processes and threads; the kernel itself uses five.
    max_pids: int = 128
    cpu_millicores: int = 1000
    cell_timeout: float = 30.0
    output_bytes: int = 1 * MIB
    workspace_bytes: int = 64 * MIB
    idle_ttl: float = 1800.0

    def capped_by(self, caps: Mapping[str, float]) -> Limits:
        """These limits, each lowered to its cap where one is given."""
        unknown = set(caps) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown limit fields: {sorted(unknown)}")
        lowered: dict[str, Any] = {
            name: type(getattr(self, name))(min(value, getattr(self, name)))
            for name, value in caps.items()
        }
        return dataclasses.replace(self, **lowered)

    def with_overrides(self, requested: Mapping[str, float]) -> Limits:
        """These limits with the non-zero requested values put in."""
        changes: dict[str, Any] = {
            name: type(getattr(self, name))(value) for name, value in requested.items() if value
        }
        return dataclasses.replace(self, **changes)


# Below these a session cannot work; asking for less is a bad request.
FLOORS = Limits(
    memory_bytes=32 * MIB,
    max_pids=8,
    cpu_millicores=10,
    cell_timeout=0.05,
    output_bytes=1024,
    workspace_bytes=1 * MIB,
    idle_ttl=1.0,
)

# The largest limits a server grants when its settings say nothing.
CEILINGS = Limits(
    memory_bytes=4096 * MIB,
    max_pids=1024,
    cpu_millicores=4000,
    cell_timeout=3600.0,
    output_bytes=64 * MIB,
    workspace_bytes=4096 * MIB,
    idle_ttl=7 * 24 * 3600.0,
)

FIELDS = tuple(f.name for f in dataclasses.fields(Limits))


def resolve(requested: Mapping[str, float], defaults: Limits, ceilings: Limits) -> Limits:
    """Validate requested limits and fill the unset ones from defaults.

    Negative values or values under the floors are INVALID_ARGUMENT (one
    field violation each); values over the ceilings are RESOURCE_EXHAUSTED.
    """
    unknown = set(requested) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown limit fields: {sorted(unknown)}")
    violations = []
    for name, value in requested.items():
        floor = getattr(FLOORS, name)
        if value < 0:
            violations.append(FieldViolation(f"limits.{name}", "must not be negative"))
        elif value and value < floor:
            violations.append(FieldViolation(f"limits.{name}", f"must be at least {floor}"))
    if violations:
        raise InvalidArgument(
            "INVALID_LIMITS",
            "; ".join(f"{v.field} {v.description}" for v in violations),
            field_violations=violations,
        )
    limits = defaults.with_overrides(requested)
    for name in FIELDS:
        value, ceiling = getattr(limits, name), getattr(ceilings, name)
        if value > ceiling:
            raise ResourceExhausted(
                "LIMIT_ABOVE_CEILING",
                f"limits.{name}={value} is above the ceiling {ceiling}",
                metadata={"field": f"limits.{name}", "requested": value, "ceiling": ceiling},
                # No RetryInfo: waiting does not raise a ceiling.
                quota_violations=[QuotaViolation(f"limits.{name}", f"at most {ceiling}")],
            )
    return limits
