"""Agent profiles as data (TOML files, after OpenHands' AgentConfig), the
overrides a request lays on top, and their validation.

Durations are seconds; condenser types and the model's mode are short
names (`recent`, `tool_calling`). A request's override replaces lists and
the condenser whole, and merges sandbox limits and model settings field by
field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from codeact.errors import NotFound, invalid
from codeact.v1 import agent_pb2, memory_pb2

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"
MAX_ITERATIONS = 500
DURATIONS = {"step_timeout", "cell_timeout", "idle_ttl", "timeout"}
CONDENSERS = {
    name.removeprefix("CONDENSER_TYPE_").lower(): name
    for name, number in memory_pb2.CondenserType.items()
    if number != memory_pb2.CONDENSER_TYPE_UNSPECIFIED
}
MODES = {"tool_calling": "ACTION_MODE_TOOL_CALLING", "text": "ACTION_MODE_TEXT"}


def _json_ready(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A TOML table in the proto JSON form: durations as "1.5s", enum names."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "description":
            continue
        if isinstance(value, Mapping):
            value = _json_ready(value, f"{where}.{key}")
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            value = [_json_ready(v, f"{where}.{key}") for v in value]
        elif key in DURATIONS and isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value}s"
        elif key == "type" and isinstance(value, str) and value in CONDENSERS:
            value = CONDENSERS[value]
        elif key == "mode" and isinstance(value, str) and value in MODES:
            value = MODES[value]
        out[key] = value
    return out


def from_table(name: str, table: Mapping[str, Any], where: str) -> agent_pb2.AgentProfile:
    profile = agent_pb2.AgentProfile()
    try:
        json_format.ParseDict(_json_ready(table, where), profile, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise ValueError(f"{where}: {exc}") from None
    profile.name = name
    return profile


def _merged(base: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """`table` over `base`: nested tables merge, except the condenser; the rest replaces."""
    out = dict(base)
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) and key != "condenser":
            out[key] = _merged(base[key], value)
        else:
            out[key] = value
    return out


def load_directory(
    directory: Path, base: Mapping[str, Any] | None = None
) -> dict[str, agent_pb2.AgentProfile]:
    """The profiles of a directory. Each file lists what differs from `base`
    (the built-in default profile's table), so a small file is a whole profile."""
    if base is None:
        base = default_table()
    profiles = {}
    for path in sorted(directory.glob("*.toml")):
        with open(path, "rb") as f:
            table = tomllib.load(f)
        profiles[path.stem] = from_table(path.stem, _merged(base, table), str(path))
    return profiles


def default_table() -> dict[str, Any]:
    with open(BUILTIN_DIR / "default.toml", "rb") as f:
        return tomllib.load(f)


def overlay(base: Message, override: Message) -> None:
    """Lay the fields set in `override` over `base` (see the module doc)."""
    for field, value in override.ListFields():
        if field.is_repeated:
            target = getattr(base, field.name)
            del target[:]
            target.extend(value)
        elif field.message_type is not None and field.name != "condenser":
            overlay(getattr(base, field.name), value)
        elif field.message_type is not None:
            getattr(base, field.name).CopyFrom(value)
        else:
            setattr(base, field.name, value)


class ProfileCatalog:
    def __init__(self, profiles: Mapping[str, agent_pb2.AgentProfile], default: str) -> None:
        if default not in profiles:
            raise ValueError(f"default_profile {default!r} is not a known profile")
        self.profiles = dict(profiles)
        self.default = default

    def resolve(self, name: str, override: agent_pb2.AgentProfile | None) -> agent_pb2.AgentProfile:
        """The named profile (or the default) with the override on top, validated."""
        chosen = name or self.default
        if chosen not in self.profiles:
            raise NotFound(
                "AGENT_PROFILE_NOT_FOUND",
                f"no agent profile {chosen!r}; known: {', '.join(sorted(self.profiles))}",
                metadata={"profile_name": chosen},
            )
        profile = agent_pb2.AgentProfile()
        profile.CopyFrom(self.profiles[chosen])
        if override is not None:
            overlay(profile, override)
        profile.name = chosen
        validate(profile)
        return profile


def validate(profile: agent_pb2.AgentProfile, path: str = "profile") -> None:
    if profile.enable_browsing:
        raise invalid(
            f"{path}.enable_browsing",
            "the sandbox has no network access, so browsing cannot be enabled",
        )
    if not (profile.enable_python or profile.enable_bash):
        raise invalid(f"{path}.enable_python", "enable Python or bash: the agent acts by code")
    if not 0 <= profile.max_iterations <= MAX_ITERATIONS:
        raise invalid(f"{path}.max_iterations", f"must be between 0 and {MAX_ITERATIONS}")
    if profile.step_timeout.ToNanoseconds() < 0:
        raise invalid(f"{path}.step_timeout", "must not be negative")
    if profile.token_budget < 0:
        raise invalid(f"{path}.token_budget", "must not be negative")
    if profile.context_token_budget < 0:
        raise invalid(f"{path}.context_token_budget", "must not be negative")
    for index, name in enumerate(profile.allowed_imports):
        if not all(part.isidentifier() for part in name.split(".")):
            raise invalid(f"{path}.allowed_imports[{index}]", f"{name!r} is not a module name")
