"""Settings: one object per service, from a TOML file and the environment.

Precedence, lowest first: the dataclass defaults; the file's `[server]`
table; the file's `[<service>]` table; `CODEACT_<FIELD>`;
`CODEACT_<SERVICE>_<FIELD>`; explicit overrides (the command line). Nested
dataclasses are TOML tables and `__` in variable names, e.g.
`CODEACT_EXECUTOR_DEFAULTS__MEMORY_BYTES=268435456`. The file comes from
`--config` or `CODEACT_CONFIG`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")
MIB = 1 << 20
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting that cannot be read; the message names it."""


@dataclass(frozen=True)
class ServerSettings:
    """What every server shares."""

    service: ClassVar[str] = "server"

    host: str = "127.0.0.1"
    port: int = 0
    # Prometheus metrics over HTTP; 0 picks a free port, -1 disables.
    metrics_port: int = -1
    # Development mode: no authentication, every caller is tenant "dev".
    dev_mode: bool = False
    # API keys: a TOML file of [[keys]] (tenant, sha256) and/or
    # "tenant:key" or "tenant:sha256:<hex>" entries, comma-separated.
    api_keys_file: str = ""
    api_keys: str = ""
    # Server reflection answers without a key (it only describes the contracts).
    public_reflection: bool = True
    # Per-tenant configuration (services/common/tenants.py describes it),
    # checked for changes at most this often (seconds).
    tenants_file: str = ""
    tenants_reload_interval: float = 1.0
    # TLS: this server's certificate and key (PEM). They also serve as the
    # client certificate on calls to other services.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # The CA that signs client certificates (mTLS) and, on calls to other
    # services, their server certificates.
    tls_ca_file: str = ""
    # Mutual TLS: every client must present a certificate signed by tls_ca_file.
    tls_require_client_cert: bool = False
    # Name to expect in other services' certificates when their targets are
    # addresses (e.g. "codeact-services").
    tls_server_name: str = ""
    # Shared by our services to sign the identity they forward downstream
    # (at least 16 bytes); a file holding it, or the value itself.
    internal_secret_file: str = ""
    internal_secret: str = ""
    # Certificate subjects allowed to present internal identities (mTLS only);
    # empty accepts any caller that holds the secret.
    internal_peers: tuple[str, ...] = ()
    # Audit events (JSON lines): a file path, or "" for the log stream (stderr).
    audit_file: str = ""
    # Put the source of every cell in the audit log (tenants can override).
    audit_cell_content: bool = False
    log_level: str = "info"
    # "json" or "console".
    log_format: str = "json"
    # Seconds in-flight RPCs get to finish after SIGTERM.
    drain_grace: float = 5.0
    max_message_bytes: int = 16 * MIB
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0


def _coerce(value: Any, kind: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, options[0], name)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
        if kind is Path:
            return Path(value)
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: {exc}") from None
    raise SettingsError(f"setting {name}: unsupported type {kind!r}")


def _build(cls: type[T], layers: list[Mapping[str, Any]], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[f.name]
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(kind):
            nested = [layer[f.name] for layer in layers if isinstance(layer.get(f.name), Mapping)]
            if nested:
                if f.default_factory is not dataclasses.MISSING:
                    base = f.default_factory()
                else:
                    base = None if f.default is dataclasses.MISSING else f.default
                defaults = dataclasses.asdict(base) if base is not None else {}
                values[f.name] = _build(kind, [defaults, *nested], f"{name}.")  # type: ignore[arg-type]
            continue
        for layer in layers:
            if f.name in layer:
                values[f.name] = _coerce(layer[f.name], kind, name)
    return cls(**values)


def _env_layer(cls: type[Any], env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """Variables under prefix, `__` opening a nested table."""
    layer: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in env.items():
        if not key.startswith(prefix):
            continue
        path = key[len(prefix) :].lower().split("__")
        if path[0] not in names:
            continue
        target = layer
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return layer


def load(
    cls: type[T],
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Build cls from its defaults, the file, the environment and overrides."""
    env = os.environ if env is None else env
    service = getattr(cls, "service", "server")
    layers: list[Mapping[str, Any]] = []
    path = config_file or env.get("CODEACT_CONFIG")
    if path:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {path}: {exc}") from None
        layers += [data.get("server", {}), data.get(service, {})]
    layers.append(_env_layer(cls, env, "CODEACT_"))
    layers.append(_env_layer(cls, env, f"CODEACT_{service.upper()}_"))
    layers.append({k: v for k, v in (overrides or {}).items() if v is not None})
    return _build(cls, layers, f"{service}.")
